package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestHarness runs the load generator against the native target for a
// moment and renders a page from the result, so that the harness keeps
// working between benchmark runs. It takes under a second.
func TestHarness(t *testing.T) {
	up, err := startUpstream()
	if err != nil {
		t.Fatal(err)
	}
	defer up.close()
	o := &options{rounds: 1, concurrency: 2, warmup: 50 * time.Millisecond, duration: 200 * time.Millisecond}
	tg, err := startTarget(context.Background(), targetSpec{name: "native", kind: kindNative}, o, up, "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer tg.stop()

	r := &report{opts: o, started: time.Now(), machine: describeMachine(), loadStart: loadAverage()}
	for _, path := range []string{"/speech", "/api"} {
		res, err := runLoad(context.Background(), tg.url+path, o.concurrency, o.warmup, o.duration, nil)
		if err != nil {
			t.Fatalf("load %s: %v", path, err)
		}
		if res.requests == 0 || res.errors != 0 || res.p50 <= 0 || res.p99 < res.p50 {
			t.Fatalf("load %s: implausible result %+v", path, res)
		}
		r.add(1, "native", path, res)
	}
	if got := up.requests(); got != [2]int{1, 1} {
		t.Errorf("upstream token requests = %v, want one per scope [1 1]", got)
	}

	r.cold = &coldStarts{empty: []time.Duration{time.Second}, warm: []time.Duration{50 * time.Millisecond}}
	r.memory = &memoryResult{pool: 2, rss1: 1024, rssN: 2048, perInstanceKiB: 1024}
	r.upstream = []upstreamRow{{target: "native", counts: up.requests()}}
	r.finished = time.Now()
	page := r.markdown()
	for _, want := range []string{beginMarker, endMarker, "| native |", "### /speech", "### /api", "| 1.0 | 2.0 | 1.00 |"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
}

func TestMarkdownKeepsHandWrittenSections(t *testing.T) {
	path := t.TempDir() + "/page.md"
	r := &report{opts: &options{out: path, rounds: 1}, order: []string{"native"},
		cold: &coldStarts{}, memory: &memoryResult{pool: 2}}
	first := "# Title\n\nintro\n\n" + beginMarker + "\nold\n" + endMarker + "\n\n## Notes\n\nkept\n"
	if err := writeFile(path, first); err != nil {
		t.Fatal(err)
	}
	page := r.markdown()
	if !strings.HasPrefix(page, "# Title\n\nintro\n\n"+beginMarker) || !strings.HasSuffix(page, endMarker+"\n\n## Notes\n\nkept\n") {
		t.Errorf("hand-written parts changed:\n%s", page)
	}
	if strings.Contains(page, "\nold\n") {
		t.Errorf("the old generated part is still there:\n%s", page)
	}
}
