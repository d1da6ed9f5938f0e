// Package spintoml checks spin.toml against the settings the guest reads.
package spintoml

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

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

func TestEveryGuestVariableDeclaredAndMapped(t *testing.T) {
	m := loadManifest(t)
	c, ok := m.Component[componentID]
	if !ok {
		t.Fatalf("no [component.%s]", componentID)
	}
	for _, v := range config.Variables() {
		name := strings.ToLower(v.Name)
		decl, ok := m.Variables[name]
		if !ok {
			t.Errorf("variable %s (%s) not declared in [variables]", name, v.Name)
			continue
		}
		if decl.Secret != v.Secret {
			t.Errorf("variable %s: secret = %t, want %t", name, decl.Secret, v.Secret)
		}
		if decl.Required == (decl.Default != nil) {
			t.Errorf("variable %s: want exactly one of default and required = true", name)
		}
		// A non-empty Spin default must agree with the guest's own default.
		if decl.Default != nil && *decl.Default != "" && *decl.Default != v.Default {
			t.Errorf("variable %s: default %q, guest default %q", name, *decl.Default, v.Default)
		}
		want := "{{ " + name + " }}"
		if got := c.Variables[name]; got != want {
			t.Errorf("[component.%s.variables] %s = %q, want %q", componentID, name, got, want)
		}
	}
	if len(m.Variables) != len(config.Variables()) {
		t.Errorf("[variables] declares %d variables, the guest reads %d", len(m.Variables), len(config.Variables()))
	}
	if len(c.Variables) != len(config.Variables()) {
		t.Errorf("[component.%s.variables] maps %d variables, the guest reads %d", componentID, len(c.Variables), len(config.Variables()))
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
// the variable defaults and checks the form Spin accepts for a single host:
// scheme://host[:port], no path, no trailing slash.
func TestOutboundHostsWellFormed(t *testing.T) {
	m := loadManifest(t)
	hosts := m.Component[componentID].AllowedOutboundHosts
	if len(hosts) != 1 || hosts[0] != "{{ azure_authority_host }}" {
		t.Errorf("allowed_outbound_hosts = %q, want only the authority host", hosts)
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
