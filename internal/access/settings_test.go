package access

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func lookupFrom(env map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
}

func TestLoadSettingsDefaults(t *testing.T) {
	got, err := LoadSettings(lookupFrom(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{
		AllowedOrigins: []string{"*"},
		Cookie:         CookieSettings{Name: "api_token"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestLoadSettingsAll(t *testing.T) {
	got, err := LoadSettings(lookupFrom(map[string]string{
		"ALLOWED_ORIGINS":              "https://app.example, https://admin.example",
		"ENFORCE_ALLOWED_ORIGINS":      "True",
		"ALLOW_MISSING_ORIGIN":         "false",
		"RATE_LIMIT_CLIENT_PER_MINUTE": "60",
		"RATE_LIMIT_CLIENT_BURST":      "10",
		"RATE_LIMIT_ORIGIN_PER_MINUTE": "600",
		"TRUSTED_PROXIES":              "10.0.0.0/8, 192.0.2.1, ::ffff:198.51.100.0/120, 2001:db8::/32",
		"AUTH_ISSUER":                  "https://login.app.example/",
		"AUTH_AUDIENCE":                "api://a,api://b",
		"AUTH_JWKS_URL":                "https://login.app.example/keys",
		"AUTH_ALGORITHMS":              "ES256,RS512",
		"AUTH_LEEWAY_SECONDS":          "30",
		"AUTH_JWKS_CACHE_SECONDS":      "600",
		"API_TOKEN_COOKIE":             "1",
		"API_TOKEN_COOKIE_NAME":        "__Host-api",
		"API_TOKEN_COOKIE_DOMAIN":      "app.example",
		"API_TOKEN_IN_BODY":            "false",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{
		AllowedOrigins:      []string{"https://app.example", "https://admin.example"},
		EnforceOrigins:      true,
		RejectMissingOrigin: true,
		ClientRate:          Rate{PerMinute: 60, Burst: 10},
		OriginRate:          Rate{PerMinute: 600, Burst: 600},
		TrustedProxies: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.0/8"),
			netip.MustParsePrefix("192.0.2.1/32"),
			netip.MustParsePrefix("198.51.100.0/24"),
			netip.MustParsePrefix("2001:db8::/32"),
		},
		Auth: AuthSettings{
			Issuer:       "https://login.app.example/",
			Audiences:    []string{"api://a", "api://b"},
			JWKSURL:      "https://login.app.example/keys",
			Algorithms:   []string{"ES256", "RS512"},
			Leeway:       30 * time.Second,
			JWKSCacheTTL: 10 * time.Minute,
		},
		Cookie: CookieSettings{Enabled: true, Name: "__Host-api", Domain: "app.example", OmitFromBody: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestLoadSettingsAuthDefaults(t *testing.T) {
	got, err := LoadSettings(lookupFrom(map[string]string{
		"AUTH_ISSUER":   "https://login.app.example/",
		"AUTH_AUDIENCE": "api://a",
		"AUTH_JWKS_URL": "http://127.0.0.1:9000/keys",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Auth.Algorithms, []string{"RS256", "ES256", "PS256"}) {
		t.Errorf("got algorithms %v", got.Auth.Algorithms)
	}
	if got.Auth.Leeway != 60*time.Second {
		t.Errorf("got leeway %v, want 60s", got.Auth.Leeway)
	}
	if got.Auth.JWKSCacheTTL != time.Hour {
		t.Errorf("got JWKS cache TTL %v, want 1h", got.Auth.JWKSCacheTTL)
	}
}

func TestLoadSettingsErrors(t *testing.T) {
	auth := map[string]string{
		"AUTH_ISSUER":   "https://login.app.example/",
		"AUTH_AUDIENCE": "api://a",
		"AUTH_JWKS_URL": "https://login.app.example/keys",
	}
	plus := func(name, value string) map[string]string {
		env := map[string]string{name: value}
		for k, v := range auth {
			if _, set := env[k]; !set {
				env[k] = v
			}
		}
		return env
	}

	tests := []struct {
		name string
		env  map[string]string
		want string // the error must start with this
	}{
		{"bool", map[string]string{"ENFORCE_ALLOWED_ORIGINS": "yes"}, `ENFORCE_ALLOWED_ORIGINS "yes" is not a boolean`},
		{"negative_rate", map[string]string{"RATE_LIMIT_CLIENT_PER_MINUTE": "-1"}, `RATE_LIMIT_CLIENT_PER_MINUTE "-1" is not a non-negative integer`},
		{"burst_window_too_short", map[string]string{"RATE_LIMIT_ORIGIN_PER_MINUTE": "600", "RATE_LIMIT_ORIGIN_BURST": "5"},
			"RATE_LIMIT_ORIGIN_BURST 5 with RATE_LIMIT_ORIGIN_PER_MINUTE 600 gives a window under 1 s; raise RATE_LIMIT_ORIGIN_BURST to at least 10"},
		{"proxy", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8,proxy.internal"}, `TRUSTED_PROXIES entry "proxy.internal" is not an IP address or CIDR prefix`},
		{"issuer_missing", map[string]string{"AUTH_JWKS_URL": "https://login.app.example/keys"}, "AUTH_ISSUER is missing"},
		{"audience_missing", map[string]string{"AUTH_ISSUER": "x", "AUTH_JWKS_URL": "https://l/keys"}, "AUTH_AUDIENCE is missing"},
		{"jwks_missing", map[string]string{"AUTH_ISSUER": "x", "AUTH_AUDIENCE": "y"}, "AUTH_JWKS_URL is missing"},
		{"jwks_scheme", plus("AUTH_JWKS_URL", "file:///etc/keys"), `AUTH_JWKS_URL "file:///etc/keys" is not an http or https URL`},
		{"alg_none", plus("AUTH_ALGORITHMS", "RS256,none"), `AUTH_ALGORITHMS entry "none" is not supported`},
		{"alg_hs256", plus("AUTH_ALGORITHMS", "HS256"), `AUTH_ALGORITHMS entry "HS256" is not supported`},
		{"alg_empty", plus("AUTH_ALGORITHMS", ","), "AUTH_ALGORITHMS is empty"},
		{"leeway", plus("AUTH_LEEWAY_SECONDS", "1m"), `AUTH_LEEWAY_SECONDS "1m" is not a non-negative integer`},
		{"cache_zero", plus("AUTH_JWKS_CACHE_SECONDS", "0"), "AUTH_JWKS_CACHE_SECONDS must be at least 1"},
		{"cookie_name", map[string]string{"API_TOKEN_COOKIE_NAME": "api token"}, `API_TOKEN_COOKIE_NAME "api token" is not a valid cookie name`},
		{"cookie_domain", map[string]string{"API_TOKEN_COOKIE_DOMAIN": "a.example; Secure"}, `API_TOKEN_COOKIE_DOMAIN "a.example; Secure" is not a valid domain`},
		{"cookie_any_origin_default", map[string]string{"API_TOKEN_COOKIE": "true"}, "API_TOKEN_COOKIE=true needs ALLOWED_ORIGINS to list the pages' origins"},
		{"cookie_any_origin_listed", map[string]string{"API_TOKEN_COOKIE": "true", "ALLOWED_ORIGINS": "https://a.example,*"},
			"API_TOKEN_COOKIE=true needs ALLOWED_ORIGINS to list the pages' origins"},
		{"jwks_plain_http", plus("AUTH_JWKS_URL", "http://login.app.example/keys"),
			`AUTH_JWKS_URL "http://login.app.example/keys" must use https (http only on a loopback address)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadSettings(lookupFrom(tc.env))
			if err == nil {
				t.Fatalf("got no error, want %q", tc.want)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got error %q, want prefix %q", err, tc.want)
			}
		})
	}
}

func TestLoadSettingsJWKSLoopbackHTTP(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:9000/keys", "http://[::1]:9000/keys", "http://localhost/keys"} {
		s, err := LoadSettings(lookupFrom(map[string]string{
			"AUTH_ISSUER": "https://login.app.example/", "AUTH_AUDIENCE": "api://a", "AUTH_JWKS_URL": u,
		}))
		if err != nil || s.Auth.JWKSURL != u {
			t.Errorf("%s: got JWKS URL %q, error %v", u, s.Auth.JWKSURL, err)
		}
	}
}

// TestVariablesListsEveryName checks that Variables names exactly what
// LoadSettings reads, so a host that copies Variables into the guest's
// config store passes every access setting.
func TestVariablesListsEveryName(t *testing.T) {
	read := map[string]bool{}
	env := map[string]string{
		"AUTH_ISSUER": "https://login.app.example/", "AUTH_AUDIENCE": "api://a",
		"AUTH_JWKS_URL":    "https://login.app.example/keys",
		"API_TOKEN_COOKIE": "true", "ALLOWED_ORIGINS": "https://a.example",
		"RATE_LIMIT_CLIENT_PER_MINUTE": "6", "RATE_LIMIT_ORIGIN_PER_MINUTE": "6",
	}
	_, err := LoadSettings(func(name string) (string, bool) {
		read[name] = true
		v, ok := env[name]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	delete(read, "ALLOWED_ORIGINS") // config.Variables lists it

	listed := map[string]bool{}
	for _, v := range Variables() {
		if listed[v.Name] {
			t.Errorf("%s listed twice", v.Name)
		}
		listed[v.Name] = true
		if v.Description == "" {
			t.Errorf("%s has no description", v.Name)
		}
	}
	if !reflect.DeepEqual(read, listed) {
		t.Errorf("LoadSettings reads %v\nVariables lists %v", read, listed)
	}
}

func TestLoadSettingsReportsEveryProblem(t *testing.T) {
	_, err := LoadSettings(lookupFrom(map[string]string{
		"RATE_LIMIT_CLIENT_PER_MINUTE": "-1",
		"RATE_LIMIT_ORIGIN_BURST":      "abc",
		"TRUSTED_PROXIES":              "1.2.3.4/99",
		"AUTH_LEEWAY_SECONDS":          "99999999999999999999",
	}))
	if err == nil {
		t.Fatal("LoadSettings succeeded, want errors")
	}
	for _, want := range []string{
		`RATE_LIMIT_CLIENT_PER_MINUTE "-1" is not a non-negative integer`,
		`RATE_LIMIT_ORIGIN_BURST "abc" is not a non-negative integer`,
		`TRUSTED_PROXIES entry "1.2.3.4/99" is not an IP address or CIDR prefix`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestLoadSettingsNumberTooLarge(t *testing.T) {
	_, err := LoadSettings(lookupFrom(map[string]string{"RATE_LIMIT_CLIENT_PER_MINUTE": "99999999999999999999"}))
	want := `RATE_LIMIT_CLIENT_PER_MINUTE "99999999999999999999" is too large`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}
