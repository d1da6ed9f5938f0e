package config

// Variable describes one environment variable that Load reads.
type Variable struct {
	Name string
	// Default is the value used when the variable is unset or empty, in the
	// form shown to users. A placeholder in angle brackets names another
	// variable ("<API_APP_ID>/.default"); empty means no default.
	Default     string
	Description string
	// Secret marks a value that is never logged or put into an error.
	Secret bool
}

// Environment variable names.
const (
	EnvLocalMode                 = "LOCAL_MODE"
	EnvSpeechEndpoint            = "SPEECH_ENDPOINT"
	EnvSpeechResourceID          = "SPEECH_RESOURCE_ID"
	EnvAPIAppID                  = "API_APP_ID"
	EnvAllowedOrigins            = "ALLOWED_ORIGINS"
	EnvAPIScope                  = "API_SCOPE"
	EnvSpeechServiceScope        = "SPEECH_SERVICE_SCOPE"
	EnvClientID                  = "AZURE_CLIENT_ID"
	EnvTenantID                  = "AZURE_TENANT_ID"
	EnvClientSecret              = "AZURE_CLIENT_SECRET"
	EnvAuthorityHost             = "AZURE_AUTHORITY_HOST"
	EnvClientCertificatePath     = "AZURE_CLIENT_CERTIFICATE_PATH"
	EnvClientCertificatePassword = "AZURE_CLIENT_CERTIFICATE_PASSWORD"
	EnvFederatedTokenFile        = "AZURE_FEDERATED_TOKEN_FILE"
	EnvClientCertificate         = "AZURE_CLIENT_CERTIFICATE"
	EnvFederatedToken            = "AZURE_FEDERATED_TOKEN"
	EnvIdentityEndpoint          = "IDENTITY_ENDPOINT"
	EnvIdentityHeader            = "IDENTITY_HEADER"
	EnvIMDSEndpoint              = "IMDS_ENDPOINT"
	EnvTokenCredentials          = "AZURE_TOKEN_CREDENTIALS"
	EnvSpeechRefreshInterval     = "SPEECH_TOKEN_REFRESH_INTERVAL"
	EnvTokenMinLifetime          = "TOKEN_MIN_LIFETIME"
)

// Defaults for the variables that have one.
const (
	DefaultAllowedOrigins = "*"
	// DefaultSpeechScope carries the https scheme although the original
	// service's README wrote "cognitiveservices.azure.com/.default". Entra ID
	// accepts a scope only as a URI with a scheme or as "<app id GUID>/<scope>"
	// (error AADSTS70011 otherwise), and the Speech resource's application ID
	// URI is https://cognitiveservices.azure.com, so only this form yields a
	// token. An explicit scheme-less value is given the https scheme by Load
	// for the same reason, so deployments that copied the README keep working.
	DefaultSpeechScope   = "https://cognitiveservices.azure.com/.default"
	DefaultAuthorityHost = "https://login.microsoftonline.com"
	// DefaultIMDSEndpoint is the token endpoint of the Azure Instance
	// Metadata Service, reachable from inside an Azure virtual machine only.
	DefaultIMDSEndpoint          = "http://169.254.169.254/metadata/identity/oauth2/token"
	DefaultSpeechRefreshInterval = "9m"
	DefaultTokenMinLifetime      = "5m"
)

