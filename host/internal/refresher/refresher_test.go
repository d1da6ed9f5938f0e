package refresher_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgetoken/edgetoken/host/internal/refresher"
)

// fakeClock fires timers only when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	clock   *fakeClock
	at      time.Time
	f       func()
	stopped bool
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) refresher.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clock: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

// advance moves the clock by d, running each due timer in order of its
// time, on the caller's goroutine.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *fakeTimer
		for _, t := range c.timers {
			if !t.stopped && !t.at.After(end) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		if next == nil {
			c.now = end
			c.mu.Unlock()
			return
		}
		next.stopped = true
		c.now = next.at
		c.mu.Unlock()
		next.f()
	}
}

// pending returns the delays, from now, of the timers not yet fired.
func (c *fakeClock) pending() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Duration
	for _, t := range c.timers {
		if !t.stopped {
			out = append(out, t.at.Sub(c.now))
		}
	}
	return out
}

// fakeGuest records refresh calls and answers from a queue of results.
type fakeGuest struct {
	clock *fakeClock
	mu    sync.Mutex
	calls []string
	// next returns the outcome of a call for name at the given time.
	next func(name string, now time.Time) (refresher.Result, error)
}

func (g *fakeGuest) refresh(_ context.Context, name string) (refresher.Result, error) {
	g.mu.Lock()
	g.calls = append(g.calls, name)
	g.mu.Unlock()
	return g.next(name, g.clock.Now())
}

