package testenv_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/edgetoken/edgetoken/internal/testenv"
)

const speechResource = "https://cognitiveservices.azure.com"

func requestToken(t *testing.T, o *testenv.OIDC, secret, scope string) (int, map[string]any) {
	t.Helper()
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {o.ClientID},
		"client_secret": {secret},
		"scope":         {scope},
	}
	resp, err := o.Client.PostForm(o.TokenURL(), form)
	if err != nil {
		t.Fatalf("post token request: %v", err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("decode token response: %v", err)
	}
	return resp.StatusCode, body
}

func startOIDC(t *testing.T, opts testenv.OIDCOptions) *testenv.OIDC {
	if testing.Short() {
		t.Skip("starts node; skipped with -short")
	}
	return testenv.StartOIDC(t, opts)
}

func TestOIDCIssuesVerifiableTokens(t *testing.T) {
	o := startOIDC(t, testenv.OIDCOptions{
		Resources: []string{speechResource, "api://e2e-app"},
		TTL:       90 * time.Second,
	})

	status, body := requestToken(t, o, o.ClientSecret, speechResource+"/.default")
	if status != http.StatusOK {
		t.Fatalf("status: got %d, want 200; body %v", status, body)
	}
	if got := body["expires_in"]; got != float64(90) {
		t.Errorf("expires_in: got %v, want 90", got)
	}
	claims := o.VerifyJWT(t, body["access_token"].(string))
	if got := claims["aud"]; got != speechResource {
		t.Errorf("aud: got %v, want %s", got, speechResource)
	}
	if got := claims["tid"]; got != o.Tenant {
		t.Errorf("tid: got %v, want %s", got, o.Tenant)
	}

	// MSAL appends these scopes to every request.
	status, body = requestToken(t, o, o.ClientSecret, "api://e2e-app/.default openid offline_access profile")
	if status != http.StatusOK {
		t.Fatalf("MSAL-style scope status: got %d, want 200; body %v", status, body)
	}
	if got := o.VerifyJWT(t, body["access_token"].(string))["aud"]; got != "api://e2e-app" {
		t.Errorf("aud: got %v, want api://e2e-app", got)
	}

	if got := o.TokenRequests(t, speechResource+"/.default"); got != 1 {
		t.Errorf("speech token requests: got %d, want 1", got)
	}
	if got := o.TokenRequests(t, "api://e2e-app/.default"); got != 1 {
		t.Errorf("api token requests: got %d, want 1", got)
	}
	o.ResetCounts(t)
	if got := o.TokenRequests(t, speechResource+"/.default"); got != 0 {
		t.Errorf("speech token requests after reset: got %d, want 0", got)
	}
}

func TestOIDCRejectsBadRequests(t *testing.T) {
	o := startOIDC(t, testenv.OIDCOptions{})

	status, body := requestToken(t, o, "wrong-secret", speechResource+"/.default")
	if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("wrong secret: got %d %v, want 401 invalid_client", status, body)
	}
	status, body = requestToken(t, o, o.ClientSecret, "api://unknown/.default")
	if status != http.StatusBadRequest || body["error"] != "invalid_target" {
		t.Errorf("unknown resource: got %d %v, want 400 invalid_target", status, body)
	}
	// Rejected requests count too: the service under test did go upstream.
	if got := o.TokenRequests(t, speechResource+"/.default"); got != 1 {
		t.Errorf("speech token requests: got %d, want 1", got)
	}
}

func TestOIDCDiscoveryAlias(t *testing.T) {
	o := startOIDC(t, testenv.OIDCOptions{TLS: true})
	if !strings.HasPrefix(o.URL, "https://127.0.0.1:") {
		t.Fatalf("URL: got %s, want https://127.0.0.1:PORT/", o.URL)
	}

	resp, err := o.Client.Get(o.URL + o.Tenant + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatalf("get discovery: %v", err)
	}
	defer resp.Body.Close()
	var doc struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("decode discovery: %v", err)
	}
	if doc.Issuer != o.Issuer {
		t.Errorf("issuer: got %s, want %s", doc.Issuer, o.Issuer)
	}
	if doc.TokenEndpoint != o.TokenURL() {
		t.Errorf("token_endpoint: got %s, want %s", doc.TokenEndpoint, o.TokenURL())
	}

	o.SetTTL(t, 5*time.Second)
	status, body := requestToken(t, o, o.ClientSecret, speechResource+"/.default")
	if status != http.StatusOK || body["expires_in"] != float64(5) {
		t.Errorf("after SetTTL(5s): got %d expires_in %v, want 200 and 5", status, body["expires_in"])
	}
}
