package token

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const scope = "https://cognitiveservices.azure.com/.default"

var t0 = time.Unix(1_700_000_000, 0) // a multiple of 10 s, the start of a lease window

// clock is a fake time source; sleeping advances it.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}

// fetcher counts calls and returns tokens named by the call number.
type fetcher struct {
	calls   atomic.Int64
	now     func() time.Time
	life    time.Duration
	err     error
	delay   time.Duration
	onFetch func()
}

func (f *fetcher) FetchToken(ctx context.Context, s string) (Token, error) {
	n := f.calls.Add(1)
	if f.onFetch != nil {
		f.onFetch()
	}
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	if f.err != nil {
		return Token{}, f.err
	}
	life := f.life
	if life == 0 {
		life = time.Hour
	}
	return Token{Value: fmt.Sprintf("new-%d", n), ExpiresOn: f.now().Add(life)}, nil
}

func newTestCache(store Store, f *fetcher, clk *clock, opts CacheOptions) *Cache {
	if f.now == nil {
		f.now = clk.Now
	}
	opts.Now = clk.Now
	if opts.Sleep == nil {
		opts.Sleep = clk.Sleep
	}
	if opts.MinLifetime == 0 {
		opts.MinLifetime = 5 * time.Minute
	}
	if opts.LeaseDuration == 0 {
		opts.LeaseDuration = 10 * time.Second
	}
	if opts.Jitter == nil {
		opts.Jitter = func() float64 { return 0 }
	}
	return NewCache(store, f, opts)
}

func storeToken(t *testing.T, s Store, value string, expires, refresh time.Time) {
	t.Helper()
	b, err := EncodeRecord(Record{AccessToken: value, ExpiresOn: expires.Unix(), RefreshOn: refresh.Unix()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(TokenKey(scope), b); err != nil {
		t.Fatal(err)
	}
}

func leaseHeld(t *testing.T, s Store, window int64) bool {
	t.Helper()
	_, ok, err := s.Get(LeaseKey(scope, window))
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestCacheFreshnessRules(t *testing.T) {
	tests := []struct {
		name       string
		stored     bool
		expiresIn  time.Duration // from now
		refreshIn  time.Duration // from now, negative when past
		leaseTaken bool          // another caller holds the lease
		wantValue  string
		wantCalls  int64
	}{
		{"missing", false, 0, 0, false, "new-1", 1},
		{"fresh", true, time.Hour, 30 * time.Minute, false, "old", 0},
		{"past_refresh_on_takes_lease", true, 20 * time.Minute, -time.Second, false, "new-1", 1},
		{"past_refresh_on_lease_taken", true, 20 * time.Minute, -time.Second, true, "old", 0},
		{"min_lifetime_exactly_left", true, 5 * time.Minute, -time.Second, true, "old", 0},
		{"below_min_lifetime", true, 5*time.Minute - time.Second, -time.Second, false, "new-1", 1},
		{"below_min_lifetime_before_refresh_on", true, 90 * time.Second, 30 * time.Second, false, "old", 0},
		{"short_token_past_refresh_on", true, 60 * time.Second, -time.Second, false, "new-1", 1},
		{"expired", true, -time.Second, -time.Minute, false, "new-1", 1},
		{"expires_now", true, 0, -time.Minute, false, "new-1", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{now: t0}
			store := NewMemoryStore()
			f := &fetcher{}
			c := newTestCache(store, f, clk, CacheOptions{})
			if tc.stored {
				storeToken(t, store, "old", t0.Add(tc.expiresIn), t0.Add(tc.refreshIn))
			}
			if tc.leaseTaken {
				store.Increment(LeaseKey(scope, t0.Unix()/10), 1)
			}
			got, err := c.Get(context.Background(), scope)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if got.Value != tc.wantValue {
				t.Errorf("got token %q, want %q", got.Value, tc.wantValue)
			}
			if n := f.calls.Load(); n != tc.wantCalls {
				t.Errorf("got %d fetches, want %d", n, tc.wantCalls)
			}
			if tc.wantCalls == 1 {
				if leaseHeld(t, store, t0.Unix()/10) {
					t.Error("lease still held after a successful fetch")
				}
				stored, ok, err := c.Stored(scope)
				if err != nil || !ok || stored != got {
					t.Errorf("stored %+v, %v, %v; want %+v", stored, ok, err, got)
				}
				wantRefresh := t0.Add(30 * time.Minute)
				if !got.RefreshOn.Equal(wantRefresh) || !got.ExpiresOn.Equal(t0.Add(time.Hour)) {
					t.Errorf("got times %v/%v, want refresh %v expiry %v", got.RefreshOn, got.ExpiresOn, wantRefresh, t0.Add(time.Hour))
				}
			}
		})
	}
}

func TestCacheDamagedRecordIsReplaced(t *testing.T) {
	clk := &clock{now: t0}
	store := NewMemoryStore()
	store.Set(TokenKey(scope), []byte("{not json"))
	f := &fetcher{}
	c := newTestCache(store, f, clk, CacheOptions{})
	got, err := c.Get(context.Background(), scope)
	if err != nil || got.Value != "new-1" {
		t.Fatalf("got %q, %v; want new-1, nil", got.Value, err)
	}
}

func TestCacheConcurrentGetsFetchOnce(t *testing.T) {
	clk := &clock{now: t0}
	store := NewMemoryStore()
	f := &fetcher{delay: 30 * time.Millisecond}
	// A fixed clock and real sleeps: the waiters poll until the token appears.
	c := newTestCache(store, f, clk, CacheOptions{
		PollInterval: time.Millisecond,
		Sleep: func(ctx context.Context, d time.Duration) error {
			time.Sleep(d)
			return nil
		},
	})
	const n = 20
	var wg sync.WaitGroup
	values := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := c.Get(context.Background(), scope)
			values[i], errs[i] = tok.Value, err
		}()
	}
	wg.Wait()
	if calls := f.calls.Load(); calls != 1 {
		t.Errorf("got %d fetches, want 1", calls)
	}
	for i := range n {
		if errs[i] != nil || values[i] != "new-1" {
			t.Errorf("caller %d got %q, %v; want new-1, nil", i, values[i], errs[i])
		}
	}
}

