// Package browser runs the example single-page app (examples/browser) in
// headless Chromium against the guest on the wazero host. The page gets its
// Speech token over CORS and hands it to the real Speech SDK, which talks to
// a loopback stand-in for the Speech service (run.mjs).
//
// The test needs Node.js with `npm ci` run at the repository root, and
// Chromium at /usr/bin/chromium or at the path in CHROMIUM. `go test
// -short` skips it.
package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgetoken/edgetoken/internal/testenv"
)

const (
	resourceID = "/subscriptions/00000000-0000-0000-0000-00000000b0b0/resourceGroups/browser" +
		"/providers/Microsoft.CognitiveServices/accounts/browser-speech"
	appID = "00000000-0000-4000-8000-00000000b0b1"

	// refreshInterval is the host's minimum SPEECH_TOKEN_REFRESH_INTERVAL,
	// so the token the host serves changes while the page is open.
	refreshInterval = "10s"
	// pageRefreshSeconds replaces the page's expiry-based refresh delay:
	// tokens from the local authority live an hour.
	pageRefreshSeconds = "2"
	// runTimeout bounds run.mjs; it stops itself after driverTimeout.
	driverTimeout = 45 * time.Second
	runTimeout    = driverTimeout + 15*time.Second
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	testenv.Cleanup()
	os.Exit(code)
}

// report is the JSON line run.mjs prints.
type report struct {
	OK       bool     `json:"ok"`
	Failures []string `json:"failures"`
	OriginA  string   `json:"origin_a"`
	OriginB  string   `json:"origin_b"`
	First    struct {
		Issued              string `json:"issued"`
		SpeechAuthorization string `json:"speech_authorization"`
		SpeechPath          string `json:"speech_path"`
		Text                string `json:"text"`
	} `json:"first"`
	Refresh struct {
		TokenFetches        int    `json:"token_fetches"`
		Issued              string `json:"issued"`
		SpeechAuthorization string `json:"speech_authorization"`
		SpeechConnections   int    `json:"speech_connections"`
		Text                string `json:"text"`
	} `json:"refresh"`
	Disallowed struct {
		StatusState       string   `json:"status_state"`
		Status            string   `json:"status"`
		TokenCount        int      `json:"token_count"`
		RecognizeDisabled bool     `json:"recognize_disabled"`
		RequestFailures   []string `json:"request_failures"`
		CORSConsoleErrors int      `json:"cors_console_errors"`
	} `json:"disallowed"`
}

func TestBrowserSpeechClient(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: runs node, Chromium and the host; skipped with -short")
	}
	root := testenv.RepoRoot(t)
	node := lookTools(t, root)

	// run.mjs serves origin A on this port; the host must allow it before
	// the page loads.
	portA := freePort(t)
	originA := "http://127.0.0.1:" + portA
	h := testenv.StartHost(t, map[string]string{
		"SPEECH_RESOURCE_ID":            resourceID,
		"API_APP_ID":                    appID,
		"ALLOWED_ORIGINS":               originA,
		"SPEECH_TOKEN_REFRESH_INTERVAL": refreshInterval,
	}, "-local-authority")
	checkHostCORS(t, h.URL+"/speech", originA)

	r := runDriver(t, node, root, "--token-url", h.URL+"/speech", "--port-a", portA,
		"--refresh-seconds", pageRefreshSeconds,
		"--timeout-seconds", strconv.Itoa(int(driverTimeout/time.Second)))

	for _, failure := range r.Failures {
		t.Errorf("run.mjs: %s", failure)
	}
	if !r.OK {
		t.Errorf("run.mjs: ok is false")
	}
	if r.OriginA != originA {
		t.Errorf("origin A: got %s, want %s", r.OriginA, originA)
	}

	prefix := "aad#" + resourceID + "#"
	if !strings.HasPrefix(r.First.Issued, prefix) {
		t.Errorf("first token: got %.60q…, want the prefix %q", r.First.Issued, prefix)
	} else if parts := strings.Split(strings.TrimPrefix(r.First.Issued, prefix), "."); len(parts) != 3 {
		t.Errorf("first token: the access token has %d JWT segments, want 3", len(parts))
	}
	if r.First.SpeechAuthorization != "Bearer "+r.First.Issued {
		t.Errorf("first recognition: the Speech stand-in got Authorization %.60q…, want \"Bearer \" + %.60q…",
			r.First.SpeechAuthorization, r.First.Issued)
	}
	if want := "/speech/recognition/interactive/cognitiveservices/v1"; r.First.SpeechPath != want {
		t.Errorf("first recognition: path %q, want %q", r.First.SpeechPath, want)
	}
	if want := "Stand-in phrase number 1."; r.First.Text != want {
		t.Errorf("first recognition: page shows %q, want %q", r.First.Text, want)
	}

	if r.Refresh.TokenFetches < 2 {
		t.Errorf("refresh: the page fetched %d tokens, want at least 2", r.Refresh.TokenFetches)
	}
	if !strings.HasPrefix(r.Refresh.Issued, prefix) {
		t.Errorf("refreshed token: got %.60q…, want the prefix %q", r.Refresh.Issued, prefix)
	}
	if r.Refresh.Issued == r.First.Issued {
		t.Errorf("refreshed token: equals the first token")
	}
	if r.Refresh.SpeechConnections != 2 {
		t.Errorf("second recognition: the Speech stand-in saw %d connections, want 2", r.Refresh.SpeechConnections)
	}
	if r.Refresh.SpeechAuthorization != "Bearer "+r.Refresh.Issued {
		t.Errorf("second recognition: the Speech stand-in got Authorization %.60q…, want \"Bearer \" + %.60q…",
			r.Refresh.SpeechAuthorization, r.Refresh.Issued)
	}
	if want := "Stand-in phrase number 2."; r.Refresh.Text != want {
		t.Errorf("second recognition: page shows %q, want %q", r.Refresh.Text, want)
	}

	if r.Disallowed.StatusState != "error" {
		t.Errorf("origin B: page status %q (%s), want error", r.Disallowed.StatusState, r.Disallowed.Status)
	}
	if r.Disallowed.TokenCount != 0 {
		t.Errorf("origin B: the page counted %d tokens, want 0", r.Disallowed.TokenCount)
	}
	if !r.Disallowed.RecognizeDisabled {
		t.Errorf("origin B: the Recognize button is enabled")
	}
	if len(r.Disallowed.RequestFailures) == 0 {
		t.Errorf("origin B: the token request did not fail in the browser")
	}
	if r.Disallowed.CORSConsoleErrors == 0 {
		t.Errorf("origin B: the browser console shows no CORS error")
	}
}

