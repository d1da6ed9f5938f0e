// Package pool runs a fixed number of instances of one wasip1 reactor module
// under wazero and hands each call an instance of its own.
//
// An instance of a Go guest is never safe for two calls at once: the Go
// runtime inside it is single-threaded and its heap is not guarded. The pool
// therefore checks an instance out for the whole call, including any outgoing
// HTTP request the guest makes through a host import, and checks it back in
// when the call returns. An instance whose call fails in any way is closed and
// replaced, because a trap can leave the guest's heap half-updated.
package pool

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// Defaults used when the matching Config field is zero.
const (
	// DefaultMemoryLimitPages caps each instance's linear memory at 64 MiB
	// (1024 pages of 64 KiB). The token service's guest uses about 5-8 MiB.
	DefaultMemoryLimitPages = 1024

	// DefaultCallTimeout bounds one guest call, including the outgoing token
	// request a cache miss makes. It is longer than the egress client's
	// overall timeout, so a slow authority ends as the guest's own error
	// response rather than as a killed instance.
	DefaultCallTimeout = 30 * time.Second
)

// ErrClosed is returned by Run after Close has been called.
var ErrClosed = errors.New("pool: closed")

// DefaultSize returns the default number of instances: twice GOMAXPROCS, and
// at least 4.
//
// For calls served from the shared store, the guest is CPU-bound and one
// instance per CPU is enough. But a call that misses the store holds its
// instance while the outgoing token request is in flight, and calls that wait
// for another instance's fetch hold theirs too. The extra instances keep
// ordinary requests running through such a wait. Each instance costs about
// 3-5 MiB of resident memory.
func DefaultSize() int {
	return max(4, 2*runtime.GOMAXPROCS(0))
}

// DefaultCacheDir returns the directory for wazero's compilation cache:
// edgetoken/wazero under the user's cache directory, or "" when the system
// has none.
func DefaultCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "edgetoken", "wazero")
}

