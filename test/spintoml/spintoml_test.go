// Package spintoml checks spin.toml against the settings the guest reads:
// every name in config.Variables(), every name access.LoadSettings reads,
// and the names component/ looks up itself, except the host-only
// REFRESH_KEY.
package spintoml

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/edgetoken/edgetoken/internal/access"
	"github.com/edgetoken/edgetoken/internal/config"
)

type manifest struct {
	Version     int `toml:"spin_manifest_version"`
	Application struct {
		Name string `toml:"name"`
	} `toml:"application"`
	Variables map[string]variable `toml:"variables"`
	Trigger   struct {
		HTTP []struct {
			Route     string `toml:"route"`
			Component string `toml:"component"`
		} `toml:"http"`
	} `toml:"trigger"`
	Component map[string]component `toml:"component"`
}

type variable struct {
	Default  *string `toml:"default"`
	Required bool    `toml:"required"`
	Secret   bool    `toml:"secret"`
}

type component struct {
	Source               string            `toml:"source"`
	AllowedOutboundHosts []string          `toml:"allowed_outbound_hosts"`
	KeyValueStores       []string          `toml:"key_value_stores"`
	Variables            map[string]string `toml:"variables"`
}

const componentID = "edgetoken"

func loadManifest(t *testing.T) manifest {
	t.Helper()
	path := filepath.Join("..", "..", "spin.toml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var m manifest
	meta, err := toml.Decode(string(data), &m)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	for _, key := range meta.Undecoded() {
		// Keys the test does not model (description, build, ...) are fine;
		// a typo in a modeled table is not.
		if strings.HasPrefix(key.String(), "variables.") {
			t.Errorf("spin.toml: unknown key %s", key)
		}
	}
	return m
}

func TestManifestVersion(t *testing.T) {
	m := loadManifest(t)
	if m.Version != 2 {
		t.Errorf("spin_manifest_version = %d, want 2", m.Version)
	}
	if m.Application.Name == "" {
		t.Error("application.name is empty")
	}
}

// accessVariables are the names access.LoadSettings reads. The access
// package exports no list, so TestAccessVariablesListed keeps this one
// true by recording every name LoadSettings looks up.
var accessVariables = []string{
	"ALLOWED_ORIGINS",
	"ENFORCE_ALLOWED_ORIGINS",
	"ALLOW_MISSING_ORIGIN",
	"RATE_LIMIT_CLIENT_PER_MINUTE",
	"RATE_LIMIT_CLIENT_BURST",
	"RATE_LIMIT_ORIGIN_PER_MINUTE",
	"RATE_LIMIT_ORIGIN_BURST",
	"TRUSTED_PROXIES",

	"AUTH_ISSUER",
	"AUTH_AUDIENCE",
	"AUTH_JWKS_URL",
	"AUTH_ALGORITHMS",
	"AUTH_LEEWAY_SECONDS",
	"AUTH_JWKS_CACHE_SECONDS",
	"API_TOKEN_COOKIE",
	"API_TOKEN_COOKIE_NAME",
	"API_TOKEN_COOKIE_DOMAIN",
	"API_TOKEN_IN_BODY",
}

// accessValues turns every access control on, so LoadSettings reads every
// name it supports.
var accessValues = map[string]string{
	"ALLOWED_ORIGINS":              "https://app.example.com",
	"ENFORCE_ALLOWED_ORIGINS":      "true",
	"ALLOW_MISSING_ORIGIN":         "false",
	"RATE_LIMIT_CLIENT_PER_MINUTE": "60",
	"RATE_LIMIT_CLIENT_BURST":      "10",
	"RATE_LIMIT_ORIGIN_PER_MINUTE": "600",
	"RATE_LIMIT_ORIGIN_BURST":      "100",
	"TRUSTED_PROXIES":              "10.0.0.0/8",
	"AUTH_ISSUER":                  "https://issuer.example.com/",
	"AUTH_AUDIENCE":                "api://edgetoken",
	"AUTH_JWKS_URL":                "https://issuer.example.com/keys",
	"AUTH_ALGORITHMS":              "RS256",
	"AUTH_LEEWAY_SECONDS":          "30",
	"AUTH_JWKS_CACHE_SECONDS":      "600",
	"API_TOKEN_COOKIE":             "true",
	"API_TOKEN_COOKIE_NAME":        "api_token",
	"API_TOKEN_COOKIE_DOMAIN":      "example.com",
	"API_TOKEN_IN_BODY":            "false",
}

func TestAccessVariablesListed(t *testing.T) {
	read := map[string]bool{}
	_, err := access.LoadSettings(func(name string) (string, bool) {
		read[name] = true
		v, ok := accessValues[name]
		return v, ok
	})
	if err != nil {
		t.Fatalf("LoadSettings with every control on: %v (update accessValues)", err)
	}
	for name := range read {
		if !slices.Contains(accessVariables, name) {
			t.Errorf("access.LoadSettings reads %s, missing from accessVariables (and so from spin.toml)", name)
		}
	}
	for _, name := range accessVariables {
		if !read[name] {
			t.Errorf("accessVariables lists %s, which access.LoadSettings no longer reads", name)
		}
	}
}

// hostOnly are names the guest reads that spin.toml must not declare.
// Without refresh_key the guest has no internal refresh route, which only
// our host may call.
var hostOnly = map[string]bool{"REFRESH_KEY": true}

// manifestOnly are spin.toml variables the guest never reads; they feed
// allowed_outbound_hosts.
var manifestOnly = map[string]bool{"auth_jwks_origin": true}

var directLookup = regexp.MustCompile(`\blookup\("([A-Z0-9_]+)"\)`)

// guestLookups returns the names component/ passes to its config lookup as
// string literals, outside the config and access packages.
func guestLookups(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "component", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("list component/*.go: %v (found %d)", err, len(files))
	}
	var names []string
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range directLookup.FindAllStringSubmatch(string(data), -1) {
			names = append(names, m[1])
		}
	}
	return names
}