func TestCacheWaiterGetsHolderToken(t *testing.T) {
	clk := &clock{now: t0}
	store := NewMemoryStore()
	store.Increment(LeaseKey(scope, t0.Unix()/10), 1)
	polls := 0
	f := &fetcher{}
	c := newTestCache(store, f, clk, CacheOptions{Sleep: func(ctx context.Context, d time.Duration) error {
		polls++
		if polls == 3 {
			storeToken(t, store, "by-holder", t0.Add(time.Hour), t0.Add(30*time.Minute))
			store.Delete(LeaseKey(scope, t0.Unix()/10))
		}
		return clk.Sleep(ctx, d)
	}})
	got, err := c.Get(context.Background(), scope)
	if err != nil || got.Value != "by-holder" {
		t.Fatalf("got %q, %v; want by-holder, nil", got.Value, err)
	}
	if polls != 3 {
		t.Errorf("got %d polls, want 3", polls)
	}
	if f.calls.Load() != 0 {
		t.Errorf("got %d fetches, want 0", f.calls.Load())
	}
}

func TestCacheLeaseExpiresWhenHolderDies(t *testing.T) {
	clk := &clock{now: t0.Add(5 * time.Second)}
	store := NewMemoryStore()
	deadWindow := t0.Unix() / 10
	store.Increment(LeaseKey(scope, deadWindow), 1) // the holder never returns
	f := &fetcher{}
	c := newTestCache(store, f, clk, CacheOptions{PollInterval: time.Second, WaitTimeout: time.Minute})
	got, err := c.Get(context.Background(), scope)
	if err != nil || got.Value != "new-1" {
		t.Fatalf("got %q, %v; want new-1, nil", got.Value, err)
	}
	// The holder's lease is guaranteed for one whole window after the one
	// it was taken in, so the fetch starts two windows later.
	if now := clk.Now(); !now.Equal(t0.Add(20 * time.Second)) {
		t.Errorf("fetched at %v, want the start of the window after next %v", now, t0.Add(20*time.Second))
	}
	for w := deadWindow; w <= deadWindow+2; w++ {
		if leaseHeld(t, store, w) {
			t.Errorf("lease of window %d still in the store", w-deadWindow)
		}
	}
	if store.Len() != 1 {
		t.Errorf("store has %d keys, want only the token", store.Len())
	}
}

