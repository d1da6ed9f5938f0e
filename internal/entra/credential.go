package entra

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/edgetoken/edgetoken/internal/token"
)

// Credential is a token.Fetcher that can describe itself for the start-up
// log.
type Credential interface {
	token.Fetcher
	// Name is the kind of credential: "client secret", "client
	// certificate", "workload identity", "managed identity" (App Service
	// and Functions) or "managed identity (IMDS)".
	Name() string
	// ClientID is the application (client) ID, or "" for a system-assigned
	// managed identity.
	ClientID() string
}

// Options selects and configures a credential. Each field carries the value
// of the environment variable that the Azure SDKs read for it; the caller
// does the reading. The zero value of a field means the variable is unset.
type Options struct {
	// Selection narrows the choice, like AZURE_TOKEN_CREDENTIALS. Values
	// (case-insensitive): "" or "prod" for the chain described at New;
	// "EnvironmentCredential" (client secret, else client certificate);
	// "ClientSecretCredential"; "ClientCertificateCredential";
	// "WorkloadIdentityCredential"; "ManagedIdentityCredential" (App
	// Service when IdentityEndpoint is set, else IMDS). Developer tool
	// credentials ("dev", "AzureCLICredential", ...) are rejected because
	// the service cannot run a command.
	Selection string

	TenantID string // AZURE_TENANT_ID
	// ClientID is AZURE_CLIENT_ID: the application for a secret,
	// certificate or federated token, or the user-assigned managed
	// identity. Empty means the system-assigned identity.
	ClientID     string
	ClientSecret string // AZURE_CLIENT_SECRET
	// ClientCertificate is the content of the PEM file named by
	// AZURE_CLIENT_CERTIFICATE_PATH: CERTIFICATE blocks and an unencrypted
	// RSA private key. PKCS#12 files are not supported.
	ClientCertificate []byte
	// FederatedToken returns the current federated token (the content of
	// AZURE_FEDERATED_TOKEN_FILE). It runs on every fetch, because the
	// token rotates; FederatedTokenFile makes one over a file.
	FederatedToken func(context.Context) (string, error)
	// AuthorityHost is AZURE_AUTHORITY_HOST. Defaults to
	// DefaultAuthorityHost.
	AuthorityHost string

	IdentityEndpoint string // IDENTITY_ENDPOINT (App Service, Functions)
	IdentityHeader   string // IDENTITY_HEADER
	// IMDSEndpoint replaces DefaultIMDSEndpoint, for tests and proxies.
	IMDSEndpoint string

	// Now is the clock used to compute expiry times. Defaults to time.Now.
	Now func() time.Time
}

// New returns the credential that opts select. Its requests go through
// client's Transport with client's Timeout, and a nil client means
// http.DefaultTransport outside the wasm guest (see package roundtrip).
// Redirects are never followed.
//
// Without a Selection it takes the first configured one, in the order of
// DefaultAzureCredential: client secret (tenant, client ID and secret),
// client certificate (tenant, client ID and certificate), workload identity
// (tenant, client ID and federated token), then App Service managed
// identity (IdentityEndpoint and IdentityHeader). Unlike
// DefaultAzureCredential it decides once here, not on each request, and it
// does not try IMDS unless Selection is "ManagedIdentityCredential": an
// IMDS probe off Azure costs a timeout on every request. It returns an
// error wrapping ErrNoCredential when nothing is configured.
func New(opts Options, client *http.Client) (Credential, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}

	switch strings.ToLower(strings.TrimSpace(opts.Selection)) {
	case "", "prod":
		return newDefault(opts, client)
	case "environmentcredential":
		if opts.ClientSecret != "" {
			return newFromSecret(opts, client)
		}
		if len(opts.ClientCertificate) > 0 {
			return newFromCertificate(opts, client)
		}
		return nil, fmt.Errorf("entra: %w: EnvironmentCredential needs AZURE_CLIENT_SECRET "+
			"or AZURE_CLIENT_CERTIFICATE_PATH", ErrNoCredential)
	case "clientsecretcredential":
		return newFromSecret(opts, client)
	case "clientcertificatecredential":
		return newFromCertificate(opts, client)
	case "workloadidentitycredential":
		return newFromFederatedToken(opts, client)
	case "managedidentitycredential":
		if opts.IdentityEndpoint != "" {
			return newFromIdentityEndpoint(opts, client)
		}
		return newFromIMDS(opts, client)
	case "dev", "azureclicredential", "azuredeveloperclicredential", "azurepowershellcredential":
		return nil, fmt.Errorf("entra: AZURE_TOKEN_CREDENTIALS %q is not supported: "+
			"developer tool credentials run a command, which this service cannot do", opts.Selection)
	default:
		return nil, fmt.Errorf("entra: invalid AZURE_TOKEN_CREDENTIALS %q: want prod, EnvironmentCredential, "+
			"ClientSecretCredential, ClientCertificateCredential, WorkloadIdentityCredential or "+
			"ManagedIdentityCredential", opts.Selection)
	}
}

