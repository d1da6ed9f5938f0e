package entra

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/edgetoken/edgetoken/internal/token"
)

// DefaultIMDSEndpoint is the Azure Instance Metadata Service token endpoint
// on virtual machines.
const DefaultIMDSEndpoint = "http://169.254.169.254/metadata/identity/oauth2/token"

// API versions of the managed identity endpoints. App Service and Functions
// send expires_on as Unix seconds from 2019-08-01 on.
const (
	appServiceAPIVersion = "2019-08-01"
	imdsAPIVersion       = "2018-02-01"
)

// managedIdentity requests tokens from the platform's managed identity
// endpoint: App Service and Functions (IDENTITY_ENDPOINT with the
// X-IDENTITY-HEADER secret) or IMDS (with "Metadata: true").
type managedIdentity struct {
	name       string
	endpoint   *url.URL
	apiVersion string
	// clientID selects a user-assigned identity; empty means the
	// system-assigned one.
	clientID string
	// header is the header that proves the request comes from inside the
	// platform: X-IDENTITY-HEADER (a secret) or Metadata.
	header, headerValue string
	client              *http.Client
	now                 func() time.Time
}

func newAppServiceIdentity(endpoint *url.URL, identityHeader, clientID string, client *http.Client,
	now func() time.Time) *managedIdentity {
	return &managedIdentity{
		name: "managed identity", endpoint: endpoint, apiVersion: appServiceAPIVersion,
		clientID: clientID, header: "X-IDENTITY-HEADER", headerValue: identityHeader,
		client: client, now: now,
	}
}

func newIMDSIdentity(endpoint *url.URL, clientID string, client *http.Client,
	now func() time.Time) *managedIdentity {
	return &managedIdentity{
		name: "managed identity (IMDS)", endpoint: endpoint, apiVersion: imdsAPIVersion,
		clientID: clientID, header: "Metadata", headerValue: "true",
		client: client, now: now,
	}
}

func (m *managedIdentity) Name() string     { return m.name }
func (m *managedIdentity) ClientID() string { return m.clientID }

// LogValue keeps the identity header out of logs.
func (m *managedIdentity) LogValue() slog.Value {
	return slog.GroupValue(slog.String("credential", m.name), slog.String("client_id", m.clientID))
}

// FetchToken gets a token for the resource named by scope ("/.default"
// removed), since managed identity endpoints take a resource, not a scope.
func (m *managedIdentity) FetchToken(ctx context.Context, scope string) (token.Token, error) {
	if scope == "" {
		return token.Token{}, fmt.Errorf("entra: %s: empty scope", m.name)
	}
	u := *m.endpoint
	q := u.Query()
	q.Set("api-version", m.apiVersion)
	q.Set("resource", resourceOf(scope))
	if m.clientID != "" {
		q.Set("client_id", m.clientID)
	}
	u.RawQuery = q.Encode()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return token.Token{}, fmt.Errorf("entra: %s: build token request: %w", m.name, err)
	}
	req.Header.Set(m.header, m.headerValue)
	req.Header.Set("Accept", "application/json")

	// IMDS's "Metadata: true" is no secret; App Service's header is.
	var secrets redactor
	if m.header != "Metadata" {
		secrets = newRedactor(m.headerValue)
	}
	return send(m.client, req, m.name, m.now, secrets)
}
