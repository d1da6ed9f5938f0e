package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// loadResult is one measured load run against one URL.
type loadResult struct {
	requests int
	errors   int // transport errors and non-200 responses
	elapsed  time.Duration
	p50, p99 time.Duration
	// cpu is the CPU time (user and system) the target process used per
	// measured request, or 0 when the target is not a process of its own.
	cpu time.Duration
}

func (r loadResult) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// runLoad sends GET url from concurrency keep-alive clients, for warmup
// without recording and then for duration, and returns the throughput and
// latency percentiles of the measured part. When cpu is not nil, it reads
// the target's CPU time at the start and end of the measured part.
func runLoad(ctx context.Context, url string, concurrency int, warmup, duration time.Duration,
	cpu func() time.Duration) (loadResult, error) {
	transport := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		IdleConnTimeout:     30 * time.Second,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}

	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      int
		firstErr  error
	)
	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(duration)
	var cpuStart time.Duration
	cpuRead := make(chan struct{})
	go func() {
		defer close(cpuRead)
		if cpu != nil {
			time.Sleep(time.Until(measureFrom))
			cpuStart = cpu()
		}
	}()
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Preallocated so that appending does not disturb the timing.
			local := make([]time.Duration, 0, 1<<16)
			localErrs := 0
			var localErr error
			for {
				t0 := time.Now()
				if t0.After(end) || ctx.Err() != nil {
					break
				}
				err := get(client, url)
				t1 := time.Now()
				if t0.Before(measureFrom) {
					continue
				}
				if err != nil {
					localErrs++
					if localErr == nil {
						localErr = err
					}
					continue
				}
				local = append(local, t1.Sub(t0))
			}
			mu.Lock()
			latencies = append(latencies, local...)
			errs += localErrs
			if firstErr == nil {
				firstErr = localErr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(measureFrom)
	<-cpuRead

	res := loadResult{requests: len(latencies), errors: errs, elapsed: elapsed}
	if cpu != nil && len(latencies) > 0 {
		res.cpu = (cpu() - cpuStart) / time.Duration(len(latencies))
	}
	if len(latencies) == 0 {
		return res, fmt.Errorf("no successful request (%d errors, first: %v)", errs, firstErr)
	}
	if errs > 0 {
		return res, fmt.Errorf("%d of %d requests failed, first: %v", errs, errs+len(latencies), firstErr)
	}
	slices.Sort(latencies)
	res.p50 = percentile(latencies, 0.50)
	res.p99 = percentile(latencies, 0.99)
	return res, nil
}

func get(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// percentile returns the q-quantile of sorted, by the nearest rank.
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted)) + 0.5)
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

// coldStarts are the host's start times to the first 200 from /speech.
type coldStarts struct {
	empty []time.Duration // empty compilation cache: the guest is compiled
	warm  []time.Duration // the cache holds the compiled guest
}

// measureColdStarts starts the host with pool size 1 once with an empty
// cache directory and then o.coldStarts times with the cache that the first
// start filled, which the load targets use afterwards.
func measureColdStarts(ctx context.Context, o *options, up *upstream, cache, emptyRoot string) (*coldStarts, error) {
	cs := &coldStarts{}
	start := func(dir string) (time.Duration, error) {
		t := &target{spec: targetSpec{name: "cold start", kind: kindHost, pool: 1}}
		defer t.stop()
		if err := t.startHost(ctx, o.host, up, 1, dir); err != nil {
			return 0, err
		}
		return t.firstOK, nil
	}
	d, err := start(cache)
	if err != nil {
		return nil, fmt.Errorf("cold start with an empty cache: %w", err)
	}
	cs.empty = append(cs.empty, d)
	// One more empty-cache start in a directory of its own: the first one
	// may also have paid for reading the binary from disk.
	d, err = start(filepath.Join(emptyRoot, "1"))
	if err != nil {
		return nil, fmt.Errorf("cold start with an empty cache: %w", err)
	}
	cs.empty = append(cs.empty, d)
	if err := os.RemoveAll(emptyRoot); err != nil {
		return nil, err
	}
	for range o.coldStarts {
		d, err := start(cache)
		if err != nil {
			return nil, fmt.Errorf("cold start with a warm cache: %w", err)
		}
		cs.warm = append(cs.warm, d)
	}
	return cs, nil
}

// memoryResult compares the host's resident memory at pool 1 and pool n,
// each after the same load, which makes every instance serve requests.
type memoryResult struct {
	pool           int
	rss1, rssN     int // KiB
	perInstanceKiB float64
}

func measureMemory(ctx context.Context, o *options, up *upstream, cache, work string) (*memoryResult, error) {
	m := &memoryResult{pool: o.memPool}
	measure := func(pool int) (int, error) {
		t, err := startTarget(ctx, targetSpec{name: "memory", kind: kindHost, pool: pool}, o, up, cache, work)
		if err != nil {
			return 0, err
		}
		defer t.stop()
		// At least two clients per instance keep every instance busy.
		c := max(o.concurrency, 2*pool)
		for _, path := range []string{"/speech", "/api"} {
			if _, err := runLoad(ctx, t.url+path, c, 0, time.Second, nil); err != nil {
				return 0, err
			}
		}
		return t.rssKiB(), nil
	}
	var err error
	if m.rss1, err = measure(1); err != nil {
		return nil, err
	}
	if m.rssN, err = measure(o.memPool); err != nil {
		return nil, err
	}
	m.perInstanceKiB = float64(m.rssN-m.rss1) / float64(o.memPool-1)
	return m, nil
}
