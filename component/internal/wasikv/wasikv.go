//go:build wasip1

// Package wasikv implements token.Store over wasi:keyvalue 0.2.0-draft2
// (store and atomics).
package wasikv

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/edgetoken/edgetoken/component/internal/cabi"
)

//go:wasmimport wasi:keyvalue/store@0.2.0-draft2 open
func open(ptr, n, ret uint32)

//go:wasmimport wasi:keyvalue/store@0.2.0-draft2 [method]bucket.get
func bucketGet(self, keyPtr, keyLen, ret uint32)

//go:wasmimport wasi:keyvalue/store@0.2.0-draft2 [method]bucket.set
func bucketSet(self, keyPtr, keyLen, valuePtr, valueLen, ret uint32)

//go:wasmimport wasi:keyvalue/store@0.2.0-draft2 [method]bucket.delete
func bucketDelete(self, keyPtr, keyLen, ret uint32)

//go:wasmimport wasi:keyvalue/store@0.2.0-draft2 [resource-drop]bucket
func dropBucket(self uint32)

//go:wasmimport wasi:keyvalue/atomics@0.2.0-draft2 increment
func increment(bucket, keyPtr, keyLen uint32, delta uint64, ret uint32)

// Store is a token.Store over one bucket. It opens the bucket for each
// operation, because a host may scope resource handles to a single request.
type Store struct {
	bucket string
}

// New returns a Store over the bucket named identifier ("default" is the
// bucket every runtime provides).
func New(identifier string) *Store { return &Store{bucket: identifier} }

// storeError decodes the error variant at off (size 12).
func storeError(ret *cabi.Area, off int) error {
	switch ret.U8(off) {
	case 0:
		return errors.New("no such store")
	case 1:
		return errors.New("access denied")
	default:
		return errors.New(ret.String(off + 4))
	}
}

// with opens the bucket, runs f with its handle and drops it.
func (s *Store) with(f func(bucket uint32) error) error {
	var c cabi.Call
	defer c.Done()
	ret := c.Area(16)
	ptr, n := c.String(s.bucket)
	open(ptr, n, ret.Ptr())
	blocks := cabi.Take()
	defer runtime.KeepAlive(blocks)
	if ret.U8(0) != 0 {
		return fmt.Errorf("open bucket %q: %w", s.bucket, storeError(ret, 4))
	}
	bucket := ret.U32(4)
	defer dropBucket(bucket)
	return f(bucket)
}

// Get returns the value under key, with ok == false when it is absent.
func (s *Store) Get(key string) (value []byte, ok bool, err error) {
	err = s.with(func(bucket uint32) error {
		var c cabi.Call
		defer c.Done()
		ret := c.Area(16)
		ptr, n := c.String(key)
		bucketGet(bucket, ptr, n, ret.Ptr())
		blocks := cabi.Take()
		defer runtime.KeepAlive(blocks)
		if ret.U8(0) != 0 {
			return fmt.Errorf("get %q: %w", key, storeError(ret, 4))
		}
		if ret.U8(4) == 1 {
			ok = true
			listPtr, listLen := ret.List(8)
			value = append([]byte{}, cabi.Bytes(listPtr, listLen)...)
		}
		return nil
	})
	return value, ok, err
}

// Set stores value under key.
func (s *Store) Set(key string, value []byte) error {
	return s.with(func(bucket uint32) error {
		var c cabi.Call
		defer c.Done()
		ret := c.Area(16)
		keyPtr, keyLen := c.String(key)
		valuePtr, valueLen := c.Bytes(value)
		bucketSet(bucket, keyPtr, keyLen, valuePtr, valueLen, ret.Ptr())
		blocks := cabi.Take()
		defer runtime.KeepAlive(blocks)
		if ret.U8(0) != 0 {
			return fmt.Errorf("set %q: %w", key, storeError(ret, 4))
		}
		return nil
	})
}

// Delete removes key. Deleting an absent key is not an error.
func (s *Store) Delete(key string) error {
	return s.with(func(bucket uint32) error {
		var c cabi.Call
		defer c.Done()
		ret := c.Area(16)
		ptr, n := c.String(key)
		bucketDelete(bucket, ptr, n, ret.Ptr())
		blocks := cabi.Take()
		defer runtime.KeepAlive(blocks)
		if ret.U8(0) != 0 {
			return fmt.Errorf("delete %q: %w", key, storeError(ret, 4))
		}
		return nil
	})
}

// Increment adds delta to the counter under key and returns the new value.
func (s *Store) Increment(key string, delta uint64) (uint64, error) {
	var value uint64
	err := s.with(func(bucket uint32) error {
		var c cabi.Call
		defer c.Done()
		ret := c.Area(24)
		ptr, n := c.String(key)
		increment(bucket, ptr, n, delta, ret.Ptr())
		blocks := cabi.Take()
		defer runtime.KeepAlive(blocks)
		if ret.U8(0) != 0 {
			return fmt.Errorf("increment %q: %w", key, storeError(ret, 8))
		}
		value = ret.U64(8)
		return nil
	})
	return value, err
}
