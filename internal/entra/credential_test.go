package entra

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"

	"github.com/edgetoken/edgetoken/internal/token"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	testTenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	testClientID = "11111111-2222-3333-4444-555555555555"
	testSecret   = "s3cr3t~value"
	speechScope  = "https://cognitiveservices.azure.com/.default"
)

// recorded is what the fake authority received.
type recorded struct {
	method, path string
	query        url.Values
	form         url.Values
	header       http.Header
}

// fakeAuthority is an httptest server that records each request and
// replies with the queued status, headers and body.
type fakeAuthority struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
	status   int
	header   http.Header
	body     string
}

func newFakeAuthority(t *testing.T, status int, body string) *fakeAuthority {
	t.Helper()
	f := &fakeAuthority{status: status, body: body, header: http.Header{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		f.mu.Lock()
		f.requests = append(f.requests, recorded{
			method: r.Method, path: r.URL.Path, query: r.URL.Query(), form: form, header: r.Header.Clone(),
		})
		for k, v := range f.header {
			w.Header()[k] = v
		}
		status, body := f.status, f.body
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAuthority) received(t *testing.T) []recorded {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.requests...)
}

func (f *fakeAuthority) only(t *testing.T) recorded {
	t.Helper()
	got := f.received(t)
	if len(got) != 1 {
		t.Fatalf("authority received %d requests, want 1", len(got))
	}
	return got[0]
}

const okBody = `{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ.tok.sig"}`

func fixedNow() time.Time { return received }

func TestClientSecretRequest(t *testing.T) {
	fa := newFakeAuthority(t, 200, okBody)
	cred, err := New(Options{
		TenantID: testTenant, ClientID: testClientID, ClientSecret: testSecret,
		AuthorityHost: fa.URL, Now: fixedNow,
	}, fa.Client())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if cred.Name() != "client secret" || cred.ClientID() != testClientID {
		t.Errorf("Name, ClientID = %q, %q", cred.Name(), cred.ClientID())
	}

	tok, err := cred.FetchToken(context.Background(), speechScope)
	if err != nil {
		t.Fatalf("FetchToken: %v", err)
	}
	if tok.Value != "eyJ.tok.sig" || !tok.ExpiresOn.Equal(received.Add(3599*time.Second)) {
		t.Errorf("token = %q expiring %v", tok.Value, tok.ExpiresOn)
	}

	got := fa.only(t)
	if got.method != "POST" || got.path != "/"+testTenant+"/oauth2/v2.0/token" {
		t.Errorf("request = %s %s", got.method, got.path)
	}
	if ct := got.header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", ct)
	}
	wantForm := url.Values{
		"client_id":     {testClientID},
		"client_secret": {testSecret},
		"grant_type":    {"client_credentials"},
		"scope":         {speechScope},
	}
	if !reflect.DeepEqual(got.form, wantForm) {
		t.Errorf("form = %v, want %v", got.form, wantForm)
	}
}

func TestClientSecretRejected(t *testing.T) {
	fa := newFakeAuthority(t, 401, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: t1\r\nCorrelation ID: c1","error_codes":[7000215],"trace_id":"t1","correlation_id":"c1"}`)
	cred, err := New(Options{TenantID: testTenant, ClientID: testClientID, ClientSecret: testSecret,
		AuthorityHost: fa.URL}, fa.Client())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	_, err = cred.FetchToken(context.Background(), speechScope)
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an *AuthError", err)
	}
	if ae.StatusCode != 401 || ae.Code != "invalid_client" || !reflect.DeepEqual(ae.AADSTSCodes, []int{7000215}) {
		t.Errorf("AuthError = %+v", ae)
	}
	if ae.TraceID != "t1" || ae.CorrelationID != "c1" {
		t.Errorf("TraceID, CorrelationID = %q, %q", ae.TraceID, ae.CorrelationID)
	}
	if !ae.Permanent() {
		t.Error("Permanent() = false, want true")
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Errorf("error %q contains the secret", err)
	}
}

