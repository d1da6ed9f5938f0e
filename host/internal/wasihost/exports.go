package wasihost

import (
	"fmt"
	"sync"

	"github.com/tetratelabs/wazero/api"
)

// exports holds an instance's exported functions between calls.
//
// Looking a function up with api.Module.ExportedFunction makes a new call
// engine each time, with a fresh native stack that then grows by copying
// while the guest runs. A request lowers several strings and lists through
// cabi_realloc, so looking the functions up once per instance instead saves
// most of the host's allocation per request. The functions are reused only
// by the calls of their own instance, which never overlap.
type exports struct {
	handle       api.Function
	handleStack  [2]uint64
	realloc      api.Function // nil when the guest does not export it
	reallocStack [4]uint64
}

// instances maps each api.Module served so far to its *exports.
var instances sync.Map

func exportsOf(mod api.Module) (*exports, error) {
	if e, ok := instances.Load(mod); ok {
		return e.(*exports), nil
	}
	handle := mod.ExportedFunction(Export)
	if handle == nil {
		return nil, fmt.Errorf("guest does not export %s", Export)
	}
	e := &exports{handle: handle, realloc: mod.ExportedFunction("cabi_realloc")}
	// Forget the closed instances, whose pools replaced them, so that the
	// map holds only live ones. A new instance is rare, so the scan is too.
	instances.Range(func(key, _ any) bool {
		if key.(api.Module).IsClosed() {
			instances.Delete(key)
		}
		return true
	})
	instances.Store(mod, e)
	return e, nil
}
