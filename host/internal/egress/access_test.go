package egress_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/edgetoken/edgetoken/host/internal/egress"
)

func lookupFrom(env map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
}

func TestAccessOrigins(t *testing.T) {
	auth := map[string]string{
		"AUTH_ISSUER":   "https://login.app.example/",
		"AUTH_AUDIENCE": "api://token-service",
		"AUTH_JWKS_URL": "https://login.app.example/tenant/discovery/keys",
	}
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"nothing_set", nil, nil},
		// Other access controls reach nothing outside.
		{"other_controls", map[string]string{"ENFORCE_ALLOWED_ORIGINS": "true", "ALLOWED_ORIGINS": "https://app.example",
			"RATE_LIMIT_CLIENT_PER_MINUTE": "10"}, nil},
		{"caller_auth", auth, []string{"https://login.app.example/tenant/discovery/keys"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := egress.AccessOrigins(lookupFrom(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}

	t.Run("invalid", func(t *testing.T) {
		_, err := egress.AccessOrigins(lookupFrom(map[string]string{"AUTH_JWKS_URL": "https://login.app.example/keys"}))
		if err == nil || !strings.HasPrefix(err.Error(), "AUTH_ISSUER is missing") {
			t.Errorf("got error %v, want one naming AUTH_ISSUER", err)
		}
	})
}

// TestAccessOriginsAllowJWKSOnly checks the policy built from the list: the
// JWKS origin passes, and another path or port on the same host does not.
func TestAccessOriginsAllowJWKSOnly(t *testing.T) {
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"keys":[]}`))
	}))
	defer jwks.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request reached the server outside the policy: %s", r.URL)
	}))
	defer other.Close()

	allowed, err := egress.AccessOrigins(lookupFrom(map[string]string{
		"AUTH_ISSUER":   "https://login.app.example/",
		"AUTH_AUDIENCE": "api://token-service",
		"AUTH_JWKS_URL": jwks.URL + "/keys",
	}))
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, egress.Config{Allowed: allowed})

	resp, err := c.Get(jwks.URL + "/keys")
	if err != nil {
		t.Fatalf("GET JWKS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("JWKS: got status %d, want 200", resp.StatusCode)
	}
	if _, err := c.Get(other.URL + "/keys"); !errors.Is(err, egress.ErrNotAllowed) {
		t.Errorf("other port: got %v, want ErrNotAllowed", err)
	}
}
