// Package wasihost implements the imports of the token service's WIT world
// (wasi:http, wasi:io, wasi:keyvalue and wasi:config) natively for wazero,
// and calls the guest's wasi:http/incoming-handler export.
//
// # Resources
//
// Every resource handle lives in a table that belongs to one Handle call and
// is discarded when the call returns, as in hosts that give each request a
// fresh instance. A guest must not keep a handle (a key-value bucket, for
// example) from one request to the next. An import called outside Handle
// traps.
//
// # Concurrency
//
// One instance serves one Handle call at a time. The guest's blocking calls
// (pollable.block, blocking reads and writes) block that instance.
package wasihost

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/edgetoken/edgetoken/internal/token"
)

// DefaultMaxResponseBytes is the body cap used when Options.MaxResponseBytes
// is zero or negative.
const DefaultMaxResponseBytes = 1 << 20

// ErrRequestDenied is the error an Options.Client returns (wrapped) to
// refuse an outgoing request. The guest receives it as the error-code
// HTTP-request-denied.
var ErrRequestDenied = errors.New("outgoing request denied")

// Options configures the host implementations of the imports.
type Options struct {
	// Store backs the key-value bucket "default", shared by all instances.
	Store token.Store
	// Config returns the config store's value for key. It is called on
	// every get, so the values may change while the host runs.
	Config func(key string) (string, bool)
	// ConfigKeys lists the keys get-all returns.
	ConfigKeys func() []string
	// Client sends the guest's outgoing requests. Nil means
	// http.DefaultClient.
	Client *http.Client
	// MaxResponseBytes caps the guest's response body and each upstream
	// response body the guest reads. Zero means DefaultMaxResponseBytes.
	MaxResponseBytes int64
}

// Request is an incoming request for the guest.
type Request struct {
	Method        string
	Scheme        string // "http" or "https"; empty means http
	Authority     string
	PathWithQuery string
	Header        http.Header
	Body          []byte
}

// Response is the guest's complete response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Export is the name of the guest's incoming-handler export.
const Export = "wasi:http/incoming-handler@0.2.0#handle"

// Register instantiates the host modules for wasi:http, wasi:io,
// wasi:keyvalue and wasi:config in r, and wasi_snapshot_preview1 when r does
// not have it yet. Call it once per runtime, before instantiating the guest
// with GuestConfig.
func Register(ctx context.Context, r wazero.Runtime, opts Options) error {
	if opts.Client == nil {
		opts.Client = http.DefaultClient
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if err := instantiatePreview1(ctx, r); err != nil {
		return err
	}
	h := &host{opts: opts}
	for _, m := range h.modules() {
		b := r.NewHostModuleBuilder(m.name)
		for _, f := range m.funcs {
			b.NewFunctionBuilder().
				WithGoModuleFunction(api.GoModuleFunc(f.fn), f.params, f.results).
				Export(f.name)
		}
		if _, err := b.Instantiate(ctx); err != nil {
			return fmt.Errorf("instantiate host module %s: %w", m.name, err)
		}
	}
	return nil
}

type host struct {
	opts Options
}

type hostModule struct {
	name  string
	funcs []hostFunc
}

type hostFunc struct {
	name    string
	params  []api.ValueType
	results []api.ValueType
	fn      func(ctx context.Context, m api.Module, s []uint64)
}

// callKey is the context key of the *call serving the current Handle.
type callKey struct{}

// call is the state of one Handle call: its resource table and the
// response the guest set.
type call struct {
	ctx    context.Context
	cancel context.CancelFunc

	// mu guards table against cleanup racing an outgoing request's
	// goroutine; the guest itself is single-threaded.
	mu     sync.Mutex
	table  map[uint32]any
	next   uint32
	closer []func()

	exports *exports

	outparamSet bool
	response    *outgoingResponse
	responseErr *errorCode
}

func callOf(ctx context.Context) *call {
	c, ok := ctx.Value(callKey{}).(*call)
	if !ok {
		panic("wasihost: import called outside Handle")
	}
	return c
}

// add stores a resource and returns its handle. Handle 0 is never used.
func (c *call) add(v any) uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	c.table[c.next] = v
	return c.next
}

// onCleanup registers f to run when the call ends.
func (c *call) onCleanup(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closer = append(c.closer, f)
}

func (c *call) remove(handle uint32) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.table[handle]
	delete(c.table, handle)
	return v
}

// get returns the resource under handle as a T, trapping the guest when
// the handle is unknown or of another type.
func get[T any](c *call, handle uint32) T {
	c.mu.Lock()
	v, ok := c.table[handle]
	c.mu.Unlock()
	r, isT := v.(T)
	if !ok || !isT {
		var zero T
		panic(fmt.Sprintf("wasihost: invalid handle %d: want %T, have %T", handle, zero, v))
	}
	return r
}

// take removes and returns the resource under handle, for functions that
// consume an owned handle.
func take[T any](c *call, handle uint32) T {
	r := get[T](c, handle)
	c.remove(handle)
	return r
}

// Handle calls the guest's incoming-handler export on mod with req and
// returns the whole response. It returns an error when the guest traps,
// never sets a response, sets an error-code, or leaves the body
// unfinished, so a partial response is never mistaken for a complete one.
// After an error the instance may be in any state; replace it.
func Handle(ctx context.Context, mod api.Module, req *Request) (*Response, error) {
	exports, err := exportsOf(mod)
	if err != nil {
		return nil, err
	}

	callCtx, cancel := context.WithCancel(ctx)
	c := &call{cancel: cancel, table: map[uint32]any{}, exports: exports}
	c.ctx = context.WithValue(callCtx, callKey{}, c)
	defer c.end()

	request := c.add(newIncomingRequest(req))
	outparam := c.add(&responseOutparam{})
	stack := exports.handleStack[:]
	stack[0], stack[1] = uint64(request), uint64(outparam)
	if err := exports.handle.CallWithStack(c.ctx, stack); err != nil {
		return nil, fmt.Errorf("guest %s trapped: %w", Export, err)
	}

	switch {
	case !c.outparamSet:
		return nil, errors.New("guest returned without setting a response")
	case c.responseErr != nil:
		return nil, fmt.Errorf("guest set error-code %s", c.responseErr)
	}
	resp := c.response
	if resp.body == nil || !resp.body.finished {
		return nil, fmt.Errorf("guest did not finish the response body (status %d)", resp.status)
	}
	if resp.body.err != nil {
		return nil, resp.body.err
	}
	header := http.Header{}
	for _, f := range resp.headers.list {
		header.Add(f.name, string(f.value))
	}
	return &Response{Status: resp.status, Header: header, Body: resp.body.buf.Bytes()}, nil
}

// end cancels outgoing requests and releases what the call left open.
func (c *call) end() {
	c.cancel()
	c.mu.Lock()
	closers := c.closer
	c.closer = nil
	c.table = map[uint32]any{}
	c.mu.Unlock()
	for _, f := range closers {
		f()
	}
}
