package faults

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// step is one scripted answer of the fault server.
type step struct {
	status  int
	header  map[string]string
	body    string
	delay   time.Duration // before the status line
	trickle time.Duration // between two bytes of the body
}

// faultServer is an authority on loopback whose token endpoint answers
// from a script per scope, then with the fallback. Tokens it issues are
// "fault-<scope prefix>-<n>".
type faultServer struct {
	URL string // with a trailing slash, as AZURE_AUTHORITY_HOST takes it

	mu       sync.Mutex
	scripts  map[string][]step
	fallback *step // nil issues a token valid for an hour
	calls    map[string][]time.Time
	issued   []string
}

func newFaultServer(t *testing.T) *faultServer {
	t.Helper()
	f := &faultServer{scripts: map[string][]step{}, calls: map[string][]time.Time{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL + "/"
	return f
}

// script queues answers for requests whose scope starts with prefix.
func (f *faultServer) script(prefix string, steps ...step) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scripts[prefix] = append(f.scripts[prefix], steps...)
}

// always answers every request without a scripted step with s; nil
// restores tokens.
func (f *faultServer) always(s *step) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fallback = s
}

// count returns the token requests received for scopes starting with prefix.
func (f *faultServer) count(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for scope, times := range f.calls {
		if strings.HasPrefix(scope, prefix) {
			n += len(times)
		}
	}
	return n
}

// times returns when requests for scopes starting with prefix arrived.
func (f *faultServer) times(prefix string) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []time.Time
	for scope, times := range f.calls {
		if strings.HasPrefix(scope, prefix) {
			out = append(out, times...)
		}
	}
	return out
}

// tokens returns every token issued so far.
func (f *faultServer) tokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.issued...)
}

func (f *faultServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
		http.NotFound(w, r)
		return
	}
	_ = r.ParseForm()
	scope := r.PostForm.Get("scope")

	f.mu.Lock()
	f.calls[scope] = append(f.calls[scope], time.Now())
	var s *step
	for prefix, steps := range f.scripts {
		if strings.HasPrefix(scope, prefix) && len(steps) > 0 {
			s = &steps[0]
			f.scripts[prefix] = steps[1:]
			break
		}
	}
	if s == nil {
		s = f.fallback
	}
	if s == nil {
		tok := fmt.Sprintf("fault-%.5s-%d", strings.TrimPrefix(scope, "https://"), len(f.issued)+1)
		f.issued = append(f.issued, tok)
		s = &step{status: 200, body: `{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"` + tok + `"}`}
	}
	f.mu.Unlock()

	time.Sleep(s.delay)
	for name, value := range s.header {
		w.Header().Set(name, value)
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	w.WriteHeader(s.status)
	if s.trickle <= 0 {
		_, _ = io.WriteString(w, s.body)
		return
	}
	fl, _ := w.(http.Flusher)
	for i := 0; i < len(s.body); i++ {
		if _, err := io.WriteString(w, s.body[i:i+1]); err != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(s.trickle):
		}
	}
}

const (
	tenantID     = "7d1c0c1a-0000-4000-8000-00000000fa17"
	clientID     = "7d1c0c1a-0000-4000-8000-0000000c11e7"
	clientSecret = "fault-secret-Xk9~never-logged"
	resourceID   = "/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/faults"
	apiAppID     = "7d1c0c1a-0000-4000-8000-0000000a9900"
	speechPrefix = "https://cognitiveservices"
	apiPrefix    = apiAppID
)

// env returns the service settings pointing at f.
func env(f *faultServer) map[string]string {
	return map[string]string{
		"SPEECH_RESOURCE_ID":   resourceID,
		"API_APP_ID":           apiAppID,
		"AZURE_TENANT_ID":      tenantID,
		"AZURE_CLIENT_ID":      clientID,
		"AZURE_CLIENT_SECRET":  clientSecret,
		"AZURE_AUTHORITY_HOST": f.URL,
	}
}

// invalidClient is Entra's answer to a wrong secret, with the trace and
// correlation IDs the log must keep.
var invalidClient = step{status: 401, body: `{"error":"invalid_client","error_description":` +
	`"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: trace-f1\r\nCorrelation ID: corr-f1",` +
	`"error_codes":[7000215],"trace_id":"trace-f1","correlation_id":"corr-f1"}`}
