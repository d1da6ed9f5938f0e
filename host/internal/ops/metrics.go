package ops

import (
	"bufio"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ContentTypeMetrics is the media type of the Prometheus text exposition
// format, version 0.0.4.
const ContentTypeMetrics = "text/plain; version=0.0.4; charset=utf-8"

// DurationBuckets are the upper bounds, in seconds, of the request duration
// histogram. A request served from the store takes well under a millisecond
// in the guest. A request that fetches a token waits for the authority,
// which the egress client cuts off after 20 s and the pool after 30 s.
var DurationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
	0.5, 1, 2.5, 5, 10, 30}

// Routes are the request paths that get their own route label. Any other
// path is counted as "other", so clients cannot add label values.
var Routes = []string{"/speech", "/api", "/healthz", "/readyz", "/metrics"}

// RouteLabel returns the route label of a request path.
func RouteLabel(path string) string {
	if slices.Contains(Routes, path) {
		return path
	}
	return "other"
}

// Metrics counts what the host observes. Its zero value is not usable;
// call NewMetrics. All methods are safe for concurrent use.
type Metrics struct {
	mu        sync.Mutex                  // guards the maps below
	requests  map[[2]string]uint64        // route, status
	durations map[string]*histogram       // route
	fetches   map[[2]string]uint64        // scope, result
	upstream  map[[2]string]uint64        // host, result
	extra     []func(w *expositionWriter) // gauges read at scrape time
}

type histogram struct {
	counts []uint64 // per bucket, not cumulative
	sum    float64
	count  uint64
}

// NewMetrics returns empty metrics.
func NewMetrics() *Metrics {
	return &Metrics{
		requests:  map[[2]string]uint64{},
		durations: map[string]*histogram{},
		fetches:   map[[2]string]uint64{},
		upstream:  map[[2]string]uint64{},
	}
}

// ObserveRequest counts one request to path that ended with status after d.
func (m *Metrics) ObserveRequest(path string, status int, d time.Duration) {
	route := RouteLabel(path)
	seconds := d.Seconds()

	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[[2]string{route, strconv.Itoa(status)}]++
	h := m.durations[route]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(DurationBuckets))}
		m.durations[route] = h
	}
	// A value above the last bound is counted only in +Inf, which is count.
	if i, _ := slices.BinarySearch(DurationBuckets, seconds); i < len(DurationBuckets) {
		h.counts[i]++
	}
	h.sum += seconds
	h.count++
}

// Fetch results.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
)

// ObserveFetch counts one token fetch for the named scope.
func (m *Metrics) ObserveFetch(scope, result string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fetches[[2]string{scope, result}]++
}

// ObserveUpstream counts one outgoing request of the guest.
func (m *Metrics) ObserveUpstream(host, result string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.upstream[[2]string{host, result}]++
}

// Gauge is one sample of a metric read at scrape time.
type Gauge struct {
	Labels []Label
	Value  float64
}

// Label is a label name and its value.
type Label struct{ Name, Value string }

// AddGauges registers a family whose samples read returns at every scrape.
// kind is "gauge" or "counter".
func (m *Metrics) AddGauges(name, kind, help string, read func() []Gauge) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.extra = append(m.extra, func(w *expositionWriter) {
		w.header(name, kind, help)
		for _, g := range read() {
			w.sample(name, g.Labels, g.Value)
		}
	})
}

// WriteTo writes every metric in the Prometheus text format.
func (m *Metrics) WriteTo(out io.Writer) (int64, error) {
	cw := &countingWriter{w: out}
	bw := bufio.NewWriter(cw)
	w := &expositionWriter{w: bw}

	m.mu.Lock()
	w.header("edgetoken_http_requests_total", "counter",
		"HTTP requests served, by route and status code. Paths other than the service's routes count as route \"other\".")
	for _, k := range sortedKeys(m.requests) {
		w.sample("edgetoken_http_requests_total",
			[]Label{{"route", k[0]}, {"status", k[1]}}, float64(m.requests[k]))
	}
	w.header("edgetoken_http_request_duration_seconds", "histogram",
		"Time from reading the request headers to writing the end of the response, by route.")
	routes := make([]string, 0, len(m.durations))
	for r := range m.durations {
		routes = append(routes, r)
	}
	slices.Sort(routes)
	for _, r := range routes {
		w.histogram("edgetoken_http_request_duration_seconds", Label{"route", r}, m.durations[r])
	}
	w.header("edgetoken_token_fetches_total", "counter",
		"Tokens fetched from the authority and stored, and refreshes the host's timer requested that failed, by scope.")
	for _, k := range sortedKeys(m.fetches) {
		w.sample("edgetoken_token_fetches_total",
			[]Label{{"scope", k[0]}, {"result", k[1]}}, float64(m.fetches[k]))
	}
	w.header("edgetoken_upstream_requests_total", "counter",
		"Outgoing requests of the guest, by destination host and result: a status class (2xx to 5xx), error, or denied by the egress policy.")
	for _, k := range sortedKeys(m.upstream) {
		w.sample("edgetoken_upstream_requests_total",
			[]Label{{"host", k[0]}, {"result", k[1]}}, float64(m.upstream[k]))
	}
	extra := slices.Clone(m.extra)
	m.mu.Unlock()

	for _, write := range extra {
		write(w)
	}
	if err := bw.Flush(); err != nil {
		return cw.n, err
	}
	return cw.n, nil
}

func sortedKeys(m map[[2]string]uint64) [][2]string {
	keys := make([][2]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	return keys
}

// expositionWriter writes lines of the text format. Write errors are kept
// by the bufio.Writer and reported by Flush.
type expositionWriter struct {
	w *bufio.Writer
}

func (w *expositionWriter) header(name, kind, help string) {
	w.w.WriteString("# HELP " + name + " " + escapeHelp(help) + "\n")
	w.w.WriteString("# TYPE " + name + " " + kind + "\n")
}

func (w *expositionWriter) sample(name string, labels []Label, value float64) {
	w.w.WriteString(name)
	if len(labels) > 0 {
		w.w.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				w.w.WriteByte(',')
			}
			w.w.WriteString(l.Name + `="` + EscapeLabelValue(l.Value) + `"`)
		}
		w.w.WriteByte('}')
	}
	w.w.WriteByte(' ')
	w.w.WriteString(formatValue(value))
	w.w.WriteByte('\n')
}

func (w *expositionWriter) histogram(name string, label Label, h *histogram) {
	var cumulative uint64
	for i, bound := range DurationBuckets {
		cumulative += h.counts[i]
		w.sample(name+"_bucket", []Label{label, {"le", formatValue(bound)}}, float64(cumulative))
	}
	w.sample(name+"_bucket", []Label{label, {"le", "+Inf"}}, float64(h.count))
	w.sample(name+"_sum", []Label{label}, h.sum)
	w.sample(name+"_count", []Label{label}, float64(h.count))
}

// EscapeLabelValue escapes a label value for the text format: backslash,
// double quote and line feed.
func EscapeLabelValue(s string) string {
	if !strings.ContainsAny(s, "\\\"\n") {
		return s
	}
	return labelEscaper.Replace(s)
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// escapeHelp escapes HELP text, where only backslash and line feed are
// special.
func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
