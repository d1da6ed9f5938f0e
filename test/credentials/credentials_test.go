package credentials

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/edgetoken/edgetoken/internal/authority"
	"github.com/edgetoken/edgetoken/internal/entra"
	"github.com/edgetoken/edgetoken/internal/entra/certfile"
	"github.com/edgetoken/edgetoken/internal/testenv"
)

// registeredCertificate returns the certificate of testdata/client.pem,
// which the fakes register so that they verify the assertion's signature.
func registeredCertificate(t *testing.T) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(fixture(t, "client.pem"))
	if err != nil {
		t.Fatal(err)
	}
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			t.Fatal("client.pem has no CERTIFICATE block")
		}
		if b.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
}

// federatedToken makes a JWT shaped like a Kubernetes service account
// token; the fake accepts any well-formed token from an issuer other than
// the client. n makes each token different.
func federatedToken(t *testing.T, n int) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": "https://oidc.kubernetes.test/issuer",
		"sub": "system:serviceaccount:default:edgetoken",
		"aud": "api://AzureADTokenExchange",
		"exp": time.Now().Add(time.Hour).Unix(),
		"n":   n,
	})
	s, err := tok.SignedString([]byte("kubernetes-test-key-" + strconv.Itoa(n)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	// Write and rename, as the kubelet swaps the projected file, so the
	// host never reads half a token.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestClientSecret(t *testing.T) {
	skipShort(t)
	t.Parallel()
	o := testenv.StartOIDC(t, testenv.OIDCOptions{})

	h := testenv.StartHost(t, with(baseEnv(),
		"AZURE_TENANT_ID", o.Tenant, "AZURE_CLIENT_ID", o.ClientID,
		"AZURE_CLIENT_SECRET", o.ClientSecret, "AZURE_AUTHORITY_HOST", o.URL))
	hostToken := getSpeechToken(t, h)
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(hostToken, claims); err != nil {
		t.Fatalf("host token is not a JWT: %v", err)
	}
	if iss, _ := claims.GetIssuer(); iss != o.Issuer {
		t.Errorf("host token iss = %q, want %q", iss, o.Issuer)
	}

	cred, goToken := fetchInGo(t, entra.Options{
		TenantID: o.Tenant, ClientID: o.ClientID, ClientSecret: o.ClientSecret, AuthorityHost: o.URL,
	}, o.Client)
	if cred.Name() != "client secret" {
		t.Errorf("entra.New chose %q, want client secret", cred.Name())
	}
	checkLog(t, h.Log(), "client secret", o.ClientID, o.ClientSecret, hostToken, goToken)
}

func TestClientCertificate(t *testing.T) {
	skipShort(t)
	t.Parallel()
	cases := []struct {
		name     string
		file     string
		password string
	}{
		{"pem", "client.pem", ""},
		{"pkcs12", "client.p12", p12Password},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := startFake(t, "", authority.Options{
				ClientID: clientID, ClientCertificates: []*x509.Certificate{registeredCertificate(t)},
			})
			path := fixture(t, tc.file)
			h := testenv.StartHost(t, with(baseEnv(),
				"AZURE_TENANT_ID", tenantID, "AZURE_CLIENT_ID", clientID, "AZURE_AUTHORITY_HOST", f.srv.URL,
				"AZURE_CLIENT_CERTIFICATE_PATH", path, "AZURE_CLIENT_CERTIFICATE_PASSWORD", tc.password))
			hostToken := getSpeechToken(t, h)

			// Every request the host sent carried an assertion that the fake
			// verified with the certificate's public key. A failed check
			// returns 401, and /speech would then have no token.
			reqs := f.tokenRequests()
			if len(reqs) == 0 {
				t.Fatal("the fake received no token request")
			}
			for i, r := range reqs {
				if got := credentialOf(r); got != "client certificate" {
					t.Errorf("request %d came from %q, want client certificate", i, got)
				}
				if r.Form.Has("client_secret") {
					t.Errorf("request %d carries client_secret", i)
				}
			}

			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			pemText, err := certfile.ToPEM(data, tc.password)
			if err != nil {
				t.Fatalf("certfile.ToPEM: %v", err)
			}
			before := len(f.tokenRequests())
			cred, goToken := fetchInGo(t, entra.Options{
				TenantID: tenantID, ClientID: clientID, ClientCertificate: pemText, AuthorityHost: f.srv.URL,
			}, f.srv.Client())
			if cred.Name() != "client certificate" {
				t.Errorf("entra.New chose %q, want client certificate", cred.Name())
			}
			if got := len(f.tokenRequests()) - before; got != 1 {
				t.Errorf("plain Go sent %d token requests, want 1", got)
			}
			var assertions []string
			for _, r := range f.tokenRequests() {
				assertions = append(assertions, r.Form.Get("client_assertion"))
			}
			checkLog(t, h.Log(), "client certificate", clientID,
				append(assertions, tc.password, hostToken, goToken)...)
		})
	}
}

