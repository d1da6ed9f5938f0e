//go:build wasip1

// Package cabi holds the pieces of the component model's canonical ABI that
// every hand-written binding needs: the exported cabi_realloc, memory the
// host writes results into, and Go memory handed to the host, kept reachable during the call.
//
// Go's wasm port uses 8-byte pointers while the canonical ABI lays records
// out for 32-bit addresses, so bindings never map ABI records onto Go
// structs. They read return areas at explicit offsets instead.
package cabi

import (
	"encoding/binary"
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

// kept holds the Go memory handed to the host by the Calls in progress.
// Go's heap does not move objects, so keeping them reachable is enough.
// Storing them in a global also makes the compiler allocate them on the
// heap rather than on a goroutine stack, which can move. Calls nest (a
// bucket is open while a get runs) and end in reverse order, and the guest
// does not switch goroutines inside a binding, so the list is a stack.
//
// runtime.Pinner did the same job at several times the cost: each Pin
// updates the span's pin bits and special records under a lock, and each
// new Pinner registers a finalizer.
var kept []unsafe.Pointer

// areas is where return areas come from, in the same stack order as kept:
// a global array has a fixed address and costs no allocation. A binding
// that needs more than is left gets heap memory instead.
var (
	areas     [2048]uint64
	areasUsed int
)

// Call keeps the Go memory handed to the host during one import call
// reachable, at a fixed address, until Done. The zero value is ready.
type Call struct {
	keptMark, areaMark int
	started            bool
}

func (c *Call) start() {
	if !c.started {
		c.keptMark, c.areaMark, c.started = len(kept), areasUsed, true
	}
}

func (c *Call) keep(p unsafe.Pointer) {
	c.start()
	kept = append(kept, p)
}

// Done releases everything the call kept and its return areas.
func (c *Call) Done() {
	if !c.started {
		return
	}
	for i := c.keptMark; i < len(kept); i++ {
		kept[i] = nil
	}
	kept = kept[:c.keptMark]
	areasUsed = c.areaMark
	c.started = false
}

// String returns the address and length of s for the host.
func (c *Call) String(s string) (uint32, uint32) {
	if len(s) == 0 {
		return 0, 0
	}
	p := unsafe.StringData(s)
	c.keep(unsafe.Pointer(p))
	return uint32(uintptr(unsafe.Pointer(p))), uint32(len(s))
}

// Bytes returns the address and length of b for the host.
func (c *Call) Bytes(b []byte) (uint32, uint32) {
	if len(b) == 0 {
		return 0, 0
	}
	c.keep(unsafe.Pointer(&b[0]))
	return uint32(uintptr(unsafe.Pointer(&b[0]))), uint32(len(b))
}

// Area is an 8-byte aligned return area the host writes a result into.
type Area struct {
	words []uint64
	bytes []byte
}

// Area returns a zeroed return area of size bytes, valid until Done.
func (c *Call) Area(size int) *Area {
	c.start()
	n := (size + 7) / 8
	var words []uint64
	if areasUsed+n <= len(areas) {
		words = areas[areasUsed : areasUsed+n : areasUsed+n]
		clear(words)
		areasUsed += n
	} else {
		words = make([]uint64, n)
		c.keep(unsafe.Pointer(&words[0]))
	}
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
