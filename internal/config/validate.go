package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

func (l *loader) localMode() bool {
	v := l.get(EnvLocalMode)
	switch v {
	case "True", "true", "1":
		return true
	case "False", "false", "0", "":
		return false
	}
	l.fail(EnvLocalMode, v, "use True, true, 1, False, false or 0")
	return false
}

// serviceURL reads an optional endpoint URL: https, or http when the host is
// a loopback address.
func (l *loader) serviceURL(name string) string {
	v := l.get(name)
	if v == "" {
		return ""
	}
	if !checkURL(v, IsLoopback) {
		l.fail(name, v, urlRule)
		return ""
	}
	return v
}

const resourceIDRule = "set it to the Speech resource's ID, " +
	"/subscriptions/.../providers/Microsoft.CognitiveServices/accounts/<name>"

func (l *loader) resourceID() string {
	v := l.get(EnvSpeechResourceID)
	switch {
	case v == "":
		l.require(EnvSpeechResourceID, resourceIDRule)
		return ""
	case !strings.HasPrefix(v, "/subscriptions/") || len(v) == len("/subscriptions/"):
		l.fail(EnvSpeechResourceID, v, "it must start with /subscriptions/: "+resourceIDRule)
		return ""
	case strings.Contains(v, "#"):
		// The Speech token is "aad#<resource ID>#<token>", so a '#' would
		// move the split point and the Speech service would reject it.
		l.fail(EnvSpeechResourceID, v, "it must not contain '#': "+resourceIDRule)
		return ""
	case hasSpaceOrControl(v):
		l.fail(EnvSpeechResourceID, v, "it must not contain whitespace or control characters: "+resourceIDRule)
		return ""
	}
	return v
}

const appIDRule = "use the API's application (client) ID GUID, or its application ID URI (api://... or https://...)"

func (l *loader) appID(localMode bool) string {
	v := l.get(EnvAPIAppID)
	if v == "" {
		if !localMode {
			l.require(EnvAPIAppID, appIDRule+", or set LOCAL_MODE=True")
		}
		return ""
	}
	if isGUID(v) {
		return v
	}
	u, err := url.Parse(v)
	if err != nil || hasSpaceOrControl(v) || (u.Scheme != "api" && u.Scheme != "https") ||
		u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Contains(v, "#") {
		l.fail(EnvAPIAppID, v, appIDRule)
		return ""
	}
	return v
}

// origins parses ALLOWED_ORIGINS. Each entry is trimmed of spaces and
// normalized the way a browser writes the Origin header (lower case, no
// default port), because CORS compares origins as exact strings.
func (l *loader) origins() (all bool, list []string) {
	v := l.get(EnvAllowedOrigins)
	if v == "" {
		v = DefaultAllowedOrigins
	}
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if item == "*" {
			all = true
			continue
		}
		origin, problem := normalizeOrigin(item)
		if problem != "" {
			l.fail(EnvAllowedOrigins, item, problem)
			continue
		}
		list = append(list, origin)
	}
	if !all && len(list) == 0 && len(l.errs) == 0 {
		l.fail(EnvAllowedOrigins, v, "list at least one origin, or * for any origin")
	}
	if all {
		list = nil
	}
	return all, list
}

// NormalizeOrigin returns origin as a browser writes it in the Origin
// header, the form Settings.AllowedOrigins holds: scheme and host in lower
// case, no default port. ok is false when origin is not
// scheme://host[:port]. Other packages that compare origins use it so that
// they agree with CORS.
func NormalizeOrigin(origin string) (normalized string, ok bool) {
	o, problem := normalizeOrigin(origin)
	return o, problem == ""
}

func normalizeOrigin(s string) (string, string) {
	const rule = "an origin is scheme://host[:port] with no path, such as https://app.contoso.com"
	if hasSpaceOrControl(s) {
		return "", rule
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || strings.Contains(s, "?") || strings.Contains(s, "#") {
		return "", rule
	}
	if u.Path != "" {
		if u.Path == "/" {
			return "", rule + " (remove the trailing slash)"
		}
		return "", rule
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if strings.HasSuffix(u.Host, ":") {
		return "", rule
	}
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return "", rule
		}
		port = strconv.FormatUint(n, 10)
		if (scheme == "https" && n == 443) || (scheme == "http" && n == 80) {
			port = ""
		}
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		return scheme + "://" + host + ":" + port, ""
	}
	return scheme + "://" + host, ""
}

