//go:build embed_guest

package main

import _ "embed"

// embeddedGuest is the guest module copied to host/guest.wasm before a
// build with the embed_guest tag.
//
//go:embed guest.wasm
var embeddedGuest []byte
