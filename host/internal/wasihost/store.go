package wasihost

import (
	"context"
	"sort"

	"github.com/tetratelabs/wazero/api"
)

// Bucket is the only key-value bucket the host provides.
const Bucket = "default"

type bucket struct{}

// KeyLister is implemented by a Store that can list its keys, which
// bucket.list-keys needs. Without it, list-keys returns error other(...).
type KeyLister interface {
	Keys() []string
}

// putStoreError writes the keyvalue error variant other(msg) at ptr (size 12).
func putStoreError(ctx context.Context, m api.Module, ptr uint32, tag uint8, msg string) {
	var addr uint32
	if tag == 2 {
		addr = lower(ctx, m, []byte(msg))
	}
	put8(m, ptr, tag)
	if tag == 2 {
		put32(m, ptr+4, addr)
		put32(m, ptr+8, uint32(len(msg)))
	}
}

func (h *host) keyvalueFuncs() (store, atomics []hostFunc) {
	const noSuchStore, other = 0, 2
	failed := func(ctx context.Context, m api.Module, ret, off uint32, err error) {
		put8(m, ret, 1)
		putStoreError(ctx, m, ret+off, other, err.Error())
	}
	store = []hostFunc{
		{"open", params(3), nil, func(ctx context.Context, m api.Module, s []uint64) {
			c := callOf(ctx)
			name, ret := readString(m, uint32(s[0]), uint32(s[1])), uint32(s[2])
			if name != Bucket || h.opts.Store == nil {
				put8(m, ret, 1)
				putStoreError(ctx, m, ret+4, noSuchStore, "")
				return
			}
			putHandleResult(m, ret, c.add(&bucket{}))
		}},
		{"[method]bucket.get", params(4), nil, func(ctx context.Context, m api.Module, s []uint64) {
			get[*bucket](callOf(ctx), uint32(s[0]))
			key, ret := readString(m, uint32(s[1]), uint32(s[2])), uint32(s[3])
			value, ok, err := h.opts.Store.Get(key)
			switch {
			case err != nil:
				failed(ctx, m, ret, 4, err)
			case !ok:
				put8(m, ret, 0)
				put8(m, ret+4, 0)
			default:
				addr := lower(ctx, m, value)
				put8(m, ret, 0)
				put8(m, ret+4, 1)
				put32(m, ret+8, addr)
				put32(m, ret+12, uint32(len(value)))
			}
		}},
		{"[method]bucket.set", params(6), nil, func(ctx context.Context, m api.Module, s []uint64) {
			get[*bucket](callOf(ctx), uint32(s[0]))
			key := readString(m, uint32(s[1]), uint32(s[2]))
			value, ret := readBytes(m, uint32(s[3]), uint32(s[4])), uint32(s[5])
			if value == nil {
				value = []byte{}
			}
			if err := h.opts.Store.Set(key, value); err != nil {
				failed(ctx, m, ret, 4, err)
				return
			}
			put8(m, ret, 0)
		}},
		{"[method]bucket.delete", params(4), nil, func(ctx context.Context, m api.Module, s []uint64) {
			get[*bucket](callOf(ctx), uint32(s[0]))
			key, ret := readString(m, uint32(s[1]), uint32(s[2])), uint32(s[3])
			if err := h.opts.Store.Delete(key); err != nil {
				failed(ctx, m, ret, 4, err)
				return
			}
			put8(m, ret, 0)
		}},
		{"[method]bucket.exists", params(4), nil, func(ctx context.Context, m api.Module, s []uint64) {
			get[*bucket](callOf(ctx), uint32(s[0]))
			key, ret := readString(m, uint32(s[1]), uint32(s[2])), uint32(s[3])
			_, ok, err := h.opts.Store.Get(key)
			if err != nil {
				failed(ctx, m, ret, 4, err)
				return
			}
			put8(m, ret, 0)
			put8(m, ret+4, 0)
			if ok {
				put8(m, ret+4, 1)
			}
		}},
		{"[method]bucket.list-keys", params(5), nil, func(ctx context.Context, m api.Module, s []uint64) {
			// result<key-response, error>: key-response at 4, with keys
			// at 4 and the cursor option<string> at 12. All keys come in
			// one page, so the cursor is always none.
			get[*bucket](callOf(ctx), uint32(s[0]))
			ret := uint32(s[4])
			lister, ok := h.opts.Store.(KeyLister)
			if !ok {
				put8(m, ret, 1)
				putStoreError(ctx, m, ret+4, other, "list-keys is not supported by this store")
				return
			}
			keys := lister.Keys()
			sort.Strings(keys)
			addrs := make([]uint32, len(keys))
			for i, k := range keys {
				addrs[i] = lower(ctx, m, []byte(k))
			}
			base := alloc(ctx, m, 4, uint32(8*len(keys)))
			for i, k := range keys {
				put32(m, base+uint32(8*i), addrs[i])
				put32(m, base+uint32(8*i)+4, uint32(len(k)))
			}
			put8(m, ret, 0)
			put32(m, ret+4, base)
			put32(m, ret+8, uint32(len(keys)))
			put8(m, ret+12, 0)
		}},
		h.drop("bucket"),
	}
	atomics = []hostFunc{
		{"increment", []api.ValueType{i32, i32, i32, i64, i32}, nil, func(ctx context.Context, m api.Module, s []uint64) {
			// result<u64, error>: the payload at 8.
			get[*bucket](callOf(ctx), uint32(s[0]))
			key, ret := readString(m, uint32(s[1]), uint32(s[2])), uint32(s[4])
			n, err := h.opts.Store.Increment(key, s[3])
			if err != nil {
				failed(ctx, m, ret, 8, err)
				return
			}
			put8(m, ret, 0)
			put64(m, ret+8, n)
		}},
	}
	return store, atomics
}