func TestThrottledRetryAfter(t *testing.T) {
	fa := newFakeAuthority(t, 429, `{"error":"temporarily_unavailable","error_codes":[50196]}`)
	fa.header.Set("Retry-After", "17")
	cred, _ := New(Options{TenantID: testTenant, ClientID: testClientID, ClientSecret: testSecret,
		AuthorityHost: fa.URL}, fa.Client())
	_, err := cred.FetchToken(context.Background(), speechScope)
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an *AuthError", err)
	}
	if ae.RetryAfter != 17*time.Second {
		t.Errorf("RetryAfter = %v, want 17s", ae.RetryAfter)
	}
	if ae.Permanent() {
		t.Error("Permanent() = true, want false")
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	target := newFakeAuthority(t, 200, okBody)
	fa := newFakeAuthority(t, 307, `{}`)
	fa.header.Set("Location", target.URL+"/elsewhere")
	cred, _ := New(Options{TenantID: testTenant, ClientID: testClientID, ClientSecret: testSecret,
		AuthorityHost: fa.URL}, http.DefaultClient)
	_, err := cred.FetchToken(context.Background(), speechScope)
	var ae *AuthError
	if !errors.As(err, &ae) || ae.StatusCode != 307 || !errors.Is(err, errRedirect) {
		t.Fatalf("error = %v, want a 307 AuthError wrapping errRedirect", err)
	}
	if n := len(target.received(t)); n != 0 {
		t.Errorf("redirect target received %d requests, want 0", n)
	}
	if http.DefaultClient.CheckRedirect != nil {
		t.Error("New changed http.DefaultClient")
	}
}

func TestBodyTooLarge(t *testing.T) {
	fa := newFakeAuthority(t, 200, `{"access_token":"`+strings.Repeat("a", maxBodyBytes)+`","expires_in":3600}`)
	cred, _ := New(Options{TenantID: testTenant, ClientID: testClientID, ClientSecret: testSecret,
		AuthorityHost: fa.URL}, fa.Client())
	_, err := cred.FetchToken(context.Background(), speechScope)
	if err == nil || !strings.Contains(err.Error(), "response body is over 1048576 bytes") {
		t.Fatalf("error = %v, want body too large", err)
	}
}

func TestTransportErrorTransient(t *testing.T) {
	fa := newFakeAuthority(t, 200, okBody)
	u := fa.URL
	fa.Close()
	cred, _ := New(Options{TenantID: testTenant, ClientID: testClientID, ClientSecret: testSecret,
		AuthorityHost: u}, nil)
	_, err := cred.FetchToken(context.Background(), speechScope)
	var ae *AuthError
	if !errors.As(err, &ae) || ae.StatusCode != 0 || ae.Err == nil {
		t.Fatalf("error = %v, want a transport AuthError", err)
	}
	if ae.Permanent() {
		t.Error("Permanent() = true, want false")
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Errorf("error %q contains the secret", err)
	}
}

// testCertificate makes an RSA key and a self-signed certificate and
// returns them as PEM (key first, to check that order does not matter).
func testCertificate(t *testing.T) (pemData []byte, cert *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "edgetoken test client"},
		NotBefore:    received.Add(-time.Hour),
		NotAfter:     received.Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(key)
	pemData = append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	return pemData, cert
}

func TestClientCertificateAssertion(t *testing.T) {
	pemData, cert := testCertificate(t)
	fa := newFakeAuthority(t, 200, okBody)
	cred, err := New(Options{
		TenantID: testTenant, ClientID: testClientID, ClientCertificate: pemData,
		AuthorityHost: fa.URL, Now: fixedNow,
	}, fa.Client())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if cred.Name() != "client certificate" {
		t.Errorf("Name() = %q", cred.Name())
	}
	if _, err := cred.FetchToken(context.Background(), speechScope); err != nil {
		t.Fatalf("FetchToken: %v", err)
	}

	got := fa.only(t)
	tokenURL := fa.URL + "/" + testTenant + "/oauth2/v2.0/token"
	if got.form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		t.Errorf("client_assertion_type = %q", got.form.Get("client_assertion_type"))
	}
	if got.form.Has("client_secret") {
		t.Error("form has client_secret")
	}
	if got.form.Get("client_id") != testClientID || got.form.Get("scope") != speechScope ||
		got.form.Get("grant_type") != "client_credentials" {
		t.Errorf("form = %v", got.form)
	}

	claims := jwt.MapClaims{}
	parsed, err := jwt.NewParser(
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithTimeFunc(fixedNow),
		jwt.WithAudience(tokenURL),
		jwt.WithIssuer(testClientID),
		jwt.WithSubject(testClientID),
	).ParseWithClaims(got.form.Get("client_assertion"), claims, func(*jwt.Token) (any, error) {
		return cert.PublicKey, nil
	})
	if err != nil {
		t.Fatalf("verify assertion: %v", err)
	}

	s256 := sha256.Sum256(cert.Raw)
	s1 := sha1.Sum(cert.Raw)
	if h := parsed.Header["x5t#S256"]; h != base64.RawURLEncoding.EncodeToString(s256[:]) {
		t.Errorf("x5t#S256 = %v", h)
	}
	if h := parsed.Header["x5t"]; h != base64.RawURLEncoding.EncodeToString(s1[:]) {
		t.Errorf("x5t = %v", h)
	}
	if jti, _ := claims["jti"].(string); len(jti) != 36 {
		t.Errorf("jti = %q, want a UUID", jti)
	}
	nbf, _ := claims.GetNotBefore()
	exp, _ := claims.GetExpirationTime()
	if !nbf.Time.Equal(received.Add(-time.Minute)) {
		t.Errorf("nbf = %v, want a minute before %v", nbf.Time, received)
	}
	if !exp.Time.Equal(received.Add(10 * time.Minute)) {
		t.Errorf("exp = %v, want ten minutes after %v", exp.Time, received)
	}

	// A second assertion must not reuse the jti.
	cred.FetchToken(context.Background(), speechScope)
	all := fa.received(t)
	second := jwt.MapClaims{}
	jwt.NewParser().ParseUnverified(all[1].form.Get("client_assertion"), second)
	if second["jti"] == claims["jti"] {
		t.Error("two assertions share a jti")
	}
}

