package access

import (
	"reflect"
	"testing"

	"github.com/edgetoken/edgetoken/internal/config"
	"github.com/edgetoken/edgetoken/internal/service"
)

func TestLoadSettingsEnforceNeedsOriginList(t *testing.T) {
	const want = "ENFORCE_ALLOWED_ORIGINS=true needs ALLOWED_ORIGINS to list the allowed origins " +
		"(scheme://host[:port], comma separated), not * or empty, which allow every origin"
	for name, origins := range map[string]*string{
		"unset":         nil,
		"empty":         ptr(""),
		"blank":         ptr("  "),
		"only_commas":   ptr(" , "),
		"star":          ptr("*"),
		"star_in_list":  ptr("https://app.example,*"),
		"star_and_list": ptr("*, https://app.example"),
	} {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{"ENFORCE_ALLOWED_ORIGINS": "true"}
			if origins != nil {
				env["ALLOWED_ORIGINS"] = *origins
			}
			_, err := LoadSettings(lookupFrom(env))
			if err == nil || err.Error() != want {
				t.Fatalf("error = %v, want %q", err, want)
			}
		})
	}

	// Without enforcement, "*" stays the default.
	if _, err := LoadSettings(lookupFrom(map[string]string{"ENFORCE_ALLOWED_ORIGINS": "false"})); err != nil {
		t.Errorf("ENFORCE_ALLOWED_ORIGINS=false with ALLOWED_ORIGINS unset: %v", err)
	}
}

func ptr(s string) *string { return &s }

func TestLoadSettingsNormalizesOrigins(t *testing.T) {
	got, err := LoadSettings(lookupFrom(map[string]string{
		"ALLOWED_ORIGINS":         "HTTPS://APP.EXAMPLE.COM, https://Admin.Example.com:443, HTTP://LOCALHOST:80, http://[::1]:8080",
		"ENFORCE_ALLOWED_ORIGINS": "true",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"https://app.example.com", "https://admin.example.com", "http://localhost", "http://[::1]:8080"}
	if !reflect.DeepEqual(got.AllowedOrigins, want) {
		t.Errorf("AllowedOrigins = %q, want %q", got.AllowedOrigins, want)
	}
}

func TestLoadSettingsRejectsBadOrigin(t *testing.T) {
	_, err := LoadSettings(lookupFrom(map[string]string{"ALLOWED_ORIGINS": "https://app.example.com/"}))
	want := `ALLOWED_ORIGINS entry "https://app.example.com/" is invalid: use scheme://host[:port], such as https://app.example.com`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

// TestOriginEnforcementAgreesWithCORS loads one ALLOWED_ORIGINS value into
// both config (CORS) and access, and checks that for each Origin a client
// might send, the guard lets the request through exactly when CORS sends
// Access-Control-Allow-Origin for it.
func TestOriginEnforcementAgreesWithCORS(t *testing.T) {
	const allowed = "HTTPS://APP.EXAMPLE.COM:443,http://Local.Example:8080,https://api.example.com"
	env := map[string]string{
		"ALLOWED_ORIGINS":         allowed,
		"ENFORCE_ALLOWED_ORIGINS": "true",
		// config.Load needs a Speech resource and an API to be valid.
		config.EnvSpeechResourceID: "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/speech1",
		config.EnvAPIAppID:         "11111111-2222-3333-4444-555555555555",
	}
	cfg, err := config.Load(lookupFrom(env))
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	s, err := LoadSettings(lookupFrom(env))
	if err != nil {
		t.Fatalf("LoadSettings: %v", err)
	}
	g := New(s, newMemStore(), nil, newClock().now)

	tests := []struct {
		origin string
		want   bool
	}{
		// What browsers send for the listed origins.
		{"https://app.example.com", true},
		{"http://local.example:8080", true},
		{"https://api.example.com", true},
		// No browser sends these; both CORS and the guard reject them.
		{"HTTPS://APP.EXAMPLE.COM", false},
		{"https://app.example.com:443", false},
		{"http://Local.Example:8080", false},
		{"http://local.example", false},
		{"https://app.example.com/", false},
		{"https://evil.example", false},
	}
	for _, tc := range tests {
		t.Run(tc.origin, func(t *testing.T) {
			cors := false
			for _, f := range service.CORSFields(cfg, tc.origin, true, false, false) {
				if f.Name == "access-control-allow-origin" && f.Value == tc.origin {
					cors = true
				}
			}
			guard := check(t, g, request("origin", tc.origin)) == nil
			if cors != tc.want || guard != tc.want {
				t.Errorf("CORS allows %v, guard allows %v, want both %v", cors, guard, tc.want)
			}
		})
	}
}

func TestGuardNormalizesSettingsBuiltInCode(t *testing.T) {
	g := New(Settings{AllowedOrigins: []string{"HTTPS://APP.EXAMPLE.COM:443"}, EnforceOrigins: true},
		newMemStore(), nil, newClock().now)
	if resp := check(t, g, request("origin", "https://app.example.com")); resp != nil {
		t.Errorf("got status %d %s, want allowed", resp.Status, resp.Body)
	}
	resp := check(t, g, request("origin", "https://APP.EXAMPLE.COM"))
	if extra := wantReject(t, resp, 403, "origin not allowed"); len(extra) != 0 {
		t.Errorf("got extra headers %v, want none", extra)
	}
}
