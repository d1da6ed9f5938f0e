// Package component checks the componentized guest: its imports, a
// reproducible build, and requests served by jco (test/jco/serve.mjs).
//
// EDGETOKEN_TEST_COMPONENT names a component built beforehand
// (make component); otherwise the tests build the guest and componentize it.
package component

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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
)

// buildComponent returns the path of the edgetoken component, built once per
// test binary unless EDGETOKEN_TEST_COMPONENT names one.
func buildComponent(t *testing.T) string {
	t.Helper()
	if path := os.Getenv(componentEnv); path != "" {
		return path
	}
	core := testenv.BuildGuest(t)
	componentOnce.Do(func() {
		dir, err := os.MkdirTemp("", "edgetoken-component-")
		if err != nil {
			componentErr = err
			return
		}
		componentPath = filepath.Join(dir, "edgetoken.component.wasm")
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

// buildTrapGuest builds testdata/trapguest into a component in dir.
func buildTrapGuest(t *testing.T, dir string) string {
	t.Helper()
	root := testenv.RepoRoot(t)
	core := filepath.Join(dir, "trapguest.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s", "-o", core, ".")
	cmd.Dir = filepath.Join(root, "test", "component", "testdata", "trapguest")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build trapguest: %v\n%s", err, output)
	}
	out := filepath.Join(dir, "trapguest.component.wasm")
	if err := componentize(root, core, out); err != nil {
		t.Fatal(err)
	}
	return out
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
// stops it at the test's cleanup.
func startRunner(t *testing.T, component string, config map[string]string) *runner {
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
	cmd := exec.Command("node", filepath.Join(root, "test", "jco", "serve.mjs"),
		"--component", component, "--config", configPath, "--port", "0")
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

func TestJcoRunnerRecoversFromTrap(t *testing.T) {
	component := buildTrapGuest(t, t.TempDir())
	r := startRunner(t, component, map[string]string{})

	status, body := get(t, r.baseURL+"/first")
	if status != 200 || body != "hello /first calls=1" {
		t.Errorf("GET /first = %d %q, want 200 %q", status, body, "hello /first calls=1")
	}
	status, body = get(t, r.baseURL+"/sleep")
	if status != 200 || body != "hello /sleep calls=2" {
		t.Errorf("GET /sleep = %d %q, want 200 %q", status, body, "hello /sleep calls=2")
	}
	status, body = get(t, r.baseURL+"/panic")
	if status != 500 || body != `{"detail":"Internal Server Error"}` {
		t.Errorf("GET /panic = %d %q, want 500 with the error body", status, body)
	}
	// A fresh instance serves the next request, so its count starts over.
	status, body = get(t, r.baseURL+"/after")
	if status != 200 || body != "hello /after calls=1" {
		t.Errorf("GET /after = %d %q, want 200 %q", status, body, "hello /after calls=1")
	}
	if !strings.Contains(r.Log(), "stderr line /first") {
		t.Error("guest stderr did not reach the runner's stderr")
	}
}

func TestJcoServesSpeechToken(t *testing.T) {
	const accessToken = "eyJ0eXAiOiJKV1QifQ.test.signature"
	const resourceID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/speech"
	var tokenRequests int
	var mu sync.Mutex
	authority := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		tokenRequests++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"expires_in":3599,"token_type":"Bearer"}`, accessToken)
	}))
	defer authority.Close()

	r := startRunner(t, buildComponent(t), map[string]string{
		"speech_resource_id":   resourceID,
		"local_mode":           "True",
		"azure_tenant_id":      "contoso.onmicrosoft.com",
		"azure_client_id":      "11111111-1111-1111-1111-111111111111",
		"azure_client_secret":  "test-secret",
		"azure_authority_host": authority.URL,
	})

	status, body := get(t, r.baseURL+"/speech")
	if status == 404 && body == `{"detail":"Not Found"}` {
		// TODO: remove once component/ serves tokens; until then the guest
		// is the placeholder that returns 404 for every path.
		t.Skip("the guest does not serve /speech yet")
	}
	want := `{"speech_token":"aad#` + resourceID + `#` + accessToken + `"}`
	if status != 200 {
		t.Errorf("GET /speech status = %d, want 200 (body %q)", status, body)
	}
	if body != want {
		t.Errorf("GET /speech body = %q, want %q", body, want)
	}

	// The second request is served from the key-value store.
	status, body = get(t, r.baseURL+"/speech")
	if status != 200 || body != want {
		t.Errorf("second GET /speech = %d %q, want 200 %q", status, body, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if tokenRequests != 1 {
		t.Errorf("authority got %d token requests, want 1", tokenRequests)
	}
}
