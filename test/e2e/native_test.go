package e2e

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/edgetoken/edgetoken/internal/config"
	"github.com/edgetoken/edgetoken/internal/entra"
	"github.com/edgetoken/edgetoken/internal/service"
	"github.com/edgetoken/edgetoken/internal/testenv/conformance"
	"github.com/edgetoken/edgetoken/internal/token"
)

// startNative is the conformance Starter for the native baseline: the
// shared handler behind service.NetHTTP in this process, with a client
// secret credential and an in-memory store. It has no refresh timer, so
// tokens are refreshed only when a request finds them stale.
func startNative(t *testing.T, env map[string]string) (conformance.Target, error) {
	settings, err := config.Load(func(name string) (string, bool) {
		value, ok := env[name]
		return value, ok
	})
	if err != nil {
		return nil, err
	}

	credential, err := entra.New(entra.Options{
		Selection:     string(settings.Credential),
		TenantID:      settings.TenantID,
		ClientID:      settings.ClientID,
		ClientSecret:  settings.ClientSecret,
		AuthorityHost: settings.AuthorityHost,
	}, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}

	cache := token.NewCache(token.NewMemoryStore(), credential, token.CacheOptions{
		MinLifetime: settings.MinLifetime,
	})
	handler := service.New(settings, cache, service.Options{})
	server := httptest.NewServer(service.NetHTTP(handler))
	t.Cleanup(server.Close)
	return conformance.URL(server.URL), nil
}

func TestNativeConformance(t *testing.T) {
	skipShort(t)
	t.Parallel()
	conformance.Run(t, conformance.StarterFunc(startNative))
}
