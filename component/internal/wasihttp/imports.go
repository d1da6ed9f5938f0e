//go:build wasip1

package wasihttp

// Imports of wasi:http and wasi:io at 0.2.0. Parameters follow the canonical
// ABI's flattening: i32 for handles, addresses, lengths and discriminants,
// i64 for u64, and a trailing return-area address when the result flattens
// to more than one value.

//go:wasmimport wasi:http/types@0.2.0 [method]incoming-request.method
func incomingRequestMethod(self, ret uint32)

//go:wasmimport wasi:http/types@0.2.0 [method]incoming-request.path-with-query
func incomingRequestPathWithQuery(self, ret uint32)

//go:wasmimport wasi:http/types@0.2.0 [method]incoming-request.headers
func incomingRequestHeaders(self uint32) uint32

//go:wasmimport wasi:http/types@0.2.0 [method]incoming-request.consume
func incomingRequestConsume(self, ret uint32)

//go:wasmimport wasi:http/types@0.2.0 [resource-drop]incoming-request
func dropIncomingRequest(self uint32)

//go:wasmimport wasi:http/types@0.2.0 [method]incoming-body.stream
func incomingBodyStream(self, ret uint32)

//go:wasmimport wasi:http/types@0.2.0 [resource-drop]incoming-body
func dropIncomingBody(self uint32)

//go:wasmimport wasi:http/types@0.2.0 [constructor]fields
func newFields() uint32

//go:wasmimport wasi:http/types@0.2.0 [method]fields.append
func fieldsAppend(self, namePtr, nameLen, valuePtr, valueLen, ret uint32)

//go:wasmimport wasi:http/types@0.2.0 [method]fields.entries
func fieldsEntries(self, ret uint32)

//go:wasmimport wasi:http/types@0.2.0 [resource-drop]fields
func dropFields(self uint32)

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

//go:wasmimport wasi:http/types@0.2.0 [resource-drop]outgoing-body
func dropOutgoingBody(self uint32)

// responseOutparamSet takes result<outgoing-response, error-code> flattened
// to eight values: the result's case, then the response handle or the
// error-code's case, then the error-code's joined payload.
//
//go:wasmimport wasi:http/types@0.2.0 [static]response-outparam.set
func responseOutparamSet(param, isErr, value, p0 uint32, p1 uint64, p2, p3, p4, p5 uint32)

//go:wasmimport wasi:http/types@0.2.0 [resource-drop]response-outparam
func dropResponseOutparam(self uint32)

//go:wasmimport wasi:http/types@0.2.0 [constructor]outgoing-request
func newOutgoingRequest(headers uint32) uint32

//go:wasmimport wasi:http/types@0.2.0 [method]outgoing-request.set-method
func outgoingRequestSetMethod(self, method, otherPtr, otherLen uint32) uint32

//go:wasmimport wasi:http/types@0.2.0 [method]outgoing-request.set-scheme
func outgoingRequestSetScheme(self, isSome, scheme, otherPtr, otherLen uint32) uint32

//go:wasmimport wasi:http/types@0.2.0 [method]outgoing-request.set-authority
func outgoingRequestSetAuthority(self, isSome, ptr, n uint32) uint32

//go:wasmimport wasi:http/types@0.2.0 [method]outgoing-request.set-path-with-query
func outgoingRequestSetPathWithQuery(self, isSome, ptr, n uint32) uint32

//go:wasmimport wasi:http/types@0.2.0 [method]outgoing-request.body
func outgoingRequestBody(self, ret uint32)

//go:wasmimport wasi:http/types@0.2.0 [resource-drop]outgoing-request
func dropOutgoingRequest(self uint32)

//go:wasmimport wasi:http/types@0.2.0 [constructor]request-options
func newRequestOptions() uint32

//go:wasmimport wasi:http/types@0.2.0 [method]request-options.set-connect-timeout
func requestOptionsSetConnectTimeout(self, isSome uint32, nanos uint64) uint32

//go:wasmimport wasi:http/types@0.2.0 [method]request-options.set-first-byte-timeout
func requestOptionsSetFirstByteTimeout(self, isSome uint32, nanos uint64) uint32

//go:wasmimport wasi:http/types@0.2.0 [resource-drop]request-options
func dropRequestOptions(self uint32)

//go:wasmimport wasi:http/outgoing-handler@0.2.0 handle
func outgoingHandle(request, hasOptions, options, ret uint32)

//go:wasmimport wasi:http/types@0.2.0 [method]future-incoming-response.subscribe
func futureIncomingResponseSubscribe(self uint32) uint32

//go:wasmimport wasi:http/types@0.2.0 [method]future-incoming-response.get
func futureIncomingResponseGet(self, ret uint32)

//go:wasmimport wasi:http/types@0.2.0 [resource-drop]future-incoming-response
func dropFutureIncomingResponse(self uint32)

//go:wasmimport wasi:http/types@0.2.0 [method]incoming-response.status
func incomingResponseStatus(self uint32) uint32

//go:wasmimport wasi:http/types@0.2.0 [method]incoming-response.headers
func incomingResponseHeaders(self uint32) uint32

//go:wasmimport wasi:http/types@0.2.0 [method]incoming-response.consume
func incomingResponseConsume(self, ret uint32)

//go:wasmimport wasi:http/types@0.2.0 [resource-drop]incoming-response
func dropIncomingResponse(self uint32)

//go:wasmimport wasi:io/poll@0.2.0 [method]pollable.block
func pollableBlock(self uint32)

//go:wasmimport wasi:io/poll@0.2.0 [resource-drop]pollable
func dropPollable(self uint32)

//go:wasmimport wasi:io/streams@0.2.0 [method]input-stream.blocking-read
func inputStreamBlockingRead(self uint32, n uint64, ret uint32)

//go:wasmimport wasi:io/streams@0.2.0 [resource-drop]input-stream
func dropInputStream(self uint32)

//go:wasmimport wasi:io/streams@0.2.0 [method]output-stream.blocking-write-and-flush
func outputStreamBlockingWriteAndFlush(self, ptr, n, ret uint32)

//go:wasmimport wasi:io/streams@0.2.0 [resource-drop]output-stream
func dropOutputStream(self uint32)

//go:wasmimport wasi:io/error@0.2.0 [method]error.to-debug-string
func errorToDebugString(self, ret uint32)

//go:wasmimport wasi:io/error@0.2.0 [resource-drop]error
func dropError(self uint32)

//go:wasmimport wasi:http/types@0.2.0 [resource-drop]outgoing-response
func dropOutgoingResponse(self uint32)