func (g *fakeGuest) count(name string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, c := range g.calls {
		if c == name {
			n++
		}
	}
	return n
}

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newRefresher(clock *fakeClock, g *fakeGuest, logs *bytes.Buffer, targets ...refresher.Target) *refresher.Refresher {
	logger := slog.New(slog.DiscardHandler)
	if logs != nil {
		logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return refresher.New(refresher.Config{
		Targets:    targets,
		Refresh:    g.refresh,
		MinBackoff: time.Second,
		MaxBackoff: 8 * time.Second,
		Clock:      clock,
		Jitter:     func() float64 { return 0 },
		Logger:     logger,
	})
}

func TestIntervalBeforeRefreshOn(t *testing.T) {
	clock := &fakeClock{now: start}
	g := &fakeGuest{clock: clock, next: func(_ string, now time.Time) (refresher.Result, error) {
		// Entra tokens live an hour and are refreshed after half of it.
		return refresher.Result{ExpiresOn: now.Add(time.Hour), RefreshOn: now.Add(30 * time.Minute)}, nil
	}}
	r := newRefresher(clock, g, nil, refresher.Target{Name: "speech", Interval: 9 * time.Minute})
	defer r.Close()

	if err := r.Warm(context.Background()); err != nil {
		t.Fatalf("Warm: %v", err)
	}
	if got := g.count("speech"); got != 1 {
		t.Fatalf("calls after Warm = %d, want 1", got)
	}
	if got := clock.pending(); len(got) != 1 || got[0] != 9*time.Minute {
		t.Errorf("pending timers = %v, want [9m]", got)
	}

	clock.advance(9*time.Minute - time.Second)
	if got := g.count("speech"); got != 1 {
		t.Errorf("calls before the interval = %d, want 1", got)
	}
	clock.advance(time.Second)
	if got := g.count("speech"); got != 2 {
		t.Errorf("calls at the interval = %d, want 2", got)
	}
	clock.advance(27 * time.Minute)
	if got := g.count("speech"); got != 5 {
		t.Errorf("calls after 36m = %d, want 5", got)
	}
}

func TestRefreshOnBeforeInterval(t *testing.T) {
	clock := &fakeClock{now: start}
	g := &fakeGuest{clock: clock, next: func(_ string, now time.Time) (refresher.Result, error) {
		return refresher.Result{ExpiresOn: now.Add(10 * time.Minute), RefreshOn: now.Add(4 * time.Minute)}, nil
	}}
	r := newRefresher(clock, g, nil,
		refresher.Target{Name: "speech", Interval: 9 * time.Minute},
		refresher.Target{Name: "api"})
	defer r.Close()

	if err := r.Warm(context.Background()); err != nil {
		t.Fatalf("Warm: %v", err)
	}
	got := clock.pending()
	if len(got) != 2 || got[0] != 4*time.Minute || got[1] != 4*time.Minute {
		t.Errorf("pending timers = %v, want [4m 4m]", got)
	}

	clock.advance(8 * time.Minute)
	if s, a := g.count("speech"), g.count("api"); s != 3 || a != 3 {
		t.Errorf("calls after 8m: speech %d, api %d; want 3 and 3", s, a)
	}
	st := r.States()["api"]
	if !st.LastSuccess.Equal(start.Add(8*time.Minute)) || !st.NextRun.Equal(start.Add(12*time.Minute)) {
		t.Errorf("api state = %+v, want last success at 8m and next run at 12m", st)
	}
}

func TestPastRefreshOnWaitsMinimum(t *testing.T) {
	clock := &fakeClock{now: start}
	g := &fakeGuest{clock: clock, next: func(_ string, now time.Time) (refresher.Result, error) {
		return refresher.Result{ExpiresOn: now.Add(time.Minute), RefreshOn: now.Add(-time.Minute)}, nil
	}}
	r := newRefresher(clock, g, nil, refresher.Target{Name: "api"})
	defer r.Close()

	if err := r.Warm(context.Background()); err != nil {
		t.Fatalf("Warm: %v", err)
	}
	if got := clock.pending(); len(got) != 1 || got[0] != time.Second {
		t.Errorf("pending timers = %v, want [1s]", got)
	}
}

func TestFailureBacksOff(t *testing.T) {
	clock := &fakeClock{now: start}
	failUntil := start.Add(20 * time.Second)
	g := &fakeGuest{clock: clock, next: func(_ string, now time.Time) (refresher.Result, error) {
		if now.Before(failUntil) {
			return refresher.Result{}, errors.New("authority unavailable")
		}
		return refresher.Result{ExpiresOn: now.Add(time.Hour), RefreshOn: now.Add(30 * time.Minute)}, nil
	}}
	var logs bytes.Buffer
	r := newRefresher(clock, g, &logs, refresher.Target{Name: "speech", Interval: 9 * time.Minute})
	defer r.Close()

	if err := r.Warm(context.Background()); err == nil {
		t.Fatal("Warm: got no error from a failing refresh")
	}

	// Attempts at 0s, then after 1s, 2s, 4s, 8s, 8s (capped): 1, 3, 7,
	// 15, 23 seconds. The one at 23s succeeds.
	var delays []time.Duration
	for range 5 {
		p := clock.pending()
		if len(p) != 1 {
			t.Fatalf("pending timers = %v, want one", p)
		}
		delays = append(delays, p[0])
		clock.advance(p[0])
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	for i := range want {
		if delays[i] != want[i] {
			t.Errorf("delays = %v, want %v", delays, want)
			break
		}
	}
	if got := g.count("speech"); got != 6 {
		t.Errorf("calls = %d, want 6", got)
	}
	if st := r.States()["speech"]; st.Failures != 0 {
		t.Errorf("failures after success = %d, want 0", st.Failures)
	}
	if got := clock.pending(); len(got) != 1 || got[0] != 9*time.Minute {
		t.Errorf("pending after recovery = %v, want [9m]", got)
	}

	if n := strings.Count(logs.String(), "token refresh failed"); n != 1 {
		t.Errorf("logged %d failure warnings, want 1 per streak:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "token refresh recovered"); n != 1 {
		t.Errorf("logged %d recoveries, want 1:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "level=DEBUG") {
		t.Errorf("debug lines at info level:\n%s", logs.String())
	}
}

func TestBackoffJitter(t *testing.T) {
	clock := &fakeClock{now: start}
	g := &fakeGuest{clock: clock, next: func(string, time.Time) (refresher.Result, error) {
		return refresher.Result{}, errors.New("down")
	}}
	r := refresher.New(refresher.Config{
		Targets:    []refresher.Target{{Name: "speech"}},
		Refresh:    g.refresh,
		MinBackoff: 4 * time.Second,
		MaxBackoff: time.Minute,
		Clock:      clock,
		Jitter:     func() float64 { return 0.5 },
		Logger:     slog.New(slog.DiscardHandler),
	})
	defer r.Close()

	_ = r.Warm(context.Background())
	// A jitter of 0.5 takes off a quarter: 4s - 1s.
	if got := clock.pending(); len(got) != 1 || got[0] != 3*time.Second {
		t.Errorf("pending timers = %v, want [3s]", got)
	}
}

func TestCloseStopsTimers(t *testing.T) {
	clock := &fakeClock{now: start}
	g := &fakeGuest{clock: clock, next: func(_ string, now time.Time) (refresher.Result, error) {
		return refresher.Result{ExpiresOn: now.Add(time.Hour), RefreshOn: now.Add(time.Minute)}, nil
	}}
	r := newRefresher(clock, g, nil, refresher.Target{Name: "speech"})
	if err := r.Warm(context.Background()); err != nil {
		t.Fatalf("Warm: %v", err)
	}

	r.Close()
	if got := clock.pending(); len(got) != 0 {
		t.Errorf("pending timers after Close = %v, want none", got)
	}
	clock.advance(time.Hour)
	if got := g.count("speech"); got != 1 {
		t.Errorf("calls after Close = %d, want 1", got)
	}
}

func TestCloseCancelsRunningRefresh(t *testing.T) {
	started := make(chan struct{})
	r := refresher.New(refresher.Config{
		Targets: []refresher.Target{{Name: "speech"}},
		Refresh: func(ctx context.Context, _ string) (refresher.Result, error) {
			close(started)
			<-ctx.Done()
			return refresher.Result{}, ctx.Err()
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	warmed := make(chan error, 1)
	go func() { warmed <- r.Warm(context.Background()) }()
	<-started

	r.Close()
	select {
	case err := <-warmed:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Warm: got %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Warm did not return after Close")
	}
}

func TestRetryAfterLengthensBackoff(t *testing.T) {
	clock := &fakeClock{now: start}
	calls := 0
	g := &fakeGuest{clock: clock, next: func(_ string, now time.Time) (refresher.Result, error) {
		calls++
		switch calls {
		case 1:
			return refresher.Result{}, &refresher.RetryAfterError{Err: errors.New("status 503"), After: 90 * time.Second}
		case 2:
			// A Retry-After shorter than the backoff does not shorten it.
			return refresher.Result{}, &refresher.RetryAfterError{Err: errors.New("status 503"), After: time.Millisecond}
		}
		return refresher.Result{ExpiresOn: now.Add(time.Hour), RefreshOn: now.Add(30 * time.Minute)}, nil
	}}
	var logs bytes.Buffer
	r := newRefresher(clock, g, &logs, refresher.Target{Name: "speech"})
	defer r.Close()
	_ = r.Warm(context.Background())

	if p := clock.pending(); len(p) != 1 || p[0] != 90*time.Second {
		t.Fatalf("pending after a Retry-After of 90s = %v, want [1m30s]", p)
	}
	clock.advance(90 * time.Second)
	if p := clock.pending(); len(p) != 1 || p[0] != 2*time.Second {
		t.Fatalf("pending after a short Retry-After = %v, want the backoff [2s]", p)
	}
	clock.advance(2 * time.Second)
	if g.count("speech") != 3 {
		t.Errorf("calls = %d, want 3", g.count("speech"))
	}
	if n := strings.Count(logs.String(), "token refresh failed"); n != 1 {
		t.Errorf("logged %d failure warnings, want 1:\n%s", n, logs.String())
	}
}