// lookTools returns the node binary and fails t when node, the npm packages
// or Chromium are missing.
func lookTools(t *testing.T, root string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node not found on PATH (install Node.js 20 or later): %v", err)
	}
	for _, pkg := range []string{"playwright-core", "microsoft-cognitiveservices-speech-sdk", "ws"} {
		if _, err := os.Stat(filepath.Join(root, "node_modules", pkg, "package.json")); err != nil {
			t.Fatalf("%s is not installed; run `npm ci` in %s", pkg, root)
		}
	}
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("Chromium not found at %s (install the chromium package or set CHROMIUM): %v", chromium, err)
	}
	return node
}

// checkHostCORS checks the host's CORS headers before the browser runs,
// so a CORS failure in the page points to the page or to the host.
func checkHostCORS(t *testing.T, speechURL, originA string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	for _, tc := range []struct {
		origin, wantAllow string
	}{
		{originA, originA},
		{"http://127.0.0.1:1", ""},
	} {
		req, err := http.NewRequest(http.MethodGet, speechURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", tc.origin)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET /speech with Origin %s: %v", tc.origin, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /speech with Origin %s: status %d, want 200", tc.origin, resp.StatusCode)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.wantAllow {
			t.Fatalf("GET /speech with Origin %s: Access-Control-Allow-Origin %q, want %q",
				tc.origin, got, tc.wantAllow)
		}
	}
}

// runDriver runs run.mjs in its own process group, kills the group when it
// outlives runTimeout, and decodes the JSON line it printed last.
func runDriver(t *testing.T, node, root string, args ...string) report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()

	cmd := exec.CommandContext(ctx, node, append([]string{filepath.Join("test", "browser", "run.mjs")}, args...)...)
	cmd.Dir = root
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Chromium runs in the driver's process group, so the kill reaches it too.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr

	start := time.Now()
	err := cmd.Run()
	t.Logf("run.mjs took %v", time.Since(start).Round(time.Millisecond))
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("run run.mjs: %v\nstderr:\n%s", err, stderr.Bytes())
	}
	if ctx.Err() != nil {
		t.Fatalf("run.mjs did not finish within %v\nstdout:\n%s\nstderr:\n%s", runTimeout, stdout.Bytes(), stderr.Bytes())
	}

	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var r report
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatalf("decode the output of run.mjs: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.Bytes(), stderr.Bytes())
	}
	if err != nil {
		t.Logf("run.mjs exited with status %d\nstderr:\n%s", exitErr.ExitCode(), stderr.Bytes())
	}
	return r
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}
