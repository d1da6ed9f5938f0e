package access

import (
	"testing"
	"time"

	"github.com/edgetoken/edgetoken/internal/service"
)

func TestCookie(t *testing.T) {
	clk := newClock()
	expires := clk.now().Add(3599*time.Second + 700*time.Millisecond)
	tok := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln-_"

	tests := []struct {
		name   string
		cookie CookieSettings
		token  string
		expiry time.Time
		want   string // "" means no cookie
		omit   bool
	}{
		{"off", CookieSettings{}, tok, expires, "", false},
		{"default_name", CookieSettings{Enabled: true}, tok, expires,
			"api_token=" + tok + "; Path=/; Max-Age=3599; Secure; HttpOnly; SameSite=Strict", false},
		{"domain_and_no_body", CookieSettings{Enabled: true, Name: "tok", Domain: "app.example", OmitFromBody: true}, tok, expires,
			"tok=" + tok + "; Path=/; Domain=app.example; Max-Age=3599; Secure; HttpOnly; SameSite=Strict", true},
		{"expired", CookieSettings{Enabled: true}, tok, clk.now().Add(900 * time.Millisecond), "", false},
		{"semicolon_in_token", CookieSettings{Enabled: true}, "a;Domain=evil.example", expires, "", false},
		{"empty_token", CookieSettings{Enabled: true}, "", expires, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := New(Settings{Cookie: tc.cookie}, newMemStore(), nil, clk.now)
			field, ok := g.Cookie(tc.token, tc.expiry)
			if tc.want == "" {
				if ok {
					t.Errorf("got cookie %q, want none", field.Value)
				}
			} else if want := (service.Field{Name: "set-cookie", Value: tc.want}); !ok || field != want {
				t.Errorf("got %+v (ok %v), want %+v", field, ok, want)
			}
			if got := g.OmitTokenFromBody(); got != tc.omit {
				t.Errorf("got OmitTokenFromBody %v, want %v", got, tc.omit)
			}
		})
	}
}

func TestAllowCredentials(t *testing.T) {
	listed := []string{"https://app.example"}
	tests := []struct {
		name     string
		settings Settings
		want     bool
	}{
		{"off", Settings{AllowedOrigins: listed}, false},
		{"cookie_listed", Settings{AllowedOrigins: listed, Cookie: CookieSettings{Enabled: true}}, true},
		{"cookie_wildcard", Settings{AllowedOrigins: []string{"*"}, Cookie: CookieSettings{Enabled: true}}, false},
		{"cookie_no_list", Settings{Cookie: CookieSettings{Enabled: true}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := New(tc.settings, newMemStore(), nil, nil)
			if got := g.AllowCredentials(); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
