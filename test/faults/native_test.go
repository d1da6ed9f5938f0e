package faults

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgetoken/edgetoken/internal/config"
	"github.com/edgetoken/edgetoken/internal/entra"
	"github.com/edgetoken/edgetoken/internal/service"
	"github.com/edgetoken/edgetoken/internal/token"
)

// logBuffer is a bytes.Buffer safe for concurrent writes.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startNative serves the shared packages in process (the lazy path the
// guest takes at the edge) with tokens from authority.
func startNative(t *testing.T, authority string) (url string, log *logBuffer) {
	t.Helper()
	vars := env(&faultServer{URL: authority})
	s, err := config.Load(func(n string) (string, bool) { v, ok := vars[n]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	cred, err := entra.New(entra.Options{
		TenantID: s.TenantID, ClientID: s.ClientID, ClientSecret: s.ClientSecret, AuthorityHost: s.AuthorityHost,
	}, &http.Client{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cache := token.NewCache(token.NewMemoryStore(), cred, token.CacheOptions{MinLifetime: s.MinLifetime})
	log = &logBuffer{}
	h := service.New(s, cache, service.Options{Logger: slog.New(slog.NewTextHandler(log, nil))})
	srv := httptest.NewServer(service.NetHTTP(h))
	t.Cleanup(srv.Close)
	return srv.URL, log
}

type reply struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, url string) reply {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

const (
	bodyRejected    = `{"detail":"token request rejected by the authority"}`
	bodyUnavailable = `{"detail":"token unavailable, retry later"}`
)

// TestNativeFaults sends three requests while the authority misbehaves and
// checks each answer, the Retry-After, the number of token requests (one:
// the failure starts a backoff shared by every caller) and the log (one
// error line carrying the authority's details, never the secret).
func TestNativeFaults(t *testing.T) {
	refused := func(t *testing.T) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr + "/"
	}
	tests := []struct {
		name     string
		step     step
		dead     bool // the authority's port is closed
		status   int
		body     string
		retryMin int // Retry-After range in seconds; 0 means none
		retryMax int
		logs     []string
	}{
		{name: "429_seconds", step: step{status: 429, header: map[string]string{"Retry-After": "120"}},
			status: 503, body: bodyUnavailable, retryMin: 119, retryMax: 120, logs: []string{"status 429", "retry after 2m0s"}},
		{name: "429_http_date", step: step{status: 429, header: map[string]string{
			"Retry-After": time.Now().Add(125 * time.Second).UTC().Format(http.TimeFormat)}},
			status: 503, body: bodyUnavailable, retryMin: 115, retryMax: 126, logs: []string{"status 429"}},
		{name: "500", step: step{status: 500, body: `{"error":"server_error"}`},
			status: 503, body: bodyUnavailable, retryMin: 1, retryMax: 3, logs: []string{"status 500"}},
		{name: "503", step: step{status: 503, body: "unavailable"},
			status: 503, body: bodyUnavailable, retryMin: 1, retryMax: 3, logs: []string{"status 503"}},
		{name: "408", step: step{status: 408},
			status: 503, body: bodyUnavailable, retryMin: 1, retryMax: 3, logs: []string{"status 408"}},
		{name: "invalid_client", step: invalidClient, status: 502, body: bodyRejected,
			logs: []string{`error \"invalid_client\"`, "AADSTS7000215", "trace ID trace-f1", "correlation ID corr-f1"}},
		{name: "malformed_json", step: step{status: 200, body: `{"access_token":"x","expires_in":`},
			status: 502, body: bodyRejected, logs: []string{"decode token response"}},
		{name: "huge_body", step: step{status: 200, body: strings.Repeat(" ", 2<<20)},
			status: 502, body: bodyRejected, logs: []string{"response body is over 1048576 bytes"}},
		{name: "redirect", step: step{status: 302, header: map[string]string{"Location": "http://127.0.0.1:9/elsewhere"}},
			status: 502, body: bodyRejected, logs: []string{"status 302", "redirect not followed"}},
		{name: "200_without_token", step: step{status: 200, body: `{"token_type":"Bearer","expires_in":3599}`},
			status: 502, body: bodyRejected, logs: []string{"token response has no access_token"}},
		{name: "connection_refused", dead: true,
			status: 503, body: bodyUnavailable, retryMin: 1, retryMax: 3, logs: []string{"connection refused"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFaultServer(t)
			authority := f.URL
			if tc.dead {
				authority = refused(t)
			} else {
				f.always(&tc.step)
			}
			url, log := startNative(t, authority)

			for i := range 3 {
				r := get(t, url+"/speech")
				if r.status != tc.status || r.body != tc.body {
					t.Fatalf("request %d: got %d %s, want %d %s", i, r.status, r.body, tc.status, tc.body)
				}
				if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Content-Type") != "application/json" {
					t.Errorf("request %d: header %v, want JSON and no-store", i, r.header)
				}
				ra := r.header.Get("Retry-After")
				if tc.retryMin == 0 {
					if ra != "" {
						t.Errorf("request %d: Retry-After %q, want none", i, ra)
					}
				} else if n, err := strconv.Atoi(ra); err != nil || n < tc.retryMin || n > tc.retryMax {
					t.Errorf("request %d: Retry-After %q, want %d to %d", i, ra, tc.retryMin, tc.retryMax)
				}
			}
			if got := f.count(speechPrefix); !tc.dead && got != 1 {
				t.Errorf("token requests: got %d, want 1", got)
			}
			out := log.String()
			if n := strings.Count(out, "level=ERROR"); n != 1 {
				t.Errorf("logged %d errors, want 1:\n%s", n, out)
			}
			for _, want := range tc.logs {
				if !strings.Contains(out, want) {
					t.Errorf("log lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, clientSecret) {
				t.Errorf("log contains the client secret:\n%s", out)
			}
		})
	}
}

// TestNativeRecoversAfterBackoff checks that a transient failure is retried
// once its wait has passed, and not before.
func TestNativeRecoversAfterBackoff(t *testing.T) {
	t.Parallel()
	f := newFaultServer(t)
	f.script(speechPrefix, step{status: 500})
	url, _ := startNative(t, f.URL)

	r := get(t, url+"/speech")
	if r.status != 503 {
		t.Fatalf("first request: got %d %s, want 503", r.status, r.body)
	}
	wait, _ := strconv.Atoi(r.header.Get("Retry-After"))
	if r := get(t, url+"/speech"); r.status != 503 || f.count(speechPrefix) != 1 {
		t.Fatalf("during the wait: got %d and %d token requests, want 503 and 1", r.status, f.count(speechPrefix))
	}
	time.Sleep(time.Duration(wait) * time.Second)
	r = get(t, url+"/speech")
	if r.status != 200 || !strings.Contains(r.body, "fault-cogni-1") {
		t.Fatalf("after the wait: got %d %s, want 200 with fault-cogni-1", r.status, r.body)
	}
	if got := f.count(speechPrefix); got != 2 {
		t.Errorf("token requests: got %d, want 2", got)
	}
}
