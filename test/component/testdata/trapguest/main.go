//go:build wasip1

// Command trapguest is a minimal wasi:http guest for the jco runner tests:
// "/panic" makes it trap, "/sleep" sleeps 30 ms (poll_oneoff through the
// adapter), and every response counts the calls this instance has served,
// so a test sees when the runner made a new instance. Requests under
// /.edgetoken/ (the refresh calls of our host's timer) get a 404 and are
// not counted, so the count covers the test's own requests only.
package main

import (
	"os"
	"strings"
	"time"
	"unsafe"
)

//go:wasmimport wasi:http/types@0.2.0 [method]incoming-request.path-with-query
func incomingRequestPathWithQuery(self, ret uint32)

//go:wasmimport wasi:http/types@0.2.0 [resource-drop]incoming-request
func dropIncomingRequest(self uint32)

//go:wasmimport wasi:http/types@0.2.0 [constructor]fields
func newFields() uint32

//go:wasmimport wasi:http/types@0.2.0 [constructor]outgoing-response
func newOutgoingResponse(headers uint32) uint32

//go:wasmimport wasi:http/types@0.2.0 [method]outgoing-response.set-status-code
func outgoingResponseSetStatusCode(self, status uint32) uint32

//go:wasmimport wasi:http/types@0.2.0 [method]outgoing-response.body
func outgoingResponseBody(self, ret uint32)

//go:wasmimport wasi:http/types@0.2.0 [method]outgoing-body.write
func outgoingBodyWrite(self, ret uint32)

//go:wasmimport wasi:http/types@0.2.0 [static]outgoing-body.finish
func outgoingBodyFinish(self, hasTrailers, trailers, ret uint32)

//go:wasmimport wasi:http/types@0.2.0 [static]response-outparam.set
func responseOutparamSet(param, isErr, value, p0 uint32, p1 uint64, p2, p3, p4, p5 uint32)

//go:wasmimport wasi:io/streams@0.2.0 [method]output-stream.blocking-write-and-flush
func blockingWriteAndFlush(self, ptr, n, ret uint32)

//go:wasmimport wasi:io/streams@0.2.0 [resource-drop]output-stream
func dropOutputStream(self uint32)

// cabi_realloc hands out memory from a static 1 MiB arena and starts over
// when it is full: enough for the few small strings this guest receives.
var arena [1 << 20]byte
var arenaUsed uint32

//go:wasmexport cabi_realloc
func cabiRealloc(old, oldSize, align, newSize uint32) uint32 {
	base := uint32(uintptr(unsafe.Pointer(&arena[0])))
	off := (base + arenaUsed + align - 1) &^ (align - 1)
	arenaUsed = off + newSize - base
	if arenaUsed > uint32(len(arena)) {
		arenaUsed = 0
		off = (base + align - 1) &^ (align - 1)
		arenaUsed = off + newSize - base
	}
	return off
}

var ret [32]byte

func retp() uint32 { return uint32(uintptr(unsafe.Pointer(&ret[0]))) }

var calls int

//go:wasmexport wasi:http/incoming-handler@0.2.0#handle
func handle(req, out uint32) {
	incomingRequestPathWithQuery(req, retp())
	path := ""
	if ret[0] == 1 {
		p := *(*uint32)(unsafe.Pointer(&ret[4]))
		n := *(*uint32)(unsafe.Pointer(&ret[8]))
		// p is an address in linear memory, where the Go heap also lives.
		path = string(unsafe.Slice((*byte)(unsafe.Add(nil, uintptr(p))), n))
	}
	dropIncomingRequest(req)
	if strings.HasPrefix(path, "/.edgetoken/") {
		respond(out, 404, "not here")
		return
	}
	calls++
	if strings.Contains(path, "panic") {
		var m map[string]int
		m["x"] = 1
	}
	if strings.Contains(path, "sleep") {
		time.Sleep(30 * time.Millisecond)
	}
	// One write per line: the runner's stdout and stderr share one log, and
	// println's separate writes could interleave with the stdout line.
	os.Stderr.WriteString("stderr line " + path + "\n")
	os.Stdout.WriteString("stdout line " + time.Now().UTC().Format(time.RFC3339) + "\n")
	respond(out, 200, "hello "+path+" calls="+itoa(calls))
}

func respond(out, status uint32, text string) {
	resp := newOutgoingResponse(newFields())
	outgoingResponseSetStatusCode(resp, status)
	outgoingResponseBody(resp, retp())
	body := *(*uint32)(unsafe.Pointer(&ret[4]))
	responseOutparamSet(out, 0, resp, 0, 0, 0, 0, 0, 0)
	outgoingBodyWrite(body, retp())
	stream := *(*uint32)(unsafe.Pointer(&ret[4]))
	msg := []byte(text)
	blockingWriteAndFlush(stream, uint32(uintptr(unsafe.Pointer(&msg[0]))), uint32(len(msg)), retp())
	dropOutputStream(stream)
	outgoingBodyFinish(body, 0, 0, retp())
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	s := ""
	for n > 0 {
		s = string(rune('0'+n%10)) + s
		n /= 10
	}
	return s
}

func main() {}
