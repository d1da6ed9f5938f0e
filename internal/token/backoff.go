package token

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Defaults of the backoff options of CacheOptions.
const (
	// DefaultMinBackoff is the wait after the first transient fetch failure
	// (a timeout, 5xx or 429), which a retry may get past.
	DefaultMinBackoff = 2 * time.Second
	// DefaultMaxBackoff caps the doubling of transient waits.
	DefaultMaxBackoff = time.Minute
	// DefaultRejectedBackoff is the wait after the authority rejected the
	// request (invalid_client, for example). Retrying sooner only repeats
	// the rejection, but a new secret can take a minute to replicate, so
	// the service does try again, doubling up to MaxRejectedBackoff.
	DefaultRejectedBackoff = 30 * time.Second
	// MaxRejectedBackoff caps the doubling of waits after rejections.
	MaxRejectedBackoff = 5 * time.Minute
	// MaxRetryAfter caps the Retry-After that the authority sends, so a bogus
	// value cannot stop the service for a day.
	MaxRetryAfter = time.Hour
)

// RetryAfterer is implemented by fetch errors that carry the wait the
// authority asked for with Retry-After (*entra.AuthError does). The Cache
// never fetches again for the scope before that wait has passed.
type RetryAfterer interface {
	RetryAfterDelay() time.Duration
}

// BackoffKey returns the store key of the backoff record for scope.
func BackoffKey(scope string) string { return "backoff/" + scope }

// backoffRecord is the JSON under "backoff/<scope>": no instance fetches a
// token for the scope before Until (Unix milliseconds). Failures counts the
// failed fetches in a row, so the wait grows with each.
type backoffRecord struct {
	Until    int64 `json:"until"`
	Failures int   `json:"failures"`
	Rejected bool  `json:"rejected,omitempty"`
}

// BackoffError reports that no usable token is available and that no fetch
// for the scope happens before RetryAfter has passed. It matches
// ErrRejected when the last fetch was rejected by the authority.
type BackoffError struct {
	Scope      string
	RetryAfter time.Duration
	Rejected   bool
	// Err is the failure of the fetch this caller made. It is nil when the
	// caller did not fetch because an earlier failure's wait is still
	// running, and the caller that made that fetch reported its failure.
	Err error
}

func (e *BackoffError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%v (next attempt in %s)", e.Err, e.RetryAfter.Round(time.Millisecond))
	}
	return fmt.Sprintf("token for scope %q unavailable: an earlier fetch failed, next attempt in %s",
		e.Scope, e.RetryAfter.Round(time.Millisecond))
}

func (e *BackoffError) Unwrap() error { return e.Err }

// Is matches ErrRejected when the failure behind the wait was a rejection.
func (e *BackoffError) Is(target error) bool { return target == ErrRejected && e.Rejected }

// RetryAfter returns how long a client should wait before asking again
// after err, and false when err carries no such wait.
func RetryAfter(err error) (time.Duration, bool) {
	var be *BackoffError
	if errors.As(err, &be) && be.RetryAfter > 0 {
		return be.RetryAfter, true
	}
	return 0, false
}

// backoff returns the wait in force for scope at now, and the record.
func (c *Cache) backoff(scope string, now time.Time) (time.Duration, backoffRecord) {
	var r backoffRecord
	b, ok, err := c.store.Get(BackoffKey(scope))
	if err != nil || !ok || json.Unmarshal(b, &r) != nil {
		return 0, backoffRecord{}
	}
	left := time.UnixMilli(r.Until).Sub(now)
	if left <= 0 {
		return 0, r
	}
	// A record from a clock far ahead cannot stop fetches for longer than
	// the longest wait the Cache ever sets.
	return min(left, max(MaxRetryAfter, MaxRejectedBackoff)), r
}

// backoffFailure records a failed fetch for scope and returns the error
// to report.
func (c *Cache) backoffFailure(scope string, now time.Time, err error) *BackoffError {
	_, prev := c.backoff(scope, now)
	failures := prev.Failures + 1
	rejected := IsRejected(err)

	first, ceiling := c.minBackoff, c.maxBackoff
	if rejected {
		first, ceiling = c.rejectedBackoff, max(MaxRejectedBackoff, c.rejectedBackoff)
	}
	d := first
	for i := 1; i < failures && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	// The jitter only adds, so a wait never ends before the one the
	// authority asked for, and instances that failed together spread out.
	d += time.Duration(c.jitter() * float64(d) / 4)

	var ra RetryAfterer
	if errors.As(err, &ra) {
		d = max(d, min(ra.RetryAfterDelay(), MaxRetryAfter))
	}

	rec := backoffRecord{Until: now.Add(d).UnixMilli(), Failures: failures, Rejected: rejected}
	if b, merr := json.Marshal(rec); merr == nil {
		_ = c.store.Set(BackoffKey(scope), b) // without it, the lease still limits the rate
	}
	return &BackoffError{Scope: scope, RetryAfter: d, Rejected: rejected, Err: err}
}