// Config describes a pool. The zero value of each field means its default.
type Config struct {
	// Wasm is the guest module's binary. Required.
	Wasm []byte

	// Size is the number of instances. Defaults to DefaultSize().
	Size int

	// CacheDir is where compiled code is kept between runs. Empty disables
	// the file cache. When the directory cannot be used, the pool logs a
	// warning and compiles without a cache.
	CacheDir string

	// Cache, when set, is used instead of CacheDir. Tests share one
	// in-memory cache so that each pool does not compile the guest again.
	Cache wazero.CompilationCache

	// MemoryLimitPages caps each instance's linear memory, in 64 KiB pages.
	// Defaults to DefaultMemoryLimitPages.
	MemoryLimitPages uint32

	// CallTimeout bounds each call. Defaults to DefaultCallTimeout.
	CallTimeout time.Duration

	// HeapMemory keeps linear memory in the Go heap instead of in memory
	// mapped outside it. The mapped memory grows in place and is returned to
	// the system when an instance closes; the heap form is copied on each
	// growth and held until the Go garbage collector runs.
	HeapMemory bool

	// TrustGuestLoops compiles the guest without wazero's termination
	// checks. Those checks leave the compiled code for Go at the head of
	// every loop, and a Go guest has a loop at the entry of nearly every
	// function, so they cost the token service's guest about three times
	// its CPU per request. Without them the call time limit still ends the
	// waits in host calls that honour the call's context, such as outgoing
	// requests, but not a guest that computes without calling the host:
	// such a call keeps its instance until it returns.
	TrustGuestLoops bool

	// Register adds host modules, other than wasi_snapshot_preview1, to the
	// runtime before the guest is instantiated.
	Register func(ctx context.Context, r wazero.Runtime) error

	// Stdout and Stderr receive the guest's output. Both default to
	// os.Stderr, so the guest never writes into the host's standard output.
	Stdout, Stderr io.Writer

	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Pool is a fixed set of instances of one guest module.
type Pool struct {
	runtime  wazero.Runtime
	compiled wazero.CompiledModule
	modCfg   wazero.ModuleConfig
	timeout  time.Duration
	size     int
	log      *slog.Logger
	allocCtx context.Context // carries the memory allocator for instantiation

	idle chan api.Module

	busy      atomic.Int64
	starting  atomic.Int64
	replaced  atomic.Uint64
	callsDone sync.WaitGroup // one count per call in progress

	mu     sync.Mutex // guards closed and the Add side of callsDone
	closed bool
	done   chan struct{} // closed by Close; stops replacement retries
}

// Stats is a snapshot of the pool for metrics.
type Stats struct {
	Size     int    // configured number of instances
	Idle     int    // instances waiting for a call
	Busy     int    // instances running a call
	Starting int    // instances being created to replace failed ones
	Replaced uint64 // instances replaced since the pool started
}

// New compiles the guest, creates cfg.Size instances and calls each one's
// _initialize export. It fails when the module does not compile or an
// instance does not start.
func New(ctx context.Context, cfg Config) (*Pool, error) {
	if len(cfg.Wasm) == 0 {
		return nil, errors.New("pool: no wasm module")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	size := cfg.Size
	if size <= 0 {
		size = DefaultSize()
	}
	pages := cfg.MemoryLimitPages
	if pages == 0 {
		pages = DefaultMemoryLimitPages
	}
	timeout := cfg.CallTimeout
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}

	rtCfg := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(pages).
		WithCloseOnContextDone(!cfg.TrustGuestLoops)
	if cache := compilationCache(cfg, log); cache != nil {
		rtCfg = rtCfg.WithCompilationCache(cache)
	}
	r := wazero.NewRuntimeWithConfig(ctx, rtCfg)

	p := &Pool{
		runtime:  r,
		timeout:  timeout,
		size:     size,
		log:      log,
		allocCtx: ctx,
		idle:     make(chan api.Module, size),
		done:     make(chan struct{}),
	}
	if !cfg.HeapMemory {
		p.allocCtx = experimental.WithMemoryAllocator(ctx, newMappedAllocator())
	}
	if err := p.setup(ctx, cfg); err != nil {
		_ = r.Close(ctx)
		return nil, err
	}
	return p, nil
}

func (p *Pool) setup(ctx context.Context, cfg Config) error {
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, p.runtime); err != nil {
		return fmt.Errorf("pool: instantiate wasi_snapshot_preview1: %w", err)
	}
	if cfg.Register != nil {
		if err := cfg.Register(ctx, p.runtime); err != nil {
			return fmt.Errorf("pool: register host modules: %w", err)
		}
	}

	start := time.Now()
	compiled, err := p.runtime.CompileModule(ctx, cfg.Wasm)
	if err != nil {
		return fmt.Errorf("pool: compile guest: %w", err)
	}
	p.compiled = compiled
	p.log.Debug("guest compiled", "duration", time.Since(start))

	stdout, stderr := cfg.Stdout, cfg.Stderr
	if stdout == nil {
		stdout = os.Stderr
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	// The defaults for clocks, sleep and randomness in wazero are
	// deterministic fakes. The guest checks token expiry against the clock
	// and may sleep while another instance fetches, so it needs real ones.
	p.modCfg = wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions("_initialize").
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithRandSource(rand.Reader).
		WithStdout(stdout).
		WithStderr(stderr)

	for range p.size {
		m, err := p.instantiate()
		if err != nil {
			return err
		}
		p.idle <- m
	}
	return nil
}

func (p *Pool) instantiate() (api.Module, error) {
	m, err := p.runtime.InstantiateModule(p.allocCtx, p.compiled, p.modCfg)
	if err != nil {
		return nil, fmt.Errorf("pool: instantiate guest: %w", err)
	}
	return m, nil
}

// compilationCache returns the cache from cfg, or nil to compile without one.
func compilationCache(cfg Config, log *slog.Logger) wazero.CompilationCache {
	if cfg.Cache != nil {
		return cfg.Cache
	}
	if cfg.CacheDir == "" {
		return nil
	}
	if err := os.MkdirAll(cfg.CacheDir, 0o700); err != nil {
		log.Warn("compilation cache unavailable, compiling without it",
			"dir", cfg.CacheDir, "error", err)
		return nil
	}
	cache, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
	if err != nil {
		log.Warn("compilation cache unavailable, compiling without it",
			"dir", cfg.CacheDir, "error", err)
		return nil
	}
	return cache
}

// Run checks out an instance, calls fn with it and a context that ends after
// the call time limit, and checks the instance back in.
//
// ctx bounds only the wait for a free instance. Once fn starts, it runs to
// completion or to the time limit even when ctx is canceled, because
// stopping a guest mid-call costs the instance: a client that disconnects
// would otherwise destroy instances.
//
// When fn returns an error, the instance is closed and replaced in the
// background, and Run returns the error. When the time limit ended the call,
// the error wraps context.DeadlineExceeded.
func (p *Pool) Run(ctx context.Context, fn func(ctx context.Context, m api.Module) error) error {
	m, err := p.acquire(ctx)
	if err != nil {
		return err
	}
	defer p.callsDone.Done()

	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout)
	defer cancel()

	p.busy.Add(1)
	err = fn(callCtx, m)
	p.busy.Add(-1)

	if err == nil && !m.IsClosed() {
		p.idle <- m
		return nil
	}
	if err == nil {
		err = errors.New("pool: guest instance closed during the call")
	}
	if callCtx.Err() != nil && !errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("pool: guest call exceeded %s: %w (%w)",
			p.timeout, context.DeadlineExceeded, err)
	}
	p.replace(m)
	return err
}

