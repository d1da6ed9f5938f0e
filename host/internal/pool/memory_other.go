//go:build !linux

package pool

import "github.com/tetratelabs/wazero/experimental"

// newMappedAllocator returns an allocator that keeps linear memory in the Go
// heap: the mapped form is built for Linux only.
func newMappedAllocator() experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(newHeapMemory)
}
