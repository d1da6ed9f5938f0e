package wasihost

import (
	"context"
	"errors"
	"io"
	"reflect"

	"github.com/tetratelabs/wazero/api"
)

// pollable is ready when done is closed; a nil done is always ready.
type pollable struct {
	done <-chan struct{}
}

func (p *pollable) ready() bool {
	if p.done == nil {
		return true
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

type inputStream struct {
	r   io.Reader
	err error
}

type outputStream struct {
	body *outgoingBody
}

type ioError struct {
	err error
}

// maxWritePermit is what check-write grants; blocking-write-and-flush takes
// at most 4096 bytes by the interface's contract, but writes here never
// need backpressure.
const maxWritePermit = 1 << 16

// putStreamError writes the stream-error case of a result at ret: the
// result's case at 0, the variant's at off and the error handle at off+4.
func putStreamError(c *call, m api.Module, ret, off uint32, err error) {
	put8(m, ret, 1)
	if err == io.EOF {
		put8(m, ret+off, 1)
		return
	}
	put8(m, ret+off, 0)
	put32(m, ret+off+4, c.add(&ioError{err: err}))
}

// read implements input-stream.read and blocking-read: result<list<u8>,
// stream-error>, the list at 4 and the stream-error at 4. Reads block in
// both, since the readers here are memory or an HTTP body.
func (h *host) read(ctx context.Context, m api.Module, s []uint64) {
	c := callOf(ctx)
	in := get[*inputStream](c, uint32(s[0]))
	n, ret := min(s[1], 1<<20), uint32(s[2])
	if in.err != nil {
		putStreamError(c, m, ret, 4, in.err)
		return
	}
	buf := make([]byte, readSize(in.r, n))
	got := 0
	for got == 0 && n > 0 {
		var err error
		got, err = in.r.Read(buf)
		if err != nil {
			in.err = err
			break
		}
	}
	if got == 0 && in.err != nil {
		putStreamError(c, m, ret, 4, in.err)
		return
	}
	addr := lower(ctx, m, buf[:got])
	put8(m, ret, 0)
	put32(m, ret+4, addr)
	put32(m, ret+8, uint32(got))
}

// readSize returns how many bytes to read from r when the guest requests
// up to n. Guests request a buffer's worth (16 KiB from the token service)
// even for the empty body of a GET, so the buffer follows what r contains
// when r reports its length, and is at most maxReadChunk otherwise, because
// a stream read may return fewer bytes than requested.
func readSize(r io.Reader, n uint64) int {
	size := min(n, maxReadChunk)
	if l, ok := r.(interface{ Len() int }); ok {
		// At least 1, so that a drained reader reports io.EOF.
		size = min(size, uint64(max(l.Len(), 1)))
	}
	return int(size)
}

const maxReadChunk = 64 << 10

// skip implements input-stream.skip and blocking-skip: result<u64,
// stream-error>, the payload at 8.
func (h *host) skip(ctx context.Context, m api.Module, s []uint64) {
	c := callOf(ctx)
	in := get[*inputStream](c, uint32(s[0]))
	ret := uint32(s[2])
	if in.err != nil {
		putStreamError(c, m, ret, 8, in.err)
		return
	}
	n, err := io.CopyN(io.Discard, in.r, int64(min(s[1], 1<<30)))
	if err != nil {
		in.err = err
		if n == 0 {
			putStreamError(c, m, ret, 8, err)
			return
		}
	}
	put8(m, ret, 0)
	put64(m, ret+8, uint64(n))
}

// write implements output-stream write and blocking-write-and-flush:
// result<_, stream-error>, the stream-error at 4.
func (h *host) write(ctx context.Context, m api.Module, s []uint64) {
	c := callOf(ctx)
	out := get[*outputStream](c, uint32(s[0]))
	data := readBytes(m, uint32(s[1]), uint32(s[2]))
	ret := uint32(s[3])
	if err := out.body.write(data); err != nil {
		putStreamError(c, m, ret, 4, err)
		return
	}
	put8(m, ret, 0)
}

func (h *host) writeZeroes(ctx context.Context, m api.Module, s []uint64) {
	c := callOf(ctx)
	out := get[*outputStream](c, uint32(s[0]))
	ret := uint32(s[2])
	if err := out.body.write(make([]byte, min(s[1], 1<<20))); err != nil {
		putStreamError(c, m, ret, 4, err)
		return
	}
	put8(m, ret, 0)
}

func (h *host) splice(ctx context.Context, m api.Module, s []uint64) {
	c := callOf(ctx)
	out := get[*outputStream](c, uint32(s[0]))
	in := get[*inputStream](c, uint32(s[1]))
	ret := uint32(s[3])
	if in.err != nil {
		putStreamError(c, m, ret, 8, in.err)
		return
	}
	buf := make([]byte, min(s[2], 1<<20))
	n, err := in.r.Read(buf)
	if err != nil {
		in.err = err
	}
	if n == 0 && err != nil {
		putStreamError(c, m, ret, 8, err)
		return
	}
	if err := out.body.write(buf[:n]); err != nil {
		putStreamError(c, m, ret, 8, err)
		return
	}
	put8(m, ret, 0)
	put64(m, ret+8, uint64(n))
}

func (h *host) ioFuncs() (poll, streams, ioerror []hostFunc) {
	one := []api.ValueType{i32}
	ok := func(ctx context.Context, m api.Module, s []uint64) {
		// result<_, stream-error> with nothing to flush.
		get[*outputStream](callOf(ctx), uint32(s[0]))
		put8(m, uint32(s[1]), 0)
	}
	subscribe := func(ctx context.Context, m api.Module, s []uint64) {
		s[0] = uint64(callOf(ctx).add(&pollable{}))
	}
	poll = []hostFunc{
		{"[method]pollable.ready", params(1), one, func(ctx context.Context, m api.Module, s []uint64) {
			s[0] = 0
			if get[*pollable](callOf(ctx), uint32(s[0])).ready() {
				s[0] = 1
			}
		}},
		{"[method]pollable.block", params(1), nil, func(ctx context.Context, m api.Module, s []uint64) {
			p := get[*pollable](callOf(ctx), uint32(s[0]))
			if p.done != nil {
				select {
				case <-p.done:
				case <-ctx.Done():
				}
			}
		}},
		{"poll", params(3), nil, h.poll},
		h.drop("pollable"),
	}
	streams = []hostFunc{
		{"[method]input-stream.read", []api.ValueType{i32, i64, i32}, nil, h.read},
		{"[method]input-stream.blocking-read", []api.ValueType{i32, i64, i32}, nil, h.read},
		{"[method]input-stream.skip", []api.ValueType{i32, i64, i32}, nil, h.skip},
		{"[method]input-stream.blocking-skip", []api.ValueType{i32, i64, i32}, nil, h.skip},
		{"[method]input-stream.subscribe", params(1), one, subscribe},
		h.drop("input-stream"),
		{"[method]output-stream.check-write", params(2), nil, func(ctx context.Context, m api.Module, s []uint64) {
			get[*outputStream](callOf(ctx), uint32(s[0]))
			ret := uint32(s[1])
			put8(m, ret, 0)
			put64(m, ret+8, maxWritePermit)
		}},
		{"[method]output-stream.write", params(4), nil, h.write},
		{"[method]output-stream.blocking-write-and-flush", params(4), nil, h.write},
		{"[method]output-stream.flush", params(2), nil, ok},
		{"[method]output-stream.blocking-flush", params(2), nil, ok},
		{"[method]output-stream.subscribe", params(1), one, subscribe},
		{"[method]output-stream.write-zeroes", []api.ValueType{i32, i64, i32}, nil, h.writeZeroes},
		{"[method]output-stream.blocking-write-zeroes-and-flush", []api.ValueType{i32, i64, i32}, nil, h.writeZeroes},
		{"[method]output-stream.splice", []api.ValueType{i32, i32, i64, i32}, nil, h.splice},
		{"[method]output-stream.blocking-splice", []api.ValueType{i32, i32, i64, i32}, nil, h.splice},
		h.drop("output-stream"),
	}
	ioerror = []hostFunc{
		{"[method]error.to-debug-string", params(2), nil, func(ctx context.Context, m api.Module, s []uint64) {
			e := get[*ioError](callOf(ctx), uint32(s[0]))
			putString(ctx, m, uint32(s[1]), e.err.Error())
		}},
		h.drop("error"),
	}
	return poll, streams, ioerror
}

// poll blocks until at least one pollable is ready and returns the indexes
// of the ready ones as list<u32>.
func (h *host) poll(ctx context.Context, m api.Module, s []uint64) {
	c := callOf(ctx)
	ptr, n, ret := uint32(s[0]), uint32(s[1]), uint32(s[2])
	if n == 0 {
		panic(errors.New("wasihost: poll called with an empty list"))
	}
	list := make([]*pollable, n)
	for i := range n {
		list[i] = get[*pollable](c, readU32(m, ptr+4*i))
	}
	ready := readyIndexes(list)
	if len(ready) == 0 {
		cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())}}
		for _, p := range list {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(p.done)})
		}
		reflect.Select(cases)
		ready = readyIndexes(list)
	}
	base := alloc(ctx, m, 4, uint32(4*len(ready)))
	for i, idx := range ready {
		put32(m, base+uint32(4*i), idx)
	}
	put32(m, ret, base)
	put32(m, ret+4, uint32(len(ready)))
}

func readyIndexes(list []*pollable) []uint32 {
	var ready []uint32
	for i, p := range list {
		if p.ready() {
			ready = append(ready, uint32(i))
		}
	}
	return ready
}
