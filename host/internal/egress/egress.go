// Package egress builds the HTTP client that carries the guest's outgoing
// requests. It lets requests reach only the token endpoints the
// configuration names, follows no redirect, bounds every phase of a request
// in time and caps the response body.
//
// The guest decides where to send its token request from settings, so a
// wrong or hostile setting could point it anywhere the host can reach. The
// policy here is the host's own check, independent of the guest's code.
package egress

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Defaults used when the matching Config field is zero.
const (
	DefaultDialTimeout           = 5 * time.Second
	DefaultTLSHandshakeTimeout   = 5 * time.Second
	DefaultResponseHeaderTimeout = 10 * time.Second
	DefaultTimeout               = 20 * time.Second
	DefaultMaxResponseBytes      = 1 << 20
)

// ErrNotAllowed is wrapped by the error a request to a host outside the
// policy fails with.
var ErrNotAllowed = errors.New("egress: destination not allowed")

// Config describes the client. The zero value of each duration and size
// means its default.
type Config struct {
	// Allowed lists the origins requests may go to, each as an absolute URL
	// of which only the scheme, host and port count ("https://login.microsoftonline.com"
	// allows https on port 443 of that host, any path).
	Allowed []string

	DialTimeout           time.Duration
	TLSHandshakeTimeout   time.Duration
	ResponseHeaderTimeout time.Duration
	// Timeout bounds a whole request, including reading the body.
	Timeout time.Duration
	// MaxResponseBytes caps a response body; reading past it fails.
	MaxResponseBytes int64

	// Denied, when set, is wrapped by the error of a rejected request
	// besides ErrNotAllowed, so the caller can map it to its own error
	// (wasihost.ErrRequestDenied, which the guest sees as HTTP-request-denied).
	Denied error

	// Base replaces the transport the client is built on, for tests. The
	// timeouts above other than Timeout do not apply to it.
	Base http.RoundTripper
}

// Origin is a normalized scheme://host:port with the port always present.
type Origin string

// ParseOrigin returns the origin of rawURL. It fails unless the scheme is
// http or https and a host is present.
func ParseOrigin(rawURL string) (Origin, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("parse URL %q: %w", rawURL, err)
	}
	return originOf(u)
}

func originOf(u *url.URL) (Origin, error) {
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", fmt.Errorf("URL %q: scheme %q is not http or https", u.Redacted(), u.Scheme)
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", fmt.Errorf("URL %q has no host", u.Redacted())
	}
	port := u.Port()
	if port == "" {
		port = "443"
		if scheme == "http" {
			port = "80"
		}
	}
	return Origin(scheme + "://" + net.JoinHostPort(host, port)), nil
}

// Transport is an http.RoundTripper that sends only requests whose origin is
// in Allowed, and caps each response body at MaxResponseBytes.
type Transport struct {
	Base             http.RoundTripper
	Allowed          []Origin
	MaxResponseBytes int64
	// Denied is wrapped by a rejection's error besides ErrNotAllowed.
	Denied error
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	origin, err := originOf(req.URL)
	if err != nil || !slices.Contains(t.Allowed, origin) {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		err := fmt.Errorf("%w: %s (allowed: %s)", ErrNotAllowed, describe(req.URL, origin), t.allowedList())
		if t.Denied != nil {
			err = fmt.Errorf("%w: %w", t.Denied, err)
		}
		return nil, err
	}

	resp, err := t.Base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if t.MaxResponseBytes > 0 {
		resp.Body = &cappedBody{body: resp.Body, left: t.MaxResponseBytes, origin: origin}
	}
	return resp, nil
}

func describe(u *url.URL, origin Origin) string {
	if origin != "" {
		return string(origin)
	}
	return fmt.Sprintf("%q", u.Scheme+"://"+u.Host)
}

func (t *Transport) allowedList() string {
	if len(t.Allowed) == 0 {
		return "none"
	}
	names := make([]string, len(t.Allowed))
	for i, o := range t.Allowed {
		names[i] = string(o)
	}
	return strings.Join(names, ", ")
}

// cappedBody fails a read that would go past the cap, so a truncated body
// is never mistaken for a complete one.
type cappedBody struct {
	body   io.ReadCloser
	left   int64
	origin Origin
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, b.tooLarge()
	}
	// Read one byte past the cap to tell "exactly the cap" from "more".
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.body.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n + int(b.left), b.tooLarge()
	}
	return n, err
}

func (b *cappedBody) tooLarge() error {
	return fmt.Errorf("egress: response body from %s is larger than the limit", b.origin)
}

func (b *cappedBody) Close() error { return b.body.Close() }

// NewClient returns a client that applies cfg. It fails when an entry of
// cfg.Allowed is not an http or https URL with a host.
func NewClient(cfg Config) (*http.Client, error) {
	allowed := make([]Origin, 0, len(cfg.Allowed))
	for _, raw := range cfg.Allowed {
		o, err := ParseOrigin(raw)
		if err != nil {
			return nil, fmt.Errorf("egress: allowed origin: %w", err)
		}
		if !slices.Contains(allowed, o) {
			allowed = append(allowed, o)
		}
	}

	base := cfg.Base
	if base == nil {
		base = newBaseTransport(cfg)
	}
	limit := cfg.MaxResponseBytes
	if limit <= 0 {
		limit = DefaultMaxResponseBytes
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &http.Client{
		Transport: &Transport{Base: base, Allowed: allowed, MaxResponseBytes: limit, Denied: cfg.Denied},
		Timeout:   timeout,
		// A redirect could lead outside the policy, and a token endpoint
		// has no reason to send one. The guest sees the 3xx response.
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

func newBaseTransport(cfg Config) *http.Transport {
	dial := cfg.DialTimeout
	if dial <= 0 {
		dial = DefaultDialTimeout
	}
	handshake := cfg.TLSHandshakeTimeout
	if handshake <= 0 {
		handshake = DefaultTLSHandshakeTimeout
	}
	header := cfg.ResponseHeaderTimeout
	if header <= 0 {
		header = DefaultResponseHeaderTimeout
	}
	return &http.Transport{
		// The policy checks the destination, not the route, so a proxy from
		// HTTPS_PROXY is allowed, as the Azure SDKs allow it. With https the
		// proxy sees only the host name. NO_PROXY rules apply, and loopback
		// addresses never go through the proxy.
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: dial, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   handshake,
		ResponseHeaderTimeout: header,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
}