// TestClientCertificateUnregistered checks that the fake's verification
// can fail: a client whose certificate the fake does not know gets no token.
func TestClientCertificateUnregistered(t *testing.T) {
	skipShort(t)
	t.Parallel()
	other := &x509.Certificate{Raw: []byte("not the client's certificate")}
	f := startFake(t, "", authority.Options{ClientID: clientID, ClientCertificates: []*x509.Certificate{other}})
	data, _ := os.ReadFile(fixture(t, "client.pem"))
	cred, err := entra.New(entra.Options{
		TenantID: tenantID, ClientID: clientID, ClientCertificate: data, AuthorityHost: f.srv.URL,
	}, f.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	_, err = cred.FetchToken(t.Context(), speechScope)
	var ae *entra.AuthError
	if !errors.As(err, &ae) || ae.StatusCode != 401 || len(ae.AADSTSCodes) != 1 || ae.AADSTSCodes[0] != 700027 {
		t.Errorf("FetchToken error = %v, want 401 AADSTS700027", err)
	}
}

func TestWorkloadIdentityFileRotation(t *testing.T) {
	skipShort(t)
	t.Parallel()
	f := startFake(t, "", authority.Options{ClientID: clientID})
	tokenFile := filepath.Join(t.TempDir(), "azure-identity-token")
	first, second := federatedToken(t, 1), federatedToken(t, 2)
	writeFile(t, tokenFile, first+"\n")

	// The host's timer refreshes the Speech token every second, so the
	// file is read again soon after it changes.
	h := testenv.StartHost(t, with(baseEnv(),
		"AZURE_TENANT_ID", tenantID, "AZURE_CLIENT_ID", clientID, "AZURE_AUTHORITY_HOST", f.srv.URL,
		"AZURE_FEDERATED_TOKEN_FILE", tokenFile, "SPEECH_TOKEN_REFRESH_INTERVAL", "1s"))
	hostToken := getSpeechToken(t, h)
	reqs := f.waitRequests(t, 1, 10*time.Second)
	if got := reqs[0].Form.Get("client_assertion"); got != first {
		t.Fatalf("first request's assertion is not the file's first token (%d characters)", len(got))
	}
	if got := reqs[0].Form.Get("client_assertion_type"); got != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		t.Errorf("client_assertion_type = %q", got)
	}

	writeFile(t, tokenFile, second)
	rotatedAt := len(f.tokenRequests())
	deadline := time.Now().Add(10 * time.Second)
	for {
		reqs = f.tokenRequests()
		if n := len(reqs); n > rotatedAt+1 && reqs[n-1].Form.Get("client_assertion") == second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no token request carried the rotated token within 10s (%d requests)", len(reqs))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A request already reading the file when it changed may carry the old
	// token; every request after the first one with the new token must not.
	seenSecond := false
	for i, r := range reqs {
		a := r.Form.Get("client_assertion")
		if a == second {
			seenSecond = true
		} else if seenSecond {
			t.Errorf("request %d went back to an old assertion after the rotation", i)
		}
		if a != first && a != second {
			t.Errorf("request %d carries an assertion that was never in the file", i)
		}
	}

	cred, goToken := fetchInGo(t, entra.Options{
		TenantID: tenantID, ClientID: clientID, AuthorityHost: f.srv.URL,
		FederatedToken: entra.FederatedTokenFile(tokenFile),
	}, f.srv.Client())
	if cred.Name() != "workload identity" {
		t.Errorf("entra.New chose %q, want workload identity", cred.Name())
	}
	last := f.tokenRequests()
	if got := last[len(last)-1].Form.Get("client_assertion"); got != second {
		t.Error("plain Go did not send the file's current token")
	}
	checkLog(t, h.Log(), "workload identity", clientID, first, second, hostToken, goToken)
}

func TestAppServiceManagedIdentity(t *testing.T) {
	skipShort(t)
	t.Parallel()
	cases := []struct {
		name         string
		clientID     string // AZURE_CLIENT_ID; empty for system-assigned
		wantLogged   string
		wantClientID string // the client_id query parameter
	}{
		{"user_assigned", userAssignedID, userAssignedID, userAssignedID},
		{"system_assigned", "", "(system-assigned)", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := startFake(t, "", authority.Options{IdentityHeader: identityHeader})
			endpoint := f.srv.URL + "/msi/token"
			h := testenv.StartHost(t, with(baseEnv(), "IDENTITY_ENDPOINT", endpoint,
				"IDENTITY_HEADER", identityHeader, "AZURE_CLIENT_ID", tc.clientID))
			hostToken := getSpeechToken(t, h)

			reqs := f.tokenRequests()
			if len(reqs) == 0 {
				t.Fatal("the fake received no token request")
			}
			for i, r := range reqs {
				checkManagedRequest(t, i, r, "/msi/token", "2019-08-01", tc.wantClientID)
				if got := r.Header.Get("X-IDENTITY-HEADER"); got != identityHeader {
					t.Errorf("request %d: X-IDENTITY-HEADER is not IDENTITY_HEADER's value (%d characters)", i, len(got))
				}
			}

			cred, goToken := fetchInGo(t, entra.Options{
				ClientID: tc.clientID, IdentityEndpoint: endpoint, IdentityHeader: identityHeader,
			}, f.srv.Client())
			if cred.Name() != "managed identity" {
				t.Errorf("entra.New chose %q, want managed identity", cred.Name())
			}
			last := f.tokenRequests()
			checkManagedRequest(t, len(last)-1, last[len(last)-1], "/msi/token", "2019-08-01", tc.wantClientID)
			checkLog(t, h.Log(), "managed identity", tc.wantLogged, identityHeader, hostToken, goToken)
		})
	}
}

