//go:build wasip1

package wasihttp

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/edgetoken/edgetoken/component/internal/cabi"
)

// Transport sends requests over wasi:http/outgoing-handler. Use it as the
// Transport of an http.Client. A failure the host reports as an error-code
// is returned as (wrapped) *ErrorCode.
//
// The request's context is honoured only through its deadline, which
// becomes the connect and first-byte timeouts: the host call blocks the
// whole instance, so nothing can cancel it from the guest side.
type Transport struct{}

// forbiddenHeaders are the fields wasi:http hosts reject or set themselves.
var forbiddenHeaders = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true, "transfer-encoding": true,
	"upgrade": true, "host": true, "http2-settings": true, "te": true, "content-length": true,
}

// RoundTrip implements http.RoundTripper.
func (Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := roundTrip(req)
	if req.Body != nil {
		req.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	return resp, nil
}

func roundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
	}

	request, err := newRequest(req, len(body))
	if err != nil {
		return nil, err
	}

	var c cabi.Call
	defer c.Done()
	ret := c.Area(8)
	outgoingRequestBody(request, ret.Ptr())
	if ret.U8(0) != 0 {
		dropOutgoingRequest(request)
		return nil, errors.New("outgoing-request.body failed")
	}
	outBody := ret.U32(4)

	options := requestOptions(req)
	ret = c.Area(40)
	hasOptions := uint32(0)
	if options != 0 {
		hasOptions = 1
	}
	outgoingHandle(request, hasOptions, options, ret.Ptr())
	blocks := cabi.Take()
	if ret.U8(0) != 0 {
		dropOutgoingBody(outBody)
		err := decodeErrorCode(ret, 8)
		runtime.KeepAlive(blocks)
		return nil, err
	}
	future := ret.U32(8)

	// The host reads the body while it sends the request, so it is written
	// after handle. A write failure is reported by the future when the
	// host has one, because the future names the cause.
	writeErr := writeBody(outBody, body)

	response, err := awaitResponse(future)
	if err != nil {
		return nil, err
	}
	if writeErr != nil {
		dropIncomingResponse(response)
		return nil, fmt.Errorf("send request body: %w", writeErr)
	}
	return readResponse(req, response)
}

// newRequest builds an outgoing-request with the method, URL and headers of req.
func newRequest(req *http.Request, bodyLen int) (uint32, error) {
	headers := newFields()
	for name, values := range req.Header {
		lower := strings.ToLower(name)
		if forbiddenHeaders[lower] {
			continue
		}
		for _, v := range values {
			if err := appendField(headers, lower, v); err != nil {
				dropFields(headers)
				return 0, fmt.Errorf("request header: %w", err)
			}
		}
	}
	if bodyLen > 0 {
		// Some hosts reject content-length, so the request then goes
		// chunked.
		_ = appendField(headers, "content-length", strconv.Itoa(bodyLen))
	}
	request := newOutgoingRequest(headers)

	if err := setRequestTarget(request, req); err != nil {
		dropOutgoingRequest(request)
		return 0, err
	}
	return request, nil
}

func setRequestTarget(request uint32, req *http.Request) error {
	var c cabi.Call
	defer c.Done()

	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	tag := uint32(len(methods))
	for i, m := range methods {
		if m == method {
			tag = uint32(i)
		}
	}
	ptr, n := c.String(method)
	if outgoingRequestSetMethod(request, tag, ptr, n) != 0 {
		return fmt.Errorf("set method %q: rejected by host", method)
	}

	var scheme uint32
	switch req.URL.Scheme {
	case "http":
		scheme = 0
	case "https":
		scheme = 1
	default:
		scheme = 2
	}
	ptr, n = c.String(req.URL.Scheme)
	if outgoingRequestSetScheme(request, 1, scheme, ptr, n) != 0 {
		return fmt.Errorf("set scheme %q: rejected by host", req.URL.Scheme)
	}

	authority := req.Host
	if authority == "" {
		authority = req.URL.Host
	}
	ptr, n = c.String(authority)
	if outgoingRequestSetAuthority(request, 1, ptr, n) != 0 {
		return fmt.Errorf("set authority %q: rejected by host", authority)
	}

	target := req.URL.RequestURI()
	ptr, n = c.String(target)
	if outgoingRequestSetPathWithQuery(request, 1, ptr, n) != 0 {
		return fmt.Errorf("set path %q: rejected by host", req.URL.Path)
	}
	return nil
}

