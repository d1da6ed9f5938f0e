package authority

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// msalScopes are the scopes MSAL appends to every request; Entra ignores
// them in the client credentials grant, and so does the Authority.
var msalScopes = map[string]bool{"openid": true, "offline_access": true, "profile": true}

const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

func (a *Authority) serveToken(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	if err := r.ParseForm(); err != nil {
		entraError(w, r, http.StatusBadRequest, "invalid_request", 900144, "The request body is not a valid form.")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		entraError(w, r, http.StatusBadRequest, "unsupported_grant_type", 70003,
			fmt.Sprintf("The app requested an unsupported grant type %q.", gt))
		return
	}

	var scopes []string
	for _, s := range strings.Fields(r.PostForm.Get("scope")) {
		if !msalScopes[s] {
			scopes = append(scopes, s)
		}
	}
	if len(scopes) != 1 || !strings.HasSuffix(scopes[0], "/.default") || scopes[0] == "/.default" {
		entraError(w, r, http.StatusBadRequest, "invalid_scope", 1002012,
			fmt.Sprintf("The provided value for scope %q is not valid. Client credential flows must have "+
				"one scope value with /.default suffixed to the resource identifier.",
				r.PostForm.Get("scope")))
		return
	}
	scope := scopes[0]
	lifetime, fail := a.count(scope)
	if fail != 0 {
		injectedError(w, r, fail)
		return
	}

	clientID := r.PostForm.Get("client_id")
	if clientID == "" {
		entraError(w, r, http.StatusBadRequest, "invalid_request", 900144,
			"The request body must contain the following parameter: 'client_id'.")
		return
	}
	if a.opts.ClientID != "" && clientID != a.opts.ClientID {
		entraError(w, r, http.StatusBadRequest, "unauthorized_client", 700016,
			fmt.Sprintf("Application with identifier %q was not found in the directory %q.", clientID, tenant))
		return
	}
	tokenURL := baseURL(r) + "/" + tenant + "/oauth2/v2.0/token"
	if status, code, aadsts, msg := a.authenticate(r.PostForm, tokenURL); status != 0 {
		entraError(w, r, status, code, aadsts, msg)
		return
	}

	access, err := a.issue(baseURL(r), tenant, clientID, strings.TrimSuffix(scope, "/.default"), lifetime)
	if err != nil {
		entraError(w, r, http.StatusInternalServerError, "server_error", 0, "Signing the token failed.")
		return
	}
	secs := int64(lifetime / time.Second)
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     secs,
		"ext_expires_in": secs,
		"access_token":   access,
	})
}

// authenticate checks client_secret or client_assertion and returns a zero
// status when the client is authenticated.
func (a *Authority) authenticate(form url.Values, tokenURL string) (status int, code string, aadsts int, msg string) {
	secret, assertion := form.Get("client_secret"), form.Get("client_assertion")
	switch {
	case assertion != "":
		if form.Get("client_assertion_type") != clientAssertionType {
			return http.StatusBadRequest, "invalid_request", 50027, "Invalid client_assertion_type."
		}
		claims := jwt.MapClaims{}
		if _, _, err := jwt.NewParser().ParseUnverified(assertion, claims); err != nil {
			return http.StatusUnauthorized, "invalid_client", 50027, "Invalid JWT token: the client assertion is malformed."
		}
		iss, _ := claims.GetIssuer()
		if len(a.opts.ClientCertificates) == 0 || iss != form.Get("client_id") {
			return 0, "", 0, ""
		}
		return a.verifyCertificateAssertion(assertion, form.Get("client_id"), tokenURL)
	case secret != "":
		if a.opts.ClientSecret != "" &&
			subtle.ConstantTimeCompare([]byte(secret), []byte(a.opts.ClientSecret)) != 1 {
			return http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided."
		}
		return 0, "", 0, ""
	}
	return http.StatusUnauthorized, "invalid_client", 7000218,
		"The request body must contain the following parameter: 'client_assertion' or 'client_secret'."
}

