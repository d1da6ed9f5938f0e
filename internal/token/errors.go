package token

import (
	"errors"
	"fmt"
)

// ErrRejected marks an error in which the authority rejected the token
// request (an invalid client, secret, tenant or scope, for example), so a
// retry with the same settings fails again. A Fetcher reports it by wrapping
// it with %w or by giving its own error type an Is method that matches it.
// The service responds to such failures with 502 instead of 503.
var ErrRejected = errors.New("token request rejected by the authority")

// ErrWaitTimeout is returned when another caller holds the lease and no
// usable token appeared before the wait deadline.
var ErrWaitTimeout = errors.New("timed out waiting for another caller to fetch the token")

// UsableError reports a failure that did not stop Get or Refresh from
// returning a usable token. Either a refresh failed while the stored token
// was still usable (Stale is true, and the stored token is returned), or a
// new token was fetched but could not be stored. The caller may serve the
// token returned with it and should log Err as a warning.
type UsableError struct {
	Scope string
	Stale bool
	Err   error
}

func (e *UsableError) Error() string {
	if e.Stale {
		return fmt.Sprintf("token refresh for scope %q failed, serving the stored token: %v", e.Scope, e.Err)
	}
	return fmt.Sprintf("token for scope %q fetched but not stored: %v", e.Scope, e.Err)
}

func (e *UsableError) Unwrap() error { return e.Err }

// IsUsable reports whether err is a *UsableError, so the token returned
// with it may be served.
func IsUsable(err error) bool {
	var ue *UsableError
	return errors.As(err, &ue)
}

// IsRejected reports whether err matches ErrRejected, that is, the
// authority rejected the request.
func IsRejected(err error) bool { return errors.Is(err, ErrRejected) }