var variables = []Variable{
	{Name: EnvLocalMode, Default: "False",
		Description: "True for local testing: API_APP_ID becomes optional. Accepts True, true, 1, False, false, 0."},
	{Name: EnvSpeechEndpoint,
		Description: "URL of the private Speech endpoint, such as https://<custom subdomain>.cognitiveservices.azure.com/ (https, or http on a loopback address)."},
	{Name: EnvSpeechResourceID,
		Description: "Required. Azure resource ID of the Speech resource: /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.CognitiveServices/accounts/<name>."},
	{Name: EnvAPIAppID,
		Description: "Application (client) ID or application ID URI of the protected API. Required unless LOCAL_MODE is True."},
	{Name: EnvAllowedOrigins, Default: DefaultAllowedOrigins,
		Description: "Comma-separated origins allowed by CORS, each scheme://host[:port], or * for any origin."},
	{Name: EnvAPIScope, Default: "<API_APP_ID>/.default",
		Description: "Scope of the tokens served at /api. When neither API_SCOPE nor API_APP_ID is set, /api is not served."},
	{Name: EnvSpeechServiceScope, Default: DefaultSpeechScope,
		Description: "Scope of the Speech tokens served at /speech."},
	{Name: EnvClientID,
		Description: "Client ID (GUID) of the app registration or of a user-assigned managed identity."},
	{Name: EnvTenantID,
		Description: "Tenant ID (GUID) or tenant domain name, such as contoso.onmicrosoft.com."},
	{Name: EnvClientSecret, Secret: true,
		Description: "Client secret of the app registration; needs AZURE_TENANT_ID and AZURE_CLIENT_ID."},
	{Name: EnvAuthorityHost, Default: DefaultAuthorityHost,
		Description: "Base URL of the Entra ID authority (https, or http on a loopback address)."},
	{Name: EnvClientCertificatePath,
		Description: "Path of a PEM or PKCS#12 client certificate with its private key; needs AZURE_TENANT_ID and AZURE_CLIENT_ID."},
	{Name: EnvClientCertificatePassword, Secret: true,
		Description: "Password of the client certificate file."},
	{Name: EnvFederatedTokenFile,
		Description: "Path of the federated token file for workload identity; needs AZURE_TENANT_ID and AZURE_CLIENT_ID."},
	{Name: EnvClientCertificate, Secret: true,
		Description: "PEM text of the client certificate and its key, for runtimes without a file system such as Spin. The host fills it from AZURE_CLIENT_CERTIFICATE_PATH."},
	{Name: EnvFederatedToken, Secret: true,
		Description: "Federated token for workload identity, for runtimes without a file system. The host fills it from AZURE_FEDERATED_TOKEN_FILE on every read, so rotation works there."},
	{Name: EnvIdentityEndpoint,
		Description: "Managed identity endpoint set by App Service and Container Apps; needs IDENTITY_HEADER."},
	{Name: EnvIdentityHeader, Secret: true,
		Description: "Header value the managed identity endpoint requires; set by the platform with IDENTITY_ENDPOINT."},
	{Name: EnvIMDSEndpoint, Default: DefaultIMDSEndpoint,
		Description: "Full URL of the IMDS token endpoint, used only with AZURE_TOKEN_CREDENTIALS=ManagedIdentityCredential and no IDENTITY_ENDPOINT (https, or http on a loopback or link-local address)."},
	{Name: EnvTokenCredentials,
		Description: "Credential to use: prod (the default chain), EnvironmentCredential, WorkloadIdentityCredential or ManagedIdentityCredential; on our host also dev, AzureCLICredential, AzureDeveloperCLICredential or AzurePowerShellCredential (a developer's sign-in, through azidentity)."},
	{Name: EnvSpeechRefreshInterval, Default: DefaultSpeechRefreshInterval,
		Description: "Longest time between refreshes of the Speech token, as a Go duration (1s to 24h)."},
	{Name: EnvTokenMinLifetime, Default: DefaultTokenMinLifetime,
		Description: "Shortest remaining lifetime of a token handed to a client, as a Go duration (0s to 1h)."},
}

// Variables returns every environment variable Load reads, in the order of
// the README table, with its default and description. The caller may
// modify the returned slice.
func Variables() []Variable {
	out := make([]Variable, len(variables))
	copy(out, variables)
	return out
}

func isSecret(name string) bool {
	for _, v := range variables {
		if v.Name == name {
			return v.Secret
		}
	}
	return false
}
