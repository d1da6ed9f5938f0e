package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgetoken/edgetoken/host/internal/ops"
	"github.com/edgetoken/edgetoken/internal/token"
)

var (
	guestOnce sync.Once
	guestPath string
	guestErr  error
)

// buildGuest builds the guest module once per test binary, the way the
// Makefile does.
func buildGuest(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the guest module; skipped with -short")
	}
	guestOnce.Do(func() {
		dir, err := os.MkdirTemp("", "edgetoken-guest")
		if err != nil {
			guestErr = err
			return
		}
		guestPath = filepath.Join(dir, "guest.wasm")
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", guestPath, "./component")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if out, err := cmd.CombinedOutput(); err != nil {
			guestErr = &buildError{err: err, out: string(out)}
		}
	})
	if guestErr != nil {
		t.Fatalf("build guest: %v", guestErr)
	}
	return guestPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

const testResourceID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/Microsoft.CognitiveServices/accounts/local-speech"

// startHost runs the host with the local authority on loopback ports and a
// JSON logger writing to logs.
func startHost(t *testing.T, adminAddr string, logs io.Writer) *process {
	t.Helper()
	f := &flags{addr: "127.0.0.1:0", adminAddr: adminAddr, wasmPath: buildGuest(t), poolSize: 2, localAuthority: true,
		memoryMiB: 64, shutdownWait: 5 * time.Second, logFormat: "json"}
	log, err := ops.NewLogger(logs, "json", -4) // debug
	if err != nil {
		t.Fatal(err)
	}
	env := envOf(map[string]string{"SPEECH_RESOURCE_ID": testResourceID, "LOCAL_MODE": "true"})
	ctx, cancel := context.WithCancel(context.Background())
	p, err := start(ctx, f, env, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := p.close(5 * time.Second); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return p
}

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// waitReady polls /readyz until it returns 200, for at most 20 s.
func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, _, body := get(t, base+"/readyz")
		if status == 200 {
			if body != `{"status":"ready"}` {
				t.Errorf("/readyz body = %q, want {\"status\":\"ready\"}", body)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 20 s: %d %s", status, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestHostOpsEndpoints(t *testing.T) {
	var logs syncBuffer
	p := startHost(t, "", &logs)
	base := "http://" + p.addr
	waitReady(t, base)

	status, header, body := get(t, base+"/healthz")
	if status != 200 || body != `{"status":"ok"}` || header.Get("Content-Type") != "application/json" {
		t.Errorf("/healthz = %d %q %q, want 200 application/json {\"status\":\"ok\"}",
			status, header.Get("Content-Type"), body)
	}
	if status, _, body := get(t, base+"/speech"); status != 200 ||
		!strings.HasPrefix(body, `{"speech_token":"aad#`+testResourceID+`#`) {
		t.Errorf("/speech = %d %.60q, want 200 with a speech token", status, body)
	}
	if status, _, _ := get(t, base+"/no/such/path"); status != 404 {
		t.Errorf("/no/such/path status = %d, want 404", status)
	}

	status, header, metrics := get(t, base+"/metrics")
	if status != 200 || header.Get("Content-Type") != ops.ContentTypeMetrics {
		t.Fatalf("/metrics = %d %q", status, header.Get("Content-Type"))
	}
	want := []string{
		`edgetoken_http_requests_total{route="/healthz",status="200"} 1`,
		`edgetoken_http_requests_total{route="/speech",status="200"} 1`,
		`edgetoken_http_requests_total{route="other",status="404"} 1`,
		`edgetoken_http_request_duration_seconds_count{route="/speech"} 1`,
		// The warm-up fetch at start; /speech was served from the store.
		`edgetoken_token_fetches_total{scope="speech",result="success"} 1`,
		`edgetoken_pool_instances{state="busy"} 0`,
		`edgetoken_pool_instances{state="idle"} 2`,
		`edgetoken_pool_replaced_total 0`,
	}
	for _, w := range want {
		if !containsLine(metrics, w) {
			t.Errorf("metrics lack %q", w)
		}
	}
	if !containsLinePrefix(metrics, `edgetoken_upstream_requests_total{host="127.0.0.1:`, `",result="2xx"} 1`) {
		t.Errorf("metrics lack one 2xx upstream request to the local authority:\n%s", metrics)
	}
	if !containsLinePrefix(metrics, `edgetoken_token_remaining_lifetime_seconds{scope="speech"} `, "") ||
		containsLine(metrics, `edgetoken_token_remaining_lifetime_seconds{scope="speech"} 0`) {
		t.Errorf("metrics lack a positive remaining lifetime for speech")
	}

	// A stored token that disappears makes the host not ready.
	if err := p.tokens.Delete(token.TokenKey("https://cognitiveservices.azure.com/.default")); err != nil {
		t.Fatal(err)
	}
	status, _, body = get(t, base+"/readyz")
	if status != 503 || body != `{"status":"not ready","missing":["speech"]}` {
		t.Errorf("/readyz without a token = %d %q, want 503 {\"status\":\"not ready\",\"missing\":[\"speech\"]}",
			status, body)
	}

	// Every request line of the JSON log carries the request ID the
	// response carried.
	requests := 0
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Errorf("log line is not JSON: %q", sc.Text())
			continue
		}
		if rec["msg"] == "request" {
			requests++
			if id, _ := rec["request_id"].(string); len(id) != 32 {
				t.Errorf("request log line without a request_id: %s", sc.Text())
			}
		}
	}
	if requests < 6 {
		t.Errorf("request log lines = %d, want at least 6", requests)
	}
}

func TestHostAdminAddr(t *testing.T) {
	var logs syncBuffer
	p := startHost(t, "127.0.0.1:0", &logs)
	admin := "http://" + p.adminAddr
	waitReady(t, admin)

	if status, _, body := get(t, admin+"/healthz"); status != 200 || body != `{"status":"ok"}` {
		t.Errorf("admin /healthz = %d %q, want 200", status, body)
	}
	if status, _, body := get(t, admin+"/speech"); status != 404 || body != `{"detail":"Not Found"}` {
		t.Errorf("admin /speech = %d %q, want 404 {\"detail\":\"Not Found\"}", status, body)
	}
	// The service's address leaves these paths to the guest, which has no
	// such route.
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if status, _, _ := get(t, "http://"+p.addr+path); status != 404 {
			t.Errorf("public %s status = %d, want 404", path, status)
		}
	}
	_, _, metrics := get(t, admin+"/metrics")
	if !containsLine(metrics, `edgetoken_http_requests_total{route="/healthz",status="404"} 1`) ||
		!containsLine(metrics, `edgetoken_http_requests_total{route="/healthz",status="200"} 1`) {
		t.Errorf("metrics do not count both listeners:\n%s", metrics)
	}
}

func containsLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

func containsLinePrefix(text, prefix, suffix string) bool {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) && strings.HasSuffix(l, suffix) {
			return true
		}
	}
	return false
}
