// Package component checks the componentized guest: its imports, a
// reproducible build, the conformance suite served by jco
// (test/jco/serve.mjs), and recovery from a guest trap on jco and on our
// wazero host.
//
// EDGETOKEN_TEST_COMPONENT names a component built beforehand
// (make component); otherwise the tests build the guest and componentize it.
// EDGETOKEN_TEST_GUEST and EDGETOKEN_TEST_HOST work as in internal/testenv.
// The tests need Node.js with `npm ci` run at the repository root;
// `go test -short` skips them.
package component

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgetoken/edgetoken/internal/testenv"
)

const componentEnv = "EDGETOKEN_TEST_COMPONENT"

var (
	componentOnce sync.Once
	componentPath string
	componentErr  error

	trapOnce      sync.Once
	trapCore      string
	trapComponent string
	trapErr       error
)

// workDir holds what this test binary builds once and shares between tests:
// the component, the trap guest, and the jco runner's transpile cache.
var workDir string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "edgetoken-component-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "make work directory:", err)
		os.Exit(1)
	}
	workDir = dir
	code := m.Run()
	os.RemoveAll(workDir)
	testenv.Cleanup()
	os.Exit(code)
}

// skipShort keeps `go test -short ./...` free of node and subprocesses.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs node and builds wasm; skipped with -short")
	}
}

// buildComponent returns the path of the edgetoken component, built once per
// test binary unless EDGETOKEN_TEST_COMPONENT names one.
func buildComponent(t *testing.T) string {
	t.Helper()
	if path := os.Getenv(componentEnv); path != "" {
		return path
	}
	core := testenv.BuildGuest(t)
	componentOnce.Do(func() {
		componentPath = filepath.Join(workDir, "edgetoken.component.wasm")
		componentErr = componentize(testenv.RepoRoot(t), core, componentPath)
	})
	if componentErr != nil {
		t.Fatalf("build component: %v", componentErr)
	}
	return componentPath
}

func componentize(root, core, out string) error {
	cmd := exec.Command("node", filepath.Join(root, "scripts", "component", "componentize.mjs"), core, out)
	cmd.Dir = root
	output, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("componentize %s: %v\n%s", core, err, output)
	}
	return nil
}

// buildTrapGuest builds testdata/trapguest once per test binary and returns
// the core module (for our host) and the component (for jco).
func buildTrapGuest(t *testing.T) (core, component string) {
	t.Helper()
	root := testenv.RepoRoot(t)
	trapOnce.Do(func() {
		trapCore = filepath.Join(workDir, "trapguest.wasm")
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s", "-o", trapCore, ".")
		cmd.Dir = filepath.Join(root, "test", "component", "testdata", "trapguest")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if output, err := cmd.CombinedOutput(); err != nil {
			trapErr = fmt.Errorf("build trapguest: %v\n%s", err, output)
			return
		}
		trapComponent = filepath.Join(workDir, "trapguest.component.wasm")
		trapErr = componentize(root, trapCore, trapComponent)
	})
	if trapErr != nil {
		t.Fatal(trapErr)
	}
	return trapCore, trapComponent
}

var witLine = regexp.MustCompile(`^\s*(import|export)\s+([^;]+);`)

// componentWorld returns the imports and exports that `jco wit` lists.
func componentWorld(t *testing.T, path string) (imports, exports []string) {
	t.Helper()
	root := testenv.RepoRoot(t)
	cmd := exec.Command("node", filepath.Join(root, "node_modules", "@bytecodealliance", "jco", "dist", "jco.js"), "wit", path)
	output, err := cmd.Output()
	if err != nil {
		t.Fatalf("jco wit %s: %v", path, err)
	}
	for _, line := range strings.Split(string(output), "\n") {
		m := witLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if m[1] == "import" {
			imports = append(imports, m[2])
		} else {
			exports = append(exports, m[2])
		}
	}
	sort.Strings(imports)
	return imports, exports
}

// allowedImports are the interfaces of wasi:http/proxy@0.2.0 plus the
// key-value and config interfaces of the world token-service.
var allowedImports = map[string]bool{
	"wasi:io/error@0.2.0":                      true,
	"wasi:io/poll@0.2.0":                       true,
	"wasi:io/streams@0.2.0":                    true,
	"wasi:clocks/monotonic-clock@0.2.0":        true,
	"wasi:clocks/wall-clock@0.2.0":             true,
	"wasi:random/random@0.2.0":                 true,
	"wasi:cli/stdout@0.2.0":                    true,
	"wasi:cli/stderr@0.2.0":                    true,
	"wasi:cli/stdin@0.2.0":                     true,
	"wasi:http/types@0.2.0":                    true,
	"wasi:http/outgoing-handler@0.2.0":         true,
	"wasi:keyvalue/store@0.2.0-draft2":         true,
	"wasi:keyvalue/atomics@0.2.0-draft2":       true,
	"wasi:config/store@0.2.0-draft-2024-09-27": true,
}

