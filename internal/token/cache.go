package token

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// Defaults of CacheOptions.
const (
	// DefaultLeaseDuration is at least as long as the host's egress
	// timeout (20 s), because a lease is guaranteed to its holder for one
	// whole window only: a fetch that outlived it could overlap the next.
	//
	// NOTE: one fetch per scope at a time holds only while a fetch ends
	// within the lease. Our host's egress timeout is 20 s; at the edge it
	// depends on the runtime's outbound timeout.
	DefaultLeaseDuration = 20 * time.Second
	DefaultWaitTimeout   = 10 * time.Second
	DefaultPollInterval  = 25 * time.Millisecond
)

// CacheOptions configures a Cache. A zero duration other than MinLifetime
// means its default.
type CacheOptions struct {
	// MinLifetime is the shortest remaining lifetime of a token that Get
	// returns. Zero means no minimum; config.Settings.MinLifetime is the
	// usual value.
	MinLifetime time.Duration
	// LeaseDuration is the length of a lease window. A lease lasts at least
	// one whole window and at most two, so a holder that died delays the
	// other callers by two windows at most.
	LeaseDuration time.Duration
	// WaitTimeout bounds how long a caller waits for another caller's fetch.
	WaitTimeout time.Duration
	// PollInterval is the pause between two reads of the store while waiting.
	PollInterval time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Sleep pauses for d or until ctx is done; nil means a timer.
	Sleep func(ctx context.Context, d time.Duration) error

	// MinBackoff, MaxBackoff and RejectedBackoff set the waits after failed
	// fetches (see the Failures section of Cache); zero means
	// DefaultMinBackoff, DefaultMaxBackoff and DefaultRejectedBackoff.
	MinBackoff, MaxBackoff, RejectedBackoff time.Duration
	// Jitter returns a value in [0, 1) that lengthens each wait by up to a
	// quarter; nil means math/rand.
	Jitter func() float64
}

// Cache serves tokens from a Store shared by all instances and fetches a new
// one from a Fetcher when the stored one is missing or old, with at most one
// fetch per scope in flight across instances.
//
// # Freshness
//
// A stored token is usable while it has at least MinLifetime left, or,
// for a token whose whole lifetime is short, until its RefreshOn (see
// RefreshOn). Get returns a usable token at once while the time is before
// its RefreshOn. Past RefreshOn, the caller that takes the lease refreshes
// synchronously before it returns (a wasm instance may end with its request,
// so there is no background refresh), and every other caller gets the
// stored token at once.
//
// # Lease
//
// The lease is a counter under "lease/<scope>/<window>", where <window> is
// the Unix time divided by LeaseDuration. The caller whose Increment
// returns 1 fetches, stores "token/<scope>" and deletes the lease, unless
// the previous window's lease is still held: its holder may still be
// fetching, so a lease lasts at least one whole window and at most two.
// Callers without a usable token poll the store until a usable token
// appears, the lease is deleted without one, or WaitTimeout passes. When
// the window ends while they wait, they compete for the next window's
// lease, so a holder that died delays them by two windows at most. Only one
// fetch per scope is in flight as long as a fetch ends within LeaseDuration.
//
// # Failures
//
// A failed fetch writes a backoff record under "backoff/<scope>", and no
// caller on any instance fetches for that scope until its wait has passed.
// The wait doubles with each failure in a row: from MinBackoff up to
// MaxBackoff for failures that may pass (transport errors, 408, 429, 5xx),
// and from RejectedBackoff up to MaxRejectedBackoff when the authority
// rejected the request (ErrRejected). It is never shorter than the
// authority's Retry-After (see RetryAfterer). A success deletes the record.
//
// While a wait runs, Get returns the stored token when it is still usable
// and a *BackoffError otherwise; Refresh always returns the *BackoffError,
// so the host's timer retries after its RetryAfter. The caller whose fetch
// failed gets the stored token with a *UsableError wrapping the
// *BackoffError, or the *BackoffError alone; every other caller gets no
// error or a *BackoffError whose Err is nil, so a failure is reported once.
type Cache struct {
	store       Store
	fetcher     Fetcher
	minLifetime time.Duration
	lease       time.Duration
	waitTimeout time.Duration
	poll        time.Duration
	now         func() time.Time
	sleep       func(context.Context, time.Duration) error

	minBackoff, maxBackoff, rejectedBackoff time.Duration
	jitter                                  func() float64
}

