package token

import (
	"context"
	"errors"
	"testing"
	"time"
)

// throttled is a fetch error that carries the authority's Retry-After.
type throttled struct{ after time.Duration }

func (e throttled) Error() string                  { return "status 429" }
func (e throttled) RetryAfterDelay() time.Duration { return e.after }

func TestBackoffHonoursRetryAfter(t *testing.T) {
	clk := &clock{now: t0}
	store := NewMemoryStore()
	f := &fetcher{err: throttled{after: 90 * time.Second}}
	c := newTestCache(store, f, clk, CacheOptions{})

	_, err := c.Get(context.Background(), scope)
	if d, ok := RetryAfter(err); !ok || d != 90*time.Second {
		t.Fatalf("RetryAfter(%v) = %v, %v; want 90s, true", err, d, ok)
	}
	if IsRejected(err) {
		t.Error("IsRejected = true for a 429, want false")
	}
	// Neither Get nor the host's Refresh reaches the authority before the
	// wait ends.
	for _, after := range []time.Duration{time.Second, 88 * time.Second} {
		clk.Advance(after)
		if _, err := c.Get(context.Background(), scope); err == nil {
			t.Fatal("Get during the wait: got no error")
		}
		if _, err := c.Refresh(context.Background(), scope); err == nil {
			t.Fatal("Refresh during the wait: got no error")
		}
	}
	if got := f.calls.Load(); got != 1 {
		t.Fatalf("got %d fetches during the wait, want 1", got)
	}
	clk.Advance(time.Second)
	f.err = nil
	got, err := c.Get(context.Background(), scope)
	if err != nil || got.Value != "new-2" {
		t.Fatalf("Get after the wait: %q, %v; want new-2, nil", got.Value, err)
	}
	if _, ok, _ := store.Get(BackoffKey(scope)); ok {
		t.Error("backoff record kept after a success")
	}
}

func TestBackoffRetryAfterDate(t *testing.T) {
	// A Retry-After shorter than the doubling wait does not shorten it.
	clk := &clock{now: t0}
	f := &fetcher{err: throttled{after: time.Second}}
	c := newTestCache(NewMemoryStore(), f, clk, CacheOptions{})
	_, err := c.Get(context.Background(), scope)
	if d, _ := RetryAfter(err); d != DefaultMinBackoff {
		t.Errorf("wait = %v, want %v", d, DefaultMinBackoff)
	}
}

func TestBackoffDoublesAndCaps(t *testing.T) {
	clk := &clock{now: t0}
	f := &fetcher{err: errors.New("status 503")}
	c := newTestCache(NewMemoryStore(), f, clk, CacheOptions{MinBackoff: time.Second, MaxBackoff: 5 * time.Second})
	var waits []time.Duration
	for range 5 {
		_, err := c.Get(context.Background(), scope)
		d, _ := RetryAfter(err)
		waits = append(waits, d)
		clk.Advance(d)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits = %v, want %v", waits, want)
		}
	}
	if f.calls.Load() != 5 {
		t.Errorf("got %d fetches, want 5", f.calls.Load())
	}
}

func TestBackoffJitterOnlyLengthens(t *testing.T) {
	clk := &clock{now: t0}
	f := &fetcher{err: throttled{after: 4 * time.Second}}
	c := newTestCache(NewMemoryStore(), f, clk, CacheOptions{
		MinBackoff: 4 * time.Second,
		Jitter:     func() float64 { return 0.999 },
	})
	_, err := c.Get(context.Background(), scope)
	d, _ := RetryAfter(err)
	if d < 4*time.Second || d > 5*time.Second {
		t.Errorf("wait = %v, want between 4s and 5s", d)
	}
}

func TestBackoffServesOldTokenQuietly(t *testing.T) {
	clk := &clock{now: t0}
	store := NewMemoryStore()
	storeToken(t, store, "old", t0.Add(20*time.Minute), t0.Add(-time.Minute))
	f := &fetcher{err: errors.New("status 500")}
	c := newTestCache(store, f, clk, CacheOptions{})

	got, err := c.Get(context.Background(), scope)
	if got.Value != "old" || !IsUsable(err) {
		t.Fatalf("first Get: %q, %v; want old with a *UsableError", got.Value, err)
	}
	for range 3 {
		got, err = c.Get(context.Background(), scope)
		if got.Value != "old" || err != nil {
			t.Fatalf("Get during the wait: %q, %v; want old, nil", got.Value, err)
		}
	}
	// The host's timer is told to wait, though clients are served.
	if _, err := c.Refresh(context.Background(), scope); err == nil {
		t.Error("Refresh during the wait: got no error")
	} else if d, ok := RetryAfter(err); !ok || d != DefaultMinBackoff {
		t.Errorf("Refresh during the wait: RetryAfter = %v, %v; want %v", d, ok, DefaultMinBackoff)
	}
	if f.calls.Load() != 1 {
		t.Errorf("got %d fetches, want 1", f.calls.Load())
	}
}

func TestLeaseOfPreviousWindowBlocksFetch(t *testing.T) {
	// A holder took the lease just before a window ended and is still
	// fetching: a caller in the next window waits for its token rather
	// than fetching in parallel.
	clk := &clock{now: t0.Add(10 * time.Second)}
	store := NewMemoryStore()
	prev := LeaseKey(scope, t0.Unix()/10)
	store.Increment(prev, 1)
	polls := 0
	f := &fetcher{}
	c := newTestCache(store, f, clk, CacheOptions{Sleep: func(ctx context.Context, d time.Duration) error {
		polls++
		if polls == 3 {
			storeToken(t, store, "holder", t0.Add(time.Hour), t0.Add(30*time.Minute))
			store.Delete(prev)
		}
		return clk.Sleep(ctx, d)
	}})
	got, err := c.Get(context.Background(), scope)
	if err != nil || got.Value != "holder" {
		t.Fatalf("got %q, %v; want holder, nil", got.Value, err)
	}
	if f.calls.Load() != 0 {
		t.Errorf("got %d fetches, want 0", f.calls.Load())
	}
	if leaseHeld(t, store, t0.Unix()/10+1) {
		t.Error("this window's lease was kept by a caller that did not fetch")
	}
}
