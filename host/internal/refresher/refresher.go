// Package refresher keeps the host's tokens fresh with one timer per token.
// Each run makes the guest fetch and store a new token, and the next run is
// scheduled from the refresh time the guest returns. Clients therefore find
// a valid token in the store instead of waiting for a fetch.
package refresher

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Defaults used when the matching Config field is zero.
const (
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 2 * time.Minute
	// DefaultAttemptTimeout bounds one refresh call.
	DefaultAttemptTimeout = 45 * time.Second
)

// minDelay keeps a refresh_on that has already passed, or a zero interval,
// from starting the next run at once and looping.
const minDelay = time.Second

// Result is the stored token's expiry and refresh time that the guest
// returns after a successful refresh.
type Result struct {
	ExpiresOn time.Time
	RefreshOn time.Time
}

// RetryAfterError is a failed refresh that carries the wait before the next
// attempt. The guest responds with Retry-After when the authority requested
// a wait or when its own backoff is running. The next attempt waits at least
// After, even when the backoff is shorter.
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }
func (e *RetryAfterError) Unwrap() error { return e.Err }

// Target is one token to keep fresh.
type Target struct {
	// Name is the route segment: "speech" or "api".
	Name string
	// Interval is the longest time between two refreshes. Zero means the
	// guest's refresh_on alone sets the next run.
	Interval time.Duration
}

// Clock is the time source, replaced in tests.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	Stop() bool
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
func (systemClock) AfterFunc(d time.Duration, f func()) Timer {
	return time.AfterFunc(d, f)
}

// Config describes a Refresher. Refresh and Targets are required.
type Config struct {
	Targets []Target
	// Refresh fetches and stores a new token for the named target.
	Refresh func(ctx context.Context, name string) (Result, error)

	// MinBackoff is the delay after the first failure of a streak; each
	// further failure doubles it, up to MaxBackoff. A random jitter takes
	// off up to half of each delay, so that several hosts that failed
	// together do not retry together.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// AttemptTimeout bounds one call to Refresh.
	AttemptTimeout time.Duration

	Clock  Clock          // defaults to the system clock
	Jitter func() float64 // returns a value in [0, 1); defaults to math/rand
	Logger *slog.Logger   // defaults to slog.Default()
}

// State is the last known state of one target, for readiness and metrics.
type State struct {
	LastSuccess time.Time // zero before the first success
	ExpiresOn   time.Time // of the last token fetched
	NextRun     time.Time
	Failures    int // in the current failure streak
}

// Refresher runs one timer per target.
type Refresher struct {
	cfg    Config
	clock  Clock
	log    *slog.Logger
	ctx    context.Context // canceled by Close; parent of every attempt
	cancel context.CancelFunc
	wg     sync.WaitGroup // counts runs in progress

	mu     sync.Mutex // guards the fields below
	closed bool
	states map[string]*targetState
}

type targetState struct {
	target Target
	timer  Timer
	State
}

// New returns a Refresher with no timer started; call Warm to start.
func New(cfg Config) *Refresher {
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = DefaultAttemptTimeout
	}
	if cfg.Jitter == nil {
		cfg.Jitter = rand.Float64
	}
	r := &Refresher{
		cfg:    cfg,
		clock:  cfg.Clock,
		log:    cfg.Logger,
		states: map[string]*targetState{},
	}
	if r.clock == nil {
		r.clock = systemClock{}
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	for _, t := range cfg.Targets {
		r.states[t.Name] = &targetState{target: t}
	}
	return r
}

// Warm refreshes every target once, concurrently, and schedules each next
// run. It returns when every first attempt has finished, with the errors of
// those that failed joined; a failed target is retried on its own timer.
func (r *Refresher) Warm(ctx context.Context) error {
	errs := make([]error, len(r.cfg.Targets))
	var wg sync.WaitGroup
	for i, t := range r.cfg.Targets {
		wg.Go(func() { errs[i] = r.run(ctx, t.Name) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// States returns a copy of every target's state, by name.
func (r *Refresher) States() map[string]State {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]State, len(r.states))
	for name, s := range r.states {
		out[name] = s.State
	}
	return out
}

// Close stops every timer, cancels a refresh in progress and waits for it
// to return.
func (r *Refresher) Close() {
	r.mu.Lock()
	r.closed = true
	for _, s := range r.states {
		if s.timer != nil {
			s.timer.Stop()
		}
	}
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
}

// run performs one attempt for the named target and schedules the next.
func (r *Refresher) run(ctx context.Context, name string) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.wg.Add(1)
	r.mu.Unlock()
	defer r.wg.Done()

	attemptCtx, cancel := context.WithTimeout(r.ctx, r.cfg.AttemptTimeout)
	stop := context.AfterFunc(ctx, cancel)
	res, err := r.cfg.Refresh(attemptCtx, name)
	stop()
	cancel()

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return err
	}
	s := r.states[name]
	now := r.clock.Now()
	var delay time.Duration
	if err != nil {
		s.Failures++
		delay = r.backoff(s.Failures)
		var ra *RetryAfterError
		if errors.As(err, &ra) && ra.After > delay {
			delay = ra.After
		}
		if s.Failures == 1 {
			r.log.Warn("token refresh failed; retrying with backoff until it succeeds",
				"token", name, "error", err, "retry_in", delay)
		} else {
			r.log.Debug("token refresh failed again", "token", name, "failures", s.Failures,
				"error", err, "retry_in", delay)
		}
	} else {
		if s.Failures > 0 {
			r.log.Info("token refresh recovered", "token", name, "failures", s.Failures)
		}
		s.Failures = 0
		s.LastSuccess = now
		s.ExpiresOn = res.ExpiresOn
		delay = nextDelay(now, res.RefreshOn, s.target.Interval)
		r.log.Debug("token refreshed", "token", name, "expires_on", res.ExpiresOn, "next_in", delay)
	}
	s.NextRun = now.Add(delay)
	s.timer = r.clock.AfterFunc(delay, func() { _ = r.run(context.Background(), name) })
	return err
}

// nextDelay returns the time until the earlier of refreshOn and the fixed
// interval, and at least minDelay.
func nextDelay(now, refreshOn time.Time, interval time.Duration) time.Duration {
	delay := interval
	if !refreshOn.IsZero() {
		untilRefresh := refreshOn.Sub(now)
		if delay <= 0 || untilRefresh < delay {
			delay = untilRefresh
		}
	}
	return max(delay, minDelay)
}

// backoff returns the delay after the given number of consecutive failures:
// MinBackoff doubled per failure after the first, capped at MaxBackoff, less
// a jitter of up to half.
func (r *Refresher) backoff(failures int) time.Duration {
	d := r.cfg.MinBackoff
	for i := 1; i < failures && d < r.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.cfg.MaxBackoff)
	return d - time.Duration(r.cfg.Jitter()*float64(d/2))
}
