package wasihost

import (
	"context"
	"net/http"
	"strings"

	"github.com/tetratelabs/wazero/api"
)

// Header errors, by their case in wasi:http/types.header-error.
const (
	headerInvalidSyntax = 0
	headerForbidden     = 1
	headerImmutable     = 2
)

// forbiddenFields are the hop-by-hop and host-managed fields a guest may not
// set, the same set wasmtime forbids.
var forbiddenFields = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-authenticate": true,
	"proxy-authorization": true, "proxy-connection": true, "transfer-encoding": true,
	"upgrade": true, "host": true, "http2-settings": true,
}

type fieldEntry struct {
	name  string // lower case
	value []byte
}

// fields is a header or trailer map. Names are stored in lower case, in
// insertion order.
type fields struct {
	list      []fieldEntry
	immutable bool
}

func fieldsFromHeader(h http.Header) *fields {
	f := &fields{immutable: true}
	for name, values := range h {
		lower := strings.ToLower(name)
		if forbiddenFields[lower] {
			continue
		}
		for _, v := range values {
			f.list = append(f.list, fieldEntry{lower, []byte(v)})
		}
	}
	return f
}

func (f *fields) header() http.Header {
	h := http.Header{}
	for _, e := range f.list {
		h.Add(e.name, string(e.value))
	}
	return h
}

func (f *fields) clone() *fields {
	return &fields{list: append([]fieldEntry(nil), f.list...)}
}

