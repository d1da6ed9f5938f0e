//go:build wasip1

package roundtrip

import "net/http"

// defaultTransport is nil in the guest: referring to http.DefaultTransport
// would link the client transport that this package exists to leave out.
func defaultTransport() http.RoundTripper { return nil }
