// Package conformance holds the behaviour tests every build of the token
// service must pass, written once and run against each target: the guest on
// our wazero host, the native net/http handler, the component on jco.
//
// A target plugs in through Starter. Run starts an oidc-provider authority,
// gives the target settings that point at it, and checks exact responses,
// CORS, upstream call counts and configuration errors over plain HTTP.
package conformance

import (
	"testing"

	"github.com/edgetoken/edgetoken/internal/testenv"
)

// Target is a running token service under test.
type Target interface {
	// BaseURL is scheme://host:port with no trailing slash.
	BaseURL() string
}

// Starter starts the token service under test.
type Starter interface {
	// Start starts the service with exactly env as its settings, keyed by
	// environment variable name (SPEECH_RESOURCE_ID, AZURE_CLIENT_ID, ...),
	// and stops it at t's cleanup. It returns an error when the service
	// rejects the settings at start; the error text is what the service
	// reported, so Run can check that it names the variable.
	Start(t *testing.T, env map[string]string) (Target, error)
}

// StarterFunc adapts a function to Starter.
type StarterFunc func(t *testing.T, env map[string]string) (Target, error)

// Start calls f.
func (f StarterFunc) Start(t *testing.T, env map[string]string) (Target, error) {
	return f(t, env)
}

// URL is a Target at a fixed address.
type URL string

// BaseURL returns u.
func (u URL) BaseURL() string { return string(u) }

// Settings of the service under test. The speech resource ID has the shape
// of an Azure resource ID; the authority never sees it.
const (
	SpeechResourceID = "/subscriptions/00000000-0000-4000-8000-0000000000e2" +
		"/resourceGroups/e2e/providers/Microsoft.CognitiveServices/accounts/e2e-speech"
	APIAppID = "0000e2e0-a9e1-4000-8000-0000000000a1"

	// SpeechResource is the audience of speech tokens: the default
	// SPEECH_SERVICE_SCOPE without "/.default".
	SpeechResource = "https://cognitiveservices.azure.com"
	SpeechScope    = SpeechResource + "/.default"
	// APIScope is the default API_SCOPE, "<API_APP_ID>/.default", so API
	// tokens have the app ID as their audience.
	APIScope = APIAppID + "/.default"
)

// Env returns the settings of a service that gets its tokens from o with a
// client secret. Tests copy and change it.
func Env(o *testenv.OIDC) map[string]string {
	return map[string]string{
		"SPEECH_RESOURCE_ID":   SpeechResourceID,
		"API_APP_ID":           APIAppID,
		"AZURE_TENANT_ID":      o.Tenant,
		"AZURE_CLIENT_ID":      o.ClientID,
		"AZURE_CLIENT_SECRET":  o.ClientSecret,
		"AZURE_AUTHORITY_HOST": o.URL,
	}
}

// StartOIDC starts an authority that issues tokens for SpeechResource and
// APIAppID.
func StartOIDC(t testing.TB) *testenv.OIDC {
	t.Helper()
	return testenv.StartOIDC(t, testenv.OIDCOptions{
		Resources: []string{SpeechResource, APIAppID},
	})
}

// Run runs every conformance test against the service s starts. Each
// subtest starts its own service, so a target's state never carries over.
func Run(t *testing.T, s Starter) {
	o := StartOIDC(t)

	t.Run("tokens", func(t *testing.T) { runTokens(t, s, o) })
	t.Run("routes", func(t *testing.T) { runRoutes(t, s, o) })
	t.Run("cors_any_origin", func(t *testing.T) { runCORSAnyOrigin(t, s, o) })
	t.Run("cors_listed_origins", func(t *testing.T) { runCORSListedOrigins(t, s, o) })
	t.Run("authority_rejects_secret", func(t *testing.T) { runRejectedSecret(t, s, o) })
	t.Run("config_errors", func(t *testing.T) { runConfigErrors(t, s, o) })
}

func start(t *testing.T, s Starter, env map[string]string) Target {
	t.Helper()
	target, err := s.Start(t, env)
	if err != nil {
		t.Fatalf("start service: %v", err)
	}
	return target
}

func copyEnv(env map[string]string) map[string]string {
	c := make(map[string]string, len(env))
	for name, value := range env {
		c[name] = value
	}
	return c
}
