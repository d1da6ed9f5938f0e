package testenv

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults for OIDCOptions. The tenant is a GUID, as Entra tenant IDs are.
const (
	DefaultTenant       = "72f988bf-0000-4000-8000-00000000e2e0"
	DefaultClientID     = "0000e2e0-c11e-4000-8000-000000000001"
	DefaultClientSecret = "e2e-secret-Zq8~not-a-real-secret"
)

// OIDCOptions configures StartOIDC. The zero value is usable: the defaults
// above, the resource https://cognitiveservices.azure.com only, Entra's
// token lifetime of 3599 s, plain http.
type OIDCOptions struct {
	Tenant       string
	ClientID     string
	ClientSecret string
	// Resources are the audiences the authority issues tokens for. A scope
	// "<resource>/.default" for any other resource gets 400 invalid_target.
	Resources []string
	// TTL is the access token lifetime, rounded down to whole seconds.
	TTL time.Duration
	// TLS serves https with a certificate made for 127.0.0.1; OIDC.CAFile
	// and OIDC.Client trust it.
	TLS bool
}

// OIDC is a running oidc-provider authority with Entra's paths under
// URL: POST <URL><Tenant>/oauth2/v2.0/token.
type OIDC struct {
	// URL is the authority host with a trailing slash, the form
	// AZURE_AUTHORITY_HOST takes ("http://127.0.0.1:PORT/").
	URL          string
	Issuer       string // the iss claim of every token: <URL><Tenant>
	Tenant       string
	ClientID     string
	ClientSecret string
	// CAFile is the PEM certificate the server presents when TLS was
	// requested, usable as SSL_CERT_FILE for a Go subprocess.
	CAFile string
	// Client trusts CAFile when TLS was requested.
	Client *http.Client

	base string // scheme://127.0.0.1:PORT, no trailing slash
	log  *syncBuffer
}

// StartOIDC runs test/oidc/server.mjs with node in its own process group
// and stops it at t's cleanup. It fails t when node or the npm packages are
// missing: install Node.js 20 or later and run `npm ci` at the repository
// root.
func StartOIDC(t testing.TB, opts OIDCOptions) *OIDC {
	t.Helper()
	root := RepoRoot(t)

	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("start oidc authority: node not found on PATH (install Node.js 20 or later): %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", "oidc-provider", "package.json")); err != nil {
		t.Fatalf("start oidc authority: oidc-provider is not installed; run `npm ci` in %s", root)
	}

	o := &OIDC{
		Tenant:       orDefault(opts.Tenant, DefaultTenant),
		ClientID:     orDefault(opts.ClientID, DefaultClientID),
		ClientSecret: orDefault(opts.ClientSecret, DefaultClientSecret),
		Client:       &http.Client{Timeout: 10 * time.Second},
		log:          &syncBuffer{},
	}
	resources := opts.Resources
	if len(resources) == 0 {
		resources = []string{"https://cognitiveservices.azure.com"}
	}
	ttl := 3599
	if opts.TTL > 0 {
		ttl = int(opts.TTL / time.Second)
	}

	args := []string{filepath.Join(root, "test", "oidc", "server.mjs"),
		"--tenant", o.Tenant,
		"--client-id", o.ClientID,
		"--resources", strings.Join(resources, ","),
		"--ttl", strconv.Itoa(ttl),
		"--port", "0",
	}
	if opts.TLS {
		certFile, keyFile, pool := writeLoopbackCert(t)
		args = append(args, "--cert", certFile, "--key", keyFile)
		o.CAFile = certFile
		o.Client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	}

	cmd := exec.Command(node, args...)
	cmd.Dir = root
	// The secret goes through the environment so it stays out of process listings.
	cmd.Env = append(os.Environ(), "OIDC_CLIENT_SECRET="+o.ClientSecret)
	cmd.Stderr = o.log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("start oidc authority: %v", err)
	}
	if err := startGroup(cmd); err != nil {
		t.Fatalf("start oidc authority: %v", err)
	}
	done := make(chan struct{})
	ready := make(chan string, 1)
	go func() {
		scanLines(stdout, o.log, ready)
		cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() { stopGroup(cmd, done, 3*time.Second) })

	select {
	case line := <-ready:
		var started struct {
			URL    string `json:"url"`
			Issuer string `json:"issuer"`
		}
		if err := json.Unmarshal([]byte(line), &started); err != nil {
			t.Fatalf("start oidc authority: read %q: %v", line, err)
		}
		o.base = started.URL
		o.URL = started.URL + "/"
		o.Issuer = started.Issuer
	case <-done:
		t.Fatalf("start oidc authority: node exited before listening; output:\n%s", o.log)
	case <-time.After(20 * time.Second):
		t.Fatalf("start oidc authority: not listening after 20s; output:\n%s", o.log)
	}
	return o
}

