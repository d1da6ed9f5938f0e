package wasihost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// Method cases of wasi:http/types.method, by discriminant.
var methods = [...]string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

type incomingRequest struct {
	req      *Request
	headers  *fields
	consumed bool
}

func newIncomingRequest(req *Request) *incomingRequest {
	return &incomingRequest{req: req, headers: fieldsFromHeader(req.Header)}
}

type responseOutparam struct{}

type outgoingResponse struct {
	status    int
	headers   *fields
	bodyTaken bool
	body      *outgoingBody
}

// outgoingBody is the body of the guest's response (buf, capped at limit)
// or of an outgoing request (pipe, read by the transport).
type outgoingBody struct {
	buf      bytes.Buffer
	limit    int64
	pipe     *io.PipeWriter
	finished bool
	// err records a failed write, returned by Handle for a response body.
	err error
	// length is the content-length the guest declared, or -1.
	length  int64
	written int64
}

func (b *outgoingBody) write(p []byte) error {
	b.written += int64(len(p))
	if b.length >= 0 && b.written > b.length {
		b.err = fmt.Errorf("body exceeds its content-length %d", b.length)
		return b.err
	}
	if b.pipe != nil {
		// A write after the transport failed is dropped: the failure
		// reaches the guest through future-incoming-response.get.
		_, _ = b.pipe.Write(p)
		return nil
	}
	if int64(b.buf.Len()+len(p)) > b.limit {
		b.err = fmt.Errorf("guest response body exceeds %d bytes", b.limit)
		return b.err
	}
	b.buf.Write(p)
	return nil
}

func (b *outgoingBody) finish() error {
	b.finished = true
	if b.length >= 0 && b.written != b.length {
		b.err = fmt.Errorf("body has %d bytes, content-length %d", b.written, b.length)
	}
	if b.pipe != nil {
		if b.err != nil {
			b.pipe.CloseWithError(b.err)
		} else {
			b.pipe.Close()
		}
	}
	return b.err
}

// dropped ends an unfinished outgoing request body, so the transport fails
// the request instead of waiting for more data.
func (b *outgoingBody) dropped() {
	if !b.finished && b.pipe != nil {
		b.pipe.CloseWithError(errors.New("outgoing body dropped before finish"))
	}
}

type outgoingRequest struct {
	method    string
	scheme    string
	hasScheme bool
	authority string
	hasAuth   bool
	path      string
	hasPath   bool
	headers   *fields
	bodyTaken bool
	body      *outgoingBody
}

type requestOptions struct {
	connect, firstByte, betweenBytes *time.Duration
}

type incomingResponse struct {
	resp     *http.Response
	headers  *fields
	consumed bool
}

// incomingBody is the body of the guest's request or of an upstream
// response.
type incomingBody struct {
	r           io.Reader
	streamTaken bool
}

type futureTrailers struct{}

type futureResponse struct {
	done  chan struct{}
	resp  *http.Response
	err   *errorCode
	taken bool
}

// contentLength returns the content-length field of f, or -1.
func contentLength(f *fields) int64 {
	for _, e := range f.list {
		if e.name == "content-length" {
			var n int64
			if _, err := fmt.Sscan(string(e.value), &n); err == nil && n >= 0 {
				return n
			}
		}
	}
	return -1
}

// putMethod writes the method variant at ret (size 12).
func putMethod(ctx context.Context, m api.Module, ret uint32, method string) {
	for i, name := range methods {
		if name == method {
			put8(m, ret, uint8(i))
			return
		}
	}
	addr := lower(ctx, m, []byte(method))
	put8(m, ret, uint8(len(methods)))
	put32(m, ret+4, addr)
	put32(m, ret+8, uint32(len(method)))
}

func readMethod(m api.Module, tag, ptr, n uint32) string {
	if int(tag) < len(methods) {
		return methods[tag]
	}
	return readString(m, ptr, n)
}

