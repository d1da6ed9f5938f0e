package access

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/edgetoken/edgetoken/internal/roundtrip"
	"github.com/edgetoken/edgetoken/internal/token"
)

// Key-value store keys of the JWKS cache.
const (
	jwksRecordKey      = "jwks/keys"
	jwksFetchWindowKey = "jwks/fetch-window"
	jwksFetchPrefix    = "jwks/fetch/"
)

// maxFetchInterval is the longest time between two JWKS fetches across all
// instances. It bounds the load a stream of tokens with made-up key IDs can
// put on the identity provider. A cache TTL below it shortens the interval
// to the TTL, since such a deployment refetches that often anyway.
const maxFetchInterval = time.Minute

// fetchInterval returns the fetch interval for a cache TTL, in whole
// seconds and at least one.
func fetchInterval(ttl time.Duration) time.Duration {
	return max(min(ttl, maxFetchInterval).Truncate(time.Second), time.Second)
}

// maxJWKSBytes caps the JWKS response read. A provider's set holds a handful
// of keys, a few KiB.
const maxJWKSBytes = 256 << 10

// minRSABits rejects RSA keys too short to trust.
const minRSABits = 2048

var (
	// errUnknownKey means the JWKS holds no key for the token's kid and
	// algorithm, even after a refetch when one was allowed.
	errUnknownKey = errors.New("no signing key for the token's key ID")
	// errKeysUnavailable means no JWKS could be loaded or fetched.
	errKeysUnavailable = errors.New("signing keys unavailable")
)

// jwksRecord is the JSON form of a fetched JWKS in the store under
// jwksRecordKey, shared by every instance.
type jwksRecord struct {
	URL       string          `json:"url"`
	FetchedAt int64           `json:"fetched_at"` // Unix seconds
	JWKS      json.RawMessage `json:"jwks"`
}

// keySource returns JWT signing keys from a JWKS cached in the store.
//
// The cached set is used for ttl. After that, or when a token names a key
// ID the set lacks (the provider rotated its keys), one instance refetches.
// Fetches are serialized by an atomic counter per fetch interval,
// jwks/fetch/<interval index>: only the instance whose increment returns 1
// fetches, so the provider receives at most one fetch per interval (a
// minute, or the TTL when shorter) however many instances run. Instances that lose
// keep using the cached set, and when there is none they poll the store for
// up to wait.
type keySource struct {
	url      string
	ttl      time.Duration
	interval time.Duration // between fetches; see fetchInterval
	store    token.Store
	client   *http.Client
	now      func() time.Time

	wait time.Duration // how long to poll for a set another instance fetches
	poll time.Duration // polling interval
}

// publicKey is one usable key of a JWKS.
type publicKey struct {
	kid string
	alg string // from the JWK; "" when the JWK names none
	key crypto.PublicKey
}

// lookup returns the key that verifies a token with kid and alg. refetch
// allows a fetch when kid is unknown. The caller passes false for a token
// that can never be valid, so such tokens cannot spend the fetch budget.
func (s *keySource) lookup(ctx context.Context, kid, alg string, refetch bool) (any, error) {
	keys, fetchedAt, err := s.load()
	if err != nil {
		return nil, err
	}

	if keys == nil {
		keys, err = s.fetchOrWait(ctx)
		if err != nil {
			return nil, err
		}
		return findKey(keys, kid, alg)
	}

	stale := s.now().Sub(fetchedAt) >= s.ttl
	key, err := findKey(keys, kid, alg)
	if err == nil && !stale {
		return key, nil
	}
	if err != nil && !stale && !refetch {
		return nil, err
	}

	fresh, won, ferr := s.tryFetch(ctx)
	if !won || ferr != nil {
		// Another instance is fetching, or the fetch failed: the cached
		// set, even past its TTL, is better than rejecting every token.
		return key, err
	}
	return findKey(fresh, kid, alg)
}

// load reads the cached set. keys is nil when there is none for this URL.
func (s *keySource) load() (keys []publicKey, fetchedAt time.Time, err error) {
	data, ok, err := s.store.Get(jwksRecordKey)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: read %s: %v", errKeysUnavailable, jwksRecordKey, err)
	}
	if !ok {
		return nil, time.Time{}, nil
	}
	var rec jwksRecord
	if json.Unmarshal(data, &rec) != nil || rec.URL != s.url {
		// A corrupt record, or one left by a deployment with another
		// JWKS URL, counts as absent and is replaced by the next fetch.
		return nil, time.Time{}, nil
	}
	keys, err = parseJWKS(rec.JWKS)
	if err != nil {
		return nil, time.Time{}, nil
	}
	return keys, time.Unix(rec.FetchedAt, 0), nil
}

// fetchOrWait fetches the set when this instance wins the fetch window and
// otherwise polls the store for the set the winner stores.
func (s *keySource) fetchOrWait(ctx context.Context) ([]publicKey, error) {
	keys, won, err := s.tryFetch(ctx)
	if won || err != nil {
		return keys, err
	}

	deadline := time.Now().Add(s.wait)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %v", errKeysUnavailable, ctx.Err())
		case <-time.After(s.poll):
		}
		keys, _, err := s.load()
		if err != nil {
			return nil, err
		}
		if keys != nil {
			return keys, nil
		}
	}
	return nil, fmt.Errorf("%w: another instance is fetching %s", errKeysUnavailable, s.url)
}

