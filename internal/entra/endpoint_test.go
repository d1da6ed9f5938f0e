package entra

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestValidTenant(t *testing.T) {
	tests := []struct {
		tenant string
		want   bool
	}{
		{"72f988bf-86f1-41af-91ab-2d7cd011db47", true},
		{"contoso.onmicrosoft.com", true},
		{"organizations", true},
		{"", false},
		{"contoso/../common", false},
		{"contoso?x=1", false},
		{"contoso#frag", false},
		{"evil.example@contoso", false},
		{"a b", false},
		{"tenant%2F..", false},
		{"-leading", false},
		{"double..dot", false},
		{".", false},
		{strings.Repeat("a", 64), false},
	}
	for _, tc := range tests {
		if got := validTenant(tc.tenant); got != tc.want {
			t.Errorf("validTenant(%q) = %v, want %v", tc.tenant, got, tc.want)
		}
	}
}

func TestTokenURL(t *testing.T) {
	tests := []struct {
		host, want, wantErr string
	}{
		{"", "https://login.microsoftonline.com/" + testTenant + "/oauth2/v2.0/token", ""},
		{"https://login.microsoftonline.us/", "https://login.microsoftonline.us/" + testTenant + "/oauth2/v2.0/token", ""},
		{"https://login.chinacloudapi.cn", "https://login.chinacloudapi.cn/" + testTenant + "/oauth2/v2.0/token", ""},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/" + testTenant + "/oauth2/v2.0/token", ""},
		{"http://localhost:8080/", "http://localhost:8080/" + testTenant + "/oauth2/v2.0/token", ""},
		{"http://[::1]:8080", "http://[::1]:8080/" + testTenant + "/oauth2/v2.0/token", ""},
		{"http://login.microsoftonline.com", "", "want https"},
		{"http://10.0.0.1", "", "want https"},
		{"ftp://127.0.0.1", "", "want https"},
		{"https://login.microsoftonline.com/tenant", "", "a path is not allowed"},
		{"https://user:pw@login.microsoftonline.com", "", "want scheme://host"},
		{"https://login.microsoftonline.com?x=1", "", "want scheme://host"},
		{"login.microsoftonline.com", "", "want scheme://host"},
	}
	for _, tc := range tests {
		got, err := tokenURL(tc.host, testTenant)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("tokenURL(%q) error = %v, want it to contain %q", tc.host, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("tokenURL(%q) = %q, %v, want %q", tc.host, got, err, tc.want)
		}
	}
	if _, err := tokenURL("", "contoso/../x"); err == nil || !strings.Contains(err.Error(), "invalid tenant ID") {
		t.Errorf("tokenURL with a bad tenant: error = %v", err)
	}
}

func TestNewSelection(t *testing.T) {
	pemData, _ := testCertificate(t)
	federated := func(context.Context) (string, error) { return "fed", nil }
	all := Options{
		TenantID: testTenant, ClientID: testClientID, ClientSecret: testSecret,
		ClientCertificate: pemData, FederatedToken: federated,
		IdentityEndpoint: "http://127.0.0.1:41000/msi/token", IdentityHeader: "h",
	}
	tests := []struct {
		name     string
		opts     func(o *Options)
		wantName string
		wantErr  string
	}{
		{"all_prefers_secret", func(o *Options) {}, "client secret", ""},
		{"prod_prefers_secret", func(o *Options) { o.Selection = "prod" }, "client secret", ""},
		{"certificate_next", func(o *Options) { o.ClientSecret = "" }, "client certificate", ""},
		{"workload_next", func(o *Options) { o.ClientSecret = ""; o.ClientCertificate = nil }, "workload identity", ""},
		{"managed_last", func(o *Options) {
			o.ClientSecret = ""
			o.ClientCertificate = nil
			o.FederatedToken = nil
		}, "managed identity", ""},
		{"nothing", func(o *Options) { *o = Options{} }, "", "no credential configured"},
		{"no_imds_by_default", func(o *Options) { *o = Options{ClientID: testClientID} }, "", "no credential configured"},
		{"environment_certificate", func(o *Options) {
			o.Selection = "EnvironmentCredential"
			o.ClientSecret = ""
		}, "client certificate", ""},
		{"environment_missing", func(o *Options) {
			o.Selection = "EnvironmentCredential"
			o.ClientSecret = ""
			o.ClientCertificate = nil
		}, "", "EnvironmentCredential needs AZURE_CLIENT_SECRET"},
		{"workload_case_insensitive", func(o *Options) { o.Selection = "workloadidentitycredential" }, "workload identity", ""},
		{"certificate_explicit", func(o *Options) { o.Selection = "ClientCertificateCredential" }, "client certificate", ""},
		{"managed_explicit", func(o *Options) { o.Selection = "ManagedIdentityCredential" }, "managed identity", ""},
		{"imds_explicit", func(o *Options) {
			o.Selection = "ManagedIdentityCredential"
			o.IdentityEndpoint = ""
		}, "managed identity (IMDS)", ""},
		{"dev_rejected", func(o *Options) { o.Selection = "dev" }, "", "not supported"},
		{"unknown_rejected", func(o *Options) { o.Selection = "Magic" }, "", `invalid AZURE_TOKEN_CREDENTIALS "Magic"`},
		{"secret_without_tenant", func(o *Options) { o.TenantID = "" }, "", "client secret needs AZURE_TENANT_ID"},
		{"secret_without_ids", func(o *Options) { o.TenantID = ""; o.ClientID = "" },
			"", "needs AZURE_TENANT_ID and AZURE_CLIENT_ID"},
		{"bad_tenant", func(o *Options) { o.TenantID = "x/y" }, "", "invalid tenant ID"},
		{"http_authority", func(o *Options) { o.AuthorityHost = "http://login.example" }, "", "want https"},
		{"bad_certificate", func(o *Options) { o.ClientSecret = ""; o.ClientCertificate = []byte("junk") },
			"", "client certificate: parse certificate"},
		{"header_without_endpoint", func(o *Options) { *o = Options{IdentityHeader: "h"} },
			"", "needs both IDENTITY_ENDPOINT and IDENTITY_HEADER"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := all
			tc.opts(&opts)
			cred, err := New(opts, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), testSecret) {
					t.Errorf("error %q contains the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if cred.Name() != tc.wantName {
				t.Errorf("Name() = %q, want %q", cred.Name(), tc.wantName)
			}
		})
	}

	_, err := New(Options{}, nil)
	if !errors.Is(err, ErrNoCredential) {
		t.Errorf("New(Options{}) error = %v, want ErrNoCredential", err)
	}
}