func (l *loader) apiScope(appID string) string {
	v := l.get(EnvAPIScope)
	if v == "" {
		if appID == "" {
			return ""
		}
		v = appID + "/.default"
	}
	return l.checkScope(EnvAPIScope, v)
}

func (l *loader) scope(name, def string) string {
	v := l.get(name)
	if v == "" {
		v = def
	}
	return l.checkScope(name, v)
}

// checkScope validates a client-credentials scope, "<resource>/.default".
// A resource written without a scheme and not a GUID is given "https://",
// because Entra ID rejects a scope that is neither a URI nor "<GUID>/...".
func (l *loader) checkScope(name, v string) string {
	const rule = "use <resource>/.default, where <resource> is an application ID URI " +
		"(https://... or api://...) or an application ID GUID"
	resource, ok := strings.CutSuffix(v, "/.default")
	if !ok || resource == "" || hasSpaceOrControl(v) || strings.Contains(v, "#") || strings.Contains(v, "?") {
		l.fail(name, v, rule)
		return ""
	}
	if isGUID(resource) {
		return v
	}
	if !strings.Contains(resource, "://") {
		resource = "https://" + resource
		v = resource + "/.default"
	}
	u, err := url.Parse(resource)
	if err != nil || u.Host == "" || u.User != nil {
		l.fail(name, v, rule)
		return ""
	}
	return v
}

func (l *loader) guid(name, what string) string {
	v := l.get(name)
	if v == "" {
		return ""
	}
	if !isGUID(v) {
		l.fail(name, v, "use "+what+", a GUID such as 00000000-0000-0000-0000-000000000000")
		return ""
	}
	return v
}

// tenantID accepts a GUID or a domain name. The value becomes a path segment
// of the token URL, so nothing else is allowed.
func (l *loader) tenantID() string {
	v := l.get(EnvTenantID)
	if v == "" || isGUID(v) || isDomainName(v) {
		return v
	}
	l.fail(EnvTenantID, v, "use the tenant ID GUID or a domain name such as contoso.onmicrosoft.com")
	return ""
}

// secret reads a secret. The only rule is that it can be sent in a form
// field or a header, so it has no line breaks or other control characters.
func (l *loader) secret(name string) string {
	v := l.get(name)
	for _, r := range v {
		if unicode.IsControl(r) {
			l.fail(name, "", "it contains a control character such as a line break; set it without one")
			return ""
		}
	}
	return v
}

func (l *loader) authorityHost() string {
	v := l.get(EnvAuthorityHost)
	if v == "" {
		return DefaultAuthorityHost
	}
	if !checkURL(v, IsLoopback) {
		l.fail(EnvAuthorityHost, v, urlRule)
		return ""
	}
	// The tenant and the token path are appended to the host, so a path
	// here would build a URL the authority does not serve.
	if u, err := url.Parse(v); err != nil || strings.Trim(u.Path, "/") != "" {
		l.fail(EnvAuthorityHost, v, "give only scheme://host[:port], such as "+DefaultAuthorityHost+", without a path")
		return ""
	}
	return v
}

func (l *loader) path(name string) string {
	v := l.get(name)
	if strings.ContainsFunc(v, unicode.IsControl) {
		l.fail(name, v, "a file path must not contain control characters")
		return ""
	}
	return v
}

// identityEndpoint reads the managed identity endpoint. Besides loopback,
// http is allowed on link-local addresses (169.254.0.0/16, fe80::/10),
// because App Service and Container Apps serve the endpoint over plain http
// inside the host.
func (l *loader) identityEndpoint() string {
	v := l.get(EnvIdentityEndpoint)
	if v == "" {
		return ""
	}
	local := func(host string) bool { return IsLoopback(host) || isLinkLocal(host) }
	if !checkURL(v, local) {
		l.fail(EnvIdentityEndpoint, v, "use an https URL, or http on a loopback or link-local address")
		return ""
	}
	return v
}

// imdsEndpoint reads the IMDS token URL. IMDS serves plain http on the
// link-local address 169.254.169.254, so http is allowed there as on
// loopback, where tests and local proxies listen.
func (l *loader) imdsEndpoint() string {
	v := l.get(EnvIMDSEndpoint)
	if v == "" {
		return DefaultIMDSEndpoint
	}
	local := func(host string) bool { return IsLoopback(host) || isLinkLocal(host) }
	if !checkURL(v, local) {
		l.fail(EnvIMDSEndpoint, v, "use an https URL, or http on a loopback or link-local address, "+
			"such as "+DefaultIMDSEndpoint)
		return ""
	}
	return v
}

