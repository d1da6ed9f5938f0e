package access

import (
	"fmt"
	"math"
	"time"

	"github.com/edgetoken/edgetoken/internal/token"
)

// limiter is a sliding-window counter whose only shared state is counters
// in the key-value store, so every instance of the guest enforces one limit.
//
// # Why not a token bucket
//
// A token bucket stores a level and a timestamp and must read both, compute
// the refill and write both back as one step. The store offers Get, Set and
// an atomic Increment (wasi:keyvalue atomics) but no compare-and-swap, so two
// instances would read the same level and both spend the last token. An
// increment needs no read-modify-write cycle: each request adds 1 to the
// counter of its fixed window and gets the new count back atomically.
//
// # Algorithm
//
// Time is cut into fixed windows of length W. A request increments the
// counter of the current window (curr) and reads the previous window's
// counter (prev). It assumes the previous window's requests were spread
// evenly, so the count over the sliding window that ends now is
//
//	prev × (1 − elapsed/W) + curr
//
// and the request is allowed while that estimate is at most Burst.
//
// # Burst
//
// A Rate of PerMinute requests with a Burst becomes Burst requests per window
// of W = Burst / PerMinute minutes. Up to Burst requests pass at once, and the
// sustained rate is PerMinute, as with a token bucket of capacity Burst. It is
// stricter than that bucket over short spans: in any span of W the bucket
// admits up to 2×Burst (a full bucket plus its refill), this limiter Burst.
// With Burst equal to PerMinute, W is one minute.
//
// # Notes
//
// A rejected request has already been counted, because the store cannot take
// an increment back. A client that keeps sending while rejected stays
// rejected. Retry-After is the wait after which its next request would pass,
// provided it sends nothing before then.
//
// Keys are rate/<kind>/<id>/<window index>. The request that opens a window
// (its increment returns 1) deletes the counter from two windows back. The
// store has no expiry, so a client that never returns leaves its last two
// counters behind.
type limiter struct {
	kind  string // "client" or "origin"
	rate  Rate
	store token.Store
}

// window returns the window length W for r.
func window(r Rate) time.Duration {
	return time.Duration(r.Burst) * time.Minute / time.Duration(r.PerMinute)
}

// allow counts one request for id at now. When the request is over the
// limit, it returns ok == false and how long the client should wait before
// its next request would pass.
func (l *limiter) allow(id string, now time.Time) (ok bool, retryAfter time.Duration, err error) {
	w := window(l.rate)
	index := now.UnixNano() / int64(w)
	elapsed := float64(now.UnixNano()-index*int64(w)) / float64(w)

	curr, err := l.store.Increment(l.key(id, index), 1)
	if err != nil {
		return false, 0, fmt.Errorf("increment rate counter for %s: %w", l.kind, err)
	}
	if curr == 1 {
		// Cleanup only: a failed delete leaves an unused counter behind but
		// does not change any limit.
		_ = l.store.Delete(l.key(id, index-2))
	}

	// Increment by 0 reads the counter. A plain Get would return the
	// runtime's own encoding of a counter, which differs between stores.
	prev, err := l.store.Increment(l.key(id, index-1), 0)
	if err != nil {
		return false, 0, fmt.Errorf("read rate counter for %s: %w", l.kind, err)
	}

	limit := float64(l.rate.Burst)
	if float64(prev)*(1-elapsed)+float64(curr) <= limit {
		return true, 0, nil
	}
	return false, waitTime(float64(prev), float64(curr), limit, elapsed, w), nil
}

// waitTime returns how long until one more request would pass if none
// arrives in between. elapsed is the fraction of the current window gone.
func waitTime(prev, curr, limit, elapsed float64, w time.Duration) time.Duration {
	var fraction float64 // of W from now
	if curr+1 <= limit {
		// Still in this window, once enough of prev has slid out:
		// prev × (1 − f) + curr + 1 ≤ limit.
		f := 1 - (limit-curr-1)/prev
		fraction = f - elapsed
	} else {
		// In the next window, where curr becomes prev:
		// curr × (1 − g) + 1 ≤ limit.
		g := 1 - (limit-1)/curr
		fraction = (1 - elapsed) + g
	}
	return time.Duration(math.Max(fraction, 0) * float64(w))
}

func (l *limiter) key(id string, index int64) string {
	return fmt.Sprintf("rate/%s/%s/%d", l.kind, id, index)
}

// retryAfterSeconds rounds d up to whole seconds, at least 1, for the
// Retry-After header.
func retryAfterSeconds(d time.Duration) int64 {
	s := int64(math.Ceil(d.Seconds()))
	return max(s, 1)
}
