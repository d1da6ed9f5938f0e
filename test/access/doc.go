// Package access holds end-to-end tests of the access controls beyond
// CORS (origin enforcement, rate limits, caller authentication, the /api
// token cookie) through the guest on the wazero host, each with attempts to
// get past it. The host serves tokens from its own local authority, so the
// tests need no Node.js. They are skipped under -short.
package access