func TestParseCertificateRejects(t *testing.T) {
	pemData, _ := testCertificate(t)
	other, _ := testCertificate(t)
	certOnly := string(other)[strings.Index(string(other), "-----BEGIN CERTIFICATE"):]
	keyOnly := pemData[:strings.Index(string(pemData), "-----BEGIN CERTIFICATE")]
	tests := []struct {
		name, data, wantErr string
	}{
		{"empty", "", "no CERTIFICATE block"},
		{"key_only", string(keyOnly), "no CERTIFICATE block"},
		{"cert_only", certOnly, "no PRIVATE KEY"},
		{"mismatch", string(keyOnly) + certOnly, "no certificate matches the private key"},
		{"encrypted", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n" + certOnly,
			"encrypted private keys are not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseCertificate([]byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestWorkloadIdentityFileRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("federated-one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fa := newFakeAuthority(t, 200, okBody)
	cred, err := New(Options{
		TenantID: testTenant, ClientID: testClientID, FederatedToken: FederatedTokenFile(path),
		AuthorityHost: fa.URL,
	}, fa.Client())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if cred.Name() != "workload identity" {
		t.Errorf("Name() = %q", cred.Name())
	}
	if _, err := cred.FetchToken(context.Background(), speechScope); err != nil {
		t.Fatalf("first FetchToken: %v", err)
	}
	if err := os.WriteFile(path, []byte("federated-two"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := cred.FetchToken(context.Background(), speechScope); err != nil {
		t.Fatalf("second FetchToken: %v", err)
	}

	got := fa.received(t)
	if len(got) != 2 {
		t.Fatalf("authority received %d requests, want 2", len(got))
	}
	want := url.Values{
		"client_id":             {testClientID},
		"client_assertion":      {"federated-one"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"grant_type":            {"client_credentials"},
		"scope":                 {speechScope},
	}
	if !reflect.DeepEqual(got[0].form, want) {
		t.Errorf("first form = %v, want %v", got[0].form, want)
	}
	if a := got[1].form.Get("client_assertion"); a != "federated-two" {
		t.Errorf("second client_assertion = %q, want %q", a, "federated-two")
	}

	os.Remove(path)
	_, err = cred.FetchToken(context.Background(), speechScope)
	var ae *AuthError
	if !errors.As(err, &ae) || ae.Permanent() || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error = %v, want a transient AuthError wrapping os.ErrNotExist", err)
	}
	if n := len(fa.received(t)); n != 2 {
		t.Errorf("authority received %d requests after the file vanished, want 2", n)
	}
}

func TestManagedIdentityAppService(t *testing.T) {
	fa := newFakeAuthority(t, 200, `{"access_token":"eyJ.tok.sig","expires_on":"1700086400","resource":"https://cognitiveservices.azure.com","token_type":"Bearer","client_id":"`+testClientID+`"}`)
	cred, err := New(Options{
		ClientID: testClientID, IdentityEndpoint: fa.URL + "/msi/token", IdentityHeader: "id-header-secret",
		Now: fixedNow,
	}, fa.Client())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if cred.Name() != "managed identity" || cred.ClientID() != testClientID {
		t.Errorf("Name, ClientID = %q, %q", cred.Name(), cred.ClientID())
	}
	tok, err := cred.FetchToken(context.Background(), speechScope)
	if err != nil {
		t.Fatalf("FetchToken: %v", err)
	}
	if !tok.ExpiresOn.Equal(time.Unix(1_700_086_400, 0)) || !tok.RefreshOn.Equal(received.Add(12*time.Hour)) {
		t.Errorf("ExpiresOn, RefreshOn = %v, %v", tok.ExpiresOn, tok.RefreshOn)
	}

	got := fa.only(t)
	if got.method != "GET" || got.path != "/msi/token" {
		t.Errorf("request = %s %s", got.method, got.path)
	}
	wantQuery := url.Values{
		"api-version": {"2019-08-01"},
		"resource":    {"https://cognitiveservices.azure.com"},
		"client_id":   {testClientID},
	}
	if !reflect.DeepEqual(got.query, wantQuery) {
		t.Errorf("query = %v, want %v", got.query, wantQuery)
	}
	if h := got.header.Get("X-IDENTITY-HEADER"); h != "id-header-secret" {
		t.Errorf("X-IDENTITY-HEADER = %q", h)
	}
	if got.header.Get("Metadata") != "" {
		t.Error("App Service request has a Metadata header")
	}
}

func TestManagedIdentityErrorHidesHeader(t *testing.T) {
	fa := newFakeAuthority(t, 500, `{"statusCode":500,"message":"An unexpected error occured while fetching the AAD Token."}`)
	cred, _ := New(Options{IdentityEndpoint: fa.URL + "/msi/token", IdentityHeader: "id-header-secret"}, fa.Client())
	if cred.ClientID() != "" {
		t.Errorf("ClientID() = %q, want empty for system-assigned", cred.ClientID())
	}
	_, err := cred.FetchToken(context.Background(), speechScope)
	var ae *AuthError
	if !errors.As(err, &ae) || ae.StatusCode != 500 || ae.Permanent() {
		t.Fatalf("error = %v, want a transient 500 AuthError", err)
	}
	if strings.Contains(err.Error(), "id-header-secret") {
		t.Errorf("error %q contains the identity header", err)
	}
	if q := fa.only(t).query; q.Has("client_id") {
		t.Errorf("system-assigned request has client_id: %v", q)
	}
}

func TestManagedIdentityIMDS(t *testing.T) {
	fa := newFakeAuthority(t, 200, `{"access_token":"eyJ.tok.sig","client_id":"c","expires_in":"86399","expires_on":"1700086399","ext_expires_in":"86399","not_before":"1699999700","resource":"https://cognitiveservices.azure.com","token_type":"Bearer"}`)
	cred, err := New(Options{
		Selection: "ManagedIdentityCredential", IMDSEndpoint: fa.URL + "/metadata/identity/oauth2/token",
		Now: fixedNow,
	}, fa.Client())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if cred.Name() != "managed identity (IMDS)" {
		t.Errorf("Name() = %q", cred.Name())
	}
	tok, err := cred.FetchToken(context.Background(), speechScope)
	if err != nil {
		t.Fatalf("FetchToken: %v", err)
	}
	if !tok.ExpiresOn.Equal(received.Add(86399 * time.Second)) {
		t.Errorf("ExpiresOn = %v", tok.ExpiresOn)
	}
	got := fa.only(t)
	wantQuery := url.Values{"api-version": {"2018-02-01"}, "resource": {"https://cognitiveservices.azure.com"}}
	if got.path != "/metadata/identity/oauth2/token" || !reflect.DeepEqual(got.query, wantQuery) {
		t.Errorf("request = %s?%v", got.path, got.query)
	}
	if got.header.Get("Metadata") != "true" {
		t.Errorf("Metadata = %q, want true", got.header.Get("Metadata"))
	}
	if got.header.Get("X-IDENTITY-HEADER") != "" {
		t.Error("IMDS request has X-IDENTITY-HEADER")
	}
}

func TestAuthErrorMatchesRejected(t *testing.T) {
	permanent := &AuthError{Credential: "client secret", StatusCode: 401, Code: "invalid_client"}
	if !errors.Is(permanent, token.ErrRejected) {
		t.Error("invalid_client does not match token.ErrRejected")
	}
	passing := &AuthError{Credential: "client secret", StatusCode: 503}
	if errors.Is(passing, token.ErrRejected) {
		t.Error("503 matches token.ErrRejected")
	}
}
