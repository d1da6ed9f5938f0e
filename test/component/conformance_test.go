package component

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edgetoken/edgetoken/internal/testenv/conformance"
)

// misconfiguredBody is the guest's response body to every request when its
// settings do not load. The guest logs the reason to its stderr.
const misconfiguredBody = `{"detail":"token service is misconfigured; see its log"}`

// startJco is the conformance Starter for the component on jco. The config
// store holds env under lower-case keys, as Spin's variables would.
//
// The guest reads its settings at its first request, not at start, so
// startJco sends GET / once. A guest whose settings loaded returns 404, and
// one whose settings did not returns 500 and logs why. The error returned
// then contains that log, so the suite can check it names the variable.
func startJco(t *testing.T, env map[string]string) (conformance.Target, error) {
	config := make(map[string]string, len(env))
	for name, value := range env {
		config[strings.ToLower(name)] = value
	}
	r := startRunner(t, buildComponent(t), config)

	status, body := get(t, r.baseURL+"/")
	switch {
	case status == 404 && body == `{"detail":"Not Found"}`:
		return conformance.URL(r.baseURL), nil
	case status == 500 && body == misconfiguredBody:
		return nil, fmt.Errorf("GET / returned 500 %s; runner stderr:\n%s", body, waitLog(r, "setup failed", 2*time.Second))
	default:
		t.Fatalf("GET / = %d %q, want 404 Not Found or 500 %s", status, body, misconfiguredBody)
		return nil, nil
	}
}

// waitLog returns the runner's log once it contains substr, or after
// timeout: the guest's stderr travels through a pipe and may arrive after
// the response.
func waitLog(r *runner, substr string, timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for !strings.Contains(r.Log(), substr) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	return r.Log()
}

func TestJcoConformance(t *testing.T) {
	skipShort(t)
	conformance.Run(t, conformance.StarterFunc(startJco))
}
