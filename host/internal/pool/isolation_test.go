package pool_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/edgetoken/edgetoken/host/internal/pool"
	"github.com/edgetoken/edgetoken/host/internal/wasihost"
	"github.com/edgetoken/edgetoken/internal/token"
)

var (
	httpGuestOnce sync.Once
	httpGuest     []byte
	httpGuestErr  error
)

// testHTTPGuest returns component/internal/testguest, a wasi:http guest:
// the file named by EDGETOKEN_TEST_TESTGUEST when it is an absolute path,
// and otherwise a build made once per test binary.
func testHTTPGuest(t *testing.T) []byte {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the wasi:http test guest; skipped with -short")
	}
	httpGuestOnce.Do(func() {
		path := os.Getenv("EDGETOKEN_TEST_TESTGUEST")
		if !filepath.IsAbs(path) {
			dir, err := os.MkdirTemp("", "pool-testguest")
			if err != nil {
				httpGuestErr = err
				return
			}
			defer os.RemoveAll(dir)
			path = filepath.Join(dir, "testguest.wasm")
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", path,
				"./component/internal/testguest")
			cmd.Dir = filepath.Join("..", "..", "..")
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			if out, err := cmd.CombinedOutput(); err != nil {
				httpGuestErr = fmt.Errorf("%w: %s", err, out)
				return
			}
		}
		httpGuest, httpGuestErr = os.ReadFile(path)
	})
	if httpGuestErr != nil {
		t.Fatalf("test guest: %v", httpGuestErr)
	}
	return httpGuest
}

// httpCache keeps the test guest's compiled code for every pool of this
// test binary.
var httpCache = wazero.NewCompilationCache()

func newHTTPPool(t *testing.T, size int, timeout time.Duration) *pool.Pool {
	t.Helper()
	wasm := testHTTPGuest(t)
	p, err := pool.New(context.Background(), pool.Config{
		Wasm:        wasm,
		Size:        size,
		Cache:       httpCache,
		CallTimeout: timeout,
		Stderr:      io.Discard, // the trapping guest prints its panic
		Register: func(ctx context.Context, r wazero.Runtime) error {
			return wasihost.Register(ctx, r, wasihost.Options{
				Store:      token.NewMemoryStore(),
				Config:     trapConfig,
				ConfigKeys: func() []string { return nil },
				Client:     &http.Client{},
			})
		},
	})
	if err != nil {
		t.Fatalf("pool.New: %v", err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

// trapConfig is a config store whose key "trap" makes the host function
// panic, which fails the guest's call as a trap does: wazero turns the panic
// into the call's error.
func trapConfig(key string) (string, bool) {
	if key == "trap" {
		panic("config store failure")
	}
	return "", false
}

func echo(p *pool.Pool, body string) (*wasihost.Response, error) {
	return p.Do(context.Background(), &wasihost.Request{
		Method: "POST", Scheme: "http", Authority: "pool.test",
		PathWithQuery: "/echo", Body: []byte(body),
	})
}

// TestPoolIsolatesFailingCalls runs, on a pool of 4, one call that traps
// and one that waits on its upstream past the call time limit, while two
// other clients keep sending requests. Each of those requests gets 200
// with its own body, the trapped instance is replaced, the slow call ends
// at the limit, and the pool returns to its full size.
func TestPoolIsolatesFailingCalls(t *testing.T) {
	const size, timeout = 4, 1500 * time.Millisecond

	// slow holds the guest's outgoing request until the host cancels it,
	// or 2 s at most.
	slowEntered := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slowEntered <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}))
	defer slow.Close()

	p := newHTTPPool(t, size, timeout)

	type outcome struct {
		resp *wasihost.Response
		err  error
		at   time.Time
	}
	stuck := make(chan outcome, 1)
	go func() {
		resp, err := p.Do(context.Background(), &wasihost.Request{
			Method: "GET", Scheme: "http", Authority: "pool.test",
			PathWithQuery: "/fetch?url=" + url.QueryEscape(slow.URL),
		})
		stuck <- outcome{resp, err, time.Now()}
	}()
	<-slowEntered
	stuckSince := time.Now()

	trapped := make(chan error, 1)
	go func() {
		_, err := p.Do(context.Background(), &wasihost.Request{
			Method: "GET", Scheme: "http", Authority: "pool.test", PathWithQuery: "/config?key=trap",
		})
		trapped <- err
	}()

	var wg sync.WaitGroup
	for c := range 2 {
		wg.Go(func() {
			for i := range 15 {
				body := fmt.Sprintf("client %d request %d", c, i)
				resp, err := echo(p, body)
				if err != nil {
					t.Errorf("%s: %v", body, err)
					continue
				}
				if resp.Status != 200 || string(resp.Body) != body {
					t.Errorf("%s: got %d %q, want 200 with its own body", body, resp.Status, resp.Body)
				}
			}
		})
	}
	wg.Wait()
	if d := time.Since(stuckSince); d >= timeout {
		t.Errorf("the other requests took %s, want them done while the slow call still ran (%s)", d, timeout)
	}

	if err := <-trapped; err == nil || !strings.Contains(err.Error(), "config store failure") {
		t.Errorf("trapping call: got %v, want the host function's panic", err)
	}
	// At the time limit two endings race: wazero stops the guest (an error
	// wrapping context.DeadlineExceeded, and the instance is replaced), or
	// the host ends the outgoing request's wait first and the guest answers
	// 502 with its own error (the instance is kept).
	got := <-stuck
	wantReplaced := uint64(1)
	switch {
	case errors.Is(got.err, context.DeadlineExceeded):
		wantReplaced = 2
	case got.err == nil && got.resp.Status == 502:
	default:
		t.Errorf("slow call: got %v %v, want a time-limit error or the guest's 502", got.resp, got.err)
	}
	if d := got.at.Sub(stuckSince); d < timeout-100*time.Millisecond || d > timeout+time.Second {
		t.Errorf("slow call ended %s after its request reached upstream, want about %s", d, timeout)
	}

	deadline := time.Now().Add(5 * time.Second)
	for {
		st := p.Stats()
		if st.Idle == size && st.Starting == 0 && st.Busy == 0 {
			if st.Replaced != wantReplaced {
				t.Errorf("replaced = %d, want %d", st.Replaced, wantReplaced)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pool stats %+v 5 s after the failures, want %d idle", st, size)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Every instance serves again, the replacements included.
	var after sync.WaitGroup
	for i := range size {
		after.Go(func() {
			body := fmt.Sprintf("after %d", i)
			resp, err := echo(p, body)
			if err != nil || resp.Status != 200 || string(resp.Body) != body {
				t.Errorf("%s: got %v %v, want 200 with its own body", body, resp, err)
			}
		})
	}
	after.Wait()
}