func TestCacheWaitTimeout(t *testing.T) {
	clk := &clock{now: t0}
	store := NewMemoryStore()
	store.Increment(LeaseKey(scope, t0.Unix()/int64((1<<40)/time.Second)), 1) // one window for the whole test
	f := &fetcher{}
	c := newTestCache(store, f, clk, CacheOptions{LeaseDuration: 1 << 40, WaitTimeout: 2 * time.Second})
	_, err := c.Get(context.Background(), scope)
	if !errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("got %v, want ErrWaitTimeout", err)
	}
	want := `token for scope "https://cognitiveservices.azure.com/.default": timed out waiting for another caller to fetch the token`
	if err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	if waited := clk.Now().Sub(t0); waited != 2*time.Second {
		t.Errorf("waited %v, want 2s", waited)
	}
	if f.calls.Load() != 0 {
		t.Errorf("got %d fetches, want 0", f.calls.Load())
	}
}

func TestCacheWaiterSeesHolderFailure(t *testing.T) {
	clk := &clock{now: t0}
	store := NewMemoryStore()
	key := LeaseKey(scope, t0.Unix()/10)
	store.Increment(key, 1)
	f := &fetcher{}
	holder := newTestCache(store, &fetcher{err: rejection{}}, clk, CacheOptions{})
	c := newTestCache(store, f, clk, CacheOptions{Sleep: func(ctx context.Context, d time.Duration) error {
		store.Delete(key) // the holder fails: it records the failure, then releases
		holder.backoffFailure(scope, clk.Now(), rejection{})
		return clk.Sleep(ctx, d)
	}})
	_, err := c.Get(context.Background(), scope)
	var be *BackoffError
	if !errors.As(err, &be) || be.Err != nil || !IsRejected(err) {
		t.Fatalf("got %#v, want a *BackoffError of a rejection without Err", err)
	}
	if want := DefaultRejectedBackoff - DefaultPollInterval; be.RetryAfter != want {
		t.Errorf("RetryAfter = %v, want %v", be.RetryAfter, want)
	}
	if d := clk.Now().Sub(t0); d != DefaultPollInterval {
		t.Errorf("waited %v, want one poll", d)
	}
	if f.calls.Load() != 0 {
		t.Errorf("got %d fetches, want 0", f.calls.Load())
	}
}

func TestCacheWaiterFetchesWhenHolderLeftNothing(t *testing.T) {
	clk := &clock{now: t0}
	store := NewMemoryStore()
	key := LeaseKey(scope, t0.Unix()/10)
	store.Increment(key, 1)
	f := &fetcher{}
	c := newTestCache(store, f, clk, CacheOptions{Sleep: func(ctx context.Context, d time.Duration) error {
		store.Delete(key) // released with neither a token nor a backoff record
		return clk.Sleep(ctx, d)
	}})
	got, err := c.Get(context.Background(), scope)
	if err != nil || got.Value != "new-1" || f.calls.Load() != 1 {
		t.Fatalf("got %q, %v, %d fetches; want new-1, nil, 1", got.Value, err, f.calls.Load())
	}
}