// verifyCertificateAssertion checks a client assertion signed with a
// certificate's key against ClientCertificates, as Entra checks it against
// the certificates registered on the application.
func (a *Authority) verifyCertificateAssertion(assertion, clientID, tokenURL string) (
	status int, code string, aadsts int, msg string) {

	var unregistered bool
	keyFunc := func(t *jwt.Token) (any, error) {
		c := a.registeredCertificate(t.Header)
		if c == nil {
			unregistered = true
			return nil, errors.New("no registered certificate matches the x5t#S256 or x5t header")
		}
		return c.PublicKey, nil
	}
	_, err := jwt.Parse(assertion, keyFunc,
		jwt.WithValidMethods([]string{"RS256", "PS256"}),
		jwt.WithAudience(tokenURL),
		jwt.WithIssuer(clientID),
		jwt.WithSubject(clientID),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(a.opts.Now),
		jwt.WithLeeway(time.Minute),
	)
	switch {
	case err == nil:
		return 0, "", 0, ""
	case unregistered:
		return http.StatusUnauthorized, "invalid_client", 700027,
			"The certificate used to sign the client assertion is not registered on the application."
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return http.StatusUnauthorized, "invalid_client", 700027, "Client assertion failed signature validation."
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return http.StatusUnauthorized, "invalid_client", 700016,
			fmt.Sprintf("The audience of the client assertion is not the token endpoint %q.", tokenURL)
	case errors.Is(err, jwt.ErrTokenExpired), errors.Is(err, jwt.ErrTokenNotValidYet),
		errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return http.StatusUnauthorized, "invalid_client", 700024, "Client assertion is not within its valid time range."
	}
	return http.StatusUnauthorized, "invalid_client", 700021,
		"Client assertion failed validation: " + err.Error()
}

// registeredCertificate returns the certificate of ClientCertificates whose
// SHA-256 (x5t#S256) or SHA-1 (x5t) thumbprint the header names, or nil.
func (a *Authority) registeredCertificate(header map[string]any) *x509.Certificate {
	s256, _ := header["x5t#S256"].(string)
	s1, _ := header["x5t"].(string)
	for _, c := range a.opts.ClientCertificates {
		sum256 := sha256.Sum256(c.Raw)
		sum1 := sha1.Sum(c.Raw)
		if s256 != "" && s256 == base64.RawURLEncoding.EncodeToString(sum256[:]) {
			return c
		}
		if s256 == "" && s1 != "" && s1 == base64.RawURLEncoding.EncodeToString(sum1[:]) {
			return c
		}
	}
	return nil
}

// issue signs an access token shaped like Entra's v2 application tokens.
func (a *Authority) issue(base, tenant, clientID, audience string, lifetime time.Duration) (string, error) {
	now := a.opts.Now()
	claims := jwt.MapClaims{
		"iss":      base + "/" + tenant + "/v2.0",
		"aud":      audience,
		"tid":      tenant,
		"appid":    clientID,
		"azp":      clientID,
		"sub":      clientID,
		"oid":      clientID,
		"ver":      "2.0",
		"iat":      now.Unix(),
		"nbf":      now.Unix(),
		"exp":      now.Add(lifetime).Unix(),
		"uti":      randomID(),
		"not_real": true,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = a.kid
	return t.SignedString(a.key)
}

func (a *Authority) serveAppService(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	header := r.Header.Get("X-IDENTITY-HEADER")
	ok := header != "" && (a.opts.IdentityHeader == "" ||
		subtle.ConstantTimeCompare([]byte(header), []byte(a.opts.IdentityHeader)) == 1)
	if !ok {
		appServiceError(w, http.StatusUnauthorized, "X-IDENTITY-HEADER is missing or wrong.")
		return
	}
	if v := q.Get("api-version"); v != "2019-08-01" {
		appServiceError(w, http.StatusBadRequest, fmt.Sprintf("api-version %q is not supported.", v))
		return
	}
	m, fail := a.managedToken(r, q.Get("resource"), q.Get("client_id"))
	switch {
	case fail != 0:
		injectedError(w, r, fail)
		return
	case m.token == "":
		appServiceError(w, http.StatusBadRequest, "The resource parameter is missing.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": m.token,
		"expires_on":   m.expiresOn,
		"resource":     q.Get("resource"),
		"token_type":   "Bearer",
		"client_id":    m.clientID,
	})
}

func (a *Authority) serveIMDS(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.Header.Get("Metadata") != "true" {
		imdsError(w, http.StatusBadRequest, "invalid_request", "Required metadata header not specified")
		return
	}
	if v := q.Get("api-version"); v != "2018-02-01" {
		imdsError(w, http.StatusBadRequest, "invalid_request", "Invalid API version")
		return
	}
	m, fail := a.managedToken(r, q.Get("resource"), q.Get("client_id"))
	switch {
	case fail != 0:
		injectedError(w, r, fail)
		return
	case m.token == "":
		imdsError(w, http.StatusBadRequest, "invalid_request", "Required audience parameter not specified")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":   m.token,
		"client_id":      m.clientID,
		"expires_in":     m.expiresIn,
		"expires_on":     m.expiresOn,
		"ext_expires_in": m.expiresIn,
		"not_before":     strconv.FormatInt(a.opts.Now().Unix(), 10),
		"resource":       q.Get("resource"),
		"token_type":     "Bearer",
	})
}

