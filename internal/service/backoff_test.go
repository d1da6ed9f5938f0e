package service

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgetoken/edgetoken/internal/token"
)

// TestServeBackoff checks the answers while the token cache backs off: the
// wait becomes Retry-After, a rejection stays 502, and only the caller whose
// fetch failed logs the failure.
func TestServeBackoff(t *testing.T) {
	cause := errors.New(`entra: client secret: token request failed: status 429, trace ID t-1`)
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantHeader []Field
		wantBody   string
		wantLog    string // level of the one line logged, "" for none at info
	}{
		{"fetch_failed", &token.BackoffError{Scope: speechScope, RetryAfter: 90 * time.Second, Err: cause}, 503,
			fields("content-type", "application/json", "cache-control", "no-store", "retry-after", "90"),
			`{"detail":"token unavailable, retry later"}`, "ERROR"},
		{"waiting", &token.BackoffError{Scope: speechScope, RetryAfter: 1500 * time.Millisecond}, 503,
			fields("content-type", "application/json", "cache-control", "no-store", "retry-after", "2"),
			`{"detail":"token unavailable, retry later"}`, ""},
		{"rejected", &token.BackoffError{Scope: speechScope, RetryAfter: time.Minute, Rejected: true, Err: cause}, 502,
			fields("content-type", "application/json", "cache-control", "no-store"),
			`{"detail":"token request rejected by the authority"}`, "ERROR"},
		{"rejected_waiting", &token.BackoffError{Scope: speechScope, RetryAfter: time.Minute, Rejected: true}, 502,
			fields("content-type", "application/json", "cache-control", "no-store"),
			`{"detail":"token request rejected by the authority"}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, nil))
			h := New(settings(t, "*", true), &fakeTokens{err: tc.err}, Options{Logger: log})
			resp := h.Serve(context.Background(), req("GET", "/speech"))
			if resp.Status != tc.wantStatus || string(resp.Body) != tc.wantBody {
				t.Errorf("got %d %s, want %d %s", resp.Status, resp.Body, tc.wantStatus, tc.wantBody)
			}
			if !reflect.DeepEqual(resp.Header, tc.wantHeader) {
				t.Errorf("header %v, want %v", resp.Header, tc.wantHeader)
			}
			lines := strings.Count(buf.String(), "\n")
			switch {
			case tc.wantLog == "" && lines != 0:
				t.Errorf("logged %q, want nothing at info level", buf.String())
			case tc.wantLog != "" && (lines != 1 || !strings.Contains(buf.String(), "level="+tc.wantLog) ||
				!strings.Contains(buf.String(), "trace ID t-1")):
				t.Errorf("logged %q, want one %s line with the trace ID", buf.String(), tc.wantLog)
			}
		})
	}
}

// TestErrorResponsesCarryCORS checks that every error the handler makes
// carries the CORS headers and Vary: Origin with a list of origins.
func TestErrorResponsesCarryCORS(t *testing.T) {
	const origin = "https://a.example"
	tests := []struct {
		name   string
		err    error
		method string
		path   string
		status int
	}{
		{"502", &token.BackoffError{Scope: speechScope, Rejected: true, Err: errors.New("invalid_client")}, "GET", "/speech", 502},
		{"503", errors.New("down"), "GET", "/speech", 503},
		{"404", nil, "GET", "/nowhere", 404},
		{"405", nil, "PUT", "/speech", 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := New(settings(t, origin, true), &fakeTokens{err: tc.err}, Options{Logger: quietLogger()})
			resp := h.Serve(context.Background(), req(tc.method, tc.path, "origin", origin))
			if resp.Status != tc.status {
				t.Fatalf("status %d, want %d", resp.Status, tc.status)
			}
			n := len(resp.Header)
			if n < 2 || resp.Header[n-2] != (Field{"access-control-allow-origin", origin}) ||
				resp.Header[n-1] != (Field{"vary", "Origin"}) {
				t.Errorf("header %v, want it to end with the allowed origin and Vary: Origin", resp.Header)
			}
		})
	}
}
