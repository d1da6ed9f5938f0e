//go:build wasip1

package wasihttp

import (
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/edgetoken/edgetoken/component/internal/cabi"
)

// maxWrite is the largest chunk blocking-write-and-flush accepts.
const maxWrite = 4096

// readChunk is the size asked of each blocking-read.
const readChunk = 16 << 10

// blockingRead reads up to n bytes from an input-stream. It returns io.EOF
// when the stream is closed.
func blockingRead(stream uint32, n uint64) ([]byte, error) {
	var c cabi.Call
	defer c.Done()
	ret := c.Area(16)
	inputStreamBlockingRead(stream, n, ret.Ptr())
	blocks := cabi.Take()

	if ret.U8(0) != 0 {
		return nil, streamError(ret, 4)
	}
	ptr, length := ret.List(4)
	data := append([]byte(nil), cabi.Bytes(ptr, length)...)
	runtime.KeepAlive(blocks)
	return data, nil
}

// writeAll writes b to an output-stream in chunks the host accepts.
func writeAll(stream uint32, b []byte) error {
	for len(b) > 0 {
		chunk := b[:min(len(b), maxWrite)]
		b = b[len(chunk):]

		var c cabi.Call
		ret := c.Area(12)
		ptr, n := c.Bytes(chunk)
		outputStreamBlockingWriteAndFlush(stream, ptr, n, ret.Ptr())
		failed := ret.U8(0) != 0
		var err error
		if failed {
			err = streamError(ret, 4)
		}
		c.Done()
		if err != nil {
			return err
		}
	}
	return nil
}

// streamError decodes the stream-error at off: closed becomes io.EOF, and
// last-operation-failed becomes an error with the host's description.
func streamError(ret *cabi.Area, off int) error {
	if ret.U8(off) == 1 {
		return io.EOF
	}
	handle := ret.U32(off + 4)
	return errors.New(debugString(handle))
}

// debugString returns the host's description of a wasi:io/error and drops it.
func debugString(handle uint32) string {
	var c cabi.Call
	defer c.Done()
	ret := c.Area(8)
	errorToDebugString(handle, ret.Ptr())
	blocks := cabi.Take()
	s := ret.String(0)
	runtime.KeepAlive(blocks)
	dropError(handle)
	return s
}

// field is one header field as the host stores it.
type field struct {
	name  string
	value string
}

// entries returns the fields of a headers resource.
func entries(fields uint32) []field {
	var c cabi.Call
	defer c.Done()
	ret := c.Area(8)
	fieldsEntries(fields, ret.Ptr())
	blocks := cabi.Take()

	ptr, n := ret.List(0)
	out := make([]field, n)
	for i := range n {
		elem := ptr + i*16
		out[i] = field{
			name:  cabi.String(cabi.Le32(elem), cabi.Le32(elem+4)),
			value: cabi.String(cabi.Le32(elem+8), cabi.Le32(elem+12)),
		}
	}
	runtime.KeepAlive(blocks)
	return out
}

// headerErrors names header-error cases by discriminant.
var headerErrors = [...]string{"invalid-syntax", "forbidden", "immutable"}

// appendField adds one field to a fields resource.
func appendField(fields uint32, name, value string) error {
	var c cabi.Call
	defer c.Done()
	ret := c.Area(4)
	namePtr, nameLen := c.String(name)
	valuePtr, valueLen := c.String(value)
	fieldsAppend(fields, namePtr, nameLen, valuePtr, valueLen, ret.Ptr())
	if ret.U8(0) == 0 {
		return nil
	}
	code := ret.U8(1)
	reason := "unknown"
	if int(code) < len(headerErrors) {
		reason = headerErrors[code]
	}
	return fmt.Errorf("header %q: %s", name, reason)
}
