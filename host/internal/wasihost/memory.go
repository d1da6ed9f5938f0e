package wasihost

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero/api"
)

// Memory helpers. The guest may grow its memory inside cabi_realloc, which
// invalidates any view taken before, so results are written with the
// memory's Write methods after every allocation is done.

func readBytes(m api.Module, ptr, n uint32) []byte {
	if n == 0 {
		return nil
	}
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		panic(fmt.Sprintf("wasihost: guest memory read out of range: %d+%d", ptr, n))
	}
	return append([]byte(nil), b...)
}

func readString(m api.Module, ptr, n uint32) string { return string(readBytes(m, ptr, n)) }

func readU32(m api.Module, ptr uint32) uint32 {
	v, ok := m.Memory().ReadUint32Le(ptr)
	if !ok {
		panic(fmt.Sprintf("wasihost: guest memory read out of range: %d", ptr))
	}
	return v
}

// alloc calls the guest's cabi_realloc for size bytes at align.
func alloc(ctx context.Context, m api.Module, align, size uint32) uint32 {
	if size == 0 {
		return align
	}
	e := callOf(ctx).exports
	if e.realloc == nil {
		panic("wasihost: guest does not export cabi_realloc")
	}
	stack := e.reallocStack[:]
	stack[0], stack[1], stack[2], stack[3] = 0, 0, uint64(align), uint64(size)
	if err := e.realloc.CallWithStack(ctx, stack); err != nil {
		panic(fmt.Sprintf("wasihost: cabi_realloc(%d): %v", size, err))
	}
	return uint32(stack[0])
}

// lower copies b into guest memory and returns its address.
func lower(ctx context.Context, m api.Module, b []byte) uint32 {
	ptr := alloc(ctx, m, 1, uint32(len(b)))
	if len(b) > 0 {
		put(m, ptr, b)
	}
	return ptr
}

func put(m api.Module, ptr uint32, b []byte) {
	if !m.Memory().Write(ptr, b) {
		panic(fmt.Sprintf("wasihost: guest memory write out of range: %d+%d", ptr, len(b)))
	}
}

func put8(m api.Module, ptr uint32, v uint8) {
	if !m.Memory().WriteByte(ptr, v) {
		panic(fmt.Sprintf("wasihost: guest memory write out of range: %d", ptr))
	}
}

func put16(m api.Module, ptr uint32, v uint16) {
	if !m.Memory().WriteUint16Le(ptr, v) {
		panic(fmt.Sprintf("wasihost: guest memory write out of range: %d", ptr))
	}
}

func put32(m api.Module, ptr uint32, v uint32) {
	if !m.Memory().WriteUint32Le(ptr, v) {
		panic(fmt.Sprintf("wasihost: guest memory write out of range: %d", ptr))
	}
}

func put64(m api.Module, ptr uint32, v uint64) {
	if !m.Memory().WriteUint64Le(ptr, v) {
		panic(fmt.Sprintf("wasihost: guest memory write out of range: %d", ptr))
	}
}

// putString lowers s and writes its address and length at ptr and ptr+4.
func putString(ctx context.Context, m api.Module, ptr uint32, s string) {
	addr := lower(ctx, m, []byte(s))
	put32(m, ptr, addr)
	put32(m, ptr+4, uint32(len(s)))
}

// putOptionString writes option<string> at ptr (size 12).
func putOptionString(ctx context.Context, m api.Module, ptr uint32, s string, ok bool) {
	if !ok {
		put8(m, ptr, 0)
		return
	}
	addr := lower(ctx, m, []byte(s))
	put8(m, ptr, 1)
	put32(m, ptr+4, addr)
	put32(m, ptr+8, uint32(len(s)))
}

// putHandleResult writes result<own<T>, E> with a handle payload at ptr+4
// where E is a case without payload (the `result<T>` of the WIT).
func putHandleResult(m api.Module, ptr, handle uint32) {
	put8(m, ptr, 0)
	put32(m, ptr+4, handle)
}

func putUnitErr(m api.Module, ptr uint32) { put8(m, ptr, 1) }

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

func params(n int) []api.ValueType {
	p := make([]api.ValueType, n)
	for i := range p {
		p[i] = i32
	}
	return p
}
