package faults

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgetoken/edgetoken/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Cleanup()
	os.Exit(code)
}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the host binary; skipped with -short")
	}
}

// waitCount waits until the authority got n requests for prefix.
func waitCount(t *testing.T, f *faultServer, prefix string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for f.count(prefix) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s token requests: got %d after %v, want %d", prefix, f.count(prefix), timeout, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHostRefresherHonoursRetryAfter checks that a 429 at start makes the
// host's timer wait for the authority's Retry-After (through the guest's
// 503 Retry-After), that clients meanwhile get 503 with Retry-After without
// reaching the authority, and that the failure is logged once.
func TestHostRefresherHonoursRetryAfter(t *testing.T) {
	skipShort(t)
	t.Parallel()
	f := newFaultServer(t)
	throttled := step{status: 429, header: map[string]string{"Retry-After": "3"}, body: `{"error":"throttled"}`}
	f.script(speechPrefix, throttled)
	f.script(apiPrefix, throttled)
	h := testenv.StartHost(t, env(f))

	waitCount(t, f, speechPrefix, 1, 20*time.Second)
	r := get(t, h.URL+"/speech")
	if r.status == 503 {
		if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n < 1 || n > 3 {
			t.Errorf("Retry-After %q, want 1 to 3", r.header.Get("Retry-After"))
		}
		if r.body != bodyUnavailable {
			t.Errorf("body %s, want %s", r.body, bodyUnavailable)
		}
	} else {
		t.Errorf("GET during the wait: got %d %s, want 503", r.status, r.body)
	}
	if got := f.count(speechPrefix); got != 1 {
		t.Errorf("speech token requests during the wait: got %d, want 1", got)
	}

	waitCount(t, f, speechPrefix, 2, 10*time.Second)
	waitCount(t, f, apiPrefix, 2, 10*time.Second)
	for _, prefix := range []string{speechPrefix, apiPrefix} {
		times := f.times(prefix)
		if gap := times[1].Sub(times[0]); gap < 3*time.Second {
			t.Errorf("%s: second token request %v after the 429, want at least 3s", prefix, gap)
		}
	}
	if r := get(t, h.URL+"/speech"); r.status != 200 {
		t.Errorf("GET after the wait: got %d %s, want 200", r.status, r.body)
	}
	time.Sleep(500 * time.Millisecond)
	if got := f.count(speechPrefix); got != 2 {
		t.Errorf("speech token requests: got %d, want 2", got)
	}
	log := h.Log()
	if n := strings.Count(log, "token refresh failed; retrying"); n != 2 {
		t.Errorf("host logged %d refresh failures, want 1 per token:\n%s", n, log)
	}
	if n := strings.Count(log, "status 429"); n < 2 {
		t.Errorf("log names the 429 %d times, want the guest's line per token:\n%s", n, log)
	}
}

// TestHostSlowBodyBounded checks that an authority that sends its body a
// byte per second does not hold a client: the waiting request gets 503
// in bounded time, the fetch ends by the egress timeout, and no second
// request is sent while the first is open.
func TestHostSlowBodyBounded(t *testing.T) {
	skipShort(t)
	t.Parallel()
	f := newFaultServer(t)
	slow := step{status: 200, body: `{"token_type":"Bearer","expires_in":3599,"access_token":"slow-token-never-finished"}`,
		trickle: time.Second}
	f.script(speechPrefix, slow)
	h := testenv.StartHost(t, env(f))
	waitCount(t, f, speechPrefix, 1, 20*time.Second)

	start := time.Now()
	r := get(t, h.URL+"/speech")
	elapsed := time.Since(start)
	if r.status != 503 && r.status != 504 {
		t.Errorf("got %d %s, want 503 or 504", r.status, r.body)
	}
	if elapsed > 25*time.Second {
		t.Errorf("answered after %v, want at most 25s", elapsed)
	}
	if got := f.count(speechPrefix); got != 1 {
		t.Errorf("speech token requests while the first was open: got %d, want 1", got)
	}
}

// TestHostLoadDebugLogAndShutdown runs one host at debug level through a
// load of 200 clients x 20 requests, checks every answer and that each
// token was fetched once, that the complete output holds no token, secret
// or assertion, and that SIGTERM during a request in progress lets it
// finish.
func TestHostLoadDebugLogAndShutdown(t *testing.T) {
	skipShort(t)
	f := newFaultServer(t)
	h := testenv.StartHost(t, env(f), "-log-level", "debug")
	waitCount(t, f, speechPrefix, 1, 20*time.Second)
	waitCount(t, f, apiPrefix, 1, 20*time.Second)

	const clients, each = 200, 20
	var failed atomic.Int64
	var firstErr sync.Once
	var errText string
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	defer tr.CloseIdleConnections()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := range each {
				path := "/speech"
				if (c+i)%2 == 1 {
					path = "/api"
				}
				resp, err := client.Get(h.URL + path)
				if err != nil {
					failed.Add(1)
					firstErr.Do(func() { errText = err.Error() })
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.Contains(string(b), "fault-") {
					failed.Add(1)
					firstErr.Do(func() { errText = fmt.Sprintf("%s: %d %s", path, resp.StatusCode, b) })
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of %d requests failed; first: %s", n, clients*each, errText)
	}
	if elapsed > 30*time.Second {
		t.Errorf("load took %v, want at most 30s", elapsed)
	}
	t.Logf("%d requests in %v", clients*each, elapsed)
	if s, a := f.count(speechPrefix), f.count(apiPrefix); s != 1 || a != 1 {
		t.Errorf("token requests: speech %d, api %d; want 1 each", s, a)
	}

	// A request whose body is still arriving when SIGTERM comes.
	conn, err := net.Dial("tcp", h.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /speech HTTP/1.1\r\nHost: %s\r\nContent-Length: 4\r\nConnection: close\r\n\r\nab", h.Addr)
	time.Sleep(200 * time.Millisecond)
	exit := make(chan int, 1)
	go func() { exit <- h.Stop() }()
	time.Sleep(500 * time.Millisecond)
	if _, err := io.WriteString(conn, "cd"); err != nil {
		t.Fatalf("finish the body after SIGTERM: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read the response after SIGTERM: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "fault-") {
		t.Errorf("request in progress at SIGTERM: got %d %s, want 200 with a token", resp.StatusCode, b)
	}
	if code := <-exit; code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}

	out := h.Log()
	if !strings.Contains(out, "level=DEBUG") {
		t.Errorf("no debug lines in the output; was -log-level debug applied?\n%.2000s", out)
	}
	secrets := append([]string{clientSecret}, f.tokens()...)
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("output contains %q", s)
		}
	}
	if strings.Contains(out, "client_secret=") || strings.Contains(out, "eyJ") {
		t.Error("output contains a request body or a JWT")
	}
}
