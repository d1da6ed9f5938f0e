// Package faults holds tests that run the token service against an
// authority that misbehaves on purpose (throttling, server errors,
// rejections, broken bodies, slow bodies, redirects, refused connections)
// and checks what clients get, how often the authority is called and what
// is logged. The tests in native_test.go run the shared packages in
// process; those in host_test.go run the host binary with the guest.
package faults