// putScheme writes option<scheme> at ret (size 16).
func putScheme(ctx context.Context, m api.Module, ret uint32, scheme string, ok bool) {
	if !ok {
		put8(m, ret, 0)
		return
	}
	put8(m, ret, 1)
	switch strings.ToLower(scheme) {
	case "http":
		put8(m, ret+4, 0)
	case "https":
		put8(m, ret+4, 1)
	default:
		addr := lower(ctx, m, []byte(scheme))
		put8(m, ret+4, 2)
		put32(m, ret+8, addr)
		put32(m, ret+12, uint32(len(scheme)))
	}
}

func readScheme(m api.Module, tag, ptr, n uint32) string {
	switch tag {
	case 0:
		return "http"
	case 1:
		return "https"
	}
	return readString(m, ptr, n)
}

func (h *host) httpFuncs() []hostFunc {
	one := []api.ValueType{i32}
	return []hostFunc{
		// incoming-request
		{"[method]incoming-request.method", params(2), nil, func(ctx context.Context, m api.Module, s []uint64) {
			r := get[*incomingRequest](callOf(ctx), uint32(s[0]))
			method := r.req.Method
			if method == "" {
				method = http.MethodGet
			}
			putMethod(ctx, m, uint32(s[1]), method)
		}},
		{"[method]incoming-request.path-with-query", params(2), nil, func(ctx context.Context, m api.Module, s []uint64) {
			r := get[*incomingRequest](callOf(ctx), uint32(s[0]))
			putOptionString(ctx, m, uint32(s[1]), r.req.PathWithQuery, r.req.PathWithQuery != "")
		}},
		{"[method]incoming-request.scheme", params(2), nil, func(ctx context.Context, m api.Module, s []uint64) {
			r := get[*incomingRequest](callOf(ctx), uint32(s[0]))
			scheme := r.req.Scheme
			if scheme == "" {
				scheme = "http"
			}
			putScheme(ctx, m, uint32(s[1]), scheme, true)
		}},
		{"[method]incoming-request.authority", params(2), nil, func(ctx context.Context, m api.Module, s []uint64) {
			r := get[*incomingRequest](callOf(ctx), uint32(s[0]))
			putOptionString(ctx, m, uint32(s[1]), r.req.Authority, r.req.Authority != "")
		}},
		{"[method]incoming-request.headers", params(1), one, func(ctx context.Context, m api.Module, s []uint64) {
			c := callOf(ctx)
			s[0] = uint64(c.add(get[*incomingRequest](c, uint32(s[0])).headers))
		}},
		{"[method]incoming-request.consume", params(2), nil, func(ctx context.Context, m api.Module, s []uint64) {
			c := callOf(ctx)
			r := get[*incomingRequest](c, uint32(s[0]))
			if r.consumed {
				putUnitErr(m, uint32(s[1]))
				return
			}
			r.consumed = true
			putHandleResult(m, uint32(s[1]), c.add(&incomingBody{r: bytes.NewReader(r.req.Body)}))
		}},
		h.drop("incoming-request"),

		// response-outparam
		{"[static]response-outparam.set", []api.ValueType{i32, i32, i32, i32, i64, i32, i32, i32, i32}, nil,
			func(ctx context.Context, m api.Module, s []uint64) {
				c := callOf(ctx)
				take[*responseOutparam](c, uint32(s[0]))
				c.outparamSet = true
				if uint32(s[1]) != 0 {
					c.responseErr = errorCodeFromFlat(m, s[2:])
					return
				}
				c.response = take[*outgoingResponse](c, uint32(s[2]))
			}},
		h.drop("response-outparam"),

		// outgoing-response
		{"[constructor]outgoing-response", params(1), one, func(ctx context.Context, m api.Module, s []uint64) {
			c := callOf(ctx)
			f := take[*fields](c, uint32(s[0]))
			f.immutable = true
			s[0] = uint64(c.add(&outgoingResponse{status: 200, headers: f}))
		}},
		{"[method]outgoing-response.status-code", params(1), one, func(ctx context.Context, m api.Module, s []uint64) {
			s[0] = uint64(get[*outgoingResponse](callOf(ctx), uint32(s[0])).status)
		}},
		{"[method]outgoing-response.set-status-code", params(2), one, func(ctx context.Context, m api.Module, s []uint64) {
			r := get[*outgoingResponse](callOf(ctx), uint32(s[0]))
			status := int(uint16(s[1]))
			if status < 100 || status > 999 {
				s[0] = 1
				return
			}
			r.status = status
			s[0] = 0
		}},
		{"[method]outgoing-response.headers", params(1), one, func(ctx context.Context, m api.Module, s []uint64) {
			c := callOf(ctx)
			s[0] = uint64(c.add(get[*outgoingResponse](c, uint32(s[0])).headers))
		}},
		{"[method]outgoing-response.body", params(2), nil, func(ctx context.Context, m api.Module, s []uint64) {
			c := callOf(ctx)
			r := get[*outgoingResponse](c, uint32(s[0]))
			if r.bodyTaken {
				putUnitErr(m, uint32(s[1]))
				return
			}
			r.bodyTaken = true
			r.body = &outgoingBody{limit: h.opts.MaxResponseBytes, length: contentLength(r.headers)}
			putHandleResult(m, uint32(s[1]), c.add(r.body))
		}},
		h.drop("outgoing-response"),

		// outgoing-body
		{"[method]outgoing-body.write", params(2), nil, func(ctx context.Context, m api.Module, s []uint64) {
			c := callOf(ctx)
			b := get[*outgoingBody](c, uint32(s[0]))
			putHandleResult(m, uint32(s[1]), c.add(&outputStream{body: b}))
		}},
		{"[static]outgoing-body.finish", params(4), nil, func(ctx context.Context, m api.Module, s []uint64) {
			b := take[*outgoingBody](callOf(ctx), uint32(s[0]))
			ret := uint32(s[3])
			if err := b.finish(); err != nil {
				put8(m, ret, 1)
				putErrorCode(ctx, m, ret+8, &errorCode{tag: codeInternalError, message: err.Error(), hasMsg: true})
				return
			}
			put8(m, ret, 0)
		}},
		h.drop("outgoing-body"),

		// outgoing-request
		{"[constructor]outgoing-request", params(1), one, func(ctx context.Context, m api.Module, s []uint64) {
			c := callOf(ctx)
			f := take[*fields](c, uint32(s[0]))
			f.immutable = true
			s[0] = uint64(c.add(&outgoingRequest{method: http.MethodGet, headers: f}))
		}},
		{"[method]outgoing-request.body", params(2), nil, func(ctx context.Context, m api.Module, s []uint64) {
			c := callOf(ctx)
			r := get[*outgoingRequest](c, uint32(s[0]))
			if r.bodyTaken {
				putUnitErr(m, uint32(s[1]))
				return
			}
			r.bodyTaken = true
			r.body = &outgoingBody{length: contentLength(r.headers)}
			putHandleResult(m, uint32(s[1]), c.add(r.body))
		}},
		{"[method]outgoing-request.method", params(2), nil, func(ctx context.Context, m api.Module, s []uint64) {
			putMethod(ctx, m, uint32(s[1]), get[*outgoingRequest](callOf(ctx), uint32(s[0])).method)
		}},
		{"[method]outgoing-request.set-method", params(4), one, func(ctx context.Context, m api.Module, s []uint64) {
			r := get[*outgoingRequest](callOf(ctx), uint32(s[0]))
			method := readMethod(m, uint32(s[1]), uint32(s[2]), uint32(s[3]))
			if !validName(method) {
				s[0] = 1
				return
			}
			r.method = method
			s[0] = 0
		}},
		{"[method]outgoing-request.path-with-query", params(2), nil, func(ctx context.Context, m api.Module, s []uint64) {
			r := get[*outgoingRequest](callOf(ctx), uint32(s[0]))
			putOptionString(ctx, m, uint32(s[1]), r.path, r.hasPath)
		}},
		{"[method]outgoing-request.set-path-with-query", params(4), one, func(ctx context.Context, m api.Module, s []uint64) {
			r := get[*outgoingRequest](callOf(ctx), uint32(s[0]))
			r.hasPath = uint32(s[1]) == 1
			r.path = ""
			if r.hasPath {
				r.path = readString(m, uint32(s[2]), uint32(s[3]))
			}
			s[0] = 0
		}},
		{"[method]outgoing-request.scheme", params(2), nil, func(ctx context.Context, m api.Module, s []uint64) {
			r := get[*outgoingRequest](callOf(ctx), uint32(s[0]))
			putScheme(ctx, m, uint32(s[1]), r.scheme, r.hasScheme)
		}},
		{"[method]outgoing-request.set-scheme", params(5), one, func(ctx context.Context, m api.Module, s []uint64) {
			r := get[*outgoingRequest](callOf(ctx), uint32(s[0]))
			r.hasScheme = uint32(s[1]) == 1
			r.scheme = ""
			if r.hasScheme {
				r.scheme = readScheme(m, uint32(s[2]), uint32(s[3]), uint32(s[4]))
			}
			s[0] = 0
		}},
		{"[method]outgoing-request.authority", params(2), nil, func(ctx context.Context, m api.Module, s []uint64) {
			r := get[*outgoingRequest](callOf(ctx), uint32(s[0]))
			putOptionString(ctx, m, uint32(s[1]), r.authority, r.hasAuth)
		}},
		{"[method]outgoing-request.set-authority", params(4), one, func(ctx context.Context, m api.Module, s []uint64) {
			r := get[*outgoingRequest](callOf(ctx), uint32(s[0]))
			r.hasAuth = uint32(s[1]) == 1
			r.authority = ""
			if r.hasAuth {
				r.authority = readString(m, uint32(s[2]), uint32(s[3]))
			}
			s[0] = 0
		}},
		{"[method]outgoing-request.headers", params(1), one, func(ctx context.Context, m api.Module, s []uint64) {
			c := callOf(ctx)
			s[0] = uint64(c.add(get[*outgoingRequest](c, uint32(s[0])).headers))
		}},
		h.drop("outgoing-request"),

		// request-options
		{"[constructor]request-options", nil, one, func(ctx context.Context, m api.Module, s []uint64) {
			s[0] = uint64(callOf(ctx).add(&requestOptions{}))
		}},
		h.optionGetter("connect-timeout", func(o *requestOptions) **time.Duration { return &o.connect }),
		h.optionSetter("connect-timeout", func(o *requestOptions) **time.Duration { return &o.connect }),
		h.optionGetter("first-byte-timeout", func(o *requestOptions) **time.Duration { return &o.firstByte }),
		h.optionSetter("first-byte-timeout", func(o *requestOptions) **time.Duration { return &o.firstByte }),
		h.optionGetter("between-bytes-timeout", func(o *requestOptions) **time.Duration { return &o.betweenBytes }),
		h.optionSetter("between-bytes-timeout", func(o *requestOptions) **time.Duration { return &o.betweenBytes }),
		h.drop("request-options"),

		// incoming-response
		{"[method]incoming-response.status", params(1), one, func(ctx context.Context, m api.Module, s []uint64) {
			s[0] = uint64(get[*incomingResponse](callOf(ctx), uint32(s[0])).resp.StatusCode)
		}},
		{"[method]incoming-response.headers", params(1), one, func(ctx context.Context, m api.Module, s []uint64) {
			c := callOf(ctx)
			s[0] = uint64(c.add(get[*incomingResponse](c, uint32(s[0])).headers))
		}},
		{"[method]incoming-response.consume", params(2), nil, func(ctx context.Context, m api.Module, s []uint64) {
			c := callOf(ctx)
			r := get[*incomingResponse](c, uint32(s[0]))
			if r.consumed {
				putUnitErr(m, uint32(s[1]))
				return
			}
			r.consumed = true
			body := &cappedReader{r: r.resp.Body, left: h.opts.MaxResponseBytes}
			putHandleResult(m, uint32(s[1]), c.add(&incomingBody{r: body}))
		}},
		h.drop("incoming-response"),

		// incoming-body
		{"[method]incoming-body.stream", params(2), nil, func(ctx context.Context, m api.Module, s []uint64) {
			c := callOf(ctx)
			b := get[*incomingBody](c, uint32(s[0]))
			if b.streamTaken {
				putUnitErr(m, uint32(s[1]))
				return
			}
			b.streamTaken = true
			putHandleResult(m, uint32(s[1]), c.add(&inputStream{r: b.r}))
		}},
		{"[static]incoming-body.finish", params(1), one, func(ctx context.Context, m api.Module, s []uint64) {
			c := callOf(ctx)
			take[*incomingBody](c, uint32(s[0]))
			s[0] = uint64(c.add(&futureTrailers{}))
		}},
		h.drop("incoming-body"),

		// future-trailers: this host never has trailers.
		{"[method]future-trailers.subscribe", params(1), one, func(ctx context.Context, m api.Module, s []uint64) {
			c := callOf(ctx)
			get[*futureTrailers](c, uint32(s[0]))
			s[0] = uint64(c.add(&pollable{}))
		}},
		{"[method]future-trailers.get", params(2), nil, func(ctx context.Context, m api.Module, s []uint64) {
			// option<result<result<option<trailers>, error-code>>>: some(ok(ok(none))).
			get[*futureTrailers](callOf(ctx), uint32(s[0]))
			ret := uint32(s[1])
			put(m, ret, make([]byte, 48))
			put8(m, ret, 1)
		}},
		h.drop("future-trailers"),

		// future-incoming-response
		{"[method]future-incoming-response.subscribe", params(1), one, func(ctx context.Context, m api.Module, s []uint64) {
			c := callOf(ctx)
			f := get[*futureResponse](c, uint32(s[0]))
			s[0] = uint64(c.add(&pollable{done: f.done}))
		}},
		{"[method]future-incoming-response.get", params(2), nil, h.futureGet},
		h.drop("future-incoming-response"),

		{"http-error-code", params(2), nil, func(ctx context.Context, m api.Module, s []uint64) {
			e := get[*ioError](callOf(ctx), uint32(s[0]))
			ret := uint32(s[1])
			var code *errorCode
			if errors.As(e.err, &code) {
				put8(m, ret, 1)
				putErrorCode(ctx, m, ret+8, code)
				return
			}
			put8(m, ret, 0)
		}},
	}
}

