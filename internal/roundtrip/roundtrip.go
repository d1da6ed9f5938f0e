// Package roundtrip sends a request through an *http.Client's transport
// without calling http.Client.Do.
//
// Client.Do falls back to http.DefaultTransport, so any program that calls
// it links net/http's whole client transport, HTTP/2 included. In the wasm
// guest that is about 5 MB of the module, which every instance loads and
// the host compiles at start, although the guest's transport is its own
// wasi:http RoundTripper. Send uses only the client's Transport and
// Timeout, never follows redirects, and keeps cookies out of the request:
// what the token service's callers need.
package roundtrip

import (
	"context"
	"errors"
	"io"
	"net/http"
)

// errNoTransport is returned in a build without a default transport (the
// wasm guest) when the client has none.
var errNoTransport = errors.New("roundtrip: the client has no Transport")

// Send sends req through c.Transport (http.DefaultTransport when nil,
// outside the wasm guest), with c.Timeout as a deadline when set. A nil c
// means the zero client. A redirect response is returned as it is.
func Send(c *http.Client, req *http.Request) (*http.Response, error) {
	var rt http.RoundTripper
	if c != nil {
		rt = c.Transport
	}
	if rt == nil {
		rt = defaultTransport()
	}
	if rt == nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errNoTransport
	}
	if c == nil || c.Timeout <= 0 {
		return rt.RoundTrip(req)
	}

	ctx, cancel := context.WithTimeout(req.Context(), c.Timeout)
	resp, err := rt.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	// The deadline covers the body too, as with http.Client.Timeout, so it
	// ends only when the caller closes the body.
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