// guestVariable is one setting the guest reads and spin.toml must declare.
type guestVariable struct {
	secret bool
	// def is the guest's own default, "" when unknown or none.
	def string
}

// guestVariables returns every name the guest reads, in lower case, except
// the host-only ones.
func guestVariables(t *testing.T) map[string]guestVariable {
	t.Helper()
	vars := map[string]guestVariable{}
	for _, v := range config.Variables() {
		vars[strings.ToLower(v.Name)] = guestVariable{secret: v.Secret, def: v.Default}
	}
	names := append(slices.Clone(accessVariables), guestLookups(t)...)
	for _, name := range names {
		if hostOnly[name] {
			continue
		}
		if _, ok := vars[strings.ToLower(name)]; !ok {
			vars[strings.ToLower(name)] = guestVariable{}
		}
	}
	return vars
}

func TestGuestLookupsFound(t *testing.T) {
	// The scan must see the names component/main.go reads today, or it
	// would pass on a file it no longer understands.
	found := guestLookups(t)
	for _, name := range []string{"REFRESH_KEY", "EDGETOKEN_LOG_LEVEL"} {
		if !slices.Contains(found, name) {
			t.Errorf("component/*.go: no lookup(%q) found; found %q", name, found)
		}
	}
}

func TestEveryGuestVariableDeclaredAndMapped(t *testing.T) {
	m := loadManifest(t)
	c, ok := m.Component[componentID]
	if !ok {
		t.Fatalf("no [component.%s]", componentID)
	}
	want := guestVariables(t)
	for name, v := range want {
		decl, ok := m.Variables[name]
		if !ok {
			t.Errorf("variable %s not declared in [variables]", name)
			continue
		}
		if decl.Secret != v.secret {
			t.Errorf("variable %s: secret = %t, want %t", name, decl.Secret, v.secret)
		}
		if decl.Required == (decl.Default != nil) {
			t.Errorf("variable %s: want exactly one of default and required = true", name)
		}
		// A non-empty Spin default must agree with the guest's own default.
		if decl.Default != nil && *decl.Default != "" && *decl.Default != v.def {
			t.Errorf("variable %s: default %q, guest default %q", name, *decl.Default, v.def)
		}
		ref := "{{ " + name + " }}"
		if got := c.Variables[name]; got != ref {
			t.Errorf("[component.%s.variables] %s = %q, want %q", componentID, name, got, ref)
		}
	}
	for name := range m.Variables {
		if _, ok := want[name]; !ok && !manifestOnly[name] {
			t.Errorf("[variables] declares %s, which the guest does not read", name)
		}
	}
	for name := range c.Variables {
		if _, ok := want[name]; !ok {
			t.Errorf("[component.%s.variables] maps %s, which the guest does not read", componentID, name)
		}
	}
}

