package wasihost_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/edgetoken/edgetoken/host/internal/wasihost"
)

var (
	buildOnce sync.Once
	guestWasm []byte
	buildErr  error
)

// testGuest builds component/internal/testguest once per test binary.
func testGuest(t *testing.T) []byte {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wasihost")
		if err != nil {
			buildErr = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "testguest.wasm")
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", out, "./component/internal/testguest")
		cmd.Dir = filepath.Join("..", "..", "..")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if msg, err := cmd.CombinedOutput(); err != nil {
			buildErr = &buildError{err: err, output: string(msg)}
			return
		}
		guestWasm, buildErr = os.ReadFile(out)
	})
	if buildErr != nil {
		t.Fatalf("build test guest: %v", buildErr)
	}
	return guestWasm
}

type buildError struct {
	err    error
	output string
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.output }

// memStore is a token.Store over a map.
type memStore struct {
	mu sync.Mutex
	m  map[string][]byte
	n  map[string]uint64
}

func (s *memStore) Get(key string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	return v, ok, nil
}

func (s *memStore) Set(key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = value
	return nil
}

func (s *memStore) Delete(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

func (s *memStore) Increment(key string, delta uint64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n[key] += delta
	return s.n[key], nil
}

type env struct {
	runtime wazero.Runtime
	code    wazero.CompiledModule
	store   *memStore
}

var (
	envOnce sync.Once
	shared  *env
	envErr  error
)

// newEnv compiles the guest once per test binary; every test instantiates
// its own modules from it.
func newEnv(t *testing.T) *env {
	t.Helper()
	wasm := testGuest(t)
	envOnce.Do(func() {
		ctx := context.Background()
		r := wazero.NewRuntime(ctx)
		store := &memStore{m: map[string][]byte{}, n: map[string]uint64{}}
		config := map[string]string{"speech_resource_id": "res-1"}
		err := wasihost.Register(ctx, r, wasihost.Options{
			Store: store,
			Config: func(key string) (string, bool) {
				v, ok := config[key]
				return v, ok
			},
			ConfigKeys:       func() []string { return []string{"speech_resource_id"} },
			Client:           &http.Client{},
			MaxResponseBytes: 1 << 20,
		})
		if err != nil {
			envErr = err
			return
		}
		code, err := r.CompileModule(ctx, wasm)
		if err != nil {
			envErr = err
			return
		}
		shared = &env{runtime: r, code: code, store: store}
	})
	if envErr != nil {
		t.Fatalf("set up runtime: %v", envErr)
	}
	return shared
}

func (e *env) instance(t *testing.T) api.Module {
	t.Helper()
	mod, err := e.runtime.InstantiateModule(context.Background(), e.code, wasihost.GuestConfig())
	if err != nil {
		t.Fatalf("instantiate guest: %v", err)
	}
	t.Cleanup(func() { mod.Close(context.Background()) })
	return mod
}

func do(t *testing.T, mod api.Module, method, target string, body string) *wasihost.Response {
	t.Helper()
	req := &wasihost.Request{
		Method:        method,
		Scheme:        "http",
		Authority:     "example.test",
		PathWithQuery: target,
		Header:        http.Header{"X-Test": {"hello"}},
		Body:          []byte(body),
	}
	resp, err := wasihost.Handle(context.Background(), mod, req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	return resp
}

func check(t *testing.T, resp *wasihost.Response, status int, body string) {
	t.Helper()
	if resp.Status != status {
		t.Errorf("status: got %d, want %d (body %q)", resp.Status, status, resp.Body)
	}
	if string(resp.Body) != body {
		t.Errorf("body: got %q, want %q", resp.Body, body)
	}
}

func TestEchoGet(t *testing.T) {
	mod := newEnv(t).instance(t)
	resp := do(t, mod, "GET", "/echo?a=1&b=2", "")
	check(t, resp, 200, "")
	for name, want := range map[string]string{
		"X-Method": "GET", "X-Query": "a=1&b=2", "X-Test": "hello", "Content-Type": "text/plain",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("header %s: got %q, want %q", name, got, want)
		}
	}
	if got := strings.Join(resp.Header.Values("X-Multi"), ","); got != "a,b" {
		t.Errorf("header X-Multi: got %q, want %q", got, "a,b")
	}
}

func TestEchoPost(t *testing.T) {
	mod := newEnv(t).instance(t)
	body := strings.Repeat("0123456789", 5000)
	resp := do(t, mod, "POST", "/echo", body)
	check(t, resp, 200, body)
	if got := resp.Header.Get("X-Method"); got != "POST" {
		t.Errorf("X-Method: got %q, want POST", got)
	}
	// A second request on the same instance still works.
	check(t, do(t, mod, "PUT", "/echo", "x"), 200, "x")
}

func TestRequestTooLarge(t *testing.T) {
	mod := newEnv(t).instance(t)
	resp := do(t, mod, "POST", "/echo", strings.Repeat("x", 64<<10+1))
	check(t, resp, 413, `{"detail":"Request Entity Too Large"}`)
}

func TestNotFound(t *testing.T) {
	mod := newEnv(t).instance(t)
	check(t, do(t, mod, "GET", "/nope", ""), 404, `{"detail":"Not Found"}`)
}

func TestHandlerPanic(t *testing.T) {
	mod := newEnv(t).instance(t)
	check(t, do(t, mod, "GET", "/panic", ""), 500, `{"detail":"Internal Server Error"}`)
	check(t, do(t, mod, "GET", "/echo", ""), 200, "")
}

func TestOutgoingRequest(t *testing.T) {
	var gotMethod, gotHeader, gotBody string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotMethod, gotHeader, gotBody = r.Method, r.Header.Get("X-Upstream-Test"), string(b)
		w.Header().Set("X-Reply", "r1")
		w.WriteHeader(201)
		io.WriteString(w, "payload:"+string(b))
	}))
	defer upstream.Close()
	mod := newEnv(t).instance(t)

	check(t, do(t, mod, "GET", "/fetch?url="+upstream.URL+"/x", ""), 200, "201 r1 payload:")
	if gotMethod != "GET" || gotHeader != "yes" || gotBody != "" {
		t.Errorf("upstream got %s header %q body %q", gotMethod, gotHeader, gotBody)
	}

	check(t, do(t, mod, "POST", "/fetch?url="+upstream.URL+"/x", "grant_type=x"), 200, "201 r1 payload:grant_type=x")
	if gotMethod != "POST" || gotBody != "grant_type=x" {
		t.Errorf("upstream got %s body %q, want POST grant_type=x", gotMethod, gotBody)
	}
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	mod := newEnv(t).instance(t)

	resp := do(t, mod, "POST", "/fetch?url=http://"+addr+"/token", "body")
	if resp.Status != 502 {
		t.Fatalf("status: got %d, want 502 (body %q)", resp.Status, resp.Body)
	}
	want := "wasi-http error-code connection-refused"
	if !strings.HasSuffix(string(resp.Body), want) {
		t.Errorf("body: got %q, want suffix %q", resp.Body, want)
	}
}

func TestKeyValueShared(t *testing.T) {
	e := newEnv(t)
	a, b := e.instance(t), e.instance(t)

	check(t, do(t, a, "GET", "/kv/get?key=shared", ""), 404, "absent")
	check(t, do(t, a, "GET", "/kv/set?key=shared&value=v1", ""), 204, "")
	check(t, do(t, b, "GET", "/kv/get?key=shared", ""), 200, "v1")
	check(t, do(t, a, "GET", "/kv/incr?key=lease/x/1", ""), 200, "1")
	check(t, do(t, b, "GET", "/kv/incr?key=lease/x/1", ""), 200, "2")
	check(t, do(t, b, "GET", "/kv/delete?key=shared", ""), 204, "")
	check(t, do(t, a, "GET", "/kv/get?key=shared", ""), 404, "absent")
}

func TestConfigGet(t *testing.T) {
	mod := newEnv(t).instance(t)
	check(t, do(t, mod, "GET", "/config?key=speech_resource_id", ""), 200, "res-1")
	check(t, do(t, mod, "GET", "/config?key=missing", ""), 404, "unset")
}

func TestMain(m *testing.M) {
	if runtime.GOOS == "wasip1" {
		os.Exit(0)
	}
	os.Exit(m.Run())
}
