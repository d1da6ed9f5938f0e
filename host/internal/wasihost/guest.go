package wasihost

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// GuestConfig returns the module configuration for a guest instance: real
// wall and monotonic clocks and sleep (wazero's defaults are fake), crypto
// random, stdout and stderr passed through, and _initialize run at
// instantiation as a wasip1 reactor requires. Each instance gets no name,
// so many can coexist in one runtime.
func GuestConfig() wazero.ModuleConfig {
	return wazero.NewModuleConfig().
		WithName("").
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithRandSource(rand.Reader).
		WithStdout(os.Stdout).
		WithStderr(os.Stderr).
		WithStartFunctions("_initialize")
}

// instantiatePreview1 adds wazero's wasi_snapshot_preview1, which serves the
// Go runtime's own imports, unless r already has it.
func instantiatePreview1(ctx context.Context, r wazero.Runtime) error {
	if r.Module(wasi_snapshot_preview1.ModuleName) != nil {
		return nil
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r); err != nil {
		return fmt.Errorf("instantiate %s: %w", wasi_snapshot_preview1.ModuleName, err)
	}
	return nil
}
