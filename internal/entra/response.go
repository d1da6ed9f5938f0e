package entra

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/edgetoken/edgetoken/internal/token"
)

// maxBodyBytes caps what is read from an authority's response. Token
// responses are a few kilobytes; anything larger is not one.
const maxBodyBytes = 1 << 20

// maxLifetime bounds the lifetimes accepted from a response, so that a
// corrupt value cannot overflow a time.Duration. Entra tokens live hours and
// managed identity tokens a day.
const maxLifetime = 366 * 24 * time.Hour

// tokenResponse holds the fields that Entra's v2 token endpoint and the
// managed identity endpoints send. Lifetimes arrive as JSON numbers or as
// strings, depending on the endpoint, so they are decoded by hand.
type tokenResponse struct {
	AccessToken string          `json:"access_token"`
	ExpiresIn   json.RawMessage `json:"expires_in"`
	ExpiresOn   json.RawMessage `json:"expires_on"`
	RefreshIn   json.RawMessage `json:"refresh_in"`
}

// errorResponse holds the error fields of Entra (RFC 6749 section 5.2 plus
// error_codes, trace_id and correlation_id). App Service's managed identity
// endpoint sends {"statusCode":..., "message":...} instead.
type errorResponse struct {
	Error         string `json:"error"`
	Description   string `json:"error_description"`
	ErrorCodes    []int  `json:"error_codes"`
	TraceID       string `json:"trace_id"`
	CorrelationID string `json:"correlation_id"`
	Message       string `json:"message"`
}

// parseToken decodes a successful token response received at now.
//
// expires_in (seconds, number or string) wins over expires_on because it
// does not depend on the two clocks agreeing. expires_on may be Unix seconds
// as a number or a string, or a date such as "06/19/2019 23:42:01 +00:00"
// (older App Service API versions). RefreshOn is now + refresh_in when the
// response has a usable refresh_in, otherwise defaultRefreshOn.
func parseToken(body []byte, now time.Time) (token.Token, error) {
	var r tokenResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return token.Token{}, fmt.Errorf("decode token response: %w", err)
	}
	if r.AccessToken == "" {
		return token.Token{}, errors.New("token response has no access_token")
	}

	var expiresOn time.Time
	switch {
	case present(r.ExpiresIn):
		secs, err := seconds(r.ExpiresIn)
		if err != nil {
			return token.Token{}, fmt.Errorf("invalid expires_in: %w", err)
		}
		expiresOn = now.Add(secs)
	case present(r.ExpiresOn):
		t, err := expiry(r.ExpiresOn)
		if err != nil {
			return token.Token{}, fmt.Errorf("invalid expires_on: %w", err)
		}
		expiresOn = t
	default:
		return token.Token{}, errors.New("token response has neither expires_in nor expires_on")
	}
	lifetime := expiresOn.Sub(now)
	if lifetime <= 0 {
		return token.Token{}, fmt.Errorf("token response has a token that expired at %s",
			expiresOn.UTC().Format(time.RFC3339))
	}
	if lifetime > maxLifetime {
		return token.Token{}, fmt.Errorf("token response has a lifetime of %s, over the maximum %s",
			lifetime, maxLifetime)
	}

	refreshOn := defaultRefreshOn(now, lifetime)
	if present(r.RefreshIn) {
		secs, err := seconds(r.RefreshIn)
		if err != nil {
			return token.Token{}, fmt.Errorf("invalid refresh_in: %w", err)
		}
		if secs > 0 && secs < lifetime {
			refreshOn = now.Add(secs)
		}
	}

	return token.Token{Value: r.AccessToken, ExpiresOn: expiresOn, RefreshOn: refreshOn}, nil
}

// defaultRefreshOn picks a refresh time when the authority sent no
// refresh_in. Like MSAL, it refreshes at half the lifetime of a token that
// lives two hours or more (managed identity tokens live a day). A shorter
// token is refreshed five minutes before it expires, or at half its
// lifetime when that comes later.
func defaultRefreshOn(now time.Time, lifetime time.Duration) time.Time {
	if lifetime >= 2*time.Hour {
		return now.Add(lifetime / 2)
	}
	return now.Add(max(lifetime/2, lifetime-5*time.Minute))
}

// present reports whether a field was sent with a value other than null.
func present(raw json.RawMessage) bool {
	return len(raw) > 0 && !bytes.Equal(raw, []byte("null"))
}

// seconds decodes a duration in seconds, sent as a JSON number or as a
// string holding a number.
func seconds(raw json.RawMessage) (time.Duration, error) {
	s := string(raw)
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) {
		return 0, fmt.Errorf("%.40q is not a number of seconds", s)
	}
	if f < 0 || f > maxLifetime.Seconds() {
		return 0, fmt.Errorf("%v seconds is out of range", f)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// expiresOnLayouts are the date forms of expires_on sent by App Service's
// managed identity endpoint before API version 2019-08-01.
var expiresOnLayouts = []string{
	"01/02/2006 15:04:05 -07:00",
	"1/2/2006 3:04:05 PM -07:00",
}

// expiry decodes expires_on: Unix seconds as a number or a string, or a date.
func expiry(raw json.RawMessage) (time.Time, error) {
	s := string(raw)
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, err
		}
	}
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		// Bounds keep the conversion to int64 defined.
		if math.IsNaN(f) || f < 0 || f > 1e11 {
			return time.Time{}, fmt.Errorf("%v is out of range for Unix seconds", f)
		}
		return time.Unix(int64(f), 0), nil
	}
	for _, layout := range expiresOnLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%.40q is neither Unix seconds nor a date", s)
}

// newResponseError builds the AuthError for a response other than a
// usable token, taking what it can from a JSON error body. secrets removes
// the request's credential values from every text field, because a broken
// authority may echo the request.
func newResponseError(credential string, status int, body []byte, retryAfter time.Duration,
	secrets redactor) *AuthError {
	e := &AuthError{Credential: credential, StatusCode: status, RetryAfter: retryAfter}
	var r errorResponse
	if json.Unmarshal(body, &r) != nil {
		return e
	}
	e.Code = r.Error
	e.AADSTSCodes = r.ErrorCodes
	e.TraceID = r.TraceID
	e.CorrelationID = r.CorrelationID
	desc := r.Description
	if desc == "" {
		desc = r.Message
	}
	// Redact before cutting, so that a cut never leaves part of a value.
	// Entra puts the trace ID, correlation ID and timestamp on the lines
	// after the first, and those are kept in their own fields.
	desc, _, _ = strings.Cut(secrets.clean(desc), "\n")
	e.Description = strings.TrimSpace(desc)
	return secrets.scrub(e)
}
