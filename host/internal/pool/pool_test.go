package pool_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/edgetoken/edgetoken/host/internal/pool"
)

// guestWasm is the test guest from testdata/guest, built once per test
// binary. cache is shared so that each pool does not compile it again.
var (
	guestWasm []byte
	cache     = wazero.NewCompilationCache()
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pool-guest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out := filepath.Join(dir, "guest.wasm")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(gobin, "build", "-buildmode=c-shared", "-trimpath", "-o", out, "./testdata/guest")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build test guest: %v\n%s", err, b)
		os.Exit(1)
	}
	guestWasm, err = os.ReadFile(out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func newPool(t *testing.T, cfg pool.Config) *pool.Pool {
	t.Helper()
	cfg.Wasm = guestWasm
	if cfg.Cache == nil && cfg.CacheDir == "" {
		cfg.Cache = cache
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p, err := pool.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pool.New: %v", err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

// call runs export with params on an instance from p and returns its result.
func call(p *pool.Pool, export string, params ...uint64) (uint64, error) {
	var result uint64
	err := p.Run(context.Background(), func(ctx context.Context, m api.Module) error {
		res, err := m.ExportedFunction(export).Call(ctx, params...)
		if err != nil {
			return err
		}
		if len(res) > 0 {
			result = res[0]
		}
		return nil
	})
	return result, err
}

func TestPoolRunCallsGuest(t *testing.T) {
	p := newPool(t, pool.Config{Size: 1})

	got, err := call(p, "add", 2, 3)
	if err != nil {
		t.Fatalf("add: %v", err)
	}
	if got != 5 {
		t.Errorf("add(2, 3) = %d, want 5", got)
	}

	st := p.Stats()
	if st.Size != 1 || st.Idle != 1 || st.Busy != 0 || st.Replaced != 0 {
		t.Errorf("stats = %+v, want size 1, idle 1, busy 0, replaced 0", st)
	}
}

func TestPoolReusesInstance(t *testing.T) {
	p := newPool(t, pool.Config{Size: 1})

	for want := uint64(1); want <= 3; want++ {
		got, err := call(p, "calls")
		if err != nil {
			t.Fatalf("calls: %v", err)
		}
		if got != want {
			t.Errorf("call %d: instance counted %d calls, want %d", want, got, want)
		}
	}
}

func TestPoolTrapReplacesInstance(t *testing.T) {
	p := newPool(t, pool.Config{Size: 1})
	if _, err := call(p, "calls"); err != nil {
		t.Fatalf("calls: %v", err)
	}

	if _, err := call(p, "trap"); err == nil {
		t.Fatal("trap: got no error")
	}

	// The only instance trapped, so this call waits for its replacement,
	// which has served no call yet.
	got, err := call(p, "calls")
	if err != nil {
		t.Fatalf("calls after trap: %v", err)
	}
	if got != 1 {
		t.Errorf("calls after trap = %d, want 1 (a fresh instance)", got)
	}
	if st := p.Stats(); st.Replaced != 1 {
		t.Errorf("replaced = %d, want 1", st.Replaced)
	}
}

func TestPoolTimeoutStopsGuest(t *testing.T) {
	p := newPool(t, pool.Config{Size: 1, CallTimeout: 200 * time.Millisecond})

	start := time.Now()
	_, err := call(p, "spin")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("spin: got error %v, want one wrapping context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("spin returned after %s, want about 200ms", d)
	}

	got, err := call(p, "add", 1, 1)
	if err != nil {
		t.Fatalf("add after timeout: %v", err)
	}
	if got != 2 {
		t.Errorf("add(1, 1) = %d, want 2", got)
	}
	if st := p.Stats(); st.Replaced != 1 {
		t.Errorf("replaced = %d, want 1", st.Replaced)
	}
}

func TestPoolCanceledCallerDoesNotStopGuest(t *testing.T) {
	p := newPool(t, pool.Config{Size: 1})
	ctx, cancel := context.WithCancel(context.Background())

	err := p.Run(ctx, func(callCtx context.Context, m api.Module) error {
		cancel()
		if callCtx.Err() != nil {
			return fmt.Errorf("call context ended with the caller: %w", callCtx.Err())
		}
		_, err := m.ExportedFunction("add").Call(callCtx, 1, 2)
		return err
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st := p.Stats(); st.Replaced != 0 {
		t.Errorf("replaced = %d, want 0", st.Replaced)
	}
}

func TestPoolOneCallPerInstance(t *testing.T) {
	const size, workers, callsEach = 2, 8, 25
	p := newPool(t, pool.Config{Size: size})

	var (
		mu       sync.Mutex
		inCall   = map[api.Module]int{}
		overlaps atomic.Int32
		maxBusy  atomic.Int32
		busy     atomic.Int32
	)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range callsEach {
				err := p.Run(context.Background(), func(ctx context.Context, m api.Module) error {
					mu.Lock()
					inCall[m]++
					if inCall[m] > 1 {
						overlaps.Add(1)
					}
					mu.Unlock()
					n := busy.Add(1)
					for {
						prev := maxBusy.Load()
						if n <= prev || maxBusy.CompareAndSwap(prev, n) {
							break
						}
					}

					_, err := m.ExportedFunction("add").Call(ctx, 1, 2)
					time.Sleep(time.Millisecond)

					busy.Add(-1)
					mu.Lock()
					inCall[m]--
					mu.Unlock()
					return err
				})
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			}
		})
	}
	wg.Wait()

	if n := overlaps.Load(); n != 0 {
		t.Errorf("%d calls overlapped on one instance, want 0", n)
	}
	if n := maxBusy.Load(); n > size {
		t.Errorf("max concurrent calls = %d, want at most %d", n, size)
	}
	if n := len(inCall); n != size {
		t.Errorf("calls used %d instances, want %d", n, size)
	}
}

func TestPoolMemoryLimit(t *testing.T) {
	for _, heap := range []bool{false, true} {
		t.Run(fmt.Sprintf("heap=%v", heap), func(t *testing.T) {
			// 256 pages of 64 KiB: 16 MiB of linear memory.
			p := newPool(t, pool.Config{Size: 1, MemoryLimitPages: 256, HeapMemory: heap})

			if _, err := call(p, "grow", 2); err != nil {
				t.Fatalf("grow 2 MiB under a 16 MiB limit: %v", err)
			}
			if _, err := call(p, "grow", 32); err == nil {
				t.Fatal("grow 32 MiB under a 16 MiB limit: got no error")
			}

			got, err := call(p, "calls")
			if err != nil {
				t.Fatalf("calls after out of memory: %v", err)
			}
			if got != 1 {
				t.Errorf("calls after out of memory = %d, want 1 (a fresh instance)", got)
			}
		})
	}
}

func TestPoolWaitHonoursContext(t *testing.T) {
	p := newPool(t, pool.Config{Size: 1})
	hold := make(chan struct{})
	held := make(chan struct{})
	go func() {
		_ = p.Run(context.Background(), func(context.Context, api.Module) error {
			close(held)
			<-hold
			return nil
		})
	}()
	<-held
	defer close(hold)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := p.Run(ctx, func(context.Context, api.Module) error {
		t.Error("second call got an instance while the only one was busy")
		return nil
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run: got error %v, want context.DeadlineExceeded", err)
	}
	if st := p.Stats(); st.Busy != 1 || st.Idle != 0 {
		t.Errorf("stats = %+v, want busy 1, idle 0", st)
	}
}

func TestPoolCloseWaitsAndRejects(t *testing.T) {
	p := newPool(t, pool.Config{Size: 1})
	release := make(chan struct{})
	started := make(chan struct{})
	finished := make(chan error, 1)
	go func() {
		finished <- p.Run(context.Background(), func(ctx context.Context, m api.Module) error {
			close(started)
			<-release
			_, err := m.ExportedFunction("add").Call(ctx, 1, 2)
			return err
		})
	}()
	<-started

	closed := make(chan error, 1)
	go func() { closed <- p.Close(context.Background()) }()

	select {
	case err := <-closed:
		t.Fatalf("Close returned %v while a call was in progress", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)

	if err := <-finished; err != nil {
		t.Errorf("call in progress during Close: %v", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := call(p, "add", 1, 1); !errors.Is(err, pool.ErrClosed) {
		t.Errorf("Run after Close: got %v, want ErrClosed", err)
	}
}

func TestPoolUnusableCacheDir(t *testing.T) {
	// A regular file where the cache directory should be.
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	p := newPool(t, pool.Config{
		Size:     1,
		CacheDir: filepath.Join(file, "wazero"),
		Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
	})

	if got, err := call(p, "add", 2, 2); err != nil || got != 4 {
		t.Errorf("add(2, 2) = %d, %v; want 4, nil", got, err)
	}
	if !bytes.Contains(logs.Bytes(), []byte("compilation cache unavailable")) {
		t.Errorf("log = %q, want a warning about the compilation cache", logs.String())
	}
}

func TestPoolRequiresWasm(t *testing.T) {
	if _, err := pool.New(context.Background(), pool.Config{}); err == nil {
		t.Error("New without a module: got no error")
	}
}
