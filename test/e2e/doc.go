// Package e2e runs the token service end to end: the guest on the wazero
// host and the native net/http handler, each fetching real JWT access
// tokens from oidc-provider (test/oidc/server.mjs) on loopback, and the
// original service's example client against the host.
//
// The tests need Node.js with `npm ci` run at the repository root, and
// python3 with the requests package. `go test -short` skips them.
package e2e