func (h *host) optionGetter(name string, field func(*requestOptions) **time.Duration) hostFunc {
	return hostFunc{"[method]request-options." + name, params(2), nil, func(ctx context.Context, m api.Module, s []uint64) {
		d := *field(get[*requestOptions](callOf(ctx), uint32(s[0])))
		ret := uint32(s[1])
		if d == nil {
			put8(m, ret, 0)
			return
		}
		put8(m, ret, 1)
		put64(m, ret+8, uint64(*d))
	}}
}

func (h *host) optionSetter(name string, field func(*requestOptions) **time.Duration) hostFunc {
	return hostFunc{"[method]request-options.set-" + name, []api.ValueType{i32, i32, i64}, []api.ValueType{i32},
		func(ctx context.Context, m api.Module, s []uint64) {
			o := get[*requestOptions](callOf(ctx), uint32(s[0]))
			var d *time.Duration
			if uint32(s[1]) == 1 {
				v := time.Duration(s[2])
				d = &v
			}
			*field(o) = d
			s[0] = 0
		}}
}

// futureGet writes option<result<result<incoming-response, error-code>>>:
// the option's case at 0, the outer result's at 8, the inner result's at
// 16 and its payload at 24.
func (h *host) futureGet(ctx context.Context, m api.Module, s []uint64) {
	c := callOf(ctx)
	f := get[*futureResponse](c, uint32(s[0]))
	ret := uint32(s[1])
	select {
	case <-f.done:
	default:
		put8(m, ret, 0)
		return
	}
	put8(m, ret, 1)
	if f.taken {
		put8(m, ret+8, 1)
		return
	}
	f.taken = true
	put8(m, ret+8, 0)
	if f.err != nil {
		put8(m, ret+16, 1)
		putErrorCode(ctx, m, ret+24, f.err)
		return
	}
	resp := &incomingResponse{resp: f.resp, headers: fieldsFromHeader(f.resp.Header)}
	put8(m, ret+16, 0)
	put32(m, ret+24, c.add(resp))
}

// cappedReader fails once more than left bytes have been read.
type cappedReader struct {
	r    io.Reader
	left int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, &errorCode{tag: codeResponseBodySize}
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return 0, &errorCode{tag: codeResponseBodySize}
	}
	return n, err
}
