//go:build !wasip1

package roundtrip

import "net/http"

func defaultTransport() http.RoundTripper { return http.DefaultTransport }
