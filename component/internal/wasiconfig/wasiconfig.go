//go:build wasip1

// Package wasiconfig reads settings from wasi:config/store
// 0.2.0-draft-2024-09-27.
package wasiconfig

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/edgetoken/edgetoken/component/internal/cabi"
)

//go:wasmimport wasi:config/store@0.2.0-draft-2024-09-27 get
func get(keyPtr, keyLen, ret uint32)

// Get returns the value under key, with ok == false when it is not set.
func Get(key string) (value string, ok bool, err error) {
	var c cabi.Call
	defer c.Done()
	ret := c.Area(16)
	ptr, n := c.String(key)
	get(ptr, n, ret.Ptr())
	blocks := cabi.Take()
	defer runtime.KeepAlive(blocks)

	if ret.U8(0) != 0 {
		kind := "upstream"
		if ret.U8(4) == 1 {
			kind = "io"
		}
		return "", false, fmt.Errorf("config store get %q: %s error: %w", key, kind, errors.New(ret.String(8)))
	}
	if ret.U8(4) == 0 {
		return "", false, nil
	}
	return ret.String(8), true, nil
}