// managedToken counts and issues a managed identity token for resource. It
// returns an empty token when resource is missing, and the status queued by
// FailNext, if any.
func (a *Authority) managedToken(r *http.Request, resource, clientID string) (managed, int) {
	if resource == "" {
		return managed{}, 0
	}
	lifetime, fail := a.count(resource + "/.default")
	if fail != 0 {
		return managed{}, fail
	}
	if clientID == "" {
		clientID = DefaultManagedIdentityClientID
	}
	now := a.opts.Now()
	t, err := a.issue(baseURL(r), DefaultManagedIdentityTenantID, clientID, resource, lifetime)
	if err != nil {
		return managed{}, http.StatusInternalServerError
	}
	return managed{
		token:     t,
		clientID:  clientID,
		expiresOn: strconv.FormatInt(now.Add(lifetime).Unix(), 10),
		expiresIn: strconv.FormatInt(int64(lifetime/time.Second), 10),
	}, 0
}

// managed is an issued managed identity token with its times as the
// decimal strings that the endpoints send.
type managed struct {
	token, clientID      string
	expiresOn, expiresIn string
}

// entraError writes an error body shaped like Entra's, with AADSTS code,
// trace ID and correlation ID (the request's client-request-id when sent).
func entraError(w http.ResponseWriter, r *http.Request, status int, code string, aadsts int, msg string) {
	trace := randomID()
	correlation := r.Header.Get("client-request-id")
	if correlation == "" {
		correlation = randomID()
	}
	now := time.Now().UTC().Format("2006-01-02 15:04:05Z")
	desc := msg
	codes := []int{}
	if aadsts != 0 {
		desc = fmt.Sprintf("AADSTS%d: %s", aadsts, msg)
		codes = append(codes, aadsts)
	}
	desc += "\r\nTrace ID: " + trace + "\r\nCorrelation ID: " + correlation + "\r\nTimestamp: " + now
	writeJSON(w, status, map[string]any{
		"error":             code,
		"error_description": desc,
		"error_codes":       codes,
		"timestamp":         now,
		"trace_id":          trace,
		"correlation_id":    correlation,
	})
}

// injectedError writes the failure that FailNext queued.
func injectedError(w http.ResponseWriter, r *http.Request, status int) {
	switch status {
	case http.StatusBadRequest:
		entraError(w, r, status, "invalid_request", 900144, "Injected failure.")
	case http.StatusUnauthorized:
		entraError(w, r, status, "invalid_client", 7000215, "Invalid client secret provided.")
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
		entraError(w, r, status, "temporarily_unavailable", 0, "Too many requests.")
	default:
		entraError(w, r, status, "temporarily_unavailable", 0, "Injected failure.")
	}
}

func appServiceError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"statusCode": status, "message": msg})
}

func imdsError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": code, "error_description": msg})
}

// randomID returns a random UUID (version 4).
func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