func (l *loader) credential() Credential {
	v := l.get(EnvTokenCredentials)
	if v == "" || v == "prod" {
		return CredentialAuto
	}
	for _, c := range []Credential{CredentialEnvironment, CredentialWorkloadIdentity, CredentialManagedIdentity,
		CredentialDeveloper, CredentialAzureCLI, CredentialAzureDeveloperCLI, CredentialAzurePowerShell} {
		if strings.EqualFold(v, string(c)) {
			return c
		}
	}
	l.fail(EnvTokenCredentials, v, "use prod, dev, EnvironmentCredential, WorkloadIdentityCredential, "+
		"ManagedIdentityCredential, AzureCLICredential, AzureDeveloperCLICredential or AzurePowerShellCredential")
	return CredentialAuto
}

func (l *loader) duration(name, def string, min, max time.Duration) time.Duration {
	v := l.get(name)
	if v == "" {
		v = def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < min || d > max {
		l.fail(name, v, fmt.Sprintf("use a Go duration from %v to %v, such as %s", min, max, def))
		return 0
	}
	return d
}

// checkCredentials checks that the credential variables that were set can
// work together.
func (l *loader) checkCredentials(s *Settings) {
	needIDs := func(by string) {
		if s.TenantID == "" && l.get(EnvTenantID) == "" {
			l.require(EnvTenantID, "set it with "+by)
		}
		if s.ClientID == "" && l.get(EnvClientID) == "" {
			l.require(EnvClientID, "set it with "+by)
		}
	}
	if s.ClientSecret != "" {
		needIDs(EnvClientSecret)
	}
	if s.ClientCertificatePath != "" {
		needIDs(EnvClientCertificatePath)
	}
	if s.ClientCertificate != "" {
		needIDs(EnvClientCertificate)
	}
	if s.FederatedToken != "" {
		needIDs(EnvFederatedToken)
	}
	if l.get(EnvClientCertificatePassword) != "" && l.get(EnvClientCertificatePath) == "" {
		l.require(EnvClientCertificatePath, "AZURE_CLIENT_CERTIFICATE_PASSWORD is set without a certificate")
	}
	if s.FederatedTokenFile != "" {
		needIDs(EnvFederatedTokenFile)
	}
	endpointSet := l.get(EnvIdentityEndpoint) != ""
	headerSet := l.get(EnvIdentityHeader) != ""
	if endpointSet && !headerSet {
		l.require(EnvIdentityHeader, "the managed identity endpoint in IDENTITY_ENDPOINT needs it")
	}
	if headerSet && !endpointSet {
		l.require(EnvIdentityEndpoint, "IDENTITY_HEADER is set without an endpoint")
	}

	// The secret, certificate and token file checks above already require
	// the tenant and client IDs, so only the missing credential is reported.
	switch s.Credential {
	case CredentialEnvironment:
		if l.get(EnvClientSecret) == "" && l.get(EnvClientCertificatePath) == "" && l.get(EnvClientCertificate) == "" {
			l.require(EnvClientSecret, "EnvironmentCredential needs AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH")
		}
	case CredentialWorkloadIdentity:
		if l.get(EnvFederatedTokenFile) == "" && l.get(EnvFederatedToken) == "" {
			l.require(EnvFederatedTokenFile, "WorkloadIdentityCredential needs it")
		}
	}
}

const urlRule = "use an https URL, or http on a loopback address (127.0.0.0/8, ::1, localhost)"

// checkURL reports whether s is an absolute https URL, or an http URL whose
// host passes httpHost. A path is allowed; user info, a query and a fragment
// are not.
func checkURL(s string, httpHost func(host string) bool) bool {
	if hasSpaceOrControl(s) || strings.ContainsAny(s, "?#") {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.User != nil || u.Hostname() == "" {
		return false
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return false
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		return httpHost(u.Hostname())
	}
	return false
}

// IsLoopback reports whether host (without a port) is localhost or an IP
// address in 127.0.0.0/8 or ::1.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

func isLinkLocal(host string) bool {
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLinkLocalUnicast()
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// isDomainName reports whether s is a DNS name of at least two labels, each
// of letters, digits and inner hyphens.
func isDomainName(s string) bool {
	if len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return false
	}
	for _, label := range labels {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func hasSpaceOrControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8RuneError
	})
}

const utf8RuneError = '\uFFFD'