func TestHostOnlyVariablesAbsent(t *testing.T) {
	m := loadManifest(t)
	c := m.Component[componentID]
	for name := range hostOnly {
		lower := strings.ToLower(name)
		if _, ok := m.Variables[lower]; ok {
			t.Errorf("[variables] declares %s: only our host sets it", lower)
		}
		if _, ok := c.Variables[lower]; ok {
			t.Errorf("[component.%s.variables] maps %s: only our host sets it", componentID, lower)
		}
	}
}

func TestManifestOnlyVariablesHaveDefaults(t *testing.T) {
	m := loadManifest(t)
	for name := range manifestOnly {
		decl, ok := m.Variables[name]
		if !ok {
			t.Errorf("variable %s not declared in [variables]", name)
			continue
		}
		// Spin checks allowed_outbound_hosts with the defaults at load, and
		// an empty host is invalid there.
		if decl.Default == nil || *decl.Default == "" || decl.Required || decl.Secret {
			t.Errorf("variable %s: want a non-empty default, not required, not secret", name)
		}
	}
}

func TestSpeechResourceIDRequired(t *testing.T) {
	m := loadManifest(t)
	if !m.Variables["speech_resource_id"].Required {
		t.Error("speech_resource_id: want required = true")
	}
}

func TestRoutesCoverEndpoints(t *testing.T) {
	m := loadManifest(t)
	routes := map[string]string{}
	for _, trigger := range m.Trigger.HTTP {
		routes[trigger.Route] = trigger.Component
	}
	for _, route := range []string{"/speech", "/api"} {
		if got := routes[route]; got != componentID {
			t.Errorf("route %s served by %q, want %q", route, got, componentID)
		}
	}
}

func TestComponentSourceAndStores(t *testing.T) {
	m := loadManifest(t)
	c := m.Component[componentID]
	if c.Source != "build/edgetoken.component.wasm" {
		t.Errorf("source = %q, want build/edgetoken.component.wasm", c.Source)
	}
	if len(c.KeyValueStores) != 1 || c.KeyValueStores[0] != "default" {
		t.Errorf("key_value_stores = %q, want [default]", c.KeyValueStores)
	}
}

var templateRef = regexp.MustCompile(`\{\{\s*([a-z0-9_]+)\s*\}\}`)

// TestOutboundHostsWellFormed resolves each allowed_outbound_hosts entry with
// the variable defaults, as Spin does when it loads the manifest, and checks
// the form Spin accepts for a single host: scheme://host[:port], no path, no
// trailing slash.
func TestOutboundHostsWellFormed(t *testing.T) {
	m := loadManifest(t)
	hosts := m.Component[componentID].AllowedOutboundHosts
	want := []string{"{{ azure_authority_host }}", "{{ auth_jwks_origin }}"}
	if !slices.Equal(hosts, want) {
		t.Errorf("allowed_outbound_hosts = %q, want %q: the authority and the caller-authentication key set", hosts, want)
	}
	for _, entry := range hosts {
		resolved := templateRef.ReplaceAllStringFunc(entry, func(ref string) string {
			name := templateRef.FindStringSubmatch(ref)[1]
			decl, ok := m.Variables[name]
			if !ok || decl.Default == nil {
				t.Errorf("allowed_outbound_hosts entry %q: variable %s has no default", entry, name)
				return ""
			}
			return *decl.Default
		})
		for _, problem := range originProblems(resolved) {
			t.Errorf("outbound host %q: %s", resolved, problem)
		}
	}
}

// originProblems returns what keeps origin from being scheme://host[:port].
func originProblems(origin string) []string {
	u, err := url.Parse(origin)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	if u.Scheme != "https" && u.Scheme != "http" {
		problems = append(problems, "scheme "+u.Scheme+", want https or http")
	}
	if u.Hostname() == "" {
		problems = append(problems, "no host")
	}
	if u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		problems = append(problems, "has a path, query, fragment or user")
	}
	return problems
}

func TestOriginProblems(t *testing.T) {
	good := []string{"https://login.microsoftonline.com", "http://127.0.0.1:8080"}
	for _, origin := range good {
		if problems := originProblems(origin); len(problems) != 0 {
			t.Errorf("originProblems(%q) = %q, want none", origin, problems)
		}
	}
	bad := []string{"https://login.microsoftonline.com/", "login.microsoftonline.com", "https://h/common", "ftp://h"}
	for _, origin := range bad {
		if problems := originProblems(origin); len(problems) == 0 {
			t.Errorf("originProblems(%q) found none, want a problem", origin)
		}
	}
}
