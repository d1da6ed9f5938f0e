// Package config loads and validates the service's settings from environment
// variable names. The host reads them from the process environment and the
// guest from the wasi:config store (the same names in lower case).
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Credential is an explicit credential choice from AZURE_TOKEN_CREDENTIALS.
// The names match azidentity's DefaultAzureCredential.
type Credential string

// Credential choices. CredentialAuto lets the caller pick from the variables
// that are set, the way DefaultAzureCredential walks its chain.
const (
	CredentialAuto             Credential = ""
	CredentialEnvironment      Credential = "EnvironmentCredential"
	CredentialWorkloadIdentity Credential = "WorkloadIdentityCredential"
	CredentialManagedIdentity  Credential = "ManagedIdentityCredential"

	// The developer tool credentials run a command line tool (az, azd,
	// pwsh) with the developer's sign-in. Only our host can run them: it
	// fetches with azidentity and stores the tokens for the guest.
	CredentialDeveloper         Credential = "dev"
	CredentialAzureCLI          Credential = "AzureCLICredential"
	CredentialAzureDeveloperCLI Credential = "AzureDeveloperCLICredential"
	CredentialAzurePowerShell   Credential = "AzurePowerShellCredential"
)

// HostOnly reports whether the credential runs a developer tool, which only
// the host can do, so the guest reads tokens the host stored.
func (c Credential) HostOnly() bool {
	switch c {
	case CredentialDeveloper, CredentialAzureCLI, CredentialAzureDeveloperCLI, CredentialAzurePowerShell:
		return true
	}
	return false
}

// Settings is the validated configuration. Load fills every default, so a
// field is empty only when the setting is optional and unset.
type Settings struct {
	LocalMode bool
	// SpeechEndpoint is the private Speech endpoint URL, or empty.
	SpeechEndpoint   string
	SpeechResourceID string
	APIAppID         string

	// AllowAllOrigins is true when ALLOWED_ORIGINS contains "*". Otherwise
	// AllowedOrigins lists the allowed origins, normalized to lower case
	// without a default port, as browsers send them.
	AllowAllOrigins bool
	AllowedOrigins  []string

	// APIScope is empty when /api is not configured.
	APIScope    string
	SpeechScope string

	ClientID     string
	TenantID     string
	ClientSecret string
	// AuthorityHost is the authority's base URL without a trailing slash.
	AuthorityHost string

	ClientCertificatePath     string
	ClientCertificatePassword string
	FederatedTokenFile        string
	// ClientCertificate and FederatedToken carry the contents of those
	// files where the runtime has no file system.
	ClientCertificate string
	FederatedToken    string
	IdentityEndpoint  string
	IdentityHeader    string
	// IMDSEndpoint is the IMDS token URL, DefaultIMDSEndpoint unless
	// IMDS_ENDPOINT is set. Only ManagedIdentityCredential without
	// IdentityEndpoint sends requests to it.
	IMDSEndpoint string
	Credential   Credential

	// SpeechRefreshInterval is the longest time between two refreshes of
	// the Speech token by the host's timer.
	SpeechRefreshInterval time.Duration
	// MinLifetime is the shortest remaining lifetime of a token handed to a
	// client. A stored token with less left is refreshed before it is served.
	MinLifetime time.Duration
}

// APIConfigured reports whether the /api endpoint is served.
func (s *Settings) APIConfigured() bool { return s.APIScope != "" }

// OriginAllowed reports whether CORS allows the origin, compared exactly as
// the browser sent it.
func (s *Settings) OriginAllowed(origin string) bool {
	if s.AllowAllOrigins {
		return true
	}
	for _, o := range s.AllowedOrigins {
		if o == origin {
			return true
		}
	}
	return false
}

const redacted = "(redacted)"

