package entra

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// DefaultAuthorityHost is Entra ID in the global Azure cloud. Sovereign
// clouds have their own hosts, such as https://login.microsoftonline.us.
const DefaultAuthorityHost = "https://login.microsoftonline.com"

// validTenant reports whether tenant is a GUID or a DNS name
// ("contoso.onmicrosoft.com"). Both forms are letters, digits, hyphens and
// dots only, so a valid tenant cannot add a path, query or host to the
// token URL.
func validTenant(tenant string) bool {
	if tenant == "" || len(tenant) > 253 {
		return false
	}
	for _, label := range strings.Split(tenant, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
			if !ok {
				return false
			}
		}
	}
	return true
}

// tokenURL returns <authorityHost>/<tenant>/oauth2/v2.0/token. The host
// must be https, or http on a loopback address (a local authority), and
// must have no path beyond "/", no query and no user information.
func tokenURL(authorityHost, tenant string) (string, error) {
	if !validTenant(tenant) {
		return "", fmt.Errorf("invalid tenant ID %q: want a GUID or a DNS name", tenant)
	}
	if authorityHost == "" {
		authorityHost = DefaultAuthorityHost
	}
	u, err := url.Parse(authorityHost)
	if err != nil {
		return "", fmt.Errorf("invalid authority host %q: %w", authorityHost, err)
	}
	switch {
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return "", fmt.Errorf("invalid authority host %q: want scheme://host[:port]", authorityHost)
	case u.Path != "" && u.Path != "/":
		return "", fmt.Errorf("invalid authority host %q: a path is not allowed", authorityHost)
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return "", fmt.Errorf("invalid authority host %q: want https (http only on a loopback address)",
			authorityHost)
	}
	return u.Scheme + "://" + u.Host + "/" + tenant + "/oauth2/v2.0/token", nil
}

// isLoopback reports whether host is "localhost" or a loopback IP address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// managedIdentityURL validates a managed identity endpoint. App Service
// sends http://127.0.0.1:<port>/msi/token and IMDS is plain http on a
// link-local address, so http is allowed on any host here: the platform,
// not the user, chooses this address.
func managedIdentityURL(endpoint string) (*url.URL, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("invalid managed identity endpoint %q: %w", endpoint, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("invalid managed identity endpoint %q: want an http or https URL", endpoint)
	}
	return u, nil
}

// resourceOf turns a scope into the resource that managed identity
// endpoints take: "https://cognitiveservices.azure.com/.default" becomes
// "https://cognitiveservices.azure.com".
func resourceOf(scope string) string {
	return strings.TrimSuffix(scope, "/.default")
}
