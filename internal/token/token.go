// Package token holds the token type, the record format kept in the
// key-value store, and the cache rules that decide when a stored token is
// too old to hand out.
package token

import (
	"context"
	"time"
)

// Token is an access token with the times that govern its use.
type Token struct {
	Value     string
	ExpiresOn time.Time
	// RefreshOn is when a refresh should start: the authority's refresh_in
	// when it sent one, otherwise a point well ahead of ExpiresOn.
	RefreshOn time.Time
}

// LogValue keeps the token's value out of logs.
func (t Token) LogValue() string { return "token(redacted)" }

// Record is the JSON form of a Token in the key-value store under
// "token/<scope>". Times are Unix seconds.
type Record struct {
	AccessToken string `json:"access_token"`
	ExpiresOn   int64  `json:"expires_on"`
	RefreshOn   int64  `json:"refresh_on"`
}

// Store is the key-value store shared by every instance of the guest: the
// host's in-memory store, or the runtime's wasi:keyvalue bucket at the edge.
type Store interface {
	// Get returns ok == false when the key is absent.
	Get(key string) (value []byte, ok bool, err error)
	Set(key string, value []byte) error
	Delete(key string) error
	// Increment adds delta to the counter under key (absent counts as 0)
	// and returns the new value, atomically across all instances.
	Increment(key string, delta uint64) (uint64, error)
}

// Fetcher requests a new token for a scope from the authority.
type Fetcher interface {
	FetchToken(ctx context.Context, scope string) (Token, error)
}
