//go:build linux

package pool

import (
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// mappedAllocator reserves each instance's whole linear memory, up to its
// maximum, as one anonymous private mapping outside the Go heap. Pages use
// physical memory only once the guest touches them, growth never copies, and
// closing an instance returns the memory to the system at once instead of at
// the next garbage collection.
type mappedAllocator struct{}

func newMappedAllocator() experimental.MemoryAllocator { return mappedAllocator{} }

func (mappedAllocator) Allocate(capacity, maximum uint64) experimental.LinearMemory {
	b, err := syscall.Mmap(-1, 0, int(maximum),
		syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		// The reservation can fail under a strict overcommit policy or an
		// address-space limit. The heap form still works.
		return newHeapMemory(capacity, maximum)
	}
	return &mappedMemory{buf: b}
}

type mappedMemory struct {
	buf []byte
}

func (m *mappedMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.buf)) {
		return nil
	}
	return m.buf[:size]
}

func (m *mappedMemory) Free() {
	if m.buf != nil {
		_ = syscall.Munmap(m.buf)
		m.buf = nil
	}
}