func checkManagedRequest(t *testing.T, i int, r authority.Request, path, apiVersion, clientID string) {
	t.Helper()
	if r.Method != "GET" || r.Path != path {
		t.Errorf("request %d: %s %s, want GET %s", i, r.Method, r.Path, path)
	}
	if got := r.Query.Get("resource"); got != speechResource {
		t.Errorf("request %d: resource = %q, want %q", i, got, speechResource)
	}
	if got := r.Query.Get("api-version"); got != apiVersion {
		t.Errorf("request %d: api-version = %q, want %q", i, got, apiVersion)
	}
	if got, ok := r.Query["client_id"]; clientID == "" && ok {
		t.Errorf("request %d: client_id = %q, want none for the system-assigned identity", i, got)
	}
	if got := r.Query.Get("client_id"); got != clientID {
		t.Errorf("request %d: client_id = %q, want %q", i, got, clientID)
	}
}

func TestIMDSWhenSelected(t *testing.T) {
	skipShort(t)
	t.Parallel()
	f := startFake(t, "", authority.Options{})
	endpoint := f.srv.URL + "/metadata/identity/oauth2/token"
	h := testenv.StartHost(t, with(baseEnv(), "AZURE_TOKEN_CREDENTIALS", "ManagedIdentityCredential",
		"IMDS_ENDPOINT", endpoint, "AZURE_CLIENT_ID", userAssignedID))
	hostToken := getSpeechToken(t, h)

	reqs := f.tokenRequests()
	if len(reqs) == 0 {
		t.Fatal("the fake received no token request")
	}
	for i, r := range reqs {
		checkManagedRequest(t, i, r, "/metadata/identity/oauth2/token", "2018-02-01", userAssignedID)
		if got := r.Header.Get("Metadata"); got != "true" {
			t.Errorf("request %d: Metadata header = %q, want true", i, got)
		}
	}

	cred, goToken := fetchInGo(t, entra.Options{
		Selection: "ManagedIdentityCredential", ClientID: userAssignedID, IMDSEndpoint: endpoint,
	}, f.srv.Client())
	if cred.Name() != "managed identity (IMDS)" {
		t.Errorf("entra.New chose %q, want managed identity (IMDS)", cred.Name())
	}
	checkLog(t, h.Log(), "managed identity (IMDS)", userAssignedID, hostToken, goToken)
	if !strings.Contains(h.Log(), "endpoint="+endpoint) {
		t.Errorf("host log does not name the IMDS endpoint %s", endpoint)
	}
}

