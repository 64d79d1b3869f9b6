package main

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/pictor/pictor/api"
	"github.com/pictor/pictor/auth"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestKeysNew(t *testing.T) {
	t.Parallel()
	_, prev, err := auth.NewKey(auth.ScopeAdmin, "ops")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantScopes auth.Scope
		wantName   string
		wantPrev   bool
	}{
		{"default read", []string{"new"}, nil, auth.ScopeRead, "", false},
		{"read,write as in the issue", []string{"new", "--scopes", "read,write"}, nil, auth.ScopeRead | auth.ScopeWrite, "", false},
		{"named admin", []string{"new", "-scopes", "admin", "-name", "ops-2"}, nil, auth.ScopeAdmin, "ops-2", false},
		{"appends to the configured keys", []string{"new", "-scopes", "write"},
			map[string]string{"PICTOR_API_KEYS": auth.FormatKey(prev)}, auth.ScopeWrite, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			if err := keys(context.Background(), tt.args, envOf(tt.env), &stdout, &stderr); err != nil {
				t.Fatalf("keys: got %v, want nil (stderr %s)", err, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			if len(lines) != 2 {
				t.Fatalf("stdout: got %q, want two lines", stdout.String())
			}
			secret, value, ok := lines[0], "", false
			if value, ok = strings.CutPrefix(lines[1], "PICTOR_API_KEYS="); !ok {
				t.Fatalf("second line: got %q, want PICTOR_API_KEYS=...", lines[1])
			}
			if !strings.HasPrefix(secret, auth.KeyPrefix) {
				t.Errorf("key: got %q, want the %s prefix", secret, auth.KeyPrefix)
			}
			if strings.Contains(value, secret) || strings.Contains(value, strings.TrimPrefix(secret, auth.KeyPrefix)) {
				t.Errorf("PICTOR_API_KEYS: got %q, want hashes only", value)
			}
			parsed, err := auth.ParseKeys(value)
			if err != nil {
				t.Fatalf("ParseKeys(printed value): got %v, want nil", err)
			}
			want := 1
			if tt.wantPrev {
				want = 2
				if parsed[0] != prev {
					t.Errorf("first key: got %+v, want the configured one %+v", parsed[0], prev)
				}
			}
			if len(parsed) != want {
				t.Fatalf("keys in value: got %d, want %d", len(parsed), want)
			}
			k := parsed[len(parsed)-1]
			if k.Scopes != tt.wantScopes || k.Name != tt.wantName {
				t.Errorf("new key: got scopes %v name %q, want %v %q", k.Scopes, k.Name, tt.wantScopes, tt.wantName)
			}
			if i, ok := auth.Lookup(parsed, secret); !ok || i != len(parsed)-1 {
				t.Errorf("Lookup(printed key): got %d, %v, want %d, true", i, ok, len(parsed)-1)
			}
			if strings.Contains(stderr.String(), secret) {
				t.Errorf("stderr: got the key in %q, want it on stdout only", stderr.String())
			}
		})
	}
}

func TestKeysNewRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		wantUsage bool
	}{
		{"no subcommand", nil, nil, true},
		{"unknown subcommand", []string{"list"}, nil, true},
		{"stray argument", []string{"new", "extra"}, nil, true},
		{"unknown scope", []string{"new", "-scopes", "root"}, nil, false},
		{"bad name", []string{"new", "-name", "a b"}, nil, false},
		{"broken configured keys", []string{"new"}, map[string]string{"PICTOR_API_KEYS": "nothex:read"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := keys(context.Background(), tt.args, envOf(tt.env), &stdout, &stderr)
			if err == nil {
				t.Fatalf("keys: got nil, want an error")
			}
			if got := errors.Is(err, errUsage); got != tt.wantUsage {
				t.Errorf("usage error: got %v (%v), want %v", got, err, tt.wantUsage)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout: got %q, want nothing (no key made)", stdout.String())
			}
		})
	}
}

