package ops

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/edgetoken/edgetoken/host/internal/egress"
)

// CountingTransport counts each request that passes through Base in
// edgetoken_upstream_requests_total and logs it at debug level.
//
// Wrap the egress policy's transport with it. The host label is then the
// destination of an allowed request, one of the few origins the
// configuration names, or "other" for a request the policy denied. A guest
// therefore cannot add label values by sending requests anywhere.
type CountingTransport struct {
	Base    http.RoundTripper
	Metrics *Metrics
	Logger  *slog.Logger // defaults to slog.Default()
}

// Upstream results other than a status class.
const (
	UpstreamError  = "error"
	UpstreamDenied = "denied"
)

// RoundTrip implements http.RoundTripper.
func (t *CountingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.Base.RoundTrip(req)

	host, result := req.URL.Host, UpstreamError
	switch {
	case errors.Is(err, egress.ErrNotAllowed):
		host, result = "other", UpstreamDenied
	case err == nil:
		result = strconv.Itoa(resp.StatusCode/100) + "xx"
	}
	t.Metrics.ObserveUpstream(host, result)

	log := t.Logger
	if log == nil {
		log = slog.Default()
	}
	// Only the host is logged: the path and query add nothing an operator
	// needs and a managed identity request's query varies by platform.
	attrs := []slog.Attr{
		slog.String("method", req.Method),
		slog.String("host", req.URL.Host),
		slog.String("result", result),
		slog.Duration("duration", time.Since(start)),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	log.LogAttrs(req.Context(), slog.LevelDebug, "upstream request", attrs...)
	return resp, err
}
