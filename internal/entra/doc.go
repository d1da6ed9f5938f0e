// Package entra gets Microsoft Entra ID access tokens for the service: the
// client credentials grant with a client secret, a client certificate or a
// federated token (workload identity), and managed identity through App
// Service, Functions or IMDS. New picks one from Options in the order of
// the Azure SDKs' DefaultAzureCredential.
//
// The package uses only net/http client calls on the *http.Client it is
// given, and starts no goroutine, so the wasm guest can run it over an
// http.RoundTripper that speaks wasi:http. It retries nothing: a failed
// request returns an *AuthError whose Permanent method decides whether
// the caller answers 502 (the authority rejected the configuration) or 503
// (try again later, with RetryAfter when the authority sent one).
//
// # Why not azidentity
//
// azidentity (with MSAL) and azcore are not imported here. A guest instance
// may live for a single request (Spin makes one per request), so MSAL's
// in-memory token cache would be empty every time, and internal/token
// already keeps tokens in the shared key-value store. azcore's retry policy
// sleeps between attempts inside the request; in the guest that only delays
// the 503 with Retry-After that lets the client retry. MSAL also requires
// an https authority and fetches the openid-configuration document before
// the first token, a round trip the guest does not need. And both would add
// their code and dependencies to a module that every instance loads.
//
// # Where azcore is used
//
// Package azcred (internal/entra/azcred) adapts any azcore.TokenCredential,
// for example one of azidentity's credentials, to token.Fetcher. A Go
// program that embeds our host can pass its own credential that way. It is
// a separate package so the guest, which imports entra, does not link azcore.
package entra
