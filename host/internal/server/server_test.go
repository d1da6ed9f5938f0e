package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgetoken/edgetoken/host/internal/ops"
	"github.com/edgetoken/edgetoken/host/internal/server"
	"github.com/edgetoken/edgetoken/host/internal/wasihost"
)

// startServer serves s on a loopback port and returns its base URL.
func startServer(t *testing.T, cfg server.Config) (string, *server.Server) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := server.New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return "http://" + ln.Addr().String(), s
}

// recorder is a guest stand-in that records the requests it receives.
type recorder struct {
	mu   sync.Mutex
	reqs []*wasihost.Request
}

func (g *recorder) handle(_ context.Context, req *wasihost.Request) (*wasihost.Response, error) {
	g.mu.Lock()
	g.reqs = append(g.reqs, req)
	g.mu.Unlock()
	return &wasihost.Response{
		Status: 200,
		Header: http.Header{"Content-Type": {"application/json"}, "X-Guest": {"yes"}},
		Body:   []byte(`{"ok":true}`),
	}, nil
}

func (g *recorder) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.reqs)
}

func do(t *testing.T, method, url string, body io.Reader, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestForwardsRequestAndResponse(t *testing.T) {
	g := &recorder{}
	url, _ := startServer(t, server.Config{Handler: g.handle})

	resp, body := do(t, "POST", url+"/speech?x=1", strings.NewReader("hello"),
		http.Header{"Origin": {"https://app.example"}})
	if resp.StatusCode != 200 || body != `{"ok":true}` {
		t.Fatalf("got %d %q, want 200 {\"ok\":true}", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Guest"); got != "yes" {
		t.Errorf("X-Guest = %q, want yes", got)
	}
	if got := resp.Header.Get("Content-Length"); got != "11" {
		t.Errorf("Content-Length = %q, want 11", got)
	}

	if g.count() != 1 {
		t.Fatalf("guest calls = %d, want 1", g.count())
	}
	req := g.reqs[0]
	if req.Method != "POST" || req.Scheme != "http" || req.PathWithQuery != "/speech?x=1" ||
		string(req.Body) != "hello" || req.Authority != strings.TrimPrefix(url, "http://") {
		t.Errorf("guest request = %s %s://%s%s body %q", req.Method, req.Scheme, req.Authority,
			req.PathWithQuery, req.Body)
	}
	if got := req.Header.Get("Origin"); got != "https://app.example" {
		t.Errorf("Origin forwarded = %q, want https://app.example", got)
	}
}

func TestHeadSentAsGet(t *testing.T) {
	g := &recorder{}
	url, _ := startServer(t, server.Config{Handler: g.handle})

	resp, body := do(t, "HEAD", url+"/speech", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	if body != "" {
		t.Errorf("HEAD body = %q, want none", body)
	}
	if got := resp.Header.Get("Content-Length"); got != "11" {
		t.Errorf("Content-Length = %q, want 11, the GET body's length", got)
	}
	if g.count() != 1 || g.reqs[0].Method != "GET" {
		t.Errorf("guest requests = %d, method %q; want one GET", g.count(), g.reqs[0].Method)
	}
}

func TestBodyTooLarge(t *testing.T) {
	g := &recorder{}
	url, _ := startServer(t, server.Config{Handler: g.handle, MaxBodyBytes: 16})

	for _, tc := range []struct {
		name string
		body io.Reader
	}{
		{"content_length", strings.NewReader(strings.Repeat("a", 17))},
		// A reader of unknown length is sent chunked, without Content-Length.
		{"chunked", io.MultiReader(strings.NewReader(strings.Repeat("a", 17)))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, "POST", url+"/speech", tc.body, nil)
			if resp.StatusCode != 413 || body != `{"detail":"Request body too large"}` {
				t.Errorf("got %d %q, want 413 {\"detail\":\"Request body too large\"}", resp.StatusCode, body)
			}
		})
	}
	resp, _ := do(t, "POST", url+"/speech", strings.NewReader(strings.Repeat("a", 16)), nil)
	if resp.StatusCode != 200 {
		t.Errorf("body at the limit: status %d, want 200", resp.StatusCode)
	}
	if g.count() != 1 {
		t.Errorf("guest calls = %d, want 1", g.count())
	}
}

func TestHeaderTooLarge(t *testing.T) {
	g := &recorder{}
	url, _ := startServer(t, server.Config{Handler: g.handle, MaxHeaderBytes: 1024})

	// net/http allows 4096 bytes over MaxHeaderBytes before it rejects.
	resp, _ := do(t, "GET", url+"/speech", nil, http.Header{"X-Big": {strings.Repeat("a", 8<<10)}})
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status = %d, want 431", resp.StatusCode)
	}
	if g.count() != 0 {
		t.Errorf("guest calls = %d, want 0", g.count())
	}
}