// NewCache returns a Cache over store and fetcher.
func NewCache(store Store, fetcher Fetcher, opts CacheOptions) *Cache {
	c := &Cache{
		store:       store,
		fetcher:     fetcher,
		minLifetime: opts.MinLifetime,
		lease:       opts.LeaseDuration,
		waitTimeout: opts.WaitTimeout,
		poll:        opts.PollInterval,
		now:         opts.Now,
		sleep:       opts.Sleep,

		minBackoff:      opts.MinBackoff,
		maxBackoff:      opts.MaxBackoff,
		rejectedBackoff: opts.RejectedBackoff,
		jitter:          opts.Jitter,
	}
	if c.minBackoff <= 0 {
		c.minBackoff = DefaultMinBackoff
	}
	if c.maxBackoff < c.minBackoff {
		c.maxBackoff = max(DefaultMaxBackoff, c.minBackoff)
	}
	if c.rejectedBackoff <= 0 {
		c.rejectedBackoff = DefaultRejectedBackoff
	}
	if c.jitter == nil {
		c.jitter = rand.Float64
	}
	if c.lease < time.Second {
		c.lease = DefaultLeaseDuration
	}
	if c.waitTimeout <= 0 {
		c.waitTimeout = DefaultWaitTimeout
	}
	if c.poll <= 0 {
		c.poll = DefaultPollInterval
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.sleep == nil {
		c.sleep = sleepContext
	}
	return c
}

// TokenKey returns the store key of the token for scope.
func TokenKey(scope string) string { return "token/" + scope }

// LeaseKey returns the store key of the lease for scope in a lease window.
func LeaseKey(scope string, window int64) string {
	return "lease/" + scope + "/" + strconv.FormatInt(window, 10)
}

// Stored returns the stored token for scope without fetching, and whether
// there is one.
func (c *Cache) Stored(scope string) (Token, bool, error) {
	b, ok, err := c.store.Get(TokenKey(scope))
	if err != nil {
		return Token{}, false, fmt.Errorf("read token for scope %q: %w", scope, err)
	}
	if !ok {
		return Token{}, false, nil
	}
	r, err := DecodeRecord(b)
	if err != nil {
		return Token{}, false, fmt.Errorf("read token for scope %q: %w", scope, err)
	}
	return r.Token(), true, nil
}

// Usable reports whether t may be handed out at now.
func (c *Cache) Usable(t Token, now time.Time) bool {
	if !now.Before(t.ExpiresOn) {
		return false
	}
	return t.ExpiresOn.Sub(now) >= c.minLifetime || now.Before(t.RefreshOn)
}

func (c *Cache) fresh(t Token, now time.Time) bool {
	return c.Usable(t, now) && now.Before(t.RefreshOn)
}

// Get returns a usable token for scope, fetching one if needed as the type
// documentation describes. A non-nil error with a non-empty token is a
// *UsableError.
func (c *Cache) Get(ctx context.Context, scope string) (Token, error) {
	now := c.now()
	old, found, err := c.Stored(scope)
	if err != nil {
		// A damaged record is replaced by the next fetch; a failing store
		// makes the lease fail below as well.
		found = false
	}
	if found && c.fresh(old, now) {
		return old, nil
	}
	oldUsable := found && c.Usable(old, now)
	if wait, rec := c.backoff(scope, now); wait > 0 {
		if oldUsable {
			return old, nil
		}
		return Token{}, &BackoffError{Scope: scope, RetryAfter: wait, Rejected: rec.Rejected}
	}

	won, key, err := c.acquire(scope, now)
	if err != nil {
		if oldUsable {
			return old, &UsableError{Scope: scope, Stale: true, Err: err}
		}
		return Token{}, err
	}
	if won {
		// Another caller may have stored a token between the read above and
		// the lease; use it instead of fetching again.
		if t, ok, err := c.Stored(scope); err == nil && ok && c.fresh(t, c.now()) {
			c.release(key)
			return t, nil
		}
		return c.fetchHeld(ctx, scope, key, old, oldUsable)
	}
	if oldUsable {
		return old, nil
	}
	return c.wait(ctx, scope, key, old, false, func(t Token, now time.Time) bool {
		return c.Usable(t, now)
	})
}

// Refresh fetches a new token for scope under the lease even if the stored
// one is fresh; the host's timer calls it. If another caller holds the
// lease, Refresh waits for that caller's token. A non-nil error with a
// non-empty token is a *UsableError.
func (c *Cache) Refresh(ctx context.Context, scope string) (Token, error) {
	now := c.now()
	old, found, err := c.Stored(scope)
	if err != nil {
		found = false
	}
	oldUsable := found && c.Usable(old, now)
	if wait, rec := c.backoff(scope, now); wait > 0 {
		return Token{}, &BackoffError{Scope: scope, RetryAfter: wait, Rejected: rec.Rejected}
	}

	won, key, err := c.acquire(scope, now)
	if err != nil {
		if oldUsable {
			return old, &UsableError{Scope: scope, Stale: true, Err: err}
		}
		return Token{}, err
	}
	if won {
		return c.fetchHeld(ctx, scope, key, old, oldUsable)
	}
	return c.wait(ctx, scope, key, old, oldUsable, func(t Token, now time.Time) bool {
		return c.Usable(t, now) && (t.Value != old.Value || !t.ExpiresOn.Equal(old.ExpiresOn))
	})
}

// acquire takes the lease for scope in the window of now. When it does not
// win, key is the lease to watch: this window's, or the previous window's
// when that one's holder may still be fetching.
func (c *Cache) acquire(scope string, now time.Time) (won bool, key string, err error) {
	window := c.window(now)
	key = LeaseKey(scope, window)
	n, err := c.store.Increment(key, 1)
	if err != nil {
		return false, key, fmt.Errorf("take lease for scope %q: %w", scope, err)
	}
	if n != 1 {
		return false, key, nil
	}
	prev := LeaseKey(scope, window-1)
	if _, held, err := c.store.Get(prev); err == nil && held {
		// Give this window back, so the next caller can take it once the
		// previous holder is done or its lease has run out.
		c.release(key)
		return false, prev, nil
	}
	// A lease two windows old is over; delete it in case a dead holder
	// left it, so the store does not collect them.
	_ = c.store.Delete(LeaseKey(scope, window-2))
	return true, key, nil
}

func (c *Cache) window(now time.Time) int64 {
	return now.Unix() / int64(c.lease/time.Second)
}

// release deletes the lease. A failed delete is ignored: the lease then
// expires with its window.
func (c *Cache) release(key string) { _ = c.store.Delete(key) }

// fetchHeld fetches and stores a token while the caller holds the lease
// under key.
func (c *Cache) fetchHeld(ctx context.Context, scope, key string, old Token, oldUsable bool) (Token, error) {
	if wait, rec := c.backoff(scope, c.now()); wait > 0 {
		// Another caller failed after this one read the store.
		c.release(key)
		be := &BackoffError{Scope: scope, RetryAfter: wait, Rejected: rec.Rejected}
		if oldUsable && c.Usable(old, c.now()) {
			return old, &UsableError{Scope: scope, Stale: true, Err: be}
		}
		return Token{}, be
	}
	t, err := c.fetcher.FetchToken(ctx, scope)
	if err == nil && t.Value == "" {
		err = errors.New("the fetcher returned an empty token")
	}
	if err == nil && !t.ExpiresOn.After(c.now()) {
		err = fmt.Errorf("the fetched token expired at %s", t.ExpiresOn.UTC().Format(time.RFC3339))
	}
	if err != nil {
		err = fmt.Errorf("fetch token for scope %q: %w", scope, err)
		// The record is written before the lease is released, so a waiter
		// that finds the lease gone also finds the record.
		be := c.backoffFailure(scope, c.now(), err)
		c.release(key)
		if oldUsable && c.Usable(old, c.now()) {
			return old, &UsableError{Scope: scope, Stale: true, Err: be}
		}
		return Token{}, be
	}

	now := c.now()
	if t.RefreshOn.IsZero() {
		t.RefreshOn = RefreshOn(now, t.ExpiresOn, 0, c.minLifetime)
	}
	// Truncate to the stored precision, so every caller sees the same times.
	t = t.Record().Token()

	b, err := EncodeRecord(t.Record())
	if err == nil {
		err = c.store.Set(TokenKey(scope), b)
	}
	_ = c.store.Delete(BackoffKey(scope))
	c.release(key)
	if err != nil {
		return t, &UsableError{Scope: scope, Err: fmt.Errorf("store token: %w", err)}
	}
	return t, nil
}

// wait polls the store while another caller holds the lease under key,
// until done accepts the stored token.
func (c *Cache) wait(ctx context.Context, scope, key string, old Token, oldUsable bool,
	done func(Token, time.Time) bool) (Token, error) {
	deadline := c.now().Add(c.waitTimeout)
	window := c.window(c.now())
	fail := func(err error) (Token, error) {
		if oldUsable && c.Usable(old, c.now()) {
			return old, &UsableError{Scope: scope, Stale: true, Err: err}
		}
		var be *BackoffError
		if errors.As(err, &be) {
			return Token{}, err
		}
		return Token{}, fmt.Errorf("token for scope %q: %w", scope, err)
	}
	compete := func(now time.Time) (bool, Token, error) {
		won, next, err := c.acquire(scope, now)
		if err != nil {
			t, err := fail(err)
			return true, t, err
		}
		if won {
			t, err := c.fetchHeld(ctx, scope, next, old, oldUsable)
			return true, t, err
		}
		key, window = next, c.window(now)
		return false, Token{}, nil
	}
	for {
		if err := c.sleep(ctx, c.poll); err != nil {
			return fail(err)
		}
		now := c.now()
		if t, ok, err := c.Stored(scope); err == nil && ok && done(t, now) {
			return t, nil
		}

		// The lease window ended: the holder may have died, so compete for
		// the next lease.
		if c.window(now) != window {
			if end, t, err := compete(now); end {
				return t, err
			}
		}

		if _, held, err := c.store.Get(key); err == nil && !held {
			// The holder released the lease. It stores the token or the
			// backoff record first, so read both once more.
			if t, ok, err := c.Stored(scope); err == nil && ok && done(t, c.now()) {
				return t, nil
			}
			if wait, rec := c.backoff(scope, c.now()); wait > 0 {
				return fail(&BackoffError{Scope: scope, RetryAfter: wait, Rejected: rec.Rejected})
			}
			// Neither: the holder gave its lease back without fetching, or
			// its writes failed. Compete for the lease again.
			if end, t, err := compete(c.now()); end {
				return t, err
			}
		}
		if !now.Before(deadline) {
			return fail(ErrWaitTimeout)
		}
	}
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// RefreshOn returns when a token issued at issued and expiring at expiresOn
// should be refreshed. That is after refreshIn when the authority sent
// refresh_in (zero when it did not), and otherwise at half the lifetime.
// MSAL for Go v1.10.1 also uses the half-life, but only for managed identity
// tokens that live more than 2 hours.
//
// The result is never later than expiresOn - minLifetime, so a refresh
// starts while the token can still be served. The exception is a lifetime
// shorter than twice minLifetime: then the result is the half-life, and the
// Cache serves the token until that point.
func RefreshOn(issued, expiresOn time.Time, refreshIn, minLifetime time.Duration) time.Time {
	lifetime := expiresOn.Sub(issued)
	if lifetime <= 0 {
		return issued
	}
	half := issued.Add(lifetime / 2)
	at := half
	if refreshIn > 0 && refreshIn < lifetime {
		at = issued.Add(refreshIn)
	}
	latest := expiresOn.Add(-minLifetime)
	if latest.Before(half) {
		latest = half
	}
	if at.After(latest) {
		at = latest
	}
	return at
}
