package authority_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/edgetoken/edgetoken/internal/authority"
	"github.com/edgetoken/edgetoken/internal/entra"
)

// newCertificate makes a self-signed RSA certificate and returns it with
// its PEM text (certificate and PKCS#8 key), as entra.Options takes it.
func newCertificate(t *testing.T) (*x509.Certificate, *rsa.PrivateKey, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "authority test client"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(key)
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	data = append(data, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})...)
	return cert, key, data
}

func fetchWithCertificate(t *testing.T, s *authority.Server, certPEM []byte) error {
	t.Helper()
	cred, err := entra.New(entra.Options{
		TenantID: tenant, ClientID: clientID, AuthorityHost: s.URL, ClientCertificate: certPEM,
	}, s.Client())
	if err != nil {
		t.Fatalf("entra.New: %v", err)
	}
	_, err = cred.FetchToken(context.Background(), speechScope)
	return err
}

func TestCertificateAssertionVerified(t *testing.T) {
	registered, _, registeredPEM := newCertificate(t)
	_, _, otherPEM := newCertificate(t)
	a, s, _ := start(t, authority.Options{ClientID: clientID, ClientCertificates: []*x509.Certificate{registered}}, false)

	if err := fetchWithCertificate(t, s, registeredPEM); err != nil {
		t.Fatalf("registered certificate: %v", err)
	}
	err := fetchWithCertificate(t, s, otherPEM)
	var ae *entra.AuthError
	if !errors.As(err, &ae) || ae.StatusCode != 401 || len(ae.AADSTSCodes) != 1 || ae.AADSTSCodes[0] != 700027 {
		t.Errorf("unregistered certificate: error = %v, want 401 AADSTS700027", err)
	}
	if got := a.Requests(speechScope); got != 2 {
		t.Errorf("Requests = %d, want 2", got)
	}
}

// TestCertificateAssertionForged sends an assertion that names the
// registered certificate but is signed by another key.
func TestCertificateAssertionForged(t *testing.T) {
	registered, registeredKey, _ := newCertificate(t)
	_, otherKey, _ := newCertificate(t)
	_, s, _ := start(t, authority.Options{ClientID: clientID, ClientCertificates: []*x509.Certificate{registered}}, false)
	tokenURL := s.URL + "/" + tenant + "/oauth2/v2.0/token"
	sum := sha256.Sum256(registered.Raw)

	sign := func(key *rsa.PrivateKey, audience string, expires time.Time) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
			"iss": clientID, "sub": clientID, "aud": audience,
			"exp": expires.Unix(), "nbf": time.Now().Add(-time.Minute).Unix(), "jti": "x",
		})
		tok.Header["x5t#S256"] = base64.RawURLEncoding.EncodeToString(sum[:])
		signed, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	post := func(assertion string) (int, string) {
		form := url.Values{
			"grant_type": {"client_credentials"}, "client_id": {clientID}, "scope": {speechScope},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {assertion},
		}
		resp, err := s.Client().PostForm(tokenURL, form)
		if err != nil {
			t.Fatalf("post: %v", err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("read body: %v", err)
		}
		return resp.StatusCode, string(body)
	}

	tests := []struct {
		name       string
		assertion  string
		wantStatus int
		wantCode   string
	}{
		{"valid", sign(registeredKey, tokenURL, time.Now().Add(5*time.Minute)), http.StatusOK, ""},
		{"wrong_key", sign(otherKey, tokenURL, time.Now().Add(5*time.Minute)), http.StatusUnauthorized, "AADSTS700027"},
		{"wrong_audience", sign(registeredKey, "https://login.example/token", time.Now().Add(5*time.Minute)),
			http.StatusUnauthorized, "AADSTS700016"},
		{"expired", sign(registeredKey, tokenURL, time.Now().Add(-5*time.Minute)), http.StatusUnauthorized, "AADSTS700024"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(tc.assertion)
			if status != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", status, tc.wantStatus, body)
			}
			if !strings.Contains(body, tc.wantCode) {
				t.Errorf("body %s does not contain %s", body, tc.wantCode)
			}
		})
	}
}

func TestReceivedRecordsRequests(t *testing.T) {
	a, s, _ := start(t, authority.Options{ClientID: clientID, ClientSecret: secret}, false)
	cred, err := entra.New(entra.Options{
		TenantID: tenant, ClientID: clientID, ClientSecret: secret, AuthorityHost: s.URL,
	}, s.Client())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cred.FetchToken(context.Background(), speechScope); err != nil {
		t.Fatal(err)
	}
	got := a.Received()
	if len(got) != 1 {
		t.Fatalf("Received returned %d requests, want 1", len(got))
	}
	if got[0].Method != http.MethodPost || got[0].Path != "/"+tenant+"/oauth2/v2.0/token" {
		t.Errorf("request = %s %s", got[0].Method, got[0].Path)
	}
	if got[0].Form.Get("client_secret") != secret || got[0].Form.Get("scope") != speechScope {
		t.Errorf("form = %v", got[0].Form)
	}
}

func TestCloseRemovesCertFile(t *testing.T) {
	_, s, _ := start(t, authority.Options{}, true)
	if _, err := os.Stat(s.CertFile); err != nil {
		t.Fatalf("certificate file: %v", err)
	}
	s.Close()
	if _, err := os.Stat(s.CertFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Close: stat error = %v, want not exist", err)
	}
}
