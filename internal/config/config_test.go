package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	testResourceID = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/speech1"
	testAppID      = "11111111-2222-3333-4444-555555555555"
	testSecret     = "s3cr3t~VALUE.never-printed"
)

// env returns a lookup over the minimal valid settings with the given
// changes; a value of "-" removes the variable.
func env(changes map[string]string) func(string) (string, bool) {
	m := map[string]string{
		EnvSpeechResourceID: testResourceID,
		EnvAPIAppID:         testAppID,
	}
	for k, v := range changes {
		if v == "-" {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

func TestLoadDefaults(t *testing.T) {
	s, err := Load(env(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &Settings{
		SpeechResourceID:      testResourceID,
		APIAppID:              testAppID,
		AllowAllOrigins:       true,
		APIScope:              testAppID + "/.default",
		SpeechScope:           "https://cognitiveservices.azure.com/.default",
		AuthorityHost:         "https://login.microsoftonline.com",
		IMDSEndpoint:          "http://169.254.169.254/metadata/identity/oauth2/token",
		SpeechRefreshInterval: 9 * time.Minute,
		MinLifetime:           5 * time.Minute,
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("got %+v\nwant %+v", *s, *want)
	}
	if !s.APIConfigured() {
		t.Error("APIConfigured() = false, want true")
	}
	if !s.OriginAllowed("https://any.example") {
		t.Error("OriginAllowed with * = false, want true")
	}
}

func TestLoadNilLookup(t *testing.T) {
	_, err := Load(nil)
	if err == nil || !strings.Contains(err.Error(), "SPEECH_RESOURCE_ID is required") {
		t.Fatalf("got %v, want SPEECH_RESOURCE_ID is required", err)
	}
}

func TestLoadValid(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(*Settings) any
		want  any
	}{
		{"local_mode_True", map[string]string{EnvLocalMode: "True"}, func(s *Settings) any { return s.LocalMode }, true},
		{"local_mode_true", map[string]string{EnvLocalMode: "true"}, func(s *Settings) any { return s.LocalMode }, true},
		{"local_mode_1", map[string]string{EnvLocalMode: "1"}, func(s *Settings) any { return s.LocalMode }, true},
		{"local_mode_False", map[string]string{EnvLocalMode: "False"}, func(s *Settings) any { return s.LocalMode }, false},
		{"local_mode_false", map[string]string{EnvLocalMode: "false"}, func(s *Settings) any { return s.LocalMode }, false},
		{"local_mode_0", map[string]string{EnvLocalMode: "0"}, func(s *Settings) any { return s.LocalMode }, false},
		{"local_mode_empty", map[string]string{EnvLocalMode: ""}, func(s *Settings) any { return s.LocalMode }, false},
		{"local_mode_without_app_id", map[string]string{EnvLocalMode: "True", EnvAPIAppID: "-"},
			func(s *Settings) any { return [2]any{s.APIScope, s.APIConfigured()} }, [2]any{"", false}},
		{"local_mode_api_scope_only", map[string]string{EnvLocalMode: "True", EnvAPIAppID: "-", EnvAPIScope: "api://backend/.default"},
			func(s *Settings) any { return s.APIScope }, "api://backend/.default"},
		{"speech_endpoint_https", map[string]string{EnvSpeechEndpoint: "https://mine.cognitiveservices.azure.com/"},
			func(s *Settings) any { return s.SpeechEndpoint }, "https://mine.cognitiveservices.azure.com/"},
		{"speech_endpoint_http_loopback", map[string]string{EnvSpeechEndpoint: "http://127.0.0.1:8080"},
			func(s *Settings) any { return s.SpeechEndpoint }, "http://127.0.0.1:8080"},
		{"speech_endpoint_http_localhost", map[string]string{EnvSpeechEndpoint: "http://LocalHost:9/x"},
			func(s *Settings) any { return s.SpeechEndpoint }, "http://LocalHost:9/x"},
		{"speech_endpoint_http_ipv6_loopback", map[string]string{EnvSpeechEndpoint: "http://[::1]:80/"},
			func(s *Settings) any { return s.SpeechEndpoint }, "http://[::1]:80/"},
		{"app_id_api_uri", map[string]string{EnvAPIAppID: "api://" + testAppID},
			func(s *Settings) any { return s.APIScope }, "api://" + testAppID + "/.default"},
		{"app_id_https_uri", map[string]string{EnvAPIAppID: "https://contoso.com/backend"},
			func(s *Settings) any { return s.APIScope }, "https://contoso.com/backend/.default"},
		{"app_id_upper_guid", map[string]string{EnvAPIAppID: "ABCDEF01-2222-3333-4444-555555555555"},
			func(s *Settings) any { return s.APIAppID }, "ABCDEF01-2222-3333-4444-555555555555"},
		{"api_scope_explicit", map[string]string{EnvAPIScope: "api://other/.default"},
			func(s *Settings) any { return s.APIScope }, "api://other/.default"},
		{"api_scope_guid", map[string]string{EnvAPIScope: testAppID + "/.default"},
			func(s *Settings) any { return s.APIScope }, testAppID + "/.default"},
		{"speech_scope_without_scheme", map[string]string{EnvSpeechServiceScope: "cognitiveservices.azure.com/.default"},
			func(s *Settings) any { return s.SpeechScope }, "https://cognitiveservices.azure.com/.default"},
		{"speech_scope_explicit", map[string]string{EnvSpeechServiceScope: "https://cognitiveservices.azure.us/.default"},
			func(s *Settings) any { return s.SpeechScope }, "https://cognitiveservices.azure.us/.default"},
		{"origins_list", map[string]string{EnvAllowedOrigins: "https://a.example, http://localhost:3000,,HTTPS://B.Example:443"},
			func(s *Settings) any { return [2]any{s.AllowAllOrigins, s.AllowedOrigins} },
			[2]any{false, []string{"https://a.example", "http://localhost:3000", "https://b.example"}}},
		{"origins_star_in_list", map[string]string{EnvAllowedOrigins: "https://a.example,*"},
			func(s *Settings) any { return [2]any{s.AllowAllOrigins, s.AllowedOrigins} }, [2]any{true, []string(nil)}},
		{"origins_default_port_http", map[string]string{EnvAllowedOrigins: "http://a.example:80"},
			func(s *Settings) any { return s.AllowedOrigins }, []string{"http://a.example"}},
		{"origins_ipv6", map[string]string{EnvAllowedOrigins: "http://[::1]:8080"},
			func(s *Settings) any { return s.AllowedOrigins }, []string{"http://[::1]:8080"}},
		{"client_and_tenant", map[string]string{EnvClientID: testAppID, EnvTenantID: "contoso.onmicrosoft.com", EnvClientSecret: testSecret},
			func(s *Settings) any { return [3]string{s.ClientID, s.TenantID, s.ClientSecret} },
			[3]string{testAppID, "contoso.onmicrosoft.com", testSecret}},
		{"tenant_guid", map[string]string{EnvTenantID: testAppID},
			func(s *Settings) any { return s.TenantID }, testAppID},
		{"authority_trailing_slash", map[string]string{EnvAuthorityHost: "https://login.microsoftonline.us/"},
			func(s *Settings) any { return s.AuthorityHost }, "https://login.microsoftonline.us"},
		{"authority_http_loopback", map[string]string{EnvAuthorityHost: "http://127.0.0.2:5000"},
			func(s *Settings) any { return s.AuthorityHost }, "http://127.0.0.2:5000"},
		{"authority_http_mapped_loopback", map[string]string{EnvAuthorityHost: "http://[::ffff:127.0.0.1]:5000"},
			func(s *Settings) any { return s.AuthorityHost }, "http://[::ffff:127.0.0.1]:5000"},
		{"certificate", map[string]string{EnvClientID: testAppID, EnvTenantID: testAppID,
			EnvClientCertificatePath: "/certs/app.pem", EnvClientCertificatePassword: testSecret},
			func(s *Settings) any { return [2]string{s.ClientCertificatePath, s.ClientCertificatePassword} },
			[2]string{"/certs/app.pem", testSecret}},
		{"workload_identity", map[string]string{EnvClientID: testAppID, EnvTenantID: testAppID,
			EnvFederatedTokenFile: "/var/run/token", EnvTokenCredentials: "workloadidentitycredential"},
			func(s *Settings) any { return [2]any{s.FederatedTokenFile, s.Credential} },
			[2]any{"/var/run/token", CredentialWorkloadIdentity}},
		{"identity_endpoint_loopback", map[string]string{EnvIdentityEndpoint: "http://localhost:41741/msi/token", EnvIdentityHeader: testSecret},
			func(s *Settings) any { return [2]string{s.IdentityEndpoint, s.IdentityHeader} },
			[2]string{"http://localhost:41741/msi/token", testSecret}},
		{"identity_endpoint_link_local", map[string]string{EnvIdentityEndpoint: "http://169.254.129.2:8081/msi/token", EnvIdentityHeader: testSecret},
			func(s *Settings) any { return s.IdentityEndpoint }, "http://169.254.129.2:8081/msi/token"},
		{"imds_default", map[string]string{},
			func(s *Settings) any { return s.IMDSEndpoint }, "http://169.254.169.254/metadata/identity/oauth2/token"},
		{"imds_loopback", map[string]string{EnvIMDSEndpoint: "http://127.0.0.1:40342/metadata/identity/oauth2/token"},
			func(s *Settings) any { return s.IMDSEndpoint }, "http://127.0.0.1:40342/metadata/identity/oauth2/token"},
		{"imds_https", map[string]string{EnvIMDSEndpoint: "https://imds.proxy.example/token"},
			func(s *Settings) any { return s.IMDSEndpoint }, "https://imds.proxy.example/token"},
		{"credentials_prod", map[string]string{EnvTokenCredentials: "prod"},
			func(s *Settings) any { return s.Credential }, CredentialAuto},
		{"credentials_dev", map[string]string{EnvTokenCredentials: "dev"},
			func(s *Settings) any { return s.Credential }, CredentialDeveloper},
		{"credentials_cli", map[string]string{EnvTokenCredentials: "azureclicredential"},
			func(s *Settings) any { return s.Credential }, CredentialAzureCLI},
		{"credentials_managed_identity", map[string]string{EnvTokenCredentials: "ManagedIdentityCredential"},
			func(s *Settings) any { return s.Credential }, CredentialManagedIdentity},
		{"credentials_environment", map[string]string{EnvTokenCredentials: "EnvironmentCredential",
			EnvClientID: testAppID, EnvTenantID: testAppID, EnvClientSecret: testSecret},
			func(s *Settings) any { return s.Credential }, CredentialEnvironment},
		{"refresh_interval", map[string]string{EnvSpeechRefreshInterval: "90s"},
			func(s *Settings) any { return s.SpeechRefreshInterval }, 90 * time.Second},
		{"refresh_interval_min", map[string]string{EnvSpeechRefreshInterval: "10s"},
			func(s *Settings) any { return s.SpeechRefreshInterval }, 10 * time.Second},
		{"min_lifetime_zero", map[string]string{EnvTokenMinLifetime: "0s"},
			func(s *Settings) any { return s.MinLifetime }, time.Duration(0)},
		{"min_lifetime_hour", map[string]string{EnvTokenMinLifetime: "1h"},
			func(s *Settings) any { return s.MinLifetime }, time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Load(env(tc.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := tc.check(s); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string // the whole error text
	}{
		{"local_mode_yes", map[string]string{EnvLocalMode: "yes"},
			`LOCAL_MODE "yes" is invalid: use True, true, 1, False, false or 0`},
		{"local_mode_TRUE", map[string]string{EnvLocalMode: "TRUE"},
			`LOCAL_MODE "TRUE" is invalid: use True, true, 1, False, false or 0`},
		{"resource_missing", map[string]string{EnvSpeechResourceID: "-"},
			`SPEECH_RESOURCE_ID is required: set it to the Speech resource's ID, /subscriptions/.../providers/Microsoft.CognitiveServices/accounts/<name>`},
		{"resource_prefix", map[string]string{EnvSpeechResourceID: "subscriptions/x"},
			`SPEECH_RESOURCE_ID "subscriptions/x" is invalid: it must start with /subscriptions/: set it to the Speech resource's ID, /subscriptions/.../providers/Microsoft.CognitiveServices/accounts/<name>`},
		{"resource_bare_prefix", map[string]string{EnvSpeechResourceID: "/subscriptions/"},
			`SPEECH_RESOURCE_ID "/subscriptions/" is invalid: it must start with /subscriptions/: set it to the Speech resource's ID, /subscriptions/.../providers/Microsoft.CognitiveServices/accounts/<name>`},
		{"resource_hash", map[string]string{EnvSpeechResourceID: "/subscriptions/a#b"},
			`SPEECH_RESOURCE_ID "/subscriptions/a#b" is invalid: it must not contain '#': set it to the Speech resource's ID, /subscriptions/.../providers/Microsoft.CognitiveServices/accounts/<name>`},
		{"resource_space", map[string]string{EnvSpeechResourceID: "/subscriptions/a b"},
			`SPEECH_RESOURCE_ID "/subscriptions/a b" is invalid: it must not contain whitespace or control characters: set it to the Speech resource's ID, /subscriptions/.../providers/Microsoft.CognitiveServices/accounts/<name>`},
		{"resource_newline", map[string]string{EnvSpeechResourceID: "/subscriptions/a\n"},
			`SPEECH_RESOURCE_ID "/subscriptions/a\n" is invalid: it must not contain whitespace or control characters: set it to the Speech resource's ID, /subscriptions/.../providers/Microsoft.CognitiveServices/accounts/<name>`},
		{"app_id_missing", map[string]string{EnvAPIAppID: "-"},
			`API_APP_ID is required: use the API's application (client) ID GUID, or its application ID URI (api://... or https://...), or set LOCAL_MODE=True`},
		{"app_id_missing_local_false", map[string]string{EnvAPIAppID: "", EnvLocalMode: "False"},
			`API_APP_ID is required: use the API's application (client) ID GUID, or its application ID URI (api://... or https://...), or set LOCAL_MODE=True`},
		{"app_id_http", map[string]string{EnvAPIAppID: "http://contoso.com"},
			`API_APP_ID "http://contoso.com" is invalid: use the API's application (client) ID GUID, or its application ID URI (api://... or https://...)`},
		{"app_id_word", map[string]string{EnvAPIAppID: "backend"},
			`API_APP_ID "backend" is invalid: use the API's application (client) ID GUID, or its application ID URI (api://... or https://...)`},
		{"app_id_short_guid", map[string]string{EnvAPIAppID: "1111111-2222-3333-4444-555555555555"},
			`API_APP_ID "1111111-2222-3333-4444-555555555555" is invalid: use the API's application (client) ID GUID, or its application ID URI (api://... or https://...)`},
		{"speech_endpoint_http_remote", map[string]string{EnvSpeechEndpoint: "http://mine.cognitiveservices.azure.com/"},
			`SPEECH_ENDPOINT "http://mine.cognitiveservices.azure.com/" is invalid: use an https URL, or http on a loopback address (127.0.0.0/8, ::1, localhost)`},
		{"speech_endpoint_relative", map[string]string{EnvSpeechEndpoint: "mine.cognitiveservices.azure.com"},
			`SPEECH_ENDPOINT "mine.cognitiveservices.azure.com" is invalid: use an https URL, or http on a loopback address (127.0.0.0/8, ::1, localhost)`},
		{"speech_endpoint_query", map[string]string{EnvSpeechEndpoint: "https://a.example/?x=1"},
			`SPEECH_ENDPOINT "https://a.example/?x=1" is invalid: use an https URL, or http on a loopback address (127.0.0.0/8, ::1, localhost)`},
		{"speech_endpoint_userinfo", map[string]string{EnvSpeechEndpoint: "https://u:p@a.example/"},
			`SPEECH_ENDPOINT "https://u:p@a.example/" is invalid: use an https URL, or http on a loopback address (127.0.0.0/8, ::1, localhost)`},
		{"origins_path", map[string]string{EnvAllowedOrigins: "https://a.example/app"},
			`ALLOWED_ORIGINS "https://a.example/app" is invalid: an origin is scheme://host[:port] with no path, such as https://app.contoso.com`},
		{"origins_trailing_slash", map[string]string{EnvAllowedOrigins: "https://a.example/"},
			`ALLOWED_ORIGINS "https://a.example/" is invalid: an origin is scheme://host[:port] with no path, such as https://app.contoso.com (remove the trailing slash)`},
		{"origins_no_scheme", map[string]string{EnvAllowedOrigins: "a.example"},
			`ALLOWED_ORIGINS "a.example" is invalid: an origin is scheme://host[:port] with no path, such as https://app.contoso.com`},
		{"origins_bad_port", map[string]string{EnvAllowedOrigins: "https://a.example:99999"},
			`ALLOWED_ORIGINS "https://a.example:99999" is invalid: an origin is scheme://host[:port] with no path, such as https://app.contoso.com`},
		{"origins_only_commas", map[string]string{EnvAllowedOrigins: " , ,"},
			`ALLOWED_ORIGINS " , ," is invalid: list at least one origin, or * for any origin`},
		{"api_scope_no_default_suffix", map[string]string{EnvAPIScope: "api://backend/access_as_user"},
			`API_SCOPE "api://backend/access_as_user" is invalid: use <resource>/.default, where <resource> is an application ID URI (https://... or api://...) or an application ID GUID`},
		{"api_scope_two_scopes", map[string]string{EnvAPIScope: "api://a/.default api://b/.default"},
			`API_SCOPE "api://a/.default api://b/.default" is invalid: use <resource>/.default, where <resource> is an application ID URI (https://... or api://...) or an application ID GUID`},
		{"speech_scope_bare_default", map[string]string{EnvSpeechServiceScope: "/.default"},
			`SPEECH_SERVICE_SCOPE "/.default" is invalid: use <resource>/.default, where <resource> is an application ID URI (https://... or api://...) or an application ID GUID`},
		{"client_id_not_guid", map[string]string{EnvClientID: "my-app"},
			`AZURE_CLIENT_ID "my-app" is invalid: use the client ID of the app registration or managed identity, a GUID such as 00000000-0000-0000-0000-000000000000`},
		{"tenant_path", map[string]string{EnvTenantID: "contoso.com/../x"},
			`AZURE_TENANT_ID "contoso.com/../x" is invalid: use the tenant ID GUID or a domain name such as contoso.onmicrosoft.com`},
		{"tenant_common", map[string]string{EnvTenantID: "common"},
			`AZURE_TENANT_ID "common" is invalid: use the tenant ID GUID or a domain name such as contoso.onmicrosoft.com`},
		{"tenant_query", map[string]string{EnvTenantID: "contoso.com?x"},
			`AZURE_TENANT_ID "contoso.com?x" is invalid: use the tenant ID GUID or a domain name such as contoso.onmicrosoft.com`},
		{"tenant_hyphen_label", map[string]string{EnvTenantID: "-contoso.com"},
			`AZURE_TENANT_ID "-contoso.com" is invalid: use the tenant ID GUID or a domain name such as contoso.onmicrosoft.com`},
		{"authority_http_remote", map[string]string{EnvAuthorityHost: "http://login.microsoftonline.com"},
			`AZURE_AUTHORITY_HOST "http://login.microsoftonline.com" is invalid: use an https URL, or http on a loopback address (127.0.0.0/8, ::1, localhost)`},
		{"authority_http_localhost_dot", map[string]string{EnvAuthorityHost: "http://localhost.:80"},
			`AZURE_AUTHORITY_HOST "http://localhost.:80" is invalid: use an https URL, or http on a loopback address (127.0.0.0/8, ::1, localhost)`},
		{"authority_http_short_ip", map[string]string{EnvAuthorityHost: "http://127.1"},
			`AZURE_AUTHORITY_HOST "http://127.1" is invalid: use an https URL, or http on a loopback address (127.0.0.0/8, ::1, localhost)`},
		{"authority_http_link_local", map[string]string{EnvAuthorityHost: "http://169.254.169.254"},
			`AZURE_AUTHORITY_HOST "http://169.254.169.254" is invalid: use an https URL, or http on a loopback address (127.0.0.0/8, ::1, localhost)`},
		{"authority_fragment", map[string]string{EnvAuthorityHost: "https://login.example#x"},
			`AZURE_AUTHORITY_HOST "https://login.example#x" is invalid: use an https URL, or http on a loopback address (127.0.0.0/8, ::1, localhost)`},
		{"authority_empty_port", map[string]string{EnvAuthorityHost: "https://login.example:"},
			`AZURE_AUTHORITY_HOST "https://login.example:" is invalid: use an https URL, or http on a loopback address (127.0.0.0/8, ::1, localhost)`},
		{"secret_without_ids", map[string]string{EnvClientSecret: testSecret},
			"AZURE_TENANT_ID is required: set it with AZURE_CLIENT_SECRET\nAZURE_CLIENT_ID is required: set it with AZURE_CLIENT_SECRET"},
		{"secret_newline", map[string]string{EnvClientSecret: testSecret + "\n", EnvClientID: testAppID, EnvTenantID: testAppID},
			"AZURE_CLIENT_SECRET is invalid: it contains a control character such as a line break; set it without one"},
		{"identity_header_control", map[string]string{EnvIdentityEndpoint: "http://localhost:1/msi", EnvIdentityHeader: testSecret + "\r\nX: y"},
			"IDENTITY_HEADER is invalid: it contains a control character such as a line break; set it without one"},
		{"certificate_password_control", map[string]string{EnvClientCertificatePath: "/c.pfx", EnvClientCertificatePassword: testSecret + "\x00",
			EnvClientID: testAppID, EnvTenantID: testAppID},
			"AZURE_CLIENT_CERTIFICATE_PASSWORD is invalid: it contains a control character such as a line break; set it without one"},
		{"certificate_without_ids", map[string]string{EnvClientCertificatePath: "/c.pem", EnvTenantID: testAppID},
			"AZURE_CLIENT_ID is required: set it with AZURE_CLIENT_CERTIFICATE_PATH"},
		{"certificate_password_without_path", map[string]string{EnvClientCertificatePassword: testSecret},
			"AZURE_CLIENT_CERTIFICATE_PATH is required: AZURE_CLIENT_CERTIFICATE_PASSWORD is set without a certificate"},
		{"certificate_path_control", map[string]string{EnvClientCertificatePath: "/c\x00.pem", EnvClientID: testAppID, EnvTenantID: testAppID},
			`AZURE_CLIENT_CERTIFICATE_PATH "/c\x00.pem" is invalid: a file path must not contain control characters`},
		{"federated_without_ids", map[string]string{EnvFederatedTokenFile: "/t", EnvClientID: testAppID},
			"AZURE_TENANT_ID is required: set it with AZURE_FEDERATED_TOKEN_FILE"},
		{"identity_endpoint_without_header", map[string]string{EnvIdentityEndpoint: "http://localhost:1/msi"},
			"IDENTITY_HEADER is required: the managed identity endpoint in IDENTITY_ENDPOINT needs it"},
		{"identity_header_without_endpoint", map[string]string{EnvIdentityHeader: testSecret},
			"IDENTITY_ENDPOINT is required: IDENTITY_HEADER is set without an endpoint"},
		{"identity_endpoint_http_remote", map[string]string{EnvIdentityEndpoint: "http://10.0.0.1/msi", EnvIdentityHeader: testSecret},
			`IDENTITY_ENDPOINT "http://10.0.0.1/msi" is invalid: use an https URL, or http on a loopback or link-local address`},
		{"imds_http_remote", map[string]string{EnvIMDSEndpoint: "http://10.0.0.1/metadata/identity/oauth2/token"},
			`IMDS_ENDPOINT "http://10.0.0.1/metadata/identity/oauth2/token" is invalid: use an https URL, or http on a loopback or link-local address, such as http://169.254.169.254/metadata/identity/oauth2/token`},
		{"imds_query", map[string]string{EnvIMDSEndpoint: "http://127.0.0.1:1/token?api-version=1"},
			`IMDS_ENDPOINT "http://127.0.0.1:1/token?api-version=1" is invalid: use an https URL, or http on a loopback or link-local address, such as http://169.254.169.254/metadata/identity/oauth2/token`},
		{"credentials_unknown", map[string]string{EnvTokenCredentials: "Prod"},
			`AZURE_TOKEN_CREDENTIALS "Prod" is invalid: use prod, dev, EnvironmentCredential, WorkloadIdentityCredential, ManagedIdentityCredential, AzureCLICredential, AzureDeveloperCLICredential or AzurePowerShellCredential`},
		{"credentials_environment_incomplete", map[string]string{EnvTokenCredentials: "EnvironmentCredential"},
			"AZURE_CLIENT_SECRET is required: EnvironmentCredential needs AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH"},
		{"credentials_workload_incomplete", map[string]string{EnvTokenCredentials: "WorkloadIdentityCredential"},
			"AZURE_FEDERATED_TOKEN_FILE is required: WorkloadIdentityCredential needs it"},
		{"refresh_interval_unitless", map[string]string{EnvSpeechRefreshInterval: "540"},
			`SPEECH_TOKEN_REFRESH_INTERVAL "540" is invalid: use a Go duration from 1s to 24h0m0s, such as 9m`},
		{"refresh_interval_too_short", map[string]string{EnvSpeechRefreshInterval: "1ms"},
			`SPEECH_TOKEN_REFRESH_INTERVAL "1ms" is invalid: use a Go duration from 1s to 24h0m0s, such as 9m`},
		{"refresh_interval_too_long", map[string]string{EnvSpeechRefreshInterval: "25h"},
			`SPEECH_TOKEN_REFRESH_INTERVAL "25h" is invalid: use a Go duration from 1s to 24h0m0s, such as 9m`},
		{"min_lifetime_negative", map[string]string{EnvTokenMinLifetime: "-1s"},
			`TOKEN_MIN_LIFETIME "-1s" is invalid: use a Go duration from 0s to 1h0m0s, such as 5m`},
		{"min_lifetime_too_long", map[string]string{EnvTokenMinLifetime: "61m"},
			`TOKEN_MIN_LIFETIME "61m" is invalid: use a Go duration from 0s to 1h0m0s, such as 5m`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Load(env(tc.env))
			if err == nil {
				t.Fatalf("Load succeeded with %+v, want error %q", s, tc.want)
			}
			if s != nil {
				t.Errorf("Load returned settings %+v with an error", s)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("got error\n%s\nwant\n%s", got, tc.want)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error contains the secret: %q", err)
			}
		})
	}
}

func TestLoadReportsAllProblems(t *testing.T) {
	_, err := Load(env(map[string]string{
		EnvSpeechResourceID: "-",
		EnvAPIAppID:         "-",
		EnvLocalMode:        "maybe",
		EnvTokenMinLifetime: "soon",
	}))
	if err == nil {
		t.Fatal("Load succeeded, want errors")
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		t.Fatalf("error %T does not unwrap to a list", err)
	}
	var names []string
	for _, e := range joined.Unwrap() {
		names = append(names, strings.Fields(e.Error())[0])
	}
	want := []string{EnvLocalMode, EnvSpeechResourceID, EnvAPIAppID, EnvTokenMinLifetime}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("got errors for %v, want %v", names, want)
	}
}

func TestOriginAllowedList(t *testing.T) {
	s, err := Load(env(map[string]string{EnvAllowedOrigins: "https://a.example,http://localhost:3000"}))
	if err != nil {
		t.Fatal(err)
	}
	for origin, want := range map[string]bool{
		"https://a.example":      true,
		"http://localhost:3000":  true,
		"https://a.example:443":  false,
		"https://A.example":      false,
		"http://a.example":       false,
		"https://a.example/":     false,
		"null":                   false,
		"":                       false,
		"http://localhost:3001":  false,
		"https://evil.a.example": false,
	} {
		if got := s.OriginAllowed(origin); got != want {
			t.Errorf("OriginAllowed(%q) = %v, want %v", origin, got, want)
		}
	}
}

func TestLogValueHidesSecrets(t *testing.T) {
	s, err := Load(env(map[string]string{
		EnvClientID: testAppID, EnvTenantID: testAppID, EnvClientSecret: testSecret + "1",
		EnvClientCertificatePath: "/c.pem", EnvClientCertificatePassword: testSecret + "2",
		EnvIdentityEndpoint: "http://localhost:1/msi", EnvIdentityHeader: testSecret + "3",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("start", "settings", s)
	out := buf.String()
	if strings.Contains(out, testSecret) {
		t.Errorf("log contains a secret: %s", out)
	}
	for _, want := range []string{
		"settings.azure_client_secret=(redacted)",
		"settings.azure_client_certificate_password=(redacted)",
		"settings.identity_header=(redacted)",
		"settings.speech_resource_id=" + testResourceID,
		"settings.azure_client_id=" + testAppID,
		"settings.allowed_origins=*",
		"settings.token_min_lifetime=5m0s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q: %s", want, out)
		}
	}
	if got := fmt.Sprint(s); strings.Contains(got, testSecret) || !strings.Contains(got, "(redacted)") {
		t.Errorf("fmt.Sprint = %s, want secrets redacted", got)
	}
}

func TestLogValueEmptySecretsStayEmpty(t *testing.T) {
	s, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("start", "settings", s)
	if strings.Contains(buf.String(), "redacted") {
		t.Errorf("unset secrets shown as redacted: %s", buf.String())
	}
}

func TestVariables(t *testing.T) {
	vars := Variables()
	if len(vars) != 22 {
		t.Errorf("got %d variables, want 22", len(vars))
	}
	seen := map[string]bool{}
	for _, v := range vars {
		if seen[v.Name] {
			t.Errorf("variable %s listed twice", v.Name)
		}
		seen[v.Name] = true
		if v.Description == "" {
			t.Errorf("variable %s has no description", v.Name)
		}
	}
	secrets := map[string]bool{EnvClientSecret: true, EnvClientCertificatePassword: true, EnvIdentityHeader: true,
		EnvClientCertificate: true, EnvFederatedToken: true}
	for _, v := range vars {
		if v.Secret != secrets[v.Name] {
			t.Errorf("%s: Secret = %v, want %v", v.Name, v.Secret, secrets[v.Name])
		}
	}
	defaults := map[string]string{
		EnvLocalMode: "False", EnvAllowedOrigins: "*", EnvAPIScope: "<API_APP_ID>/.default",
		EnvSpeechServiceScope:    "https://cognitiveservices.azure.com/.default",
		EnvAuthorityHost:         "https://login.microsoftonline.com",
		EnvSpeechRefreshInterval: "9m", EnvTokenMinLifetime: "5m",
		EnvIMDSEndpoint: "http://169.254.169.254/metadata/identity/oauth2/token",
	}
	for _, v := range vars {
		if v.Default != defaults[v.Name] {
			t.Errorf("%s: Default = %q, want %q", v.Name, v.Default, defaults[v.Name])
		}
	}
	vars[0].Name = "CHANGED"
	if Variables()[0].Name != EnvLocalMode {
		t.Error("Variables returned the package's own slice")
	}
}

// TestLoadReadsOnlyListedVariables checks that Variables lists every name
// Load looks up, so --help and the README cannot miss one.
func TestLoadReadsOnlyListedVariables(t *testing.T) {
	listed := map[string]bool{}
	for _, v := range Variables() {
		listed[v.Name] = true
	}
	read := map[string]bool{}
	Load(func(name string) (string, bool) {
		read[name] = true
		return "", false
	})
	for name := range read {
		if !listed[name] {
			t.Errorf("Load reads %s, which Variables does not list", name)
		}
	}
	for name := range listed {
		if !read[name] {
			t.Errorf("Variables lists %s, which Load does not read", name)
		}
	}
}
