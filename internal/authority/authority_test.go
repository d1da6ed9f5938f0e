package authority_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/golang-jwt/jwt/v5"

	"github.com/edgetoken/edgetoken/internal/authority"
	"github.com/edgetoken/edgetoken/internal/entra"
)

const (
	tenant      = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	clientID    = "11111111-2222-3333-4444-555555555555"
	secret      = "local-secret"
	speechScope = "https://cognitiveservices.azure.com/.default"
)

func start(t *testing.T, opts authority.Options, tls bool) (*authority.Authority, *authority.Server, *bytes.Buffer) {
	t.Helper()
	a, err := authority.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	var logs bytes.Buffer
	s, err := authority.Serve(a, authority.ServeOptions{
		TLS:      tls,
		CertFile: filepath.Join(t.TempDir(), "authority.pem"),
		Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatalf("Serve: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return a, s, &logs
}

// verify checks an access token's signature against the JWKS the server
// publishes and returns its claims.
func verify(t *testing.T, s *authority.Server, access string) jwt.MapClaims {
	t.Helper()
	resp, err := s.Client().Get(s.URL + "/" + tenant + "/discovery/v2.0/keys")
	if err != nil {
		t.Fatalf("get JWKS: %v", err)
	}
	defer resp.Body.Close()
	var jwks struct {
		Keys []struct{ Kty, Kid, Alg, N, E string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&jwks); err != nil || len(jwks.Keys) != 1 {
		t.Fatalf("decode JWKS: %v, %d keys", err, len(jwks.Keys))
	}
	k := jwks.Keys[0]
	n, _ := base64.RawURLEncoding.DecodeString(k.N)
	e, _ := base64.RawURLEncoding.DecodeString(k.E)
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}

	claims := jwt.MapClaims{}
	parsed, err := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired()).
		ParseWithClaims(access, claims, func(tok *jwt.Token) (any, error) {
			if tok.Header["kid"] != k.Kid {
				return nil, errors.New("kid does not match the JWKS")
			}
			return pub, nil
		})
	if err != nil || !parsed.Valid {
		t.Fatalf("verify token against JWKS: %v", err)
	}
	return claims
}

func TestClientSecretTokenVerifies(t *testing.T) {
	a, s, logs := start(t, authority.Options{ClientID: clientID, ClientSecret: secret}, false)
	if !strings.Contains(logs.String(), "tokens are NOT real and Azure does not accept them") {
		t.Errorf("start log = %q, want the not-real warning", logs.String())
	}

	cred, err := entra.New(entra.Options{TenantID: tenant, ClientID: clientID, ClientSecret: secret,
		AuthorityHost: s.URL}, s.Client())
	if err != nil {
		t.Fatalf("entra.New: %v", err)
	}
	tok, err := cred.FetchToken(context.Background(), speechScope)
	if err != nil {
		t.Fatalf("FetchToken: %v", err)
	}
	if d := time.Until(tok.ExpiresOn); d < 59*time.Minute || d > time.Hour {
		t.Errorf("token expires in %v, want about an hour", d)
	}

	claims := verify(t, s, tok.Value)
	want := map[string]any{
		"iss":      s.URL + "/" + tenant + "/v2.0",
		"aud":      "https://cognitiveservices.azure.com",
		"tid":      tenant,
		"appid":    clientID,
		"azp":      clientID,
		"sub":      clientID,
		"not_real": true,
	}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	if got := a.Requests(speechScope); got != 1 {
		t.Errorf("Requests = %d, want 1", got)
	}
}

func TestTokenErrors(t *testing.T) {
	_, s, _ := start(t, authority.Options{ClientID: clientID, ClientSecret: secret}, false)
	tests := []struct {
		name       string
		opts       entra.Options
		scope      string
		wantStatus int
		wantCode   string
		wantAADSTS int
	}{
		{"wrong_secret", entra.Options{ClientID: clientID, ClientSecret: "nope"}, speechScope, 401, "invalid_client", 7000215},
		{"unknown_client", entra.Options{ClientID: "other", ClientSecret: secret}, speechScope, 400, "unauthorized_client", 700016},
		{"scope_without_default", entra.Options{ClientID: clientID, ClientSecret: secret}, "https://x/user.read", 400, "invalid_scope", 1002012},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.TenantID = tenant
			tc.opts.AuthorityHost = s.URL
			cred, err := entra.New(tc.opts, s.Client())
			if err != nil {
				t.Fatalf("entra.New: %v", err)
			}
			_, err = cred.FetchToken(context.Background(), tc.scope)
			var ae *entra.AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v is not an *entra.AuthError", err)
			}
			if ae.StatusCode != tc.wantStatus || ae.Code != tc.wantCode {
				t.Errorf("status, code = %d, %q, want %d, %q", ae.StatusCode, ae.Code, tc.wantStatus, tc.wantCode)
			}
			if len(ae.AADSTSCodes) != 1 || ae.AADSTSCodes[0] != tc.wantAADSTS {
				t.Errorf("AADSTS codes = %v, want [%d]", ae.AADSTSCodes, tc.wantAADSTS)
			}
			if ae.TraceID == "" || ae.CorrelationID == "" {
				t.Errorf("trace ID, correlation ID = %q, %q", ae.TraceID, ae.CorrelationID)
			}
			if !ae.Permanent() {
				t.Error("Permanent() = false, want true")
			}
		})
	}
}

