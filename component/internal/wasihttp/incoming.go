//go:build wasip1

// Package wasihttp binds the guest to wasi:http 0.2.0: it exports
// incoming-handler.handle, serving each request through a service handler,
// and provides an http.RoundTripper over outgoing-handler.
package wasihttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"

	"github.com/edgetoken/edgetoken/component/internal/cabi"
	"github.com/edgetoken/edgetoken/internal/service"
)

// MaxRequestBody is the largest request body the guest reads. A larger body
// gets 413 without reaching the handler.
const MaxRequestBody = 64 << 10

// HandlerFunc serves one request.
type HandlerFunc func(ctx context.Context, req *service.Request) *service.Response

var handler HandlerFunc

// Handle sets the function that serves incoming requests. Call it from
// package initialization: the host may deliver a request as soon as
// initialization ends.
func Handle(h HandlerFunc) { handler = h }

// methods names the method variant's cases by discriminant.
var methods = [...]string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

//go:wasmexport wasi:http/incoming-handler@0.2.0#handle
func handle(request, responseOut uint32) {
	req, err := readRequest(request)
	dropIncomingRequest(request)

	var resp *service.Response
	switch {
	case errors.Is(err, errBodyTooLarge):
		resp = detail(413, "Request Entity Too Large")
	case err != nil:
		slog.Error("read incoming request", "err", err)
		resp = detail(400, "Bad Request")
	case handler == nil:
		resp = detail(500, "Internal Server Error")
	default:
		resp = serve(req)
	}

	if err := writeResponse(responseOut, resp); err != nil {
		slog.Error("write response", "status", resp.Status, "err", err)
	}
}

// serve runs the handler, turning a panic into a 500 so that one bad
// request does not trap the instance.
func serve(req *service.Request) (resp *service.Response) {
	defer func() {
		if v := recover(); v != nil {
			slog.Error("handler panicked", "panic", v, "path", req.Path)
			resp = detail(500, "Internal Server Error")
		}
	}()
	resp = handler(context.Background(), req)
	if resp == nil {
		resp = detail(500, "Internal Server Error")
	}
	return resp
}

func detail(status int, message string) *service.Response {
	return &service.Response{
		Status: status,
		Header: []service.Field{{Name: "content-type", Value: "application/json"}},
		Body:   []byte(`{"detail":"` + message + `"}`),
	}
}

var errBodyTooLarge = errors.New("request body too large")

// readRequest copies an incoming-request into a service.Request.
func readRequest(request uint32) (*service.Request, error) {
	req := &service.Request{}

	var c cabi.Call
	defer c.Done()
	ret := c.Area(12)
	incomingRequestMethod(request, ret.Ptr())
	blocks := cabi.Take()
	if tag := ret.U8(0); int(tag) < len(methods) {
		req.Method = methods[tag]
	} else {
		req.Method = ret.String(4)
	}

	ret = c.Area(12)
	incomingRequestPathWithQuery(request, ret.Ptr())
	blocks = append(blocks, cabi.Take()...)
	target := "/"
	if ret.U8(0) == 1 {
		target = ret.String(4)
	}
	runtime.KeepAlive(blocks)
	req.Path, req.Query, _ = strings.Cut(target, "?")

	headers := incomingRequestHeaders(request)
	for _, f := range entries(headers) {
		req.Header = append(req.Header, service.Field{Name: strings.ToLower(f.name), Value: f.value})
	}
	dropFields(headers)

	body, err := readIncomingBody(request)
	if err != nil {
		return nil, err
	}
	req.Body = body
	return req, nil
}

func readIncomingBody(request uint32) ([]byte, error) {
	var c cabi.Call
	defer c.Done()
	ret := c.Area(8)
	incomingRequestConsume(request, ret.Ptr())
	if ret.U8(0) != 0 {
		return nil, errors.New("incoming-request.consume failed")
	}
	body := ret.U32(4)
	defer dropIncomingBody(body)

	ret = c.Area(8)
	incomingBodyStream(body, ret.Ptr())
	if ret.U8(0) != 0 {
		return nil, errors.New("incoming-body.stream failed")
	}
	stream := ret.U32(4)
	defer dropInputStream(stream)

	var data []byte
	for {
		chunk, err := blockingRead(stream, readChunk)
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
		data = append(data, chunk...)
		if len(data) > MaxRequestBody {
			return nil, errBodyTooLarge
		}
	}
}

// writeResponse sets the response-outparam and streams the body. The host
// sends the head when the outparam is set, so a failure after that point
// can only be logged.
func writeResponse(out uint32, resp *service.Response) error {
	headers := newFields()
	for _, f := range resp.Header {
		if err := appendField(headers, f.Name, f.Value); err != nil {
			dropFields(headers)
			return fmt.Errorf("response header: %w", err)
		}
	}
	response := newOutgoingResponse(headers)
	if outgoingResponseSetStatusCode(response, uint32(resp.Status)) != 0 {
		dropOutgoingResponse(response)
		return fmt.Errorf("set status code %d: rejected by host", resp.Status)
	}

	var c cabi.Call
	defer c.Done()
	ret := c.Area(8)
	outgoingResponseBody(response, ret.Ptr())
	if ret.U8(0) != 0 {
		dropOutgoingResponse(response)
		return errors.New("outgoing-response.body failed")
	}
	body := ret.U32(4)

	responseOutparamSet(out, 0, response, 0, 0, 0, 0, 0, 0)
	return writeBody(body, resp.Body)
}

// writeBody writes b to an outgoing-body and finishes it, consuming body.
func writeBody(body uint32, b []byte) error {
	var c cabi.Call
	defer c.Done()
	ret := c.Area(8)
	outgoingBodyWrite(body, ret.Ptr())
	if ret.U8(0) != 0 {
		dropOutgoingBody(body)
		return errors.New("outgoing-body.write failed")
	}
	stream := ret.U32(4)
	err := writeAll(stream, b)
	dropOutputStream(stream)
	if err != nil {
		dropOutgoingBody(body)
		return fmt.Errorf("write body: %w", err)
	}

	ret = c.Area(40)
	outgoingBodyFinish(body, 0, 0, ret.Ptr())
	blocks := cabi.Take()
	defer runtime.KeepAlive(blocks)
	if ret.U8(0) != 0 {
		return fmt.Errorf("finish body: %w", decodeErrorCode(ret, 8))
	}
	return nil
}
