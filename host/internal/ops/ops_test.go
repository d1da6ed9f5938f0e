package ops_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgetoken/edgetoken/host/internal/egress"
	"github.com/edgetoken/edgetoken/host/internal/ops"
	"github.com/edgetoken/edgetoken/internal/token"
)

const (
	speechScope = "https://cognitiveservices.azure.com/.default"
	apiScope    = "api://backend/.default"
)

var (
	now    = time.Unix(1_800_000_000, 0)
	scopes = []ops.Scope{{Name: "speech", Scope: speechScope}, {Name: "api", Scope: apiScope}}
)

func storeToken(t *testing.T, s token.Store, scope string, expiresIn, refreshIn time.Duration) {
	t.Helper()
	b, err := token.EncodeRecord(token.Record{AccessToken: "tok", ExpiresOn: now.Add(expiresIn).Unix(),
		RefreshOn: now.Add(refreshIn).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(token.TokenKey(scope), b); err != nil {
		t.Fatal(err)
	}
}

func newHandler(store token.Store) *ops.Handler {
	return &ops.Handler{
		Metrics: ops.NewMetrics(),
		Tokens:  ops.NewTokens(store, scopes, 5*time.Minute, func() time.Time { return now }),
	}
}

func serve(h http.Handler, method, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func checkResponse(t *testing.T, rec *httptest.ResponseRecorder, status int, contentType, body string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d", rec.Code, status)
	}
	if got := rec.Header().Get("Content-Type"); got != contentType {
		t.Errorf("Content-Type = %q, want %q", got, contentType)
	}
	if got := rec.Body.String(); got != body {
		t.Errorf("body = %q, want %q", got, body)
	}
}

func TestHealthz(t *testing.T) {
	h := newHandler(token.NewMemoryStore())
	rec := serve(h, "GET", "/healthz")
	checkResponse(t, rec, 200, "application/json", `{"status":"ok"}`)
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if got := rec.Header().Get("Content-Length"); got != "15" {
		t.Errorf("Content-Length = %q, want 15", got)
	}

	rec = serve(h, "HEAD", "/healthz")
	checkResponse(t, rec, 200, "application/json", "")
}

func TestReadyz(t *testing.T) {
	for _, tc := range []struct {
		name       string
		fill       func(s token.Store)
		wantStatus int
		wantBody   string
	}{
		{"empty_store", func(token.Store) {}, 503, `{"status":"not ready","missing":["speech","api"]}`},
		{"speech_only", func(s token.Store) { storeToken(t, s, speechScope, time.Hour, 30*time.Minute) },
			503, `{"status":"not ready","missing":["api"]}`},
		{"both", func(s token.Store) {
			storeToken(t, s, speechScope, time.Hour, 30*time.Minute)
			storeToken(t, s, apiScope, 6*time.Minute, -time.Minute)
		}, 200, `{"status":"ready"}`},
		// Less than TOKEN_MIN_LIFETIME left and past its refresh time: the
		// guest would not hand it out.
		{"short_lifetime", func(s token.Store) {
			storeToken(t, s, speechScope, 4*time.Minute, -time.Minute)
			storeToken(t, s, apiScope, time.Hour, 30*time.Minute)
		}, 503, `{"status":"not ready","missing":["speech"]}`},
		{"expired", func(s token.Store) {
			storeToken(t, s, speechScope, -time.Second, -time.Minute)
			storeToken(t, s, apiScope, time.Hour, 30*time.Minute)
		}, 503, `{"status":"not ready","missing":["speech"]}`},
		{"damaged_record", func(s token.Store) {
			_ = s.Set(token.TokenKey(speechScope), []byte("{"))
			storeToken(t, s, apiScope, time.Hour, 30*time.Minute)
		}, 503, `{"status":"not ready","missing":["speech"]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := token.NewMemoryStore()
			tc.fill(store)
			rec := serve(newHandler(store), "GET", "/readyz")
			checkResponse(t, rec, tc.wantStatus, "application/json", tc.wantBody)
		})
	}
}

func TestOpsMethodNotAllowed(t *testing.T) {
	rec := serve(newHandler(token.NewMemoryStore()), "POST", "/healthz")
	checkResponse(t, rec, 405, "application/json", `{"detail":"Method Not Allowed"}`)
	if got := rec.Header().Get("Allow"); got != "GET, HEAD" {
		t.Errorf("Allow = %q, want GET, HEAD", got)
	}
}

// scrape returns the /metrics body after checking the response.
func scrape(t *testing.T, h *ops.Handler) string {
	t.Helper()
	rec := serve(h, "GET", "/metrics")
	if rec.Code != 200 {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	if got := rec.Header().Get("Content-Type"); got != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type = %q, want the text format 0.0.4", got)
	}
	return rec.Body.String()
}

func checkLines(t *testing.T, body string, want ...string) {
	t.Helper()
	lines := strings.Split(body, "\n")
	for _, w := range want {
		found := false
		for _, l := range lines {
			if l == w {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("metrics lack the line %q", w)
		}
	}
}

func TestMetricsRequests(t *testing.T) {
	h := newHandler(token.NewMemoryStore())
	m := h.Metrics
	m.ObserveRequest("/speech", 200, 300*time.Microsecond)
	m.ObserveRequest("/speech", 200, 40*time.Millisecond)
	m.ObserveRequest("/speech", 503, 2*time.Second)
	m.ObserveRequest("/api", 200, time.Minute)
	m.ObserveRequest("/wp-admin.php", 404, time.Millisecond)
	m.ObserveRequest("/speech/", 404, time.Millisecond)

	body := scrape(t, h)
	checkLines(t, body,
		"# TYPE edgetoken_http_requests_total counter",
		`edgetoken_http_requests_total{route="/speech",status="200"} 2`,
		`edgetoken_http_requests_total{route="/speech",status="503"} 1`,
		`edgetoken_http_requests_total{route="/api",status="200"} 1`,
		`edgetoken_http_requests_total{route="other",status="404"} 2`,
		"# TYPE edgetoken_http_request_duration_seconds histogram",
		`edgetoken_http_request_duration_seconds_bucket{route="/speech",le="0.0005"} 1`,
		`edgetoken_http_request_duration_seconds_bucket{route="/speech",le="0.025"} 1`,
		`edgetoken_http_request_duration_seconds_bucket{route="/speech",le="0.05"} 2`,
		`edgetoken_http_request_duration_seconds_bucket{route="/speech",le="2.5"} 3`,
		`edgetoken_http_request_duration_seconds_bucket{route="/speech",le="+Inf"} 3`,
		`edgetoken_http_request_duration_seconds_count{route="/speech"} 3`,
		// Above the last bound, so only in +Inf.
		`edgetoken_http_request_duration_seconds_bucket{route="/api",le="30"} 0`,
		`edgetoken_http_request_duration_seconds_bucket{route="/api",le="+Inf"} 1`,
	)
	const sumPrefix = `edgetoken_http_request_duration_seconds_sum{route="/speech"} `
	var sum float64
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, sumPrefix); ok {
			sum, _ = strconv.ParseFloat(v, 64)
		}
	}
	if math.Abs(sum-2.0403) > 1e-9 {
		t.Errorf("duration sum for /speech = %v, want 2.0403", sum)
	}
	if strings.Contains(body, "wp-admin") {
		t.Error("an unknown path became a label value")
	}
	for _, name := range []string{"edgetoken_http_requests_total", "edgetoken_http_request_duration_seconds",
		"edgetoken_token_fetches_total", "edgetoken_upstream_requests_total"} {
		if !strings.Contains(body, "# HELP "+name+" ") {
			t.Errorf("no HELP line for %s", name)
		}
	}
}

func TestMetricsTokens(t *testing.T) {
	mem := token.NewMemoryStore()
	h := newHandler(mem)
	store := &ops.CountingStore{Store: mem, Metrics: h.Metrics, Scopes: scopes}

	storeToken(t, store, speechScope, time.Hour, 30*time.Minute)
	storeToken(t, store, speechScope, 50*time.Minute, 30*time.Minute)
	_ = store.Set(token.LeaseKey(speechScope, 1), []byte("x")) // not a token
	storeToken(t, store, "https://elsewhere/.default", time.Hour, time.Minute)
	h.Metrics.ObserveFetch("api", ops.ResultFailure)
	h.Metrics.AddGauges("edgetoken_token_remaining_lifetime_seconds", "gauge", "Seconds left.",
		h.Tokens.RemainingLifetimes)

	checkLines(t, scrape(t, h),
		`edgetoken_token_fetches_total{scope="speech",result="success"} 2`,
		`edgetoken_token_fetches_total{scope="api",result="failure"} 1`,
		`edgetoken_token_fetches_total{scope="other",result="success"} 1`,
		"# TYPE edgetoken_token_remaining_lifetime_seconds gauge",
		`edgetoken_token_remaining_lifetime_seconds{scope="speech"} 3000`,
		`edgetoken_token_remaining_lifetime_seconds{scope="api"} 0`,
	)
}

func TestLabelEscaping(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:        `plain`,
		`a"b`:          `a\"b`,
		`back\slash`:   `back\\slash`,
		"line\nfeed":   `line\nfeed`,
		"\\\"\n":       `\\\"\n`,
		`unicode ✓ ok`: `unicode ✓ ok`,
	} {
		if got := ops.EscapeLabelValue(in); got != want {
			t.Errorf("EscapeLabelValue(%q) = %q, want %q", in, got, want)
		}
	}

	m := ops.NewMetrics()
	m.ObserveUpstream("h\"o\\st\n", "2xx")
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	checkLines(t, buf.String(), `edgetoken_upstream_requests_total{host="h\"o\\st\n",result="2xx"} 1`)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestCountingTransport(t *testing.T) {
	m := ops.NewMetrics()
	var logs bytes.Buffer
	log, err := ops.NewLogger(&logs, "json", slog.LevelDebug)
	if err != nil {
		t.Fatal(err)
	}
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		switch r.URL.Host {
		case "login.example:443":
			return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(""))}, nil
		case "throttled.example":
			return &http.Response{StatusCode: 429, Body: io.NopCloser(strings.NewReader(""))}, nil
		case "down.example":
			return nil, errors.New("dial tcp: connection refused")
		}
		return nil, fmt.Errorf("%w: %s", egress.ErrNotAllowed, r.URL.Host)
	})
	tr := &ops.CountingTransport{Base: base, Metrics: m, Logger: log}

	ctx := ops.ContextWithRequestID(context.Background(), "req-7")
	for _, u := range []string{"https://login.example:443/t", "https://login.example:443/t",
		"https://throttled.example/t", "https://down.example/t", "http://169.254.169.254/x",
		"http://evil-1.example/", "http://evil-2.example/"} {
		req, _ := http.NewRequestWithContext(ctx, "POST", u, nil)
		if resp, err := tr.RoundTrip(req); err == nil {
			resp.Body.Close()
		}
	}

	var buf bytes.Buffer
	_, _ = m.WriteTo(&buf)
	checkLines(t, buf.String(),
		`edgetoken_upstream_requests_total{host="login.example:443",result="2xx"} 2`,
		`edgetoken_upstream_requests_total{host="throttled.example",result="4xx"} 1`,
		`edgetoken_upstream_requests_total{host="down.example",result="error"} 1`,
		`edgetoken_upstream_requests_total{host="other",result="denied"} 3`,
	)
	if strings.Contains(buf.String(), "evil") || strings.Contains(buf.String(), "169.254") {
		t.Error("a denied destination became a label value")
	}

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 7 {
		t.Fatalf("log lines = %d, want 7:\n%s", len(lines), logs.String())
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first["msg"] != "upstream request" || first["request_id"] != "req-7" || first["result"] != "2xx" {
		t.Errorf("log line = %s, want msg upstream request, request_id req-7, result 2xx", lines[0])
	}
}

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	log, err := ops.NewLogger(&buf, "json", slog.LevelWarn)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("dropped")
	log.WarnContext(ops.ContextWithRequestID(context.Background(), "abc"), "kept", "k", 1)
	got := strings.TrimSpace(buf.String())
	if strings.Contains(got, "dropped") {
		t.Errorf("info line written at warn level: %s", got)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(got), &rec); err != nil {
		t.Fatalf("not one JSON line: %q", got)
	}
	if rec["msg"] != "kept" || rec["request_id"] != "abc" || rec["level"] != "WARN" {
		t.Errorf("record = %v, want msg kept, request_id abc, level WARN", rec)
	}

	buf.Reset()
	log, _ = ops.NewLogger(&buf, "TEXT", slog.LevelDebug)
	log.With("listener", "admin").DebugContext(ops.ContextWithRequestID(context.Background(), "x1"), "hello")
	if got := buf.String(); !strings.Contains(got, "level=DEBUG msg=hello listener=admin request_id=x1") {
		t.Errorf("text line = %q", got)
	}

	if _, err := ops.NewLogger(&buf, "xml", slog.LevelInfo); err == nil ||
		err.Error() != `log format "xml" is invalid: want text or json` {
		t.Errorf("NewLogger(xml) error = %v", err)
	}
}

func TestParseLogLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, "INFO": slog.LevelInfo,
		"warn": slog.LevelWarn, "Error": slog.LevelError} {
		got, err := ops.ParseLogLevel(in)
		if err != nil || got != want {
			t.Errorf("ParseLogLevel(%q) = %v, %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "trace", "info+2", "WARNING"} {
		if _, err := ops.ParseLogLevel(bad); err == nil {
			t.Errorf("ParseLogLevel(%q) succeeded, want an error", bad)
		}
	}
}
