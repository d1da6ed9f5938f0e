package main

import (
	"bytes"
	"flag"
	"runtime"
	"strings"
	"testing"

	"github.com/edgetoken/edgetoken/internal/access"
	"github.com/edgetoken/edgetoken/internal/config"
)

func TestHelpListsFlagsAndVariables(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--help"}, envOf(nil), &stdout, &stderr); code != 0 {
		t.Fatalf("exit code = %d, want 0; stderr:\n%s", code, stderr.String())
	}
	help := stdout.String()

	fs := newFlagSet(&flags{})
	n := 0
	for name := range map[string]bool{"addr": true, "admin-addr": true, "wasm": true, "pool": true,
		"cache-dir": true, "local-authority": true, "loop-checks": true, "memory-limit": true, "shutdown-timeout": true,
		"log-level": true, "log-format": true, "version": true} {
		fl := fs.Lookup(name)
		if fl == nil {
			t.Errorf("flag -%s is not defined", name)
			continue
		}
		n++
		if !strings.Contains(help, "\n  -"+name+" ") && !strings.Contains(help, "\n  -"+name+"\n") {
			t.Errorf("help lacks -%s", name)
		}
		if env, ok := flagEnv[name]; ok && !strings.Contains(help, "(env "+env+`, default "`+fl.DefValue+`")`) {
			t.Errorf("help lacks the variable and default of -%s: want %s and %q", name, env, fl.DefValue)
		}
	}
	count := 0
	fs.VisitAll(func(*flag.Flag) { count++ })
	if count != n {
		t.Errorf("flags defined = %d, checked = %d: add the new flag to this test", count, n)
	}

	for _, v := range append(config.Variables(), access.Variables()...) {
		if !strings.Contains(help, "\n  "+v.Name+"\n") {
			t.Errorf("help lacks the variable %s", v.Name)
		}
		if v.Default != "" && !strings.Contains(help, `(default "`+v.Default+`")`) {
			t.Errorf("help lacks the default %q of %s", v.Default, v.Name)
		}
	}
	for _, want := range []string{`(env EDGETOKEN_ADDR, default ":8000")`,
		`(env EDGETOKEN_LOG_LEVEL, default "info")`, `(env EDGETOKEN_LOG_FORMAT, default "text")`,
		`(default "https://cognitiveservices.azure.com/.default")`, `(default "9m")`} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr = %q, want nothing", stderr.String())
	}
}

func TestVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-version"}, envOf(nil), &stdout, &stderr); code != 0 {
		t.Fatalf("exit code = %d, want 0", code)
	}
	// Tests build without the embed_guest tag, so no guest is embedded.
	want := "edgetoken-host dev (" + runtime.Version() + ", no embedded guest)\n"
	if got := stdout.String(); got != want {
		t.Errorf("version = %q, want %q", got, want)
	}

	saved := embeddedGuest
	embeddedGuest = []byte("abc")
	defer func() { embeddedGuest = saved }()
	want = "edgetoken-host dev (" + runtime.Version() +
		", guest sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad)"
	if got := versionText(); got != want {
		t.Errorf("version with a guest = %q, want %q", got, want)
	}
}

func TestFlagsFromEnvironment(t *testing.T) {
	f, err := parseFlags([]string{"-log-level", "warn"}, envOf(map[string]string{
		"EDGETOKEN_LOG_FORMAT":       "json",
		"EDGETOKEN_LOG_LEVEL":        "debug",
		"EDGETOKEN_ADMIN_ADDR":       "127.0.0.1:9090",
		"EDGETOKEN_POOL":             "3",
		"EDGETOKEN_LOCAL_AUTHORITY":  "true",
		"EDGETOKEN_SHUTDOWN_TIMEOUT": "5s",
	}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if f.logFormat != "json" || f.adminAddr != "127.0.0.1:9090" || f.poolSize != 3 ||
		!f.localAuthority || f.shutdownWait.String() != "5s" {
		t.Errorf("flags from the environment = %+v", f)
	}
	if f.logLevel.String() != "WARN" {
		t.Errorf("log level = %s, want WARN: the flag wins over EDGETOKEN_LOG_LEVEL", f.logLevel)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad_env_level", nil, map[string]string{"EDGETOKEN_LOG_LEVEL": "loud"},
			`EDGETOKEN_LOG_LEVEL "loud" is invalid: log level "loud" is invalid: want debug, info, warn or error`},
		{"bad_env_pool", nil, map[string]string{"EDGETOKEN_POOL": "many"}, `EDGETOKEN_POOL "many" is invalid`},
		{"bad_format", []string{"-log-format", "xml"}, nil, `-log-format "xml" is invalid: want text or json`},
		{"bad_level", []string{"-log-level", "trace"}, nil, `invalid value "trace" for flag -log-level`},
		{"argument", []string{"serve"}, nil, `unexpected argument "serve"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, envOf(tc.env), &stdout, &stderr); code != exitUsage {
				t.Errorf("exit code = %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr.String())
			}
		})
	}
}