// TestSovereignAuthorityHost points AZURE_AUTHORITY_HOST at another
// loopback address, as a sovereign cloud has its own login host, and
// checks that the token requests go there and nowhere else.
func TestSovereignAuthorityHost(t *testing.T) {
	skipShort(t)
	t.Parallel()
	global := startFake(t, "127.0.0.1:0", authority.Options{ClientID: clientID, ClientSecret: clientSecret})
	sovereign := startFake(t, "127.0.0.2:0", authority.Options{ClientID: clientID, ClientSecret: clientSecret})

	h := testenv.StartHost(t, with(baseEnv(), "AZURE_TENANT_ID", tenantID, "AZURE_CLIENT_ID", clientID,
		"AZURE_CLIENT_SECRET", clientSecret, "AZURE_AUTHORITY_HOST", sovereign.srv.URL))
	hostToken := getSpeechToken(t, h)
	cred, goToken := fetchInGo(t, entra.Options{
		TenantID: tenantID, ClientID: clientID, ClientSecret: clientSecret, AuthorityHost: sovereign.srv.URL,
	}, sovereign.srv.Client())
	if cred.Name() != "client secret" {
		t.Errorf("entra.New chose %q, want client secret", cred.Name())
	}

	reqs := sovereign.tokenRequests()
	if len(reqs) < 2 {
		t.Fatalf("the sovereign authority received %d token requests, want at least 2", len(reqs))
	}
	for i, r := range reqs {
		if want := "/" + tenantID + "/oauth2/v2.0/token"; r.Path != want {
			t.Errorf("request %d: path %s, want %s", i, r.Path, want)
		}
	}
	if n := len(global.Received()); n != 0 {
		t.Errorf("the other authority received %d requests, want 0", n)
	}
	if !strings.Contains(h.Log(), "authority_host="+sovereign.srv.URL) {
		t.Errorf("host log does not name the authority host %s", sovereign.srv.URL)
	}
	checkLog(t, h.Log(), "client secret", clientID, clientSecret, hostToken, goToken)
}

func TestTenantRejectedAtStart(t *testing.T) {
	skipShort(t)
	t.Parallel()
	f := startFake(t, "", authority.Options{})
	cases := []struct {
		tenant string
		// goRejects is true when entra.New rejects the tenant too. entra
		// accepts a single DNS label, as Entra names such as "organizations"
		// are; the service's settings accept a GUID or a domain name only.
		goRejects bool
	}{
		{"../evil", true},
		{"a/b.example.com", true},
		{"contoso", false},
	}
	for _, tc := range cases {
		tenant := tc.tenant
		t.Run(url.PathEscape(tenant), func(t *testing.T) {
			_, err := testenv.TryStartHost(t, with(baseEnv(), "AZURE_TENANT_ID", tenant,
				"AZURE_CLIENT_ID", clientID, "AZURE_CLIENT_SECRET", clientSecret,
				"AZURE_AUTHORITY_HOST", f.srv.URL))
			var startErr *testenv.StartError
			if !errors.As(err, &startErr) {
				t.Fatalf("start: got %v, want the host to exit", err)
			}
			if startErr.ExitCode != 2 {
				t.Errorf("exit status = %d, want 2", startErr.ExitCode)
			}
			if !strings.Contains(startErr.Output, "AZURE_TENANT_ID") {
				t.Errorf("output does not name AZURE_TENANT_ID:\n%s", startErr.Output)
			}
			if strings.Contains(startErr.Output, clientSecret) {
				t.Error("output contains the client secret")
			}

			if !tc.goRejects {
				return
			}
			_, err = entra.New(entra.Options{
				TenantID: tenant, ClientID: clientID, ClientSecret: clientSecret, AuthorityHost: f.srv.URL,
			}, nil)
			if err == nil || !strings.Contains(err.Error(), "invalid tenant ID") {
				t.Errorf("entra.New error = %v, want invalid tenant ID", err)
			}
		})
	}
	if n := len(f.Received()); n != 0 {
		t.Errorf("the authority received %d requests, want 0", n)
	}
}