// scanLines copies r to log line by line and sends the first line that
// holds the listening port to ready.
func scanLines(r io.Reader, log io.Writer, ready chan<- string) {
	sent := false
	scanner := bufio.NewScanner(r)
	for scanner.Scan() {
		line := scanner.Text()
		if !sent && strings.HasPrefix(line, `{"port":`) {
			ready <- line
			sent = true
			continue
		}
		fmt.Fprintln(log, line)
	}
}

func orDefault(value, fallback string) string {
	if value == "" {
		return fallback
	}
	return value
}

// TokenURL returns the token endpoint, Entra's /<tenant>/oauth2/v2.0/token.
func (o *OIDC) TokenURL() string {
	return o.base + "/" + o.Tenant + "/oauth2/v2.0/token"
}

// Log returns what the authority wrote besides the port line.
func (o *OIDC) Log() string { return o.log.String() }

// TokenRequests returns how many token requests named scope (for example
// "api://x/.default") since the start or the last ResetCounts, whatever
// their outcome.
func (o *OIDC) TokenRequests(t testing.TB, scope string) int {
	t.Helper()
	var stats struct {
		TokenRequests map[string]int `json:"token_requests"`
	}
	o.control(t, http.MethodGet, "/__stats", nil, &stats)
	return stats.TokenRequests[scope]
}

// ResetCounts sets every token request counter to zero.
func (o *OIDC) ResetCounts(t testing.TB) {
	t.Helper()
	o.control(t, http.MethodPost, "/__reset", nil, nil)
}

// SetTTL changes the lifetime of tokens issued from now on.
func (o *OIDC) SetTTL(t testing.TB, ttl time.Duration) {
	t.Helper()
	o.control(t, http.MethodPost, "/__config", map[string]int{"ttl": int(ttl / time.Second)}, nil)
}

func (o *OIDC) control(t testing.TB, method, path string, in, out any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		encoded, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("encode %s body: %v", path, err)
		}
		body = bytes.NewReader(encoded)
	}
	req, err := http.NewRequest(method, o.base+path, body)
	if err != nil {
		t.Fatalf("build %s %s: %v", method, path, err)
	}
	resp, err := o.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s on the oidc authority: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s %s: %v", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s on the oidc authority: status %d: %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("decode %s %s: %v", method, path, err)
		}
	}
}

// VerifyJWT checks that token is an access token this authority signed:
// an RS256 signature by a key from its JWKS, header typ "at+jwt", iss equal
// to Issuer, and an exp in the future. It returns the claims for further
// checks such as aud.
func (o *OIDC) VerifyJWT(t testing.TB, token string) jwt.MapClaims {
	t.Helper()
	keys := o.signingKeys(t)

	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(token, claims, func(tok *jwt.Token) (any, error) {
		if typ, _ := tok.Header["typ"].(string); typ != "at+jwt" {
			return nil, fmt.Errorf("header typ is %q, want at+jwt", typ)
		}
		kid, _ := tok.Header["kid"].(string)
		key, ok := keys[kid]
		if !ok {
			return nil, fmt.Errorf("no key %q in the JWKS", kid)
		}
		return key, nil
	},
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithIssuer(o.Issuer),
		jwt.WithExpirationRequired(),
	)
	if err != nil {
		t.Fatalf("verify access token: %v", err)
	}
	if !parsed.Valid {
		t.Fatal("verify access token: not valid")
	}
	return claims
}

func (o *OIDC) signingKeys(t testing.TB) map[string]*rsa.PublicKey {
	t.Helper()
	resp, err := o.Client.Get(o.base + "/" + o.Tenant + "/discovery/v2.0/keys")
	if err != nil {
		t.Fatalf("get JWKS: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("get JWKS: status %d", resp.StatusCode)
	}

	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatalf("decode JWKS: %v", err)
	}

	keys := make(map[string]*rsa.PublicKey)
	for _, k := range set.Keys {
		if k.Kty != "RSA" {
			continue
		}
		n, errN := base64.RawURLEncoding.DecodeString(k.N)
		e, errE := base64.RawURLEncoding.DecodeString(k.E)
		if errN != nil || errE != nil {
			t.Fatalf("decode JWKS key %q: invalid base64url", k.Kid)
		}
		keys[k.Kid] = &rsa.PublicKey{
			N: new(big.Int).SetBytes(n),
			E: int(new(big.Int).SetBytes(e).Int64()),
		}
	}
	if len(keys) == 0 {
		t.Fatal("JWKS has no RSA key")
	}
	return keys
}

// writeLoopbackCert writes a self-signed certificate for 127.0.0.1 and its
// key into a temporary directory.
func writeLoopbackCert(t testing.TB) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "edgetoken test authority"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("encode key: %v", err)
	}

	dir := t.TempDir()
	certFile = filepath.Join(dir, "cert.pem")
	keyFile = filepath.Join(dir, "key.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}

	pool = x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return certFile, keyFile, pool
}
