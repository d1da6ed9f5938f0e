//go:build !embed_guest

package main

// embeddedGuest is empty in a build without the embed_guest tag, so such a
// binary needs -wasm.
var embeddedGuest []byte