func TestClientAssertionAccepted(t *testing.T) {
	a, s, _ := start(t, authority.Options{ClientID: clientID, ClientSecret: secret}, false)
	assertion := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "k8s", "sub": "sa"})
	signed, _ := assertion.SignedString([]byte("anything"))
	cred, err := entra.New(entra.Options{
		TenantID: tenant, ClientID: clientID, AuthorityHost: s.URL,
		FederatedToken: func(context.Context) (string, error) { return signed, nil },
	}, s.Client())
	if err != nil {
		t.Fatalf("entra.New: %v", err)
	}
	if _, err := cred.FetchToken(context.Background(), speechScope); err != nil {
		t.Fatalf("FetchToken: %v", err)
	}

	bad, _ := entra.New(entra.Options{
		TenantID: tenant, ClientID: clientID, AuthorityHost: s.URL,
		FederatedToken: func(context.Context) (string, error) { return "not-a-jwt", nil },
	}, s.Client())
	_, err = bad.FetchToken(context.Background(), speechScope)
	var ae *entra.AuthError
	if !errors.As(err, &ae) || ae.StatusCode != 401 || ae.Code != "invalid_client" {
		t.Errorf("malformed assertion: error = %v, want 401 invalid_client", err)
	}
	if got := a.Requests(speechScope); got != 2 {
		t.Errorf("Requests = %d, want 2", got)
	}
}

func TestFailNextAndLifetime(t *testing.T) {
	a, s, _ := start(t, authority.Options{TokenLifetime: 2 * time.Minute}, false)
	cred, _ := entra.New(entra.Options{TenantID: tenant, ClientID: clientID, ClientSecret: "any",
		AuthorityHost: s.URL}, s.Client())

	a.FailNext(429, 503)
	_, err := cred.FetchToken(context.Background(), speechScope)
	var ae *entra.AuthError
	if !errors.As(err, &ae) || ae.StatusCode != 429 || ae.RetryAfter != time.Second || ae.Permanent() {
		t.Fatalf("first error = %v, want a transient 429 with Retry-After 1s", err)
	}
	_, err = cred.FetchToken(context.Background(), speechScope)
	if !errors.As(err, &ae) || ae.StatusCode != 503 || ae.Permanent() {
		t.Fatalf("second error = %v, want a transient 503", err)
	}

	tok, err := cred.FetchToken(context.Background(), speechScope)
	if err != nil {
		t.Fatalf("third FetchToken: %v", err)
	}
	if d := time.Until(tok.ExpiresOn); d < 110*time.Second || d > 2*time.Minute {
		t.Errorf("token expires in %v, want about 2m", d)
	}
	a.SetTokenLifetime(30 * time.Second)
	tok, _ = cred.FetchToken(context.Background(), speechScope)
	if d := time.Until(tok.ExpiresOn); d < 25*time.Second || d > 30*time.Second {
		t.Errorf("token expires in %v after SetTokenLifetime, want about 30s", d)
	}
	if got := a.Requests(speechScope); got != 4 {
		t.Errorf("Requests = %d, want 4", got)
	}
}