func TestComponentImportsOnlyAllowed(t *testing.T) {
	skipShort(t)
	imports, exports := componentWorld(t, buildComponent(t))
	if len(imports) == 0 {
		t.Fatal("jco wit listed no imports")
	}
	for _, name := range imports {
		if !allowedImports[name] {
			t.Errorf("component imports %s, outside wasi:http/proxy@0.2.0 and the key-value and config stores", name)
		}
	}
	if len(exports) != 1 || exports[0] != "wasi:http/incoming-handler@0.2.0" {
		t.Errorf("exports = %q, want [wasi:http/incoming-handler@0.2.0]", exports)
	}
}

func TestComponentizeReproducible(t *testing.T) {
	skipShort(t)
	core := testenv.BuildGuest(t)
	root := testenv.RepoRoot(t)
	dir := t.TempDir()
	first := filepath.Join(dir, "first.wasm")
	second := filepath.Join(dir, "second.wasm")
	for _, out := range []string{first, second} {
		if err := componentize(root, core, out); err != nil {
			t.Fatal(err)
		}
	}
	a, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(second)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("two builds from the same core module differ (%d and %d bytes)", len(a), len(b))
	}
}

// runner is test/jco/serve.mjs running as a subprocess.
type runner struct {
	baseURL string
	mu      sync.Mutex
	log     bytes.Buffer
}

func (r *runner) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.Write(p)
}

func (r *runner) Log() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.String()
}

// startRunner serves component on jco with the given config store values and
// stops it at the test's cleanup. args are added to serve.mjs's arguments.
func startRunner(t *testing.T, component string, config map[string]string, args ...string) *runner {
	t.Helper()
	root := testenv.RepoRoot(t)
	configPath := filepath.Join(t.TempDir(), "config.json")
	configJSON, err := json.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(configPath, configJSON, 0o600); err != nil {
		t.Fatal(err)
	}

	r := &runner{}
	cmd := exec.Command("node", append([]string{filepath.Join(root, "test", "jco", "serve.mjs"),
		"--component", component, "--config", configPath, "--port", "0",
		"--cache-dir", filepath.Join(workDir, "jco-cache")}, args...)...)
	cmd.Dir = root
	cmd.Stderr = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start jco runner: %v", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("jco runner log:\n%s", r.Log())
		}
	})

	ready := make(chan string, 1)
	go func() {
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			line := scanner.Text()
			if addr, ok := strings.CutPrefix(line, "listening "); ok {
				ready <- addr
				continue
			}
			// Guest stdout shares the pipe with the listening line.
			fmt.Fprintln(r, line)
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case addr := <-ready:
		r.baseURL = "http://" + addr
	case <-done:
		t.Fatalf("jco runner exited before listening:\n%s", r.Log())
	case <-time.After(30 * time.Second):
		t.Fatalf("jco runner did not listen within 30s:\n%s", r.Log())
	}
	return r
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body of GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// checkTrapRecovery sends the trap guest a request, one that sleeps, one
// that traps, and one after it, on the runtime at baseURL. The runtime must
// return a 500 for the trapping request and serve the next one from a fresh
// instance, whose count of calls starts over.
func checkTrapRecovery(t *testing.T, baseURL string) {
	t.Helper()
	steps := []struct {
		path   string
		status int
		body   string
	}{
		{"/first", 200, "hello /first calls=1"},
		{"/sleep", 200, "hello /sleep calls=2"},
		{"/panic", 500, `{"detail":"Internal Server Error"}`},
		{"/after", 200, "hello /after calls=1"},
	}
	for _, step := range steps {
		status, body := get(t, baseURL+step.path)
		if status != step.status || body != step.body {
			t.Errorf("GET %s = %d %q, want %d %q", step.path, status, body, step.status, step.body)
		}
	}
}

func TestJcoRunnerRecoversFromTrap(t *testing.T) {
	skipShort(t)
	_, component := buildTrapGuest(t)
	r := startRunner(t, component, map[string]string{})
	checkTrapRecovery(t, r.baseURL)
	if !strings.Contains(r.Log(), "stderr line /first") {
		t.Error("guest stderr did not reach the runner's stderr")
	}
}