func TestBusyAtConcurrencyCap(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	handler := func(ctx context.Context, req *wasihost.Request) (*wasihost.Response, error) {
		entered <- struct{}{}
		<-release
		return &wasihost.Response{Status: 200, Body: []byte("done")}, nil
	}
	url, s := startServer(t, server.Config{Handler: handler, MaxInFlight: 2})

	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			resp, body := do(t, "GET", url+"/speech", nil, nil)
			if resp.StatusCode != 200 || body != "done" {
				t.Errorf("held request: got %d %q, want 200 done", resp.StatusCode, body)
			}
		})
	}
	<-entered
	<-entered
	if n := s.InFlight(); n != 2 {
		t.Errorf("InFlight = %d, want 2", n)
	}

	resp, body := do(t, "GET", url+"/speech", nil, nil)
	if resp.StatusCode != 503 || body != `{"detail":"server busy"}` {
		t.Errorf("third request: got %d %q, want 503 {\"detail\":\"server busy\"}", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	close(release)
	wg.Wait()
}

func TestInternalRoutesBlocked(t *testing.T) {
	g := &recorder{}
	url, _ := startServer(t, server.Config{Handler: g.handle})

	for _, p := range []string{
		"/.edgetoken",
		"/.edgetoken/refresh/speech",
		"/.EDGETOKEN/refresh/api",
		"/%2Eedgetoken/refresh/speech",
		"/%2eedgetoken%2frefresh%2fspeech",
		"//.edgetoken/refresh/speech",
		"/speech/../.edgetoken/refresh/speech",
		"/./.edgetoken/refresh/speech?x=1",
	} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		// A raw request, so that no client library cleans the path.
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nEdgetoken-Refresh-Key: k\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", p)
		raw, _ := io.ReadAll(conn)
		conn.Close()
		resp := string(raw)
		if !strings.HasPrefix(resp, "HTTP/1.1 404 ") || !strings.HasSuffix(resp, `{"detail":"Not Found"}`) {
			t.Errorf("POST %s: got\n%s\nwant 404 {\"detail\":\"Not Found\"}", p, resp)
		}
	}
	if g.count() != 0 {
		t.Errorf("guest calls = %d, want 0", g.count())
	}

	resp, _ := do(t, "GET", url+"/.edgetokenish", nil, nil)
	if resp.StatusCode != 200 {
		t.Errorf("/.edgetokenish: status %d, want 200 (not an internal route)", resp.StatusCode)
	}
}

func TestRefreshKeyHeaderStripped(t *testing.T) {
	g := &recorder{}
	url, _ := startServer(t, server.Config{Handler: g.handle})

	do(t, "GET", url+"/speech", nil, http.Header{
		"Edgetoken-Refresh-Key": {"guess"},
		"edgetoken-refresh-key": {"guess2"},
	})
	if g.count() != 1 {
		t.Fatalf("guest calls = %d, want 1", g.count())
	}
	for name := range g.reqs[0].Header {
		if strings.EqualFold(name, "edgetoken-refresh-key") {
			t.Errorf("guest received header %s", name)
		}
	}
}

func TestRequestID(t *testing.T) {
	g := &recorder{}
	var logs bytes.Buffer
	url, _ := startServer(t, server.Config{Handler: g.handle,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})

	resp, _ := do(t, "GET", url+"/speech", nil, http.Header{"X-Request-Id": {"abc-123.x:y_z"}})
	if got := resp.Header.Get("X-Request-Id"); got != "abc-123.x:y_z" {
		t.Errorf("sane ID echoed as %q, want abc-123.x:y_z", got)
	}

	for _, bad := range []string{"has space", "quote\"", strings.Repeat("a", 129)} {
		resp, _ = do(t, "GET", url+"/speech", nil, http.Header{"X-Request-Id": {bad}})
		got := resp.Header.Get("X-Request-Id")
		if got == bad || len(got) != 32 {
			t.Errorf("ID %q replaced by %q, want a new 32-character ID", bad, got)
		}
	}

	resp, _ = do(t, "GET", url+"/speech", nil, nil)
	if got := resp.Header.Get("X-Request-Id"); len(got) != 32 {
		t.Errorf("generated ID = %q, want 32 hex characters", got)
	}

	// Requests end before their log line is written; wait for the last.
	deadline := time.Now().Add(2 * time.Second)
	for strings.Count(logs.String(), "msg=request") < 5 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	line := strings.SplitN(logs.String(), "\n", 2)[0]
	for _, want := range []string{"method=GET", "path=/speech", "status=200", "duration=", "request_id=abc-123.x:y_z"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %q", line, want)
		}
	}
}

func TestGuestErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		wantStatus int
		wantBody   string
	}{
		{"trap", errors.New("guest trapped"), 500, `{"detail":"Internal Server Error"}`},
		{"timeout", fmt.Errorf("pool: %w", context.DeadlineExceeded), 504, `{"detail":"Gateway Timeout"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			url, _ := startServer(t, server.Config{
				Handler: func(context.Context, *wasihost.Request) (*wasihost.Response, error) {
					return nil, tc.err
				},
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			})
			resp, body := do(t, "GET", url+"/speech", nil, nil)
			if resp.StatusCode != tc.wantStatus || body != tc.wantBody {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tc.wantStatus, tc.wantBody)
			}
			if !strings.Contains(logs.String(), "level=ERROR") {
				t.Errorf("no error logged:\n%s", logs.String())
			}
		})
	}
}

func TestShutdownFinishesInFlight(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	handler := func(context.Context, *wasihost.Request) (*wasihost.Response, error) {
		close(entered)
		<-release
		return &wasihost.Response{Status: 200, Body: []byte("finished")}, nil
	}
	url, s := startServer(t, server.Config{Handler: handler})

	got := make(chan string, 1)
	go func() {
		resp, body := do(t, "GET", url+"/speech", nil, nil)
		got <- fmt.Sprintf("%d %s", resp.StatusCode, body)
	}()
	<-entered

	shutdown := make(chan error, 1)
	go func() { shutdown <- s.Shutdown(context.Background()) }()
	time.Sleep(20 * time.Millisecond)
	close(release)

	if r := <-got; r != "200 finished" {
		t.Errorf("in-flight request got %q, want 200 finished", r)
	}
	if err := <-shutdown; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestRoutesServedNatively(t *testing.T) {
	g := &recorder{}
	type observation struct {
		path   string
		status int
	}
	observed := make(chan observation, 10)
	native := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})
	url, _ := startServer(t, server.Config{
		Handler: g.handle,
		Routes:  map[string]http.Handler{"/healthz": native},
		Observe: func(path string, status int, d time.Duration) {
			if d <= 0 {
				t.Errorf("Observe(%s) duration = %s, want more than 0", path, d)
			}
			observed <- observation{path, status}
		},
	})

	resp, body := do(t, "GET", url+"/healthz", nil, nil)
	if resp.StatusCode != 200 || body != `{"status":"ok"}` {
		t.Errorf("/healthz: got %d %q, want 200 {\"status\":\"ok\"}", resp.StatusCode, body)
	}
	if len(resp.Header.Get("X-Request-Id")) != 32 {
		t.Errorf("/healthz X-Request-Id = %q, want a generated ID", resp.Header.Get("X-Request-Id"))
	}
	do(t, "GET", url+"/healthz/", nil, nil)
	do(t, "GET", url+"/.edgetoken/refresh/speech", nil, nil)

	if g.count() != 1 || g.reqs[0].PathWithQuery != "/healthz/" {
		t.Errorf("guest calls = %d, want only /healthz/", g.count())
	}
	want := []observation{{"/healthz", 200}, {"/healthz/", 200}, {"/.edgetoken/refresh/speech", 404}}
	for _, w := range want {
		select {
		case got := <-observed:
			if got != w {
				t.Errorf("Observe got %v, want %v", got, w)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("Observe not called for %s", w.path)
		}
	}
}

func TestRoutesBypassConcurrencyCap(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	handler := func(context.Context, *wasihost.Request) (*wasihost.Response, error) {
		close(entered)
		<-release
		return &wasihost.Response{Status: 200}, nil
	}
	native := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "alive")
	})
	url, _ := startServer(t, server.Config{Handler: handler, MaxInFlight: 1,
		Routes: map[string]http.Handler{"/healthz": native}})

	done := make(chan struct{})
	go func() {
		do(t, "GET", url+"/speech", nil, nil)
		close(done)
	}()
	<-entered
	resp, body := do(t, "GET", url+"/healthz", nil, nil)
	if resp.StatusCode != 200 || body != "alive" {
		t.Errorf("/healthz while busy: got %d %q, want 200 alive", resp.StatusCode, body)
	}
	close(release)
	<-done
}

func TestRequestIDInGuestContext(t *testing.T) {
	got := make(chan string, 1)
	handler := func(ctx context.Context, _ *wasihost.Request) (*wasihost.Response, error) {
		got <- ops.RequestID(ctx)
		return &wasihost.Response{Status: 200}, nil
	}
	url, _ := startServer(t, server.Config{Handler: handler})

	do(t, "GET", url+"/speech", nil, http.Header{"X-Request-Id": {"trace-42"}})
	if id := <-got; id != "trace-42" {
		t.Errorf("request ID in the guest call's context = %q, want trace-42", id)
	}
}