// requestOptions returns request-options with timeouts from the request's
// deadline, or 0 when it has none.
func requestOptions(req *http.Request) uint32 {
	deadline, ok := req.Context().Deadline()
	if !ok {
		return 0
	}
	timeout := max(time.Until(deadline), time.Millisecond)
	options := newRequestOptions()
	// A host that does not support a timeout rejects it; the request then
	// runs with the host's own timeouts.
	requestOptionsSetConnectTimeout(options, 1, uint64(timeout))
	requestOptionsSetFirstByteTimeout(options, 1, uint64(timeout))
	return options
}

// awaitResponse blocks until the future resolves and returns the
// incoming-response handle.
func awaitResponse(future uint32) (uint32, error) {
	defer dropFutureIncomingResponse(future)

	pollable := futureIncomingResponseSubscribe(future)
	pollableBlock(pollable)
	dropPollable(pollable)

	var c cabi.Call
	defer c.Done()
	ret := c.Area(56)
	futureIncomingResponseGet(future, ret.Ptr())
	blocks := cabi.Take()
	defer runtime.KeepAlive(blocks)
	switch {
	case ret.U8(0) == 0:
		return 0, errors.New("future-incoming-response not ready after block")
	case ret.U8(8) != 0:
		return 0, errors.New("future-incoming-response read twice")
	case ret.U8(16) != 0:
		return 0, decodeErrorCode(ret, 24)
	}
	return ret.U32(24), nil
}

func readResponse(req *http.Request, response uint32) (*http.Response, error) {
	resp := &http.Response{
		Status:     "",
		StatusCode: int(incomingResponseStatus(response)),
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     http.Header{},
		Request:    req,
	}
	resp.Status = strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode)

	headers := incomingResponseHeaders(response)
	for _, f := range entries(headers) {
		resp.Header.Add(f.name, f.value)
	}
	dropFields(headers)
	resp.ContentLength = -1
	if n, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64); err == nil {
		resp.ContentLength = n
	}

	var c cabi.Call
	defer c.Done()
	ret := c.Area(8)
	incomingResponseConsume(response, ret.Ptr())
	if ret.U8(0) != 0 {
		dropIncomingResponse(response)
		return nil, errors.New("incoming-response.consume failed")
	}
	body := ret.U32(4)

	ret = c.Area(8)
	incomingBodyStream(body, ret.Ptr())
	if ret.U8(0) != 0 {
		dropIncomingBody(body)
		dropIncomingResponse(response)
		return nil, errors.New("incoming-body.stream failed")
	}
	resp.Body = &responseBody{stream: ret.U32(4), body: body, response: response}
	return resp, nil
}

// responseBody reads an incoming-body's stream. Close drops the stream, the
// body and the response, in that order, as their parent-child rules require.
type responseBody struct {
	stream, body, response uint32
	pending                []byte
	err                    error
}

func (b *responseBody) Read(p []byte) (int, error) {
	for len(b.pending) == 0 && b.err == nil {
		if b.stream == 0 {
			return 0, errors.New("read after close")
		}
		b.pending, b.err = blockingRead(b.stream, uint64(max(len(p), 1)))
	}
	n := copy(p, b.pending)
	b.pending = b.pending[n:]
	if len(b.pending) == 0 && n > 0 {
		return n, nil
	}
	if n > 0 {
		return n, nil
	}
	return 0, b.err
}

func (b *responseBody) Close() error {
	if b.stream == 0 {
		return nil
	}
	dropInputStream(b.stream)
	dropIncomingBody(b.body)
	dropIncomingResponse(b.response)
	b.stream = 0
	return nil
}
