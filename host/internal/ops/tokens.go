package ops

import (
	"strings"
	"time"

	"github.com/edgetoken/edgetoken/internal/token"
)

// Scope is a token the service serves: its route name ("speech" or "api")
// and the OAuth scope its record is stored under.
type Scope struct {
	Name  string
	Scope string
}

// Tokens reads the stored tokens for readiness and metrics. It reads the
// shared store rather than the refresher's state, because the guest also
// stores tokens it fetched on its own at request time.
type Tokens struct {
	scopes []Scope
	cache  *token.Cache // only Stored and Usable are called, so it has no fetcher
	now    func() time.Time
}

// NewTokens returns a Tokens over store. minLifetime is the shortest
// remaining lifetime of a token the guest hands out (TOKEN_MIN_LIFETIME).
// now defaults to time.Now.
func NewTokens(store token.Store, scopes []Scope, minLifetime time.Duration, now func() time.Time) *Tokens {
	if now == nil {
		now = time.Now
	}
	return &Tokens{
		scopes: scopes,
		cache:  token.NewCache(store, nil, token.CacheOptions{MinLifetime: minLifetime, Now: now}),
		now:    now,
	}
}

// Missing returns the names of the scopes without a stored token that the
// guest would hand out now, under the same rule the guest applies.
func (t *Tokens) Missing() []string {
	missing := []string{}
	now := t.now()
	for _, s := range t.scopes {
		tok, ok, err := t.cache.Stored(s.Scope)
		if err != nil || !ok || !t.cache.Usable(tok, now) {
			missing = append(missing, s.Name)
		}
	}
	return missing
}

// RemainingLifetimes returns one gauge sample per scope: the seconds left
// before its stored token expires, and 0 when none is stored or it has
// expired.
func (t *Tokens) RemainingLifetimes() []Gauge {
	now := t.now()
	out := make([]Gauge, 0, len(t.scopes))
	for _, s := range t.scopes {
		var left float64
		if tok, ok, err := t.cache.Stored(s.Scope); err == nil && ok {
			left = max(0, tok.ExpiresOn.Sub(now).Truncate(time.Second).Seconds())
		}
		out = append(out, Gauge{Labels: []Label{{"scope", s.Name}}, Value: left})
	}
	return out
}

// CountingStore is a token.Store that counts each token record written as
// a successful fetch of its scope. Every successful fetch, whether the
// host's timer asked for it or a request found the stored token old, ends
// with exactly one such write.
type CountingStore struct {
	token.Store
	Metrics *Metrics
	Scopes  []Scope
}

// Set stores value and counts a write under "token/<scope>".
func (s *CountingStore) Set(key string, value []byte) error {
	err := s.Store.Set(key, value)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(key, token.TokenKey("")) {
		return nil
	}
	for _, sc := range s.Scopes {
		if token.TokenKey(sc.Scope) == key {
			s.Metrics.ObserveFetch(sc.Name, ResultSuccess)
			return nil
		}
	}
	// The guest reads the host's settings, so it stores no other scope. The
	// label stays bounded if that ever changes.
	s.Metrics.ObserveFetch("other", ResultSuccess)
	return nil
}
