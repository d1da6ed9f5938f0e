package token

import (
	"encoding/binary"
	"fmt"
	"sync"
)

// MemoryStore is a Store in process memory, safe for concurrent use. The
// wazero host shares one among all guest instances. A counter written by
// Increment is stored as 8 bytes, little endian.
type MemoryStore struct {
	mu sync.Mutex
	m  map[string][]byte // guarded by mu; values are never shared with callers
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{m: make(map[string][]byte)}
}

// Get returns a copy of the value under key.
func (s *MemoryStore) Get(key string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok {
		return nil, false, nil
	}
	return append([]byte(nil), v...), true, nil
}

// Set stores a copy of value under key.
func (s *MemoryStore) Set(key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = append([]byte{}, value...)
	return nil
}

// Delete removes key; removing an absent key is not an error.
func (s *MemoryStore) Delete(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

// Increment adds delta to the counter under key and returns the new value.
// It fails when key holds a value that is not a counter.
func (s *MemoryStore) Increment(key string, delta uint64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n uint64
	if v, ok := s.m[key]; ok {
		if len(v) != 8 {
			return 0, fmt.Errorf("increment %q: the value is not a counter", key)
		}
		n = binary.LittleEndian.Uint64(v)
	}
	n += delta
	s.m[key] = binary.LittleEndian.AppendUint64(nil, n)
	return n, nil
}

// Len returns the number of keys, for tests and metrics.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
