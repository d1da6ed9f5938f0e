package access

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgetoken/edgetoken/internal/service"
)

// memStore is an in-memory token.Store that counts the calls it receives.
type memStore struct {
	mu   sync.Mutex
	data map[string][]byte
	fail error // returned by every call when set
}

func newMemStore() *memStore { return &memStore{data: map[string][]byte{}} }

func (s *memStore) Get(key string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, false, s.fail
	}
	v, ok := s.data[key]
	return v, ok, nil
}

func (s *memStore) Set(key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.data[key] = append([]byte(nil), value...)
	return nil
}

func (s *memStore) Delete(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	delete(s.data, key)
	return nil
}

func (s *memStore) Increment(key string, delta uint64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return 0, s.fail
	}
	n, _ := strconv.ParseUint(string(s.data[key]), 10, 64)
	n += delta
	s.data[key] = []byte(strconv.FormatUint(n, 10))
	return n, nil
}

// keys returns the stored keys with the given prefix, sorted.
func (s *memStore) keys(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.data {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func (s *memStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.data)
}

var errStoreDown = errors.New("store down")

// clock is a settable test clock. It starts on a minute boundary so window
// arithmetic in the tests is exact.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_700_000_040, 0)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// request builds a token request with lower-case header names given as
// name, value pairs.
func request(pairs ...string) *service.Request {
	req := &service.Request{Method: "GET", Path: "/api"}
	for i := 0; i+1 < len(pairs); i += 2 {
		req.Header = append(req.Header, service.Field{Name: pairs[i], Value: pairs[i+1]})
	}
	return req
}

func check(t *testing.T, g *Guard, req *service.Request) *service.Response {
	t.Helper()
	resp, err := g.Check(context.Background(), req)
	if err != nil {
		t.Fatalf("Check returned error %v", err)
	}
	return resp
}

// wantReject fails unless resp is the exact rejection with status and
// detail, and returns resp's headers other than content-type.
func wantReject(t *testing.T, resp *service.Response, status int, detail string) map[string]string {
	t.Helper()
	if resp == nil {
		t.Fatalf("got allowed, want %d %q", status, detail)
	}
	if resp.Status != status {
		t.Errorf("got status %d, want %d", resp.Status, status)
	}
	wantBody := `{"detail":"` + detail + `"}`
	if string(resp.Body) != wantBody {
		t.Errorf("got body %s, want %s", resp.Body, wantBody)
	}
	headers := map[string]string{}
	for _, f := range resp.Header {
		if _, dup := headers[f.Name]; dup {
			t.Errorf("header %s set twice", f.Name)
		}
		headers[f.Name] = f.Value
	}
	if headers["content-type"] != "application/json" {
		t.Errorf("got content-type %q, want application/json", headers["content-type"])
	}
	delete(headers, "content-type")
	return headers
}

// Keys are generated once: RSA generation is slow.
var (
	keysOnce sync.Once
	rsaKey1  *rsa.PrivateKey
	ecKey1   *ecdsa.PrivateKey
	ecKey2   *ecdsa.PrivateKey
	ecKey3   *ecdsa.PrivateKey
	ecStray  *ecdsa.PrivateKey
)

func testKeys(t *testing.T) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey1, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		for _, k := range []**ecdsa.PrivateKey{&ecKey1, &ecKey2, &ecKey3, &ecStray} {
			if *k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
				panic(err)
			}
		}
	})
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid string, k *rsa.PublicKey) map[string]string {
	return map[string]string{
		"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes()),
	}
}

func ecJWK(kid string, k *ecdsa.PublicKey) map[string]string {
	x, y := make([]byte, 32), make([]byte, 32)
	k.X.FillBytes(x)
	k.Y.FillBytes(y)
	return map[string]string{"kty": "EC", "kid": kid, "use": "sig", "crv": "P-256", "x": b64(x), "y": b64(y)}
}

// jwksServer is a loopback JWKS endpoint whose key set the test can change.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []map[string]string
	status  int
	fetches int
}

func newJWKSServer(t *testing.T, keys ...map[string]string) *jwksServer {
	s := &jwksServer{keys: keys, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.fetches++
		if s.status != http.StatusOK {
			w.WriteHeader(s.status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": s.keys})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(keys ...map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

func (s *jwksServer) setStatus(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

func (s *jwksServer) fetchCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}