func newDefault(opts Options, client *http.Client) (Credential, error) {
	switch {
	case opts.ClientSecret != "":
		return newFromSecret(opts, client)
	case len(opts.ClientCertificate) > 0:
		return newFromCertificate(opts, client)
	case opts.FederatedToken != nil:
		return newFromFederatedToken(opts, client)
	case opts.IdentityEndpoint != "" || opts.IdentityHeader != "":
		return newFromIdentityEndpoint(opts, client)
	}
	return nil, fmt.Errorf("entra: %w: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, "+
		"or run where IDENTITY_ENDPOINT is set (App Service, Functions), "+
		"or set AZURE_TOKEN_CREDENTIALS=ManagedIdentityCredential on a virtual machine", ErrNoCredential)
}

// applicationURL checks what every client credentials grant needs and
// returns the token URL.
func applicationURL(opts Options, credential string) (string, error) {
	var missing []string
	if opts.TenantID == "" {
		missing = append(missing, "AZURE_TENANT_ID")
	}
	if opts.ClientID == "" {
		missing = append(missing, "AZURE_CLIENT_ID")
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("entra: %s needs %s", credential, strings.Join(missing, " and "))
	}
	u, err := tokenURL(opts.AuthorityHost, opts.TenantID)
	if err != nil {
		return "", fmt.Errorf("entra: %s: %w", credential, err)
	}
	return u, nil
}

func newFromSecret(opts Options, client *http.Client) (Credential, error) {
	if opts.ClientSecret == "" {
		return nil, fmt.Errorf("entra: %w: client secret needs AZURE_CLIENT_SECRET", ErrNoCredential)
	}
	u, err := applicationURL(opts, "client secret")
	if err != nil {
		return nil, err
	}
	return newClientSecret(opts.ClientID, u, opts.ClientSecret, client, opts.Now), nil
}

// CheckCertificate reports whether pemText holds what a client certificate
// credential needs: a certificate and its unencrypted RSA private key. The
// host calls it on the file it read, so the error can name the file.
func CheckCertificate(pemText []byte) error {
	_, err := parseCertificate(pemText)
	return err
}

func newFromCertificate(opts Options, client *http.Client) (Credential, error) {
	if len(opts.ClientCertificate) == 0 {
		return nil, fmt.Errorf("entra: %w: client certificate needs AZURE_CLIENT_CERTIFICATE_PATH",
			ErrNoCredential)
	}
	u, err := applicationURL(opts, "client certificate")
	if err != nil {
		return nil, err
	}
	cert, err := parseCertificate(opts.ClientCertificate)
	if err != nil {
		return nil, fmt.Errorf("entra: client certificate: %w", err)
	}
	return newClientCertificate(opts.ClientID, u, cert, client, opts.Now), nil
}

func newFromFederatedToken(opts Options, client *http.Client) (Credential, error) {
	if opts.FederatedToken == nil {
		return nil, fmt.Errorf("entra: %w: workload identity needs AZURE_FEDERATED_TOKEN_FILE",
			ErrNoCredential)
	}
	u, err := applicationURL(opts, "workload identity")
	if err != nil {
		return nil, err
	}
	return newWorkloadIdentity(opts.ClientID, u, opts.FederatedToken, client, opts.Now), nil
}

func newFromIdentityEndpoint(opts Options, client *http.Client) (Credential, error) {
	if opts.IdentityEndpoint == "" || opts.IdentityHeader == "" {
		return nil, errors.New("entra: managed identity needs both IDENTITY_ENDPOINT and IDENTITY_HEADER")
	}
	u, err := managedIdentityURL(opts.IdentityEndpoint)
	if err != nil {
		return nil, fmt.Errorf("entra: %w", err)
	}
	return newAppServiceIdentity(u, opts.IdentityHeader, opts.ClientID, client, opts.Now), nil
}

func newFromIMDS(opts Options, client *http.Client) (Credential, error) {
	endpoint := opts.IMDSEndpoint
	if endpoint == "" {
		endpoint = DefaultIMDSEndpoint
	}
	u, err := managedIdentityURL(endpoint)
	if err != nil {
		return nil, fmt.Errorf("entra: %w", err)
	}
	return newIMDSIdentity(u, opts.ClientID, client, opts.Now), nil
}
