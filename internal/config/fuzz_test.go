package config

import (
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary values to the variables and checks that Load
// never panics, returns settings or an error but not both, and never puts a
// secret into an error.
func FuzzLoad(f *testing.F) {
	f.Add(testResourceID, testAppID, "*", "", "", "", "", "False", "9m", "x")
	f.Add("/subscriptions/a#b", "api://x", "https://a.example/,x", "cognitiveservices.azure.com/.default",
		"contoso.onmicrosoft.com", "http://127.0.0.1:1", "http://localhost/msi", "True", "1ms", "line\nbreak")
	f.Add("", "", "", "/.default", "../x", "ftp://x", "http://169.254.1.1", "yes", "-1s", "")
	f.Add("/subscriptions/x y", "https://a/b?c", "null", "api:///.default", "common", "http://[::1]:99999", "https://", "1", "1h", "\r\n")
	f.Fuzz(func(t *testing.T, resource, appID, origins, scope, tenant, authority, identity, local, interval, secret string) {
		const marker = "zq9secret:"
		for _, v := range []string{resource, appID, origins, scope, tenant, authority, identity, local, interval} {
			if strings.Contains(v, marker) {
				t.Skip("another value contains the secret marker")
			}
		}
		secretValue := marker + secret
		values := map[string]string{
			EnvSpeechResourceID:          resource,
			EnvAPIAppID:                  appID,
			EnvAllowedOrigins:            origins,
			EnvAPIScope:                  scope,
			EnvTenantID:                  tenant,
			EnvClientID:                  testAppID,
			EnvAuthorityHost:             authority,
			EnvIdentityEndpoint:          identity,
			EnvLocalMode:                 local,
			EnvSpeechRefreshInterval:     interval,
			EnvClientSecret:              secretValue,
			EnvIdentityHeader:            secretValue,
			EnvClientCertificatePassword: secretValue,
		}
		s, err := Load(func(name string) (string, bool) {
			v, ok := values[name]
			return v, ok
		})
		if (s == nil) == (err == nil) {
			t.Fatalf("Load returned settings %v and error %v", s, err)
		}
		if err != nil {
			if strings.Contains(err.Error(), marker) {
				t.Fatalf("error contains a secret: %q", err)
			}
			return
		}
		if strings.Contains(s.String(), marker) {
			t.Fatalf("String contains a secret: %s", s)
		}
		if strings.ContainsAny(s.SpeechResourceID, "# \t\n") || !strings.HasPrefix(s.SpeechResourceID, "/subscriptions/") {
			t.Fatalf("accepted resource ID %q", s.SpeechResourceID)
		}
		if s.APIScope != "" && !strings.HasSuffix(s.APIScope, "/.default") {
			t.Fatalf("accepted API scope %q", s.APIScope)
		}
		if s.TenantID != "" && strings.ContainsAny(s.TenantID, "/?#%\\") {
			t.Fatalf("accepted tenant ID %q", s.TenantID)
		}
		if !strings.HasPrefix(s.AuthorityHost, "https://") && !strings.HasPrefix(s.AuthorityHost, "http://") {
			t.Fatalf("accepted authority host %q", s.AuthorityHost)
		}
	})
}