func (h *host) configFuncs() []hostFunc {
	return []hostFunc{
		{"get", params(3), nil, func(ctx context.Context, m api.Module, s []uint64) {
			// result<option<string>, error>: the option at 4.
			key, ret := readString(m, uint32(s[0]), uint32(s[1])), uint32(s[2])
			var value string
			var ok bool
			if h.opts.Config != nil {
				value, ok = h.opts.Config(key)
			}
			put8(m, ret, 0)
			putOptionString(ctx, m, ret+4, value, ok)
		}},
		{"get-all", params(1), nil, func(ctx context.Context, m api.Module, s []uint64) {
			// result<list<tuple<string, string>>, error>: the list at 4.
			ret := uint32(s[0])
			var list []fieldEntry
			if h.opts.ConfigKeys != nil && h.opts.Config != nil {
				for _, k := range h.opts.ConfigKeys() {
					if v, ok := h.opts.Config(k); ok {
						list = append(list, fieldEntry{k, []byte(v)})
					}
				}
			}
			putEntries(ctx, m, ret+4, list)
			put8(m, ret, 0)
		}},
	}
}

func (h *host) modules() []hostModule {
	poll, streams, ioerror := h.ioFuncs()
	store, atomics := h.keyvalueFuncs()
	return []hostModule{
		{"wasi:io/error@0.2.0", ioerror},
		{"wasi:io/poll@0.2.0", poll},
		{"wasi:io/streams@0.2.0", streams},
		{"wasi:http/types@0.2.0", append(h.fieldsFuncs(), h.httpFuncs()...)},
		{"wasi:http/outgoing-handler@0.2.0", []hostFunc{{"handle", params(4), nil, h.outgoingHandle}}},
		{"wasi:keyvalue/store@0.2.0-draft2", store},
		{"wasi:keyvalue/atomics@0.2.0-draft2", atomics},
		{"wasi:config/store@0.2.0-draft-2024-09-27", h.configFuncs()},
	}
}
