package service

import (
	"context"
	"reflect"
	"testing"
	"time"
)

// cookieGuard is a Guard in cookie mode that lets every request through.
type cookieGuard struct{ credentials bool }

func (g cookieGuard) Check(context.Context, *Request) (*Response, error) { return nil, nil }

func (g cookieGuard) Cookie(tok string, _ time.Time) (Field, bool) {
	return Field{"set-cookie", "api_token=" + tok}, true
}

func (g cookieGuard) OmitTokenFromBody() bool { return false }

func (g cookieGuard) AllowCredentials() bool { return g.credentials }

// plainGuard has no AllowCredentials method.
type plainGuard struct{ cookieGuard }

func (plainGuard) AllowCredentials() {}

func TestCORSCredentials(t *testing.T) {
	json200 := []string{"content-type", "application/json", "cache-control", "no-store", "set-cookie", "api_token=tok-api"}
	with := func(base []string, more ...string) []string { return append(append([]string{}, base...), more...) }
	preflightOK := func(origin string, credentials bool) []string {
		h := []string{"vary", "Origin", "access-control-allow-origin", origin}
		if credentials {
			h = append(h, "access-control-allow-credentials", "true")
		}
		return append(h, "access-control-allow-methods", corsMethods, "access-control-max-age", "600",
			"access-control-allow-headers", "authorization", "content-type", "text/plain; charset=utf-8")
	}
	preflight := func(origin string) *Request {
		return req("OPTIONS", "/api", "origin", origin, "access-control-request-method", "GET",
			"access-control-request-headers", "authorization")
	}
	on := cookieGuard{credentials: true}
	const listed = "https://a.example,https://b.example"

	tests := []struct {
		name       string
		origins    string
		guard      Guard
		req        *Request
		wantStatus int
		wantHeader []string
	}{
		{"listed_origin", listed, on, req("GET", "/api", "origin", "https://b.example"), 200,
			with(json200, "access-control-allow-origin", "https://b.example", "access-control-allow-credentials", "true", "vary", "Origin")},
		{"foreign_origin", listed, on, req("GET", "/api", "origin", "https://evil.example"), 200,
			with(json200, "vary", "Origin")},
		{"no_origin", listed, on, req("GET", "/api"), 200, with(json200, "vary", "Origin")},
		{"preflight_listed", listed, on, preflight("https://a.example"), 200, preflightOK("https://a.example", true)},
		{"preflight_foreign", listed, on, preflight("https://evil.example"), 400,
			[]string{"vary", "Origin", "access-control-allow-methods", corsMethods, "access-control-max-age", "600",
				"access-control-allow-headers", "authorization", "content-type", "application/json"}},
		{"guard_declines", listed, cookieGuard{}, req("GET", "/api", "origin", "https://a.example"), 200,
			with(json200, "access-control-allow-origin", "https://a.example", "vary", "Origin")},
		{"guard_without_method", listed, plainGuard{on}, preflight("https://a.example"), 200, preflightOK("https://a.example", false)},
		// A wildcard never comes with credentials, whatever the guard says.
		{"wildcard", "*", on, req("GET", "/api", "origin", "https://a.example", "cookie", "api_token=x"), 200,
			with(json200, "access-control-allow-origin", "https://a.example", "vary", "Origin")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := New(settings(t, tc.origins, true), &fakeTokens{}, Options{Logger: quietLogger(), Guard: tc.guard})
			resp := h.Serve(context.Background(), tc.req)
			if resp.Status != tc.wantStatus {
				t.Errorf("got status %d, want %d", resp.Status, tc.wantStatus)
			}
			if want := fields(tc.wantHeader...); !reflect.DeepEqual(resp.Header, want) {
				t.Errorf("got header\n%v\nwant\n%v", resp.Header, want)
			}
		})
	}
}
