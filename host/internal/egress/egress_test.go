package egress_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/edgetoken/edgetoken/host/internal/egress"
)

func newClient(t *testing.T, cfg egress.Config) *http.Client {
	t.Helper()
	c, err := egress.NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

func TestAllowedOriginPasses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"access_token":"x"}`)
	}))
	defer srv.Close()
	c := newClient(t, egress.Config{Allowed: []string{srv.URL}})

	resp, err := c.Post(srv.URL+"/tenant/oauth2/v2.0/token", "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if resp.StatusCode != 200 || string(body) != `{"access_token":"x"}` {
		t.Errorf("got %d %q, want 200 {\"access_token\":\"x\"}", resp.StatusCode, body)
	}
}

func TestOtherOriginRejected(t *testing.T) {
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer other.Close()
	c := newClient(t, egress.Config{Allowed: []string{srv.URL}})

	// Same host, other port; and the allowed host:port with another scheme.
	for _, target := range []string{other.URL + "/x", strings.Replace(srv.URL, "http://", "https://", 1)} {
		_, err := c.Get(target)
		if !errors.Is(err, egress.ErrNotAllowed) {
			t.Errorf("GET %s: got error %v, want ErrNotAllowed", target, err)
			continue
		}
		origin, _ := egress.ParseOrigin(target)
		if !strings.Contains(err.Error(), string(origin)) {
			t.Errorf("GET %s: error %q does not name %s", target, err, origin)
		}
	}
	if hits != 0 {
		t.Errorf("servers received %d requests, want 0", hits)
	}
}

func TestRejectionWrapsDenied(t *testing.T) {
	denied := errors.New("request denied")
	c := newClient(t, egress.Config{Allowed: []string{"http://127.0.0.1:1"}, Denied: denied})

	_, err := c.Get("http://127.0.0.2:1/")
	if !errors.Is(err, denied) || !errors.Is(err, egress.ErrNotAllowed) {
		t.Errorf("got error %v, want one wrapping both Denied and ErrNotAllowed", err)
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	var otherHits int
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { otherHits++ }))
	defer other.Close()
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		http.Redirect(w, r, other.URL+"/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	// Both servers are allowed: the client must still not follow.
	c := newClient(t, egress.Config{Allowed: []string{srv.URL, other.URL}})

	resp, err := c.Get(srv.URL + "/token")
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("status = %d, want 302", resp.StatusCode)
	}
	if hits != 1 || otherHits != 0 {
		t.Errorf("requests: first server %d, redirect target %d; want 1 and 0", hits, otherHits)
	}
}

func TestResponseBodyCapped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("a", 100))
	}))
	defer srv.Close()

	for _, tc := range []struct {
		name    string
		limit   int64
		wantErr bool
	}{
		{"under", 101, false},
		{"exact", 100, false},
		{"over", 99, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, egress.Config{Allowed: []string{srv.URL}, MaxResponseBytes: tc.limit})
			resp, err := c.Get(srv.URL)
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if tc.wantErr {
				if err == nil {
					t.Errorf("read %d bytes with no error, want an error past %d", len(body), tc.limit)
				}
				if int64(len(body)) > tc.limit {
					t.Errorf("read %d bytes, want at most %d", len(body), tc.limit)
				}
				return
			}
			if err != nil || len(body) != 100 {
				t.Errorf("read %d bytes, error %v; want 100, nil", len(body), err)
			}
		})
	}
}

func TestParseOrigin(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://login.microsoftonline.com", "https://login.microsoftonline.com:443"},
		{"https://Login.MicrosoftOnline.com/", "https://login.microsoftonline.com:443"},
		{"http://169.254.169.254/metadata/identity/oauth2/token", "http://169.254.169.254:80"},
		{"http://127.0.0.1:41000/msi/token", "http://127.0.0.1:41000"},
		{"http://[::1]:8080", "http://[::1]:8080"},
	} {
		got, err := egress.ParseOrigin(tc.in)
		if err != nil || string(got) != tc.want {
			t.Errorf("ParseOrigin(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"ftp://example.com", "login.microsoftonline.com", "https://"} {
		if _, err := egress.ParseOrigin(bad); err == nil {
			t.Errorf("ParseOrigin(%q): got no error", bad)
		}
	}
}

func TestNewClientRejectsBadOrigin(t *testing.T) {
	if _, err := egress.NewClient(egress.Config{Allowed: []string{"not a url"}}); err == nil {
		t.Error("NewClient: got no error for an invalid allowed origin")
	}
}