// tryFetch fetches and stores the set if this instance is the first to ask
// in the current fetch window. won is false when another instance was.
func (s *keySource) tryFetch(ctx context.Context) (keys []publicKey, won bool, err error) {
	window := s.now().Unix() / int64(s.interval/time.Second)
	n, err := s.store.Increment(jwksFetchPrefix+strconv.FormatInt(window, 10), 1)
	if err != nil {
		return nil, false, fmt.Errorf("%w: take fetch window: %v", errKeysUnavailable, err)
	}
	if n != 1 {
		return nil, false, nil
	}
	s.forgetOldWindow(window)

	raw, err := s.fetch(ctx)
	if err != nil {
		return nil, true, err
	}
	keys, err = parseJWKS(raw)
	if err != nil {
		return nil, true, fmt.Errorf("%w: parse JWKS from %s: %v", errKeysUnavailable, s.url, err)
	}

	// A failed Set still leaves good keys for this request. Other
	// instances keep the old set until the next fetch window.
	rec, _ := json.Marshal(jwksRecord{URL: s.url, FetchedAt: s.now().Unix(), JWKS: raw})
	_ = s.store.Set(jwksRecordKey, rec)
	return keys, true, nil
}

// forgetOldWindow deletes the counter of the previous winning fetch window,
// so at most two such counters exist. Errors only leave a stale counter.
func (s *keySource) forgetOldWindow(window int64) {
	if data, ok, err := s.store.Get(jwksFetchWindowKey); err == nil && ok {
		if old, err := strconv.ParseInt(string(data), 10, 64); err == nil && old != window {
			_ = s.store.Delete(jwksFetchPrefix + strconv.FormatInt(old, 10))
		}
	}
	_ = s.store.Set(jwksFetchWindowKey, []byte(strconv.FormatInt(window, 10)))
}

func (s *keySource) fetch(ctx context.Context) (json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: build JWKS request for %s: %v", errKeysUnavailable, s.url, err)
	}
	req.Header.Set("Accept", "application/json")

	resp, err := roundtrip.Send(s.client, req)
	if err != nil {
		return nil, fmt.Errorf("%w: fetch JWKS from %s: %v", errKeysUnavailable, s.url, err)
	}
	defer resp.Body.Close()

	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: fetch JWKS from %s: status %d", errKeysUnavailable, s.url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read JWKS from %s: %v", errKeysUnavailable, s.url, err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("%w: JWKS from %s is larger than %d bytes", errKeysUnavailable, s.url, maxJWKSBytes)
	}
	return body, nil
}

// jwk holds the JWK members (RFC 7517, RFC 7518) this package reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS returns the usable signature keys of a JWKS. Keys of other
// types, for encryption, or malformed are skipped, because providers publish
// such keys next to their signing keys. A set with no usable key is an error.
func parseJWKS(data []byte) ([]publicKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("decode JWKS: %w", err)
	}

	var keys []publicKey
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		var pub crypto.PublicKey
		var err error
		switch k.Kty {
		case "RSA":
			pub, err = rsaKey(k)
		case "EC":
			pub, err = ecKey(k)
		default:
			continue
		}
		if err != nil {
			continue
		}
		keys = append(keys, publicKey{kid: k.Kid, alg: k.Alg, key: pub})
	}
	if len(keys) == 0 {
		return nil, errors.New("JWKS contains no usable signature key")
	}
	return keys, nil
}

func rsaKey(k jwk) (*rsa.PublicKey, error) {
	n, err := base64.RawURLEncoding.DecodeString(k.N)
	if err != nil {
		return nil, err
	}
	e, err := base64.RawURLEncoding.DecodeString(k.E)
	if err != nil {
		return nil, err
	}
	if len(e) == 0 || len(e) > 4 {
		return nil, errors.New("RSA exponent out of range")
	}
	exponent := int(new(big.Int).SetBytes(e).Int64())
	modulus := new(big.Int).SetBytes(n)
	if exponent < 3 || exponent%2 == 0 || modulus.BitLen() < minRSABits {
		return nil, errors.New("RSA key too weak")
	}
	return &rsa.PublicKey{N: modulus, E: exponent}, nil
}

func ecKey(k jwk) (*ecdsa.PublicKey, error) {
	curve, size := curveByName(k.Crv)
	if curve == nil {
		return nil, errors.New("unsupported curve")
	}
	x, err := base64.RawURLEncoding.DecodeString(k.X)
	if err != nil {
		return nil, err
	}
	y, err := base64.RawURLEncoding.DecodeString(k.Y)
	if err != nil {
		return nil, err
	}
	if len(x) != size || len(y) != size {
		return nil, errors.New("EC coordinate has the wrong length")
	}
	point := append(append([]byte{4}, x...), y...)
	return ecdsa.ParseUncompressedPublicKey(curve, point)
}

func curveByName(name string) (elliptic.Curve, int) {
	switch name {
	case "P-256":
		return elliptic.P256(), 32
	case "P-384":
		return elliptic.P384(), 48
	case "P-521":
		return elliptic.P521(), 66
	}
	return nil, 0
}

// findKey returns the key for kid that fits alg. A token without a kid
// matches only when exactly one key fits, since guessing among several would
// let the token pick. Several keys under one kid are all tried.
func findKey(keys []publicKey, kid, alg string) (any, error) {
	var matches []jwt.VerificationKey
	for _, k := range keys {
		if kid != "" && k.kid != kid {
			continue
		}
		if keyFits(k, alg) {
			matches = append(matches, k.key)
		}
	}
	switch {
	case len(matches) == 1:
		return matches[0], nil
	case len(matches) > 1 && kid != "":
		return jwt.VerificationKeySet{Keys: matches}, nil
	}
	return nil, errUnknownKey
}

// keyFits reports whether k may verify a signature made with alg: the JWK's
// own alg, when set, must agree, and the key type and curve must fit.
func keyFits(k publicKey, alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch pub := k.key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		want, _ := curveByName(map[string]string{"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}[alg])
		return want != nil && pub.Curve == want
	}
	return false
}
