package entra

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/edgetoken/edgetoken/internal/token"
)

// clientAssertionType is the client_assertion_type of a JWT client
// assertion (RFC 7523 section 2.2).
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// clientCredential requests tokens with the client credentials grant from
// Entra's v2 token endpoint. The three ways to authenticate the client
// differ only in the form fields that authenticate adds.
type clientCredential struct {
	name     string
	clientID string
	tokenURL string
	client   *http.Client
	now      func() time.Time
	// authenticate adds client_secret, or client_assertion and
	// client_assertion_type, to the form.
	authenticate func(ctx context.Context, form url.Values) error
}

func (c *clientCredential) Name() string     { return c.name }
func (c *clientCredential) ClientID() string { return c.clientID }

// LogValue keeps the secret or key out of logs.
func (c *clientCredential) LogValue() slog.Value {
	return slog.GroupValue(slog.String("credential", c.name), slog.String("client_id", c.clientID))
}

// FetchToken posts a client credentials request for scope.
func (c *clientCredential) FetchToken(ctx context.Context, scope string) (token.Token, error) {
	if scope == "" {
		return token.Token{}, fmt.Errorf("entra: %s: empty scope", c.name)
	}
	form := url.Values{
		"client_id":  {c.clientID},
		"grant_type": {"client_credentials"},
		"scope":      {scope},
	}
	if err := c.authenticate(ctx, form); err != nil {
		return token.Token{}, &AuthError{Credential: c.name, Err: err}
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return token.Token{}, fmt.Errorf("entra: %s: build token request: %w", c.name, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")

	// The form holds the secret or the assertion (a signed JWT, or the
	// federated token), whichever authenticate set.
	secrets := newRedactor(form.Get("client_secret"), form.Get("client_assertion"))
	return send(c.client, req, c.name, c.now, secrets)
}

func newClientSecret(clientID, tokenURL, secret string, client *http.Client, now func() time.Time) *clientCredential {
	return &clientCredential{
		name: "client secret", clientID: clientID, tokenURL: tokenURL, client: client, now: now,
		authenticate: func(_ context.Context, form url.Values) error {
			form.Set("client_secret", secret)
			return nil
		},
	}
}

func newClientCertificate(clientID, tokenURL string, cert *certificate, client *http.Client,
	now func() time.Time) *clientCredential {
	return &clientCredential{
		name: "client certificate", clientID: clientID, tokenURL: tokenURL, client: client, now: now,
		authenticate: func(_ context.Context, form url.Values) error {
			assertion, err := cert.assertion(clientID, tokenURL, now())
			if err != nil {
				return err
			}
			form.Set("client_assertion_type", clientAssertionType)
			form.Set("client_assertion", assertion)
			return nil
		},
	}
}

// newWorkloadIdentity sends the federated token as the client assertion.
// federatedToken runs on every fetch because the platform rotates the token
// (Kubernetes rewrites the projected file before the old token expires).
func newWorkloadIdentity(clientID, tokenURL string, federatedToken func(context.Context) (string, error),
	client *http.Client, now func() time.Time) *clientCredential {
	return &clientCredential{
		name: "workload identity", clientID: clientID, tokenURL: tokenURL, client: client, now: now,
		authenticate: func(ctx context.Context, form url.Values) error {
			assertion, err := federatedToken(ctx)
			if err != nil {
				return fmt.Errorf("read federated token: %w", err)
			}
			if assertion == "" {
				return fmt.Errorf("read federated token: token is empty")
			}
			form.Set("client_assertion_type", clientAssertionType)
			form.Set("client_assertion", assertion)
			return nil
		},
	}
}

// FederatedTokenFile returns a function that reads the federated token from
// path on every call, as Options.FederatedToken expects. Surrounding white
// space is removed. It suits a host with a file system; a guest without one
// passes a function over its own storage.
func FederatedTokenFile(path string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(b)), nil
	}
}