func validName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func validValue(v []byte) bool {
	for _, c := range v {
		if c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}

// check returns the header-error for changing name, or -1.
func (f *fields) check(name string) int {
	switch {
	case f.immutable:
		return headerImmutable
	case !validName(name):
		return headerInvalidSyntax
	case forbiddenFields[strings.ToLower(name)]:
		return headerForbidden
	}
	return -1
}

func (f *fields) remove(name string) {
	kept := f.list[:0]
	for _, e := range f.list {
		if e.name != name {
			kept = append(kept, e)
		}
	}
	f.list = kept
}

// putHeaderResult writes result<_, header-error> at ret.
func putHeaderResult(m api.Module, ret uint32, code int) {
	if code < 0 {
		put8(m, ret, 0)
		return
	}
	put8(m, ret, 1)
	put8(m, ret+1, uint8(code))
}

// putEntries writes list<tuple<field-name, field-value>> at ret.
//
// The list and every name and value go into one block from cabi_realloc:
// each call into the guest costs far more than the bytes, and the guest
// copies the strings out before it frees anything.
func putEntries(ctx context.Context, m api.Module, ret uint32, list []fieldEntry) {
	size := 16 * len(list)
	for _, e := range list {
		size += len(e.name) + len(e.value)
	}
	base := alloc(ctx, m, 4, uint32(size))
	next := base + uint32(16*len(list))
	for i, e := range list {
		elem := base + uint32(16*i)
		put32(m, elem, next)
		put32(m, elem+4, uint32(len(e.name)))
		put(m, next, []byte(e.name))
		next += uint32(len(e.name))
		put32(m, elem+8, next)
		put32(m, elem+12, uint32(len(e.value)))
		put(m, next, e.value)
		next += uint32(len(e.value))
	}
	put32(m, ret, base)
	put32(m, ret+4, uint32(len(list)))
}

func (h *host) fieldsFuncs() []hostFunc {
	return []hostFunc{
		{"[constructor]fields", nil, []api.ValueType{i32}, func(ctx context.Context, m api.Module, s []uint64) {
			s[0] = uint64(callOf(ctx).add(&fields{}))
		}},
		{"[static]fields.from-list", params(3), nil, func(ctx context.Context, m api.Module, s []uint64) {
			c := callOf(ctx)
			ptr, n, ret := uint32(s[0]), uint32(s[1]), uint32(s[2])
			f := &fields{}
			for i := range n {
				elem := ptr + 16*i
				name := readString(m, readU32(m, elem), readU32(m, elem+4))
				value := readBytes(m, readU32(m, elem+8), readU32(m, elem+12))
				if code := f.check(name); code >= 0 || !validValue(value) {
					if code < 0 {
						code = headerInvalidSyntax
					}
					putHeaderResult(m, ret, code)
					return
				}
				f.list = append(f.list, fieldEntry{strings.ToLower(name), value})
			}
			putHandleResult(m, ret, c.add(f))
		}},
		{"[method]fields.get", params(4), nil, func(ctx context.Context, m api.Module, s []uint64) {
			f := get[*fields](callOf(ctx), uint32(s[0]))
			name := strings.ToLower(readString(m, uint32(s[1]), uint32(s[2])))
			var values [][]byte
			for _, e := range f.list {
				if e.name == name {
					values = append(values, e.value)
				}
			}
			// One block for the list and the values, as in putEntries.
			size := 8 * len(values)
			for _, v := range values {
				size += len(v)
			}
			base := alloc(ctx, m, 4, uint32(size))
			next := base + uint32(8*len(values))
			for i, v := range values {
				put32(m, base+uint32(8*i), next)
				put32(m, base+uint32(8*i)+4, uint32(len(v)))
				put(m, next, v)
				next += uint32(len(v))
			}
			ret := uint32(s[3])
			put32(m, ret, base)
			put32(m, ret+4, uint32(len(values)))
		}},
		{"[method]fields.has", params(3), []api.ValueType{i32}, func(ctx context.Context, m api.Module, s []uint64) {
			f := get[*fields](callOf(ctx), uint32(s[0]))
			name := strings.ToLower(readString(m, uint32(s[1]), uint32(s[2])))
			s[0] = 0
			for _, e := range f.list {
				if e.name == name {
					s[0] = 1
				}
			}
		}},
		{"[method]fields.set", params(6), nil, func(ctx context.Context, m api.Module, s []uint64) {
			f := get[*fields](callOf(ctx), uint32(s[0]))
			name := readString(m, uint32(s[1]), uint32(s[2]))
			ptr, n, ret := uint32(s[3]), uint32(s[4]), uint32(s[5])
			code := f.check(name)
			var values [][]byte
			for i := range n {
				v := readBytes(m, readU32(m, ptr+8*i), readU32(m, ptr+8*i+4))
				if !validValue(v) && code < 0 {
					code = headerInvalidSyntax
				}
				values = append(values, v)
			}
			if code < 0 {
				lowerName := strings.ToLower(name)
				f.remove(lowerName)
				for _, v := range values {
					f.list = append(f.list, fieldEntry{lowerName, v})
				}
			}
			putHeaderResult(m, ret, code)
		}},
		{"[method]fields.delete", params(4), nil, func(ctx context.Context, m api.Module, s []uint64) {
			f := get[*fields](callOf(ctx), uint32(s[0]))
			name := readString(m, uint32(s[1]), uint32(s[2]))
			code := f.check(name)
			if code < 0 {
				f.remove(strings.ToLower(name))
			}
			putHeaderResult(m, uint32(s[3]), code)
		}},
		{"[method]fields.append", params(6), nil, func(ctx context.Context, m api.Module, s []uint64) {
			f := get[*fields](callOf(ctx), uint32(s[0]))
			name := readString(m, uint32(s[1]), uint32(s[2]))
			value := readBytes(m, uint32(s[3]), uint32(s[4]))
			code := f.check(name)
			if code < 0 && !validValue(value) {
				code = headerInvalidSyntax
			}
			if code < 0 {
				f.list = append(f.list, fieldEntry{strings.ToLower(name), value})
			}
			putHeaderResult(m, uint32(s[5]), code)
		}},
		{"[method]fields.entries", params(2), nil, func(ctx context.Context, m api.Module, s []uint64) {
			f := get[*fields](callOf(ctx), uint32(s[0]))
			putEntries(ctx, m, uint32(s[1]), f.list)
		}},
		{"[method]fields.clone", params(1), []api.ValueType{i32}, func(ctx context.Context, m api.Module, s []uint64) {
			c := callOf(ctx)
			s[0] = uint64(c.add(get[*fields](c, uint32(s[0])).clone()))
		}},
		h.drop("fields"),
	}
}

// drop returns the [resource-drop] function for resource name.
func (h *host) drop(name string) hostFunc {
	return hostFunc{"[resource-drop]" + name, params(1), nil, func(ctx context.Context, m api.Module, s []uint64) {
		if v := callOf(ctx).remove(uint32(s[0])); v != nil {
			if d, ok := v.(interface{ dropped() }); ok {
				d.dropped()
			}
		}
	}}
}