func TestAccessSettingsApply(t *testing.T) {
	t.Parallel()
	_, k, err := auth.NewKey(auth.ScopeWrite, "ci")
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("s", auth.MinSigningKeyLen)
	tests := []struct {
		name    string
		s       accessSettings
		check   func(t *testing.T, c api.Config)
		wantErr string
	}{
		{"empty keeps the defaults", accessSettings{}, func(t *testing.T, c api.Config) {
			d := api.DefaultConfig()
			if len(c.Keys) != 0 || len(c.SigningKeys) != 0 || len(c.SessionSecret) != 0 || len(c.DeliveryWidths) != 5 || c.RateLimit != d.RateLimit {
				t.Errorf("config: got %+v, want the defaults", c)
			}
		}, ""},
		{"everything", accessSettings{APIKeys: auth.FormatKey(k), URLSigningKey: long + "1, " + long + "2", SessionSecret: " " + long + "3 ", DeliveryWidths: "100, 200",
			CORSOrigins: "https://a.example.com, http://localhost:3000", RateLimit: "2.5", RateBurst: "5", TrustedProxies: "10.0.0.0/8, 192.168.1.5"}, func(t *testing.T, c api.Config) {
			if len(c.TrustedProxies) != 2 || c.TrustedProxies[0] != netip.MustParsePrefix("10.0.0.0/8") || c.TrustedProxies[1] != netip.MustParsePrefix("192.168.1.5/32") {
				t.Errorf("trusted proxies: got %v, want [10.0.0.0/8 192.168.1.5/32]", c.TrustedProxies)
			}
			if string(c.SessionSecret) != long+"3" {
				t.Errorf("session secret: got %d bytes, want the setting trimmed", len(c.SessionSecret))
			}
			if len(c.Keys) != 1 || c.Keys[0] != k {
				t.Errorf("keys: got %+v, want [%+v]", c.Keys, k)
			}
			if len(c.SigningKeys) != 2 || string(c.SigningKeys[0]) != long+"1" {
				t.Errorf("signing keys: got %d, want 2 with the first first", len(c.SigningKeys))
			}
			if len(c.DeliveryWidths) != 2 || c.DeliveryWidths[1] != 200 {
				t.Errorf("widths: got %v, want [100 200]", c.DeliveryWidths)
			}
			if len(c.CORSOrigins) != 2 || c.CORSOrigins[1] != "http://localhost:3000" {
				t.Errorf("origins: got %v, want two", c.CORSOrigins)
			}
			if c.RateLimit != (api.RateLimit{PerSecond: 2.5, Burst: 5}) {
				t.Errorf("rate limit: got %+v, want 2.5/s burst 5", c.RateLimit)
			}
		}, ""},
		{"no widths", accessSettings{DeliveryWidths: "none"}, func(t *testing.T, c api.Config) {
			if len(c.DeliveryWidths) != 0 {
				t.Errorf("widths: got %v, want none", c.DeliveryWidths)
			}
		}, ""},
		{"rate limit off", accessSettings{RateLimit: "0"}, func(t *testing.T, c api.Config) {
			if c.RateLimit.PerSecond != 0 {
				t.Errorf("rate: got %v, want 0", c.RateLimit.PerSecond)
			}
		}, ""},
		{"bad keys", accessSettings{APIKeys: "abc:read"}, nil, "PICTOR_API_KEYS"},
		{"short signing key", accessSettings{URLSigningKey: "tiny-secret"}, nil, "PICTOR_URL_SIGNING_KEY"},
		{"short session secret", accessSettings{SessionSecret: "tiny-secret"}, nil, "PICTOR_SESSION_SECRET"},
		{"bad width", accessSettings{DeliveryWidths: "320,wide"}, nil, "PICTOR_DELIVERY_WIDTHS"},
		{"bad origin", accessSettings{CORSOrigins: "https://a.example.com/path"}, nil, "cors origin"},
		{"bad rate", accessSettings{RateLimit: "fast"}, nil, "PICTOR_RATE_LIMIT"},
		{"bad trusted proxy", accessSettings{TrustedProxies: "10.0.0.0/33"}, nil, "PICTOR_TRUSTED_PROXIES"},
		{"bad burst", accessSettings{RateBurst: "1.5"}, nil, "PICTOR_RATE_BURST"},
		{"zero burst", accessSettings{RateBurst: "0"}, nil, "burst"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := api.DefaultConfig()
			err := tt.s.apply(&c)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("apply: got %v, want an error containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "tiny-secret") {
					t.Errorf("apply: got the signing key in %q", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("apply: got %v, want nil", err)
			}
			tt.check(t, c)
		})
	}
}