// acquire waits for an idle instance and counts the call as in progress.
func (p *Pool) acquire(ctx context.Context) (api.Module, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	p.callsDone.Add(1)
	p.mu.Unlock()

	select {
	case m := <-p.idle:
		return m, nil
	case <-ctx.Done():
		p.callsDone.Done()
		return nil, fmt.Errorf("pool: wait for a guest instance: %w", ctx.Err())
	case <-p.done:
		p.callsDone.Done()
		return nil, ErrClosed
	}
}

// replace closes m and starts a new instance in its place. Instantiation
// takes a few milliseconds, so it runs in the background and the caller can
// answer its client at once. A failed instantiation is retried with a delay
// until it succeeds or the pool closes.
func (p *Pool) replace(m api.Module) {
	p.replaced.Add(1)
	p.starting.Add(1)
	go func() {
		defer p.starting.Add(-1)
		_ = m.Close(context.Background())

		delay := 100 * time.Millisecond
		for {
			select {
			case <-p.done:
				return
			default:
			}
			next, err := p.instantiate()
			if err == nil {
				p.idle <- next
				return
			}
			p.log.Error("replace guest instance", "error", err, "retry_in", delay)
			select {
			case <-p.done:
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, 10*time.Second)
		}
	}()
}

// Stats returns the current counts.
func (p *Pool) Stats() Stats {
	return Stats{
		Size:     p.size,
		Idle:     len(p.idle),
		Busy:     int(p.busy.Load()),
		Starting: int(p.starting.Load()),
		Replaced: p.replaced.Load(),
	}
}

// Close rejects new calls, waits for the calls in progress to return, and
// closes every instance and the runtime.
//
// When ctx ends first, Close returns ctx's error and leaves the runtime
// open: closing it would unmap the linear memory of a guest still running.
// This only happens at process exit, where the memory is released anyway.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	p.mu.Unlock()

	waited := make(chan struct{})
	go func() {
		p.callsDone.Wait()
		close(waited)
	}()
	select {
	case <-waited:
	case <-ctx.Done():
		return fmt.Errorf("pool: close with calls in progress: %w", ctx.Err())
	}
	return p.runtime.Close(ctx)
}
