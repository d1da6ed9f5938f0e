// Command bench measures the token service's targets side by side in one
// run, on loopback, and writes the results as a markdown page:
//
//	go run ./bench -out BENCHMARKS.md
//
// The targets are the native Go handler (the baseline), the guest on the
// wazero host binary at several pool sizes, and the WASI HTTP component on
// jco. Each serves /speech and /api from a warm token cache, with a local
// token authority in this process as the upstream. Load comes from a fixed
// number of keep-alive clients in this process for a fixed time, after a
// warm-up, and the targets take turns in every round so that a change in
// the machine's load affects them alike. Ratios to the native baseline are
// computed within each round.
//
// The run also measures the host's cold start (process start to the first
// 200 from /speech) with an empty and a warm compilation cache, its resident
// memory per pooled instance, and the token requests each target sent
// upstream.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command-line settings.
type options struct {
	out         string
	host        string
	component   string
	warmup      time.Duration
	duration    time.Duration
	rounds      int
	concurrency int
	coldStarts  int
	memPool     int
	skipJco     bool
	extraHost   string
}

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.out, "out", "", "write the markdown page to this file (default: standard output)")
	fs.StringVar(&o.host, "host", "build/edgetoken-host", "the host binary, built with the embedded guest")
	fs.StringVar(&o.component, "component", "build/edgetoken.component.wasm", "the component for jco")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "warm-up load before each measurement")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "measured load per target, path and round")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; every target is measured once per round")
	fs.IntVar(&o.concurrency, "c", 16, "concurrent keep-alive clients")
	fs.IntVar(&o.coldStarts, "cold-starts", 3, "host starts with a warm compilation cache to measure")
	fs.IntVar(&o.memPool, "mem-pool", 9, "pool size compared with pool 1 for memory per instance")
	fs.BoolVar(&o.skipJco, "skip-jco", false, "leave the component on jco out")
	fs.StringVar(&o.extraHost, "extra-host", "", "NAME=PATH: one more host binary to load at pool GOMAXPROCS, to compare a variant")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.rounds < 1 || o.concurrency < 1 || o.duration <= 0 || o.memPool < 2 {
		return nil, fmt.Errorf("invalid options: want -rounds >= 1, -c >= 1, -duration > 0, -mem-pool >= 2")
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 2 && args[0] == serveNativeFlag {
		if err := serveNative(args[1]); err != nil {
			fmt.Fprintf(stderr, "bench: serve the native baseline: %v\n", err)
			return 1
		}
		return 0
	}
	o, err := parseOptions(args, stderr)
	if err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx := context.Background()

	report, err := measure(ctx, o, log)
	if err != nil {
		log.Error("benchmark failed", "error", err)
		return 1
	}
	page := report.markdown()
	if o.out == "" {
		fmt.Fprint(stdout, page)
		return 0
	}
	if err := writeFile(o.out, page); err != nil {
		log.Error("write the page", "file", o.out, "error", err)
		return 1
	}
	log.Info("wrote the results", "file", o.out)
	return 0
}

// measure runs every measurement and returns the report.
func measure(ctx context.Context, o *options, log *slog.Logger) (*report, error) {
	r := &report{
		command:   commandLine(os.Args[1:]),
		machine:   describeMachine(),
		started:   time.Now(),
		loadStart: loadAverage(),
		opts:      o,
	}
	for _, p := range []*string{&o.host, &o.component} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, err
		}
		*p = abs
	}
	if _, err := os.Stat(o.host); err != nil {
		return nil, fmt.Errorf("host binary: %w (run make host)", err)
	}
	if !o.skipJco {
		if _, err := os.Stat(o.component); err != nil {
			return nil, fmt.Errorf("component: %w (run make component, or pass -skip-jco)", err)
		}
	}

	// Each target gets an authority of its own, so that its token requests
	// are counted apart from the others'.
	up, err := startUpstream()
	if err != nil {
		return nil, err
	}
	defer up.close()

	work, err := os.MkdirTemp("", "edgetoken-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	// The cold starts come first: the first one fills the compilation cache
	// that the host targets below start from.
	cache := filepath.Join(work, "wazero-cache")
	log.Info("measuring cold starts")
	r.cold, err = measureColdStarts(ctx, o, up, cache, filepath.Join(work, "empty-cache"))
	if err != nil {
		return nil, err
	}

	procs := runtime.GOMAXPROCS(0)
	specs := []targetSpec{
		{name: "native", kind: kindNativeProcess},
		{name: "host pool=1", kind: kindHost, pool: 1},
		{name: fmt.Sprintf("host pool=%d (GOMAXPROCS)", procs), kind: kindHost, pool: procs},
		{name: fmt.Sprintf("host pool=%d (2x GOMAXPROCS)", 2*procs), kind: kindHost, pool: 2 * procs},
		{name: fmt.Sprintf("host -loop-checks=false pool=%d", procs), kind: kindHost, pool: procs,
			flags: []string{"-loop-checks=false"}},
	}
	if name, path, ok := strings.Cut(o.extraHost, "="); ok {
		specs = append(specs, targetSpec{name: fmt.Sprintf("%s pool=%d", name, procs), kind: kindHost, pool: procs, bin: path})
	}
	if !o.skipJco {
		specs = append(specs, targetSpec{name: "component on jco", kind: kindJco})
	}
	targets := make([]*target, 0, len(specs))
	defer func() {
		for _, t := range targets {
			t.stop()
		}
	}()
	for _, s := range specs {
		log.Info("starting target", "target", s.name)
		own, err := startUpstream()
		if err != nil {
			return nil, err
		}
		defer own.close()
		t, err := startTarget(ctx, s, o, own, cache, work)
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", s.name, err)
		}
		targets = append(targets, t)
	}

	paths := []string{"/speech", "/api"}
	for round := 1; round <= o.rounds; round++ {
		// Alternate the order so that no target always runs first or last.
		order := targets
		if round%2 == 0 {
			order = reversed(targets)
		}
		for _, t := range order {
			for _, path := range paths {
				log.Info("load", "round", round, "target", t.spec.name, "path", path)
				res, err := runLoad(ctx, t.url+path, o.concurrency, o.warmup, o.duration, t.cpuTime())
				if err != nil {
					return nil, fmt.Errorf("%s %s: %w", t.spec.name, path, err)
				}
				r.add(round, t.spec.name, path, res)
			}
		}
	}
	for _, t := range targets {
		r.upstream = append(r.upstream, upstreamRow{target: t.spec.name, counts: t.upstream.requests()})
		if kib := t.rssKiB(); kib > 0 {
			r.rss = append(r.rss, rssRow{target: t.spec.name, pool: t.spec.pool, kib: kib})
		}
	}
	for _, t := range targets {
		t.stop()
	}
	targets = nil

	log.Info("measuring memory per pooled instance")
	r.memory, err = measureMemory(ctx, o, up, cache, work)
	if err != nil {
		return nil, err
	}
	r.finished = time.Now()
	r.loadEnd = loadAverage()
	return r, nil
}

func reversed[T any](s []T) []T {
	out := make([]T, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

// commandLine returns the command that ran the bench, with arguments that
// contain spaces quoted.
func commandLine(args []string) string {
	parts := []string{"go", "run", "./bench"}
	for _, a := range args {
		if strings.ContainsAny(a, " \t\"'") {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}