func TestCacheWaitCanceled(t *testing.T) {
	clk := &clock{now: t0}
	store := NewMemoryStore()
	store.Increment(LeaseKey(scope, t0.Unix()/10), 1)
	c := newTestCache(store, &fetcher{}, clk, CacheOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Get(ctx, scope)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

type rejection struct{}

func (rejection) Error() string        { return "AADSTS7000215: invalid client secret" }
func (rejection) Is(target error) bool { return target == ErrRejected }

func TestCacheFetchFailureWithoutToken(t *testing.T) {
	clk := &clock{now: t0}
	store := NewMemoryStore()
	f := &fetcher{err: rejection{}}
	c := newTestCache(store, f, clk, CacheOptions{})
	got, err := c.Get(context.Background(), scope)
	if err == nil || got.Value != "" {
		t.Fatalf("got %q, %v; want an error and no token", got.Value, err)
	}
	if IsUsable(err) {
		t.Error("IsUsable = true, want false")
	}
	if !IsRejected(err) {
		t.Errorf("IsRejected(%v) = false, want true", err)
	}
	var be *BackoffError
	if !errors.As(err, &be) || be.RetryAfter != DefaultRejectedBackoff || !be.Rejected || be.Err == nil {
		t.Fatalf("got %#v, want a *BackoffError of %v with its cause", err, DefaultRejectedBackoff)
	}
	want := `fetch token for scope "https://cognitiveservices.azure.com/.default": ` +
		`AADSTS7000215: invalid client secret (next attempt in 30s)`
	if err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	if leaseHeld(t, store, t0.Unix()/10) {
		t.Error("lease kept after a failure")
	}

	// Until the wait has passed, no caller fetches and none gets the cause.
	clk.Advance(29 * time.Second)
	_, err = c.Get(context.Background(), scope)
	if !errors.As(err, &be) || be.RetryAfter != time.Second || be.Err != nil || !IsRejected(err) {
		t.Errorf("Get during the wait: got %#v, want a rejected *BackoffError of 1s without Err", err)
	}
	if f.calls.Load() != 1 {
		t.Errorf("got %d fetches during the wait, want 1", f.calls.Load())
	}

	// The next failure doubles the wait.
	clk.Advance(time.Second)
	_, err = c.Get(context.Background(), scope)
	if !errors.As(err, &be) || be.RetryAfter != 2*DefaultRejectedBackoff || f.calls.Load() != 2 {
		t.Errorf("second failure: got %v after %d fetches, want a wait of %v after 2",
			err, f.calls.Load(), 2*DefaultRejectedBackoff)
	}
}

func TestCacheFetchFailureWithOldToken(t *testing.T) {
	clk := &clock{now: t0}
	store := NewMemoryStore()
	storeToken(t, store, "old", t0.Add(20*time.Minute), t0.Add(-time.Minute))
	f := &fetcher{err: errors.New("connection refused")}
	c := newTestCache(store, f, clk, CacheOptions{})

	got, err := c.Get(context.Background(), scope)
	if got.Value != "old" {
		t.Errorf("got %q, want old", got.Value)
	}
	var ue *UsableError
	if !errors.As(err, &ue) || !ue.Stale || ue.Scope != scope {
		t.Fatalf("got %#v, want a stale *UsableError", err)
	}
	want := `token refresh for scope "https://cognitiveservices.azure.com/.default" failed, serving the stored token: ` +
		`fetch token for scope "https://cognitiveservices.azure.com/.default": connection refused (next attempt in 2s)`
	if err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}

	// During the backoff the next caller gets the old token without another
	// attempt and without an error to log.
	got, err = c.Get(context.Background(), scope)
	if err != nil || got.Value != "old" || f.calls.Load() != 1 {
		t.Errorf("second Get: %q, %v, %d fetches; want old, nil, 1", got.Value, err, f.calls.Load())
	}

	// In the next window one caller tries again.
	clk.Advance(10 * time.Second)
	f.err = nil
	got, err = c.Get(context.Background(), scope)
	if err != nil || got.Value != "new-2" {
		t.Errorf("third Get: %q, %v; want new-2, nil", got.Value, err)
	}
}

func TestCacheRefreshForcesFetch(t *testing.T) {
	clk := &clock{now: t0}
	store := NewMemoryStore()
	storeToken(t, store, "old", t0.Add(time.Hour), t0.Add(30*time.Minute))
	f := &fetcher{}
	c := newTestCache(store, f, clk, CacheOptions{})
	got, err := c.Refresh(context.Background(), scope)
	if err != nil || got.Value != "new-1" {
		t.Fatalf("got %q, %v; want new-1, nil", got.Value, err)
	}
	stored, _, _ := c.Stored(scope)
	if stored.Value != "new-1" {
		t.Errorf("stored %q, want new-1", stored.Value)
	}
}

func TestCacheRefreshFailureKeepsOldToken(t *testing.T) {
	clk := &clock{now: t0}
	store := NewMemoryStore()
	storeToken(t, store, "old", t0.Add(time.Hour), t0.Add(30*time.Minute))
	f := &fetcher{err: errors.New("timeout")}
	c := newTestCache(store, f, clk, CacheOptions{})
	got, err := c.Refresh(context.Background(), scope)
	if got.Value != "old" || !IsUsable(err) {
		t.Fatalf("got %q, %v; want old and a *UsableError", got.Value, err)
	}
	stored, _, _ := c.Stored(scope)
	if stored.Value != "old" {
		t.Errorf("stored %q, want old", stored.Value)
	}
}

func TestCacheRefreshWaitsForHolder(t *testing.T) {
	clk := &clock{now: t0}
	store := NewMemoryStore()
	storeToken(t, store, "old", t0.Add(time.Hour), t0.Add(30*time.Minute))
	key := LeaseKey(scope, t0.Unix()/10)
	store.Increment(key, 1)
	polls := 0
	f := &fetcher{}
	c := newTestCache(store, f, clk, CacheOptions{Sleep: func(ctx context.Context, d time.Duration) error {
		polls++
		if polls == 2 {
			storeToken(t, store, "by-holder", t0.Add(2*time.Hour), t0.Add(time.Hour))
			store.Delete(key)
		}
		return clk.Sleep(ctx, d)
	}})
	got, err := c.Refresh(context.Background(), scope)
	if err != nil || got.Value != "by-holder" {
		t.Fatalf("got %q, %v; want by-holder, nil", got.Value, err)
	}
	if f.calls.Load() != 0 {
		t.Errorf("got %d fetches, want 0", f.calls.Load())
	}
}

// failingSet is a store whose Set fails.
type failingSet struct{ *MemoryStore }

func (failingSet) Set(string, []byte) error { return errors.New("bucket full") }

func TestCacheStoreFailureStillReturnsToken(t *testing.T) {
	clk := &clock{now: t0}
	store := failingSet{NewMemoryStore()}
	c := newTestCache(store, &fetcher{}, clk, CacheOptions{})
	got, err := c.Get(context.Background(), scope)
	var ue *UsableError
	if got.Value != "new-1" || !errors.As(err, &ue) || ue.Stale {
		t.Fatalf("got %q, %v; want new-1 and a non-stale *UsableError", got.Value, err)
	}
	if _, ok, _ := store.Get(LeaseKey(scope, t0.Unix()/10)); ok {
		t.Error("lease kept after the fetch")
	}
}

func TestCacheRejectsExpiredFetch(t *testing.T) {
	clk := &clock{now: t0}
	f := &fetcher{life: -time.Second}
	c := newTestCache(NewMemoryStore(), f, clk, CacheOptions{})
	_, err := c.Get(context.Background(), scope)
	want := `fetch token for scope "https://cognitiveservices.azure.com/.default": the fetched token expired at 2023-11-14T22:13:19Z (next attempt in 2s)`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

func TestCacheKeepsFetcherRefreshOn(t *testing.T) {
	clk := &clock{now: t0}
	f := fetcherFunc(func(ctx context.Context, s string) (Token, error) {
		return Token{Value: "v", ExpiresOn: t0.Add(time.Hour), RefreshOn: t0.Add(10*time.Minute + 700*time.Millisecond)}, nil
	})
	c := NewCache(NewMemoryStore(), f, CacheOptions{Now: clk.Now, Sleep: clk.Sleep})
	got, err := c.Get(context.Background(), scope)
	if err != nil || !got.RefreshOn.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("got %v, %v; want refresh on %v", got.RefreshOn, err, t0.Add(10*time.Minute))
	}
}

type fetcherFunc func(context.Context, string) (Token, error)

func (f fetcherFunc) FetchToken(ctx context.Context, s string) (Token, error) { return f(ctx, s) }

func TestRefreshOn(t *testing.T) {
	min5 := 5 * time.Minute
	tests := []struct {
		name      string
		lifetime  time.Duration
		refreshIn time.Duration
		min       time.Duration
		want      time.Duration // after issue
	}{
		{"half_life", time.Hour, 0, min5, 30 * time.Minute},
		{"refresh_in", 2 * time.Hour, time.Hour, min5, time.Hour},
		{"refresh_in_early", time.Hour, 10 * time.Minute, min5, 10 * time.Minute},
		{"refresh_in_after_limit", time.Hour, 58 * time.Minute, min5, 55 * time.Minute},
		{"refresh_in_past_expiry", time.Hour, 2 * time.Hour, min5, 30 * time.Minute},
		{"min_lifetime_caps_half", 9 * time.Minute, 0, 5 * time.Minute, 4*time.Minute + 30*time.Second},
		{"short_token_half_life", 2 * time.Minute, 0, min5, time.Minute},
		{"short_token_refresh_in", 2 * time.Minute, 100 * time.Second, min5, time.Minute},
		{"zero_min_lifetime", time.Hour, 59 * time.Minute, 0, 59 * time.Minute},
		{"expired", -time.Minute, 0, min5, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := RefreshOn(t0, t0.Add(tc.lifetime), tc.refreshIn, tc.min)
			if d := got.Sub(t0); d != tc.want {
				t.Errorf("got %v after issue, want %v", d, tc.want)
			}
		})
	}
}

