package access

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/edgetoken/edgetoken/internal/testenv"
)

const (
	resourceID = "/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/speech"
	apiAppID   = "00000000-0000-4000-8000-0000000000aa"
	appOrigin  = "https://app.example"
)

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: runs the host as a subprocess")
	}
}

// baseEnv sets no credential, so the host serves tokens from its local
// authority on loopback.
func baseEnv(extra ...string) map[string]string {
	env := map[string]string{"SPEECH_RESOURCE_ID": resourceID, "API_APP_ID": apiAppID}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	return env
}

var (
	warmMu sync.Mutex
	warmed bool
)

// startHost starts a host. The first start in the test binary runs alone,
// so it fills the compiled-code cache that later, parallel starts reuse.
// Every host here uses the local authority: these tests are about access
// control, not credentials.
func startHost(t *testing.T, env map[string]string, args ...string) *testenv.Host {
	t.Helper()
	args = append([]string{"-local-authority"}, args...)
	warmMu.Lock()
	if !warmed {
		defer warmMu.Unlock()
		h := testenv.StartHost(t, env, args...)
		warmed = true
		return h
	}
	warmMu.Unlock()
	return testenv.StartHost(t, env, args...)
}

// result is a response read in full.
type result struct {
	status int
	header http.Header
	body   string
}

var client = &http.Client{Timeout: 20 * time.Second}

// do sends a request with headers given as name, value pairs; a name may
// repeat.
func do(t *testing.T, method, url string, pairs ...string) result {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		req.Header.Add(pairs[i], pairs[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return result{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// wantStatus fails unless r has status and, when body is not empty, exactly
// that body.
func wantStatus(t *testing.T, what string, r result, status int, body string) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: got status %d body %s, want %d", what, r.status, short(r.body), status)
		return
	}
	if body != "" && r.body != body {
		t.Errorf("%s: got body %s, want %s", what, short(r.body), body)
	}
}

// wantToken fails unless r is a 200 token response for path.
func wantToken(t *testing.T, what, path string, r result) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Errorf("%s: got status %d body %s, want 200", what, r.status, short(r.body))
		return
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		t.Errorf("%s: body %s is not a JSON object of strings: %v", what, short(r.body), err)
		return
	}
	key := "access_token"
	if path == "/speech" {
		key = "speech_token"
	}
	if body[key] == "" {
		t.Errorf("%s: body %s has no %s", what, short(r.body), key)
	}
}

// short returns body cut to a length that keeps any token out of test
// output.
func short(body string) string {
	if len(body) > 40 {
		return body[:40] + "…"
	}
	return body
}

// header returns the values of name, or nil.
func header(r result, name string) []string { return r.header.Values(name) }

// awayFromMinuteEdge waits, when a minute boundary is under margin away,
// until it has passed, so a burst of requests falls in one rate window.
func awayFromMinuteEdge(margin time.Duration) {
	now := time.Now()
	next := now.Truncate(time.Minute).Add(time.Minute)
	if next.Sub(now) < margin {
		time.Sleep(next.Sub(now) + 100*time.Millisecond)
	}
}

// jwksServer is the caller's identity provider: a loopback JWKS endpoint
// whose keys the test changes.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []map[string]string
	fetches int
}

func newJWKSServer(t *testing.T) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/keys" {
			http.NotFound(w, r)
			return
		}
		s.mu.Lock()
		s.fetches++
		body, _ := json.Marshal(map[string]any{"keys": s.keys})
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(keys ...map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

func (s *jwksServer) fetchCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

func newECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// ecJWK is the public JWK of k under kid.
func ecJWK(kid string, k *ecdsa.PrivateKey) map[string]string {
	pub, err := k.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		panic(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	return map[string]string{"kty": "EC", "use": "sig", "alg": "ES256", "kid": kid, "crv": "P-256",
		"x": b64(pub[1:33]), "y": b64(pub[33:])}
}