// TestCredentialChain sets several credentials at once and checks that
// the first of secret, certificate, workload identity and managed identity
// wins, and that AZURE_TOKEN_CREDENTIALS overrides the order. Each case has
// its own fake, so every request it received comes from that case.
func TestCredentialChain(t *testing.T) {
	skipShort(t)
	t.Parallel()
	certPath := fixture(t, "client.pem")
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	federated := federatedToken(t, 7)

	cases := []struct {
		name      string
		unset     []string // credential variables removed from the full set
		selection string   // AZURE_TOKEN_CREDENTIALS
		want      string
	}{
		{"all_set_secret_wins", nil, "", "client secret"},
		{"certificate_before_workload", []string{"AZURE_CLIENT_SECRET"}, "", "client certificate"},
		{"workload_before_managed", []string{"AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH"}, "",
			"workload identity"},
		{"managed_last", []string{"AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE"},
			"", "managed identity"},
		{"explicit_managed", nil, "ManagedIdentityCredential", "managed identity"},
		{"explicit_workload", nil, "WorkloadIdentityCredential", "workload identity"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := startFake(t, "", authority.Options{
				ClientID: clientID, ClientSecret: clientSecret, IdentityHeader: identityHeader,
				ClientCertificates: []*x509.Certificate{registeredCertificate(t)},
			})
			tokenFile := filepath.Join(t.TempDir(), "azure-identity-token")
			writeFile(t, tokenFile, federated)

			env := with(baseEnv(),
				"AZURE_TENANT_ID", tenantID, "AZURE_CLIENT_ID", clientID, "AZURE_AUTHORITY_HOST", f.srv.URL,
				"AZURE_CLIENT_SECRET", clientSecret,
				"AZURE_CLIENT_CERTIFICATE_PATH", certPath,
				"AZURE_FEDERATED_TOKEN_FILE", tokenFile,
				"IDENTITY_ENDPOINT", f.srv.URL+"/msi/token", "IDENTITY_HEADER", identityHeader,
				"AZURE_TOKEN_CREDENTIALS", tc.selection)
			opts := entra.Options{
				Selection: tc.selection, TenantID: tenantID, ClientID: clientID, AuthorityHost: f.srv.URL,
				ClientSecret: clientSecret, ClientCertificate: certPEM,
				FederatedToken:   entra.FederatedTokenFile(tokenFile),
				IdentityEndpoint: f.srv.URL + "/msi/token", IdentityHeader: identityHeader,
			}
			for _, name := range tc.unset {
				delete(env, name)
				switch name {
				case "AZURE_CLIENT_SECRET":
					opts.ClientSecret = ""
				case "AZURE_CLIENT_CERTIFICATE_PATH":
					opts.ClientCertificate = nil
				case "AZURE_FEDERATED_TOKEN_FILE":
					opts.FederatedToken = nil
				}
			}

			h := testenv.StartHost(t, env)
			hostToken := getSpeechToken(t, h)
			fromHost := len(f.tokenRequests())
			cred, goToken := fetchInGo(t, opts, f.srv.Client())
			if cred.Name() != tc.want {
				t.Errorf("entra.New chose %q, want %q", cred.Name(), tc.want)
			}

			reqs := f.tokenRequests()
			if fromHost == 0 || len(reqs) != fromHost+1 {
				t.Errorf("token requests: %d from the host and %d in all, want at least 1 and one more from Go",
					fromHost, len(reqs))
			}
			for i, r := range reqs {
				if got := credentialOf(r); got != tc.want {
					t.Errorf("request %d came from %q, want %q", i, got, tc.want)
				}
			}
			checkLog(t, h.Log(), tc.want, clientID, clientSecret, identityHeader, federated, hostToken, goToken)
		})
	}
}

// TestLocalAuthorityHTTPS starts the host without credentials, so it serves
// tokens from its local authority over https, and checks the loud warning,
// the certificate file it names, and that the guest's requests trust it.
func TestLocalAuthorityHTTPS(t *testing.T) {
	skipShort(t)
	t.Parallel()
	h := testenv.StartHost(t, baseEnv(), "-local-authority")
	getSpeechToken(t, h)

	log := h.Log()
	if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "NOT real") {
		t.Errorf("host log has no warning that the tokens are not real:\n%s", log)
	}
	m := regexp.MustCompile(`authority=(https://127\.0\.0\.1:\d+) cert_file=(\S+)`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("host log does not name an https authority and its cert_file:\n%s", log)
	}
	certFile := m[2]
	data, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatalf("read cert_file: %v", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("cert_file %s holds no PEM certificate", certFile)
	}
	checkLog(t, log, "client secret", "00000000-0000-4000-8000-0000000010ca")

	if code := h.Stop(); code != 0 {
		t.Errorf("exit status = %d, want 0", code)
	}
	if _, err := os.Stat(certFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cert_file after stop: stat error = %v, want not exist", err)
	}
}