// LogValue shows every setting except the secrets, which appear only as
// "(redacted)" when set, so that slog.Any("settings", s) is safe.
func (s *Settings) LogValue() slog.Value {
	secret := func(v string) string {
		if v == "" {
			return ""
		}
		return redacted
	}
	origins := strings.Join(s.AllowedOrigins, ",")
	if s.AllowAllOrigins {
		origins = "*"
	}
	return slog.GroupValue(
		slog.Bool("local_mode", s.LocalMode),
		slog.String("speech_endpoint", s.SpeechEndpoint),
		slog.String("speech_resource_id", s.SpeechResourceID),
		slog.String("api_app_id", s.APIAppID),
		slog.String("allowed_origins", origins),
		slog.String("api_scope", s.APIScope),
		slog.String("speech_service_scope", s.SpeechScope),
		slog.String("azure_client_id", s.ClientID),
		slog.String("azure_tenant_id", s.TenantID),
		slog.String("azure_client_secret", secret(s.ClientSecret)),
		slog.String("azure_authority_host", s.AuthorityHost),
		slog.String("azure_client_certificate_path", s.ClientCertificatePath),
		slog.String("azure_client_certificate_password", secret(s.ClientCertificatePassword)),
		slog.String("azure_federated_token_file", s.FederatedTokenFile),
		slog.String("azure_client_certificate", secret(s.ClientCertificate)),
		slog.String("azure_federated_token", secret(s.FederatedToken)),
		slog.String("identity_endpoint", s.IdentityEndpoint),
		slog.String("identity_header", secret(s.IdentityHeader)),
		slog.String("imds_endpoint", s.IMDSEndpoint),
		slog.String("azure_token_credentials", string(s.Credential)),
		slog.Duration("speech_token_refresh_interval", s.SpeechRefreshInterval),
		slog.Duration("token_min_lifetime", s.MinLifetime),
	)
}

// String keeps secrets out of fmt output as LogValue keeps them out of logs.
func (s *Settings) String() string {
	return s.LogValue().String()
}

// Load reads and validates every variable through lookup, which returns a
// variable's value by its environment name (os.LookupEnv, or a config store
// lookup). An empty value counts as unset, because a config store often has
// no way to tell the two apart. Load returns every problem at once, joined
// with errors.Join; no message contains the value of a secret.
func Load(lookup func(name string) (string, bool)) (*Settings, error) {
	l := loader{lookup: lookup}
	s := &Settings{}

	s.LocalMode = l.localMode()
	s.SpeechEndpoint = l.serviceURL(EnvSpeechEndpoint)
	s.SpeechResourceID = l.resourceID()
	s.APIAppID = l.appID(s.LocalMode)
	s.AllowAllOrigins, s.AllowedOrigins = l.origins()
	s.APIScope = l.apiScope(s.APIAppID)
	s.SpeechScope = l.scope(EnvSpeechServiceScope, DefaultSpeechScope)

	s.ClientID = l.guid(EnvClientID, "the client ID of the app registration or managed identity")
	s.TenantID = l.tenantID()
	s.ClientSecret = l.secret(EnvClientSecret)
	s.AuthorityHost = strings.TrimSuffix(l.authorityHost(), "/")
	s.ClientCertificatePath = l.path(EnvClientCertificatePath)
	s.ClientCertificatePassword = l.secret(EnvClientCertificatePassword)
	s.FederatedTokenFile = l.path(EnvFederatedTokenFile)
	s.ClientCertificate = l.get(EnvClientCertificate)
	s.FederatedToken = l.secret(EnvFederatedToken)
	s.IdentityEndpoint = l.identityEndpoint()
	s.IdentityHeader = l.secret(EnvIdentityHeader)
	s.IMDSEndpoint = l.imdsEndpoint()
	s.Credential = l.credential()

	s.SpeechRefreshInterval = l.duration(EnvSpeechRefreshInterval, DefaultSpeechRefreshInterval,
		time.Second, 24*time.Hour)
	s.MinLifetime = l.duration(EnvTokenMinLifetime, DefaultTokenMinLifetime, 0, time.Hour)

	l.checkCredentials(s)
	if len(l.errs) > 0 {
		return nil, errors.Join(l.errs...)
	}
	return s, nil
}

// loader collects the problems found while reading the variables.
type loader struct {
	lookup   func(string) (string, bool)
	errs     []error
	required map[string]bool
}

// get returns the variable's value; an unset and an empty variable both
// return "".
func (l *loader) get(name string) string {
	if l.lookup == nil {
		return ""
	}
	v, ok := l.lookup(name)
	if !ok {
		return ""
	}
	return v
}

// fail records that the variable's value breaks a rule. The value is quoted
// in the message unless the variable holds a secret.
func (l *loader) fail(name, value, rule string) {
	if isSecret(name) {
		l.errs = append(l.errs, fmt.Errorf("%s is invalid: %s", name, rule))
		return
	}
	l.errs = append(l.errs, fmt.Errorf("%s %q is invalid: %s", name, value, rule))
}

// require records that a variable is missing, once per variable.
func (l *loader) require(name, rule string) {
	if l.required[name] {
		return
	}
	if l.required == nil {
		l.required = make(map[string]bool)
	}
	l.required[name] = true
	l.errs = append(l.errs, fmt.Errorf("%s is required: %s", name, rule))
}