// TestHostRecoversFromTrap runs the same guest on our wazero host with one
// instance, so the request after the trap must run on its replacement.
func TestHostRecoversFromTrap(t *testing.T) {
	skipShort(t)
	core, _ := buildTrapGuest(t)
	// The host needs valid settings to start, so it runs with its local
	// authority. Its refresh timer calls the guest under /.edgetoken/, and
	// the trap guest does not count those calls.
	h := testenv.StartHost(t, map[string]string{
		"SPEECH_RESOURCE_ID": speechResourceID,
		"LOCAL_MODE":         "True",
	}, "-wasm", core, "-pool", "1", "-local-authority")
	checkTrapRecovery(t, h.URL)
	if !strings.Contains(h.Log(), "stderr line /first") {
		t.Error("guest stderr did not reach the host's output")
	}
}

const speechResourceID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/speech"

func TestJcoServesSpeechToken(t *testing.T) {
	skipShort(t)
	const accessToken = "eyJ0eXAiOiJKV1QifQ.test.signature"
	type tokenRequest struct {
		path string
		form url.Values
	}
	var (
		mu       sync.Mutex
		requests []tokenRequest
	)
	authority := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if err := req.ParseForm(); err != nil {
			t.Errorf("parse token request form: %v", err)
		}
		mu.Lock()
		requests = append(requests, tokenRequest{path: req.URL.Path, form: req.PostForm})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"expires_in":3599,"token_type":"Bearer"}`, accessToken)
	}))
	defer authority.Close()

	r := startRunner(t, buildComponent(t), map[string]string{
		"speech_resource_id":   speechResourceID,
		"local_mode":           "True",
		"azure_tenant_id":      "contoso.onmicrosoft.com",
		"azure_client_id":      "11111111-1111-1111-1111-111111111111",
		"azure_client_secret":  "test-secret",
		"azure_authority_host": authority.URL,
	})

	want := `{"speech_token":"aad#` + speechResourceID + `#` + accessToken + `"}`
	// The second request is served from the key-value store.
	client := &http.Client{Timeout: 10 * time.Second}
	for i := range 2 {
		resp, err := client.Get(r.baseURL + "/speech")
		if err != nil {
			t.Fatalf("GET /speech: %v", err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("read /speech: %v", err)
		}
		if resp.StatusCode != 200 || string(body) != want {
			t.Errorf("GET /speech #%d = %d %q, want 200 %q", i+1, resp.StatusCode, body, want)
		}
		for name, value := range map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"} {
			if got := resp.Header.Get(name); got != value {
				t.Errorf("GET /speech #%d header %s = %q, want %q", i+1, name, got, value)
			}
		}
	}

	mu.Lock()
	defer mu.Unlock()
	if len(requests) != 1 {
		t.Fatalf("authority got %d token requests, want 1", len(requests))
	}
	got := requests[0]
	if got.path != "/contoso.onmicrosoft.com/oauth2/v2.0/token" {
		t.Errorf("token request path = %q, want /contoso.onmicrosoft.com/oauth2/v2.0/token", got.path)
	}
	wantForm := map[string]string{
		"grant_type":    "client_credentials",
		"client_id":     "11111111-1111-1111-1111-111111111111",
		"client_secret": "test-secret",
		"scope":         "https://cognitiveservices.azure.com/.default",
	}
	for name, value := range wantForm {
		if v := got.form.Get(name); v != value {
			t.Errorf("token request form %s = %q, want %q", name, v, value)
		}
	}
	if strings.Contains(r.Log(), "test-secret") || strings.Contains(r.Log(), accessToken) {
		t.Error("the runner's log contains the client secret or the access token")
	}
}

// A developer tool credential needs our host, which runs the tool and
// stores the tokens. At the edge the guest refuses it with a clear error.
func TestJcoRejectsDeveloperCredential(t *testing.T) {
	skipShort(t)
	r := startRunner(t, buildComponent(t), map[string]string{
		"speech_resource_id":      "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/a",
		"local_mode":              "True",
		"azure_token_credentials": "AzureCLICredential",
	})
	status, body := get(t, r.baseURL+"/speech")
	if status != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", status)
	}
	if want := `{"detail":"token service is misconfigured; see its log"}`; body != want {
		t.Errorf("body = %s, want %s", body, want)
	}
	log := waitLog(r, "only the edgetoken host can do", 5*time.Second)
	if !strings.Contains(log, "AZURE_TOKEN_CREDENTIALS=AzureCLICredential runs a developer tool") {
		t.Errorf("runner log does not explain the error:\n%s", log)
	}
}
