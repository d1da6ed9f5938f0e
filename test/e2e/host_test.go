package e2e

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgetoken/edgetoken/internal/testenv"
	"github.com/edgetoken/edgetoken/internal/testenv/conformance"
)

// startHost is the conformance Starter for the guest on the wazero host.
func startHost(t *testing.T, env map[string]string) (conformance.Target, error) {
	h, err := testenv.TryStartHost(t, env)
	if err != nil {
		return nil, err
	}
	return conformance.URL(h.URL), nil
}

func TestHostConformance(t *testing.T) {
	skipShort(t)
	t.Parallel()
	conformance.Run(t, conformance.StarterFunc(startHost))
}

func TestHostConfigErrorExits(t *testing.T) {
	skipShort(t)
	// The host must fail before any token request, so the authority is
	// never started: its address only has to look valid.
	o := &testenv.OIDC{
		URL:          "http://127.0.0.1:9/",
		Tenant:       testenv.DefaultTenant,
		ClientID:     testenv.DefaultClientID,
		ClientSecret: "exit-test-secret-Qw7~never-printed",
	}
	cases := []struct {
		name     string
		variable string
		value    string // "" removes the variable
	}{
		{"missing_speech_resource_id", "SPEECH_RESOURCE_ID", ""},
		{"missing_api_app_id", "API_APP_ID", ""},
		{"allowed_origins_with_path", "ALLOWED_ORIGINS", "https://app.example.com/x"},
		{"authority_host_plain_http", "AZURE_AUTHORITY_HOST", "http://login.example.com"},
		{"bad_tenant", "AZURE_TENANT_ID", "../evil"},
		{"refresh_interval_not_duration", "SPEECH_TOKEN_REFRESH_INTERVAL", "often"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := conformance.Env(o)
			if tc.value == "" {
				delete(env, tc.variable)
			} else {
				env[tc.variable] = tc.value
			}

			_, err := testenv.TryStartHost(t, env)
			var startErr *testenv.StartError
			if !errors.As(err, &startErr) {
				t.Fatalf("start: got %v, want the host to exit", err)
			}
			if startErr.ExitCode == 0 {
				t.Errorf("exit status: got 0, want non-zero")
			}
			if !strings.Contains(startErr.Output, tc.variable) {
				t.Errorf("output does not name %s:\n%s", tc.variable, startErr.Output)
			}
			if strings.Contains(startErr.Output, o.ClientSecret) {
				t.Errorf("output contains the client secret:\n%s", startErr.Output)
			}
		})
	}
}

// TestHostTimedRefreshInterval checks that the host's timer refreshes the
// Speech token after SPEECH_TOKEN_REFRESH_INTERVAL with no client asking,
// and that clients then get the new token.
func TestHostTimedRefreshInterval(t *testing.T) {
	skipShort(t)
	t.Parallel()
	const interval = 10 * time.Second // the shortest interval config accepts

	o := conformance.StartOIDC(t)
	env := conformance.Env(o)
	env["SPEECH_TOKEN_REFRESH_INTERVAL"] = interval.String()
	h := testenv.StartHost(t, env)

	first := getSpeechToken(t, o, h)
	started := time.Now()
	if got := o.TokenRequests(t, conformance.SpeechScope); got != 1 {
		t.Fatalf("speech token requests after the first GET: got %d, want 1", got)
	}

	waitTokenRequests(t, o, conformance.SpeechScope, 2, interval+5*time.Second)
	if elapsed := time.Since(started); elapsed < interval-time.Second {
		t.Errorf("second speech token request after %v, want about %v", elapsed, interval)
	}

	second := getSpeechToken(t, o, h)
	if second == first {
		t.Error("speech token after the timed refresh: got the first token again, want a new one")
	}
	if got := o.TokenRequests(t, conformance.SpeechScope); got != 2 {
		t.Errorf("speech token requests after the refresh: got %d, want 2", got)
	}
	// The API token lives an hour and has no interval, so its timer waits.
	if got := o.TokenRequests(t, conformance.APIScope); got > 1 {
		t.Errorf("api token requests: got %d, want at most 1", got)
	}
	checkLogClean(t, h, o.ClientSecret, first, second)
}

// TestHostRefreshBeforeExpiry checks that the timer follows refresh_on:
// a token of 4 s is refreshed at half its lifetime, before it expires,
// for both routes.
func TestHostRefreshBeforeExpiry(t *testing.T) {
	skipShort(t)
	t.Parallel()

	o := testenv.StartOIDC(t, testenv.OIDCOptions{
		Resources: []string{conformance.SpeechResource, conformance.APIAppID},
		TTL:       4 * time.Second,
	})
	env := conformance.Env(o)
	env["TOKEN_MIN_LIFETIME"] = "0s"
	h := testenv.StartHost(t, env)

	first := getSpeechToken(t, o, h)
	waitTokenRequests(t, o, conformance.SpeechScope, 2, 6*time.Second)
	waitTokenRequests(t, o, conformance.APIScope, 2, 6*time.Second)

	second := getSpeechToken(t, o, h)
	if second == first {
		t.Error("speech token after refresh_on: got the first token again, want a new one")
	}
}

func getSpeechToken(t *testing.T, o *testenv.OIDC, h *testenv.Host) string {
	t.Helper()
	resp, err := http.Post(h.URL+"/speech", "", nil)
	if err != nil {
		t.Fatalf("POST /speech: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read /speech: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /speech: status %d, want 200; body %q", resp.StatusCode, body)
	}
	var decoded struct {
		SpeechToken string `json:"speech_token"`
	}
	if err := json.Unmarshal(body, &decoded); err != nil {
		t.Fatalf("decode /speech body %q: %v", body, err)
	}
	token, ok := strings.CutPrefix(decoded.SpeechToken, "aad#"+conformance.SpeechResourceID+"#")
	if !ok {
		t.Fatalf("/speech body %q: want aad#<resource ID>#<token>", body)
	}
	o.VerifyJWT(t, token)
	return token
}

// waitTokenRequests waits until the authority has counted at least want
// token requests for scope.
func waitTokenRequests(t *testing.T, o *testenv.OIDC, scope string, want int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := o.TokenRequests(t, scope)
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("token requests for %s: got %d after %v, want %d", scope, got, timeout, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkLogClean fails when the host's output contains any of secrets.
func checkLogClean(t *testing.T, h *testenv.Host, secrets ...string) {
	t.Helper()
	log := h.Log()
	for _, s := range secrets {
		if s != "" && strings.Contains(log, s) {
			t.Errorf("host output contains a secret or token (%d bytes starting %q)", len(s), s[:min(6, len(s))])
		}
	}
}