func TestMemoryStore(t *testing.T) {
	s := NewMemoryStore()
	v := []byte("abc")
	s.Set("k", v)
	v[0] = 'x'
	got, ok, err := s.Get("k")
	if string(got) != "abc" || !ok || err != nil {
		t.Fatalf("Get = %q, %v, %v; want abc, true, nil", got, ok, err)
	}
	got[0] = 'y'
	if again, _, _ := s.Get("k"); string(again) != "abc" {
		t.Errorf("Get returned the stored slice: now %q", again)
	}
	if _, err := s.Increment("k", 1); err == nil {
		t.Error("Increment on a non-counter succeeded")
	}
	if err := s.Delete("k"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("k"); err != nil {
		t.Errorf("Delete of an absent key: %v", err)
	}
	if _, ok, _ := s.Get("k"); ok {
		t.Error("key present after Delete")
	}

	var wg sync.WaitGroup
	var ones atomic.Int64
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if n, _ := s.Increment("c", 1); n == 1 {
				ones.Add(1)
			}
		}()
	}
	wg.Wait()
	if ones.Load() != 1 {
		t.Errorf("%d callers got 1, want exactly 1", ones.Load())
	}
	if n, _ := s.Increment("c", 0); n != 50 {
		t.Errorf("counter = %d, want 50", n)
	}
	if b, _, _ := s.Get("c"); len(b) != 8 || b[0] != 50 {
		t.Errorf("counter bytes = %v, want 8 bytes little endian", b)
	}
}
