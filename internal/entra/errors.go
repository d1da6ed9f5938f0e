package entra

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/edgetoken/edgetoken/internal/token"
)

// ErrNoCredential reports that the options name no usable credential: no
// client secret, certificate, federated token or managed identity endpoint.
var ErrNoCredential = errors.New("entra: no credential configured")

// AuthError is a failed token request: a response other than a token, a
// token response that cannot be used, or a transport failure (Err set,
// StatusCode 0).
//
// Its message holds the credential, the status, the OAuth error code, the
// AADSTS codes and the trace and correlation IDs. It never holds the
// request. An authority or proxy that copies the request into its response
// could still put a secret there, so every text taken from a response has
// the request's client secret, client assertion, federated token or
// identity header replaced with "[redacted]", and is capped in length.
type AuthError struct {
	// Credential is the credential's name, as Credential.Name returns it.
	Credential string
	// StatusCode is the HTTP status, or 0 when no response arrived.
	StatusCode int
	// Code is the OAuth error code ("invalid_client"), when sent.
	Code string
	// Description is the first line of error_description (or of App
	// Service's message), when sent, cut to 300 bytes.
	Description string
	// AADSTSCodes are the numeric codes of error_codes ("AADSTS7000215"
	// is 7000215).
	AADSTSCodes   []int
	TraceID       string
	CorrelationID string
	// RetryAfter is the wait the authority asked for with Retry-After, or
	// 0 when it sent none.
	RetryAfter time.Duration
	// Err is the cause when no usable response arrived: a transport error,
	// a body too large, or a token response missing a field.
	Err error
}

func (e *AuthError) Error() string {
	var b strings.Builder
	b.WriteString("entra: ")
	b.WriteString(e.Credential)
	b.WriteString(": token request failed")

	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": status %d", e.StatusCode)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, ", error %q", e.Code)
	}
	for _, c := range e.AADSTSCodes {
		fmt.Fprintf(&b, ", AADSTS%d", c)
	}
	if e.Description != "" {
		fmt.Fprintf(&b, ", description %q", e.Description)
	}
	if e.TraceID != "" {
		fmt.Fprintf(&b, ", trace ID %s", e.TraceID)
	}
	if e.CorrelationID != "" {
		fmt.Fprintf(&b, ", correlation ID %s", e.CorrelationID)
	}

	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, ", retry after %s", e.RetryAfter)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *AuthError) Unwrap() error { return e.Err }

// RetryAfterDelay returns RetryAfter, so token.Cache can honour it without
// importing this package (token.RetryAfterer).
func (e *AuthError) RetryAfterDelay() time.Duration { return e.RetryAfter }

// Is matches token.ErrRejected when the failure is permanent, so the service
// responds to a rejected configuration with 502 and to a transient failure
// with 503.
func (e *AuthError) Is(target error) bool {
	return target == token.ErrRejected && e.Permanent()
}

// permanentCodes are OAuth error codes that the same request will get again:
// the configuration has to change first.
var permanentCodes = map[string]bool{
	"invalid_client":         true,
	"unauthorized_client":    true,
	"invalid_request":        true,
	"invalid_scope":          true,
	"invalid_grant":          true,
	"unsupported_grant_type": true,
	"invalid_resource":       true,
}

// Permanent reports whether repeating the request is pointless until the
// configuration changes. It is true for the OAuth codes invalid_client,
// unauthorized_client, invalid_request, invalid_scope, invalid_grant,
// unsupported_grant_type and invalid_resource, for any other 4xx status
// except 408, 410 and 429, for redirects, and for a 200 response that is
// not a usable token. It is false for 408, 410 (IMDS sends it while it
// starts), 429, 5xx and transport errors.
func (e *AuthError) Permanent() bool {
	if permanentCodes[e.Code] {
		return true
	}
	switch {
	case e.StatusCode == 0:
		return false
	case e.StatusCode == http.StatusRequestTimeout,
		e.StatusCode == http.StatusGone,
		e.StatusCode == http.StatusTooManyRequests,
		e.StatusCode >= 500:
		return false
	}
	return true
}

// parseRetryAfter reads a Retry-After value given as seconds or as an HTTP
// date. It returns 0 for an absent, invalid or past value.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 32); err == nil {
		if s <= 0 {
			return 0
		}
		// A day caps values that would overflow a Duration.
		return min(time.Duration(s)*time.Second, 24*time.Hour)
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	if d := t.Sub(now); d > 0 {
		return d.Round(time.Second)
	}
	return 0
}
