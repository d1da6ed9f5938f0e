package pool

import "github.com/tetratelabs/wazero/experimental"

// heapMemory is linear memory in a Go slice, grown by copying, as wazero
// does without an allocator.
type heapMemory struct {
	buf     []byte
	maximum uint64
}

func newHeapMemory(capacity, maximum uint64) experimental.LinearMemory {
	return &heapMemory{buf: make([]byte, 0, capacity), maximum: maximum}
}

func (m *heapMemory) Reallocate(size uint64) []byte {
	if size > m.maximum {
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	grown := make([]byte, size, min(max(size, 2*uint64(cap(m.buf))), m.maximum))
	copy(grown, m.buf)
	m.buf = grown
	return m.buf
}

func (m *heapMemory) Free() { m.buf = nil }
