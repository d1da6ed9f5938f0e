package service

import (
	"errors"
	"io"
	"net/http"
	"strings"
)

// MaxBodySize is the largest request body NetHTTP reads; a larger one gets 413.
const MaxBodySize = 64 << 10

// NetHTTP adapts h to net/http, the native baseline for the wasm runtimes.
func NetHTTP(h *Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, hr *http.Request) {
		req := &Request{Method: hr.Method, Path: hr.URL.Path, Query: hr.URL.RawQuery}
		req.Header = make([]Field, 0, len(hr.Header)+1)
		if hr.Host != "" {
			req.Header = append(req.Header, Field{"host", hr.Host})
		}
		for name, values := range hr.Header {
			lower := strings.ToLower(name)
			for _, v := range values {
				req.Header = append(req.Header, Field{lower, v})
			}
		}

		var resp *Response
		if hr.ContentLength > MaxBodySize {
			resp = tooLarge()
		} else if hr.Body != nil && hr.Body != http.NoBody {
			body, err := io.ReadAll(http.MaxBytesReader(w, hr.Body, MaxBodySize))
			var tooBig *http.MaxBytesError
			switch {
			case errors.As(err, &tooBig):
				resp = tooLarge()
			case err != nil:
				http.Error(w, "", http.StatusBadRequest)
				return
			}
			req.Body = body
		}
		if resp != nil {
			origin, hasOrigin := req.header("origin")
			h.addCORS(req, resp, origin, hasOrigin)
		} else {
			resp = h.Serve(hr.Context(), req)
		}

		header := w.Header()
		for _, f := range resp.Header {
			header.Add(f.Name, f.Value)
		}
		w.WriteHeader(resp.Status)
		w.Write(resp.Body)
	})
}
