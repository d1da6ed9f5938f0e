package wasihost

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// outgoingHandle implements outgoing-handler.handle(request, option<request-options>)
// -> result<future-incoming-response, error-code>. The result's case is at
// 0 and its payload at 8, because error-code has alignment 8.
func (h *host) outgoingHandle(ctx context.Context, m api.Module, s []uint64) {
	c := callOf(ctx)
	r := take[*outgoingRequest](c, uint32(s[0]))
	var opts *requestOptions
	if uint32(s[1]) == 1 {
		opts = take[*requestOptions](c, uint32(s[2]))
	}
	ret := uint32(s[3])

	future, code := h.send(c, r, opts)
	if code != nil {
		if r.body != nil {
			r.body.dropped()
		}
		put8(m, ret, 1)
		putErrorCode(ctx, m, ret+8, code)
		return
	}
	put8(m, ret, 0)
	put32(m, ret+8, c.add(future))
}

// send starts the request in a goroutine. The guest writes the body after
// handle returns, through a pipe the transport reads.
func (h *host) send(c *call, r *outgoingRequest, opts *requestOptions) (*futureResponse, *errorCode) {
	scheme := "https"
	if r.hasScheme {
		scheme = r.scheme
	}
	path := "/"
	if r.hasPath && r.path != "" {
		path = r.path
	}
	if !r.hasAuth || r.authority == "" {
		return nil, &errorCode{tag: codeRequestURIInvalid}
	}
	u, err := url.Parse(scheme + "://" + r.authority + path)
	if err != nil {
		return nil, &errorCode{tag: codeRequestURIInvalid}
	}

	reqCtx, cancel := context.WithCancel(c.ctx)
	// A request still waiting when the guest call ends (a trap, a timeout,
	// a guest that dropped the future) is cancelled with it, so it does not
	// hold a connection until the egress client's own timeout.
	c.onCleanup(cancel)
	var body io.ReadCloser = http.NoBody
	if r.body != nil {
		pr, pw := io.Pipe()
		r.body.pipe = pw
		body = pr
		c.onCleanup(func() { pw.CloseWithError(context.Canceled) })
	}
	req, err := http.NewRequestWithContext(reqCtx, r.method, u.String(), body)
	if err != nil {
		cancel()
		return nil, &errorCode{tag: codeRequestURIInvalid}
	}
	req.Header = r.headers.header()
	req.Header.Del("Content-Length")
	if n := contentLength(r.headers); n >= 0 && r.body != nil {
		req.ContentLength = n
	}
	if req.ContentLength == 0 && r.body != nil {
		req.ContentLength = -1
	}

	var timedOut atomic.Bool
	var timer *time.Timer
	if d := firstByteTimeout(opts); d > 0 {
		timer = time.AfterFunc(d, func() { timedOut.Store(true); cancel() })
	}

	f := &futureResponse{done: make(chan struct{})}
	go func() {
		defer close(f.done)
		resp, err := h.opts.Client.Do(req)
		if timer != nil {
			timer.Stop()
		}
		if err != nil {
			if pr, ok := body.(*io.PipeReader); ok {
				pr.CloseWithError(err)
			}
			cancel()
			f.err = errorCodeOf(err)
			if timedOut.Load() {
				f.err = &errorCode{tag: codeResponseTimeout}
			}
			return
		}
		f.resp = resp
		c.onCleanup(func() { resp.Body.Close(); cancel() })
	}()
	return f, nil
}

// firstByteTimeout returns the earlier of the connect and first-byte
// timeouts, or 0. The between-bytes timeout is not enforced.
func firstByteTimeout(opts *requestOptions) time.Duration {
	if opts == nil {
		return 0
	}
	var d time.Duration
	for _, t := range []*time.Duration{opts.connect, opts.firstByte} {
		if t != nil && *t > 0 && (d == 0 || *t < d) {
			d = *t
		}
	}
	return d
}
