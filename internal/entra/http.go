package entra

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/edgetoken/edgetoken/internal/roundtrip"
	"github.com/edgetoken/edgetoken/internal/token"
)

// errRedirect marks a redirect response. A token endpoint never redirects,
// and following one would send the credential to another address, so
// requests go through roundtrip.Send, which follows none.
var errRedirect = errors.New("redirect not followed")

// send sends a token request and turns the response into a token or an
// *AuthError. No error built here quotes the request body or headers,
// because they contain the secret, assertion or identity header. A
// transport error names only the method and URL, and no URL built in this
// package contains a secret. secrets are the credential values the request
// carries: they are removed from any text of the response that goes into
// the error, in case the authority echoes the request.
func send(client *http.Client, req *http.Request, credential string, now func() time.Time,
	secrets redactor) (token.Token, error) {
	t, err := exchange(client, req, credential, now, secrets)
	if e, ok := err.(*AuthError); ok {
		return t, secrets.scrub(e)
	}
	return t, err
}

func exchange(client *http.Client, req *http.Request, credential string, now func() time.Time,
	secrets redactor) (token.Token, error) {
	resp, err := roundtrip.Send(client, req)
	if err != nil {
		return token.Token{}, &AuthError{Credential: credential, Err: err}
	}
	defer resp.Body.Close()

	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		return token.Token{}, &AuthError{
			Credential: credential, StatusCode: resp.StatusCode,
			Err: fmt.Errorf("read response body: %w", err),
		}
	}
	if len(body) > maxBodyBytes {
		return token.Token{}, &AuthError{
			Credential: credential, StatusCode: resp.StatusCode,
			Err: fmt.Errorf("response body is over %d bytes", maxBodyBytes),
		}
	}

	received := now()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		e := newResponseError(credential, resp.StatusCode, body, 0, secrets)
		e.Err = errRedirect
		return token.Token{}, e
	}
	if resp.StatusCode != http.StatusOK {
		retryAfter := parseRetryAfter(resp.Header.Get("Retry-After"), received)
		return token.Token{}, newResponseError(credential, resp.StatusCode, body, retryAfter, secrets)
	}

	t, err := parseToken(body, received)
	if err != nil {
		// A parse error quotes the start of a bad value, which could cut
		// an echoed secret short of what the redactor matches. The error
		// from the redacted body quotes no secret at all.
		if clean := secrets.clean(string(body)); clean != string(body) {
			if _, cleanErr := parseToken([]byte(clean), received); cleanErr != nil {
				err = cleanErr
			}
		}
		return token.Token{}, &AuthError{Credential: credential, StatusCode: resp.StatusCode, Err: err}
	}
	return t, nil
}
