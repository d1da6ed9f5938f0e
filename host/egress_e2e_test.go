package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgetoken/edgetoken/host/internal/ops"
)

var (
	testGuestOnce sync.Once
	testGuestPath string
	testGuestErr  error
)

// buildTestGuest returns component/internal/testguest built as a reactor
// module: EDGETOKEN_TEST_TESTGUEST when it holds an absolute path, and
// otherwise a build made once per test binary.
func buildTestGuest(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the test guest module; skipped with -short")
	}
	if p := os.Getenv("EDGETOKEN_TEST_TESTGUEST"); filepath.IsAbs(p) {
		return p
	}
	testGuestOnce.Do(func() {
		dir, err := os.MkdirTemp("", "edgetoken-testguest")
		if err != nil {
			testGuestErr = err
			return
		}
		testGuestPath = filepath.Join(dir, "testguest.wasm")
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", testGuestPath,
			"./component/internal/testguest")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if out, err := cmd.CombinedOutput(); err != nil {
			testGuestErr = &buildError{err: err, out: string(out)}
		}
	})
	if testGuestErr != nil {
		t.Fatalf("build test guest: %v", testGuestErr)
	}
	return testGuestPath
}

// countingServer is a loopback upstream that counts the requests it gets.
type countingServer struct {
	*httptest.Server
	hits atomic.Int32
}

func startCounting(t *testing.T, h http.HandlerFunc) *countingServer {
	t.Helper()
	s := &countingServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// TestEgressRefusedEndToEnd runs the test guest on the host as start wires
// it, with AZURE_AUTHORITY_HOST naming one loopback server. The guest asks
// for other destinations through wasi:http; the host's egress policy
// refuses them before any connection is made, the guest sees
// HTTP-request-denied, and the forbidden server counts no request.
func TestEgressRefusedEndToEnd(t *testing.T) {
	forbidden := startCounting(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "should not be reached")
	})
	var allowed *countingServer
	allowed = startCounting(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, forbidden.URL+"/after-redirect", http.StatusFound)
			return
		}
		w.Header().Set("X-Reply", "from-authority")
		_, _ = io.WriteString(w, "hello "+r.Header.Get("X-Upstream-Test"))
	})

	// The compiled-code cache outlives the test, so a second run skips the
	// compilation of the guest.
	f := &flags{addr: "127.0.0.1:0", wasmPath: buildTestGuest(t), poolSize: 2,
		cacheDir: filepath.Join(os.TempDir(), "edgetoken-test-wazero"), memoryMiB: 64, shutdownWait: 5 * time.Second, logFormat: "text"}
	var logs syncBuffer
	log, err := ops.NewLogger(&logs, "text", 0)
	if err != nil {
		t.Fatal(err)
	}
	env := envOf(map[string]string{
		"SPEECH_RESOURCE_ID":   testResourceID,
		"AZURE_TENANT_ID":      "00000000-0000-0000-0000-000000000001",
		"AZURE_CLIENT_ID":      "00000000-0000-0000-0000-000000000002",
		"AZURE_CLIENT_SECRET":  "egress-test-secret",
		"AZURE_AUTHORITY_HOST": allowed.URL,
		"LOCAL_MODE":           "true",
	})
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
	base := "http://" + p.addr

	fetch := func(target string) (int, string) {
		t.Helper()
		status, _, body := get(t, base+"/fetch?url="+url.QueryEscape(target))
		return status, body
	}
	allowedHost := strings.TrimPrefix(allowed.URL, "http://")
	_, allowedPort, _ := strings.Cut(allowedHost, ":")

	for _, target := range []string{
		forbidden.URL + "/secret",                // another port on the same address
		"http://localhost:" + allowedPort + "/x", // the allowed server under another name
		"https://" + allowedHost + "/x",          // the allowed address with another scheme
		"http://127.0.0.2:" + allowedPort + "/x", // another loopback address
	} {
		status, body := fetch(target)
		want := `Get "` + target + `": GET ` + target + `: wasi-http error-code HTTP-request-denied`
		if status != 502 || body != want {
			t.Errorf("fetch %s: got %d %q, want 502 %q", target, status, body, want)
		}
	}
	if n := allowed.hits.Load(); n != 0 {
		t.Errorf("allowed server got %d requests from refused fetches, want 0", n)
	}

	// The guest's own client follows a redirect by sending a new request,
	// which the policy checks again.
	status, body := fetch(allowed.URL + "/redirect")
	next := forbidden.URL + "/after-redirect"
	want := `Get "` + next + `": GET ` + next + `: wasi-http error-code HTTP-request-denied`
	if status != 502 || body != want {
		t.Errorf("fetch through a redirect: got %d %q, want 502 %q", status, body, want)
	}

	status, body = fetch(allowed.URL + "/tenant/oauth2/v2.0/token")
	if status != 200 || body != "200 from-authority hello yes" {
		t.Errorf("fetch of the authority: got %d %q, want 200 \"200 from-authority hello yes\"",
			status, body)
	}

	if n := forbidden.hits.Load(); n != 0 {
		t.Errorf("forbidden server got %d requests, want 0", n)
	}
	if n := allowed.hits.Load(); n != 2 {
		t.Errorf("allowed server got %d requests, want 2 (the redirect and the fetch)", n)
	}
	if strings.Contains(logs.String(), "egress-test-secret") {
		t.Errorf("log contains the client secret")
	}
}
