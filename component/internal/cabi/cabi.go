//go:build wasip1

// Package cabi holds the pieces of the component model's canonical ABI that
// every hand-written binding needs: the exported cabi_realloc, memory the
// host writes results into, and pinned views of Go memory handed to the host.
//
// Go's wasm port uses 8-byte pointers while the canonical ABI lays records
// out for 32-bit addresses, so bindings never map ABI records onto Go
// structs. They read return areas at explicit offsets instead.
package cabi

import (
	"encoding/binary"
	"runtime"
	"unsafe"
)

// arena serves cabi_realloc before package initialization has run. A
// preview1 adapter calls cabi_realloc from the Go runtime's first clock or
// random read, before the Go heap exists, so Go allocation there traps.
// Arena memory is never reused.
var (
	arena     [512 << 10]byte
	arenaUsed uintptr
	heapReady bool
)

// held keeps heap blocks returned by cabi_realloc alive until the binding
// that made the host call takes them with Take.
var held [][]uint64

func init() { heapReady = true }

//go:wasmexport cabi_realloc
func cabiRealloc(oldPtr, oldSize, align, newSize uint32) uint32 {
	if newSize == 0 {
		return align
	}
	var p unsafe.Pointer
	if !heapReady {
		p = arenaAlloc(uintptr(newSize), uintptr(align))
	} else {
		block := make([]uint64, (newSize+7)/8)
		held = append(held, block)
		p = unsafe.Pointer(&block[0])
	}
	if oldPtr != 0 && oldSize != 0 {
		copy(unsafe.Slice((*byte)(p), newSize), Bytes(oldPtr, min(oldSize, newSize)))
	}
	return uint32(uintptr(p))
}

func arenaAlloc(size, align uintptr) unsafe.Pointer {
	if align < 8 {
		align = 8
	}
	base := uintptr(unsafe.Pointer(&arena[0]))
	start := (base + arenaUsed + align - 1) &^ (align - 1)
	if start+size > base+uintptr(len(arena)) {
		panic("cabi: static arena exhausted before package initialization")
	}
	arenaUsed = start + size - base
	return unsafe.Pointer(&arena[start-base])
}

// Take returns the blocks cabi_realloc handed out since the last Take. Call
// it right after an import that may return lists or strings, and keep the
// result alive until the data has been copied, because the host's only
// reference to that memory is a 32-bit address the garbage collector cannot
// see.
func Take() [][]uint64 {
	blocks := held
	held = nil
	return blocks
}

// Bytes returns a view of n bytes of linear memory at the 32-bit address ptr.
func Bytes(ptr, n uint32) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(nil), uintptr(ptr))), n)
}

// String copies a string the host wrote at ptr.
func String(ptr, n uint32) string { return string(Bytes(ptr, n)) }

// Call pins the Go memory handed to the host during one import call, so it
// stays at its address (off the goroutine stack, away from the collector)
// until Done.
type Call struct{ pinner runtime.Pinner }

// Done unpins everything the call pinned.
func (c *Call) Done() { c.pinner.Unpin() }

// String returns the address and length of s for the host.
func (c *Call) String(s string) (uint32, uint32) {
	if len(s) == 0 {
		return 0, 0
	}
	p := unsafe.StringData(s)
	c.pinner.Pin(p)
	return uint32(uintptr(unsafe.Pointer(p))), uint32(len(s))
}

// Bytes returns the address and length of b for the host.
func (c *Call) Bytes(b []byte) (uint32, uint32) {
	if len(b) == 0 {
		return 0, 0
	}
	c.pinner.Pin(&b[0])
	return uint32(uintptr(unsafe.Pointer(&b[0]))), uint32(len(b))
}

// Area is an 8-byte aligned return area the host writes a result into.
type Area struct {
	words []uint64
	bytes []byte
}

// Area allocates and pins a zeroed return area of size bytes.
func (c *Call) Area(size int) *Area {
	words := make([]uint64, (size+7)/8)
	c.pinner.Pin(&words[0])
	return &Area{words: words, bytes: unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), len(words)*8)}
}

// Ptr returns the area's address for the host.
func (a *Area) Ptr() uint32 { return uint32(uintptr(unsafe.Pointer(&a.words[0]))) }

// U8 reads the byte at offset off.
func (a *Area) U8(off int) uint8 { return a.bytes[off] }

// U16 reads a little-endian uint16 at offset off.
func (a *Area) U16(off int) uint16 { return binary.LittleEndian.Uint16(a.bytes[off:]) }

// U32 reads a little-endian uint32 at offset off.
func (a *Area) U32(off int) uint32 { return binary.LittleEndian.Uint32(a.bytes[off:]) }

// U64 reads a little-endian uint64 at offset off.
func (a *Area) U64(off int) uint64 { return binary.LittleEndian.Uint64(a.bytes[off:]) }

// String copies the string whose address and length are at off and off+4.
func (a *Area) String(off int) string { return String(a.U32(off), a.U32(off+4)) }

// List returns a view of the list of n-byte elements whose address and
// length are at off and off+4, as its address and element count.
func (a *Area) List(off int) (uint32, uint32) { return a.U32(off), a.U32(off + 4) }

// Le32 reads a little-endian uint32 from linear memory at address ptr.
func Le32(ptr uint32) uint32 { return binary.LittleEndian.Uint32(Bytes(ptr, 4)) }
