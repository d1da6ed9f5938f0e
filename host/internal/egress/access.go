package egress

import (
	"github.com/edgetoken/edgetoken/internal/access"
)

// AccessOrigins returns what the guest's access controls need to reach:
// the origin of AUTH_JWKS_URL when caller authentication is configured,
// and nothing otherwise. lookup reads environment variables by name, as the
// guest's settings do.
//
// It fails with access.LoadSettings' error, which names the variable, when
// the access settings are invalid, so the host refuses to start rather than
// its guest answering every request with a configuration error.
func AccessOrigins(lookup func(string) (string, bool)) ([]string, error) {
	s, err := access.LoadSettings(lookup)
	if err != nil {
		return nil, err
	}
	if s.Auth.JWKSURL == "" {
		return nil, nil
	}
	return []string{s.Auth.JWKSURL}, nil
}
