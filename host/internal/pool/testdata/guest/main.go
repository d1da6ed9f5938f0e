//go:build wasip1

// Command guest is a minimal wasip1 reactor for the pool tests. Its exports
// let a test make a call succeed, trap, run forever or use a chosen amount of
// linear memory, without depending on the token service's ABI.
package main

import "unsafe"

func main() {}

// calls counts the calls this instance has served, so a test can tell a
// fresh instance from a reused one.
var calls uint32

// retained keeps allocations reachable so the memory they use stays counted.
var retained [][]byte

//go:wasmexport add
func add(a, b uint32) uint32 {
	calls++
	return a + b
}

//go:wasmexport calls
func callCount() uint32 {
	calls++
	return calls
}

//go:wasmexport trap
func trap() {
	var p *uint32
	// A nil dereference is a Go panic inside the guest. A panic in an
	// exported function ends the guest with a non-zero exit, which the host
	// sees as an error from the call.
	_ = *(*uint32)(unsafe.Pointer(p))
}

//go:wasmexport spin
func spin() uint32 {
	var n uint32
	for {
		n++
		if n == 0 {
			calls++
		}
	}
}

// grow allocates mib MiB and keeps it reachable. Past the host's memory
// limit, memory.grow fails and the Go runtime aborts the guest.
//
//go:wasmexport grow
func grow(mib uint32) uint32 {
	for i := uint32(0); i < mib; i++ {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		retained = append(retained, b)
	}
	return uint32(len(retained))
}