func TestManagedIdentityEndpoints(t *testing.T) {
	a, s, _ := start(t, authority.Options{IdentityHeader: "hdr"}, false)

	appService, err := entra.New(entra.Options{IdentityEndpoint: s.URL + "/msi/token", IdentityHeader: "hdr"}, s.Client())
	if err != nil {
		t.Fatalf("entra.New: %v", err)
	}
	tok, err := appService.FetchToken(context.Background(), speechScope)
	if err != nil {
		t.Fatalf("App Service FetchToken: %v", err)
	}
	claims := verify(t, s, tok.Value)
	if claims["aud"] != "https://cognitiveservices.azure.com" || claims["appid"] != authority.DefaultManagedIdentityClientID {
		t.Errorf("aud, appid = %v, %v", claims["aud"], claims["appid"])
	}

	wrong, _ := entra.New(entra.Options{IdentityEndpoint: s.URL + "/msi/token", IdentityHeader: "other"}, s.Client())
	_, err = wrong.FetchToken(context.Background(), speechScope)
	var ae *entra.AuthError
	if !errors.As(err, &ae) || ae.StatusCode != 401 {
		t.Errorf("wrong identity header: error = %v, want status 401", err)
	}

	imds, _ := entra.New(entra.Options{Selection: "ManagedIdentityCredential", ClientID: clientID,
		IMDSEndpoint: s.URL + "/metadata/identity/oauth2/token"}, s.Client())
	tok, err = imds.FetchToken(context.Background(), speechScope)
	if err != nil {
		t.Fatalf("IMDS FetchToken: %v", err)
	}
	if claims := verify(t, s, tok.Value); claims["appid"] != clientID {
		t.Errorf("IMDS appid = %v, want %v", claims["appid"], clientID)
	}
	if got := a.Requests(speechScope); got != 2 {
		t.Errorf("Requests = %d, want 2 (the rejected header is not counted)", got)
	}
}

func TestOpenIDConfiguration(t *testing.T) {
	_, s, _ := start(t, authority.Options{}, true)
	resp, err := s.Client().Get(s.URL + "/" + tenant + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	json.NewDecoder(resp.Body).Decode(&doc)
	base := s.URL + "/" + tenant
	want := map[string]string{
		"issuer":                 base + "/v2.0",
		"token_endpoint":         base + "/oauth2/v2.0/token",
		"authorization_endpoint": base + "/oauth2/v2.0/authorize",
		"jwks_uri":               base + "/discovery/v2.0/keys",
	}
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("%s = %v, want %v", k, doc[k], v)
		}
	}
	pemData, err := os.ReadFile(s.CertFile)
	if err != nil || !bytes.HasPrefix(pemData, []byte("-----BEGIN CERTIFICATE-----")) {
		t.Errorf("certificate file %q: %v", s.CertFile, err)
	}
}

// TestAzidentityClientSecret shows that the real Azure SDK gets a token from
// the authority, so the authority speaks the protocol MSAL expects.
func TestAzidentityClientSecret(t *testing.T) {
	a, s, _ := start(t, authority.Options{ClientID: clientID, ClientSecret: secret}, true)
	cred, err := azidentity.NewClientSecretCredential(tenant, clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.URL + "/"},
			Transport: s.Client(), // refuses any address but loopback
			Retry:     policy.RetryOptions{MaxRetries: -1},
		},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatalf("NewClientSecretCredential: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	at, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{speechScope}})
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	claims := verify(t, s, at.Token)
	if claims["aud"] != "https://cognitiveservices.azure.com" || claims["appid"] != clientID {
		t.Errorf("aud, appid = %v, %v", claims["aud"], claims["appid"])
	}
	if d := time.Until(at.ExpiresOn); d < 59*time.Minute || d > time.Hour {
		t.Errorf("token expires in %v, want about an hour", d)
	}
	if got := a.Requests(speechScope); got != 1 {
		t.Errorf("Requests = %d, want 1", got)
	}

	bad, _ := azidentity.NewClientSecretCredential(tenant, clientID, "wrong", &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.URL + "/"},
			Transport: s.Client(),
			Retry:     policy.RetryOptions{MaxRetries: -1},
		},
		DisableInstanceDiscovery: true,
	})
	_, err = bad.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{speechScope}})
	if err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Errorf("wrong secret: error = %v, want AADSTS7000215", err)
	}
}
