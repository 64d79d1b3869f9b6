package main

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pictor/pictor/auth"
)

var (
	signingNew = strings.Repeat("n", 40)
	signingOld = strings.Repeat("o", 40)
)

func TestSign(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantURL string // without the signature: base + "/img/" + SIG + rest
		rest    string
	}{
		{"default base", []string{"listing-main", "img_0123abcd", "webp"},
			map[string]string{"PICTOR_URL_SIGNING_KEY": signingNew}, "http://localhost:8080", "/listing-main/img_0123abcd.webp"},
		{"cdn base with width", []string{"--base", "https://cdn.example.com/", "-width", "640", "listing.main", "img_0123abcd", "auto"},
			map[string]string{"PICTOR_URL_SIGNING_KEY": signingNew}, "https://cdn.example.com", "/listing.main/img_0123abcd.auto?w=640"},
		{"configured widths", []string{"-width", "500", "r", "img_1", "jpeg"},
			map[string]string{"PICTOR_URL_SIGNING_KEY": signingNew, "PICTOR_DELIVERY_WIDTHS": "500,1000"}, "http://localhost:8080", "/r/img_1.jpeg?w=500"},
		{"the first of several keys signs", []string{"r", "img_1", "png"},
			map[string]string{"PICTOR_URL_SIGNING_KEY": signingNew + "," + signingOld}, "http://localhost:8080", "/r/img_1.png"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			if err := sign(context.Background(), tt.args, envOf(tt.env), &stdout, &stderr); err != nil {
				t.Fatalf("sign: got %v, want nil (stderr %s)", err, stderr.String())
			}
			got := strings.TrimSpace(stdout.String())
			prefix := tt.wantURL + "/img/"
			if !strings.HasPrefix(got, prefix) || !strings.HasSuffix(got, tt.rest) {
				t.Fatalf("url: got %q, want %sSIG%s", got, prefix, tt.rest)
			}
			sig := strings.TrimSuffix(strings.TrimPrefix(got, prefix), tt.rest)
			if !auth.Verify([][]byte{[]byte(signingNew)}, tt.rest, sig) {
				t.Errorf("signature %q: got no match under the first key, want one", sig)
			}
			if auth.Verify([][]byte{[]byte(signingOld)}, tt.rest, sig) {
				t.Errorf("signature %q: got a match under the old key, want the first key to sign", sig)
			}
			if _, err := url.Parse(got); err != nil {
				t.Errorf("url %q: %v", got, err)
			}
		})
	}
}

func TestSignRejects(t *testing.T) {
	t.Parallel()
	key := map[string]string{"PICTOR_URL_SIGNING_KEY": signingNew}
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		wantUsage bool
		wantErr   string
	}{
		{"too few arguments", []string{"r", "img_1"}, key, true, ""},
		{"no signing key", []string{"r", "img_1", "webp"}, nil, false, "PICTOR_URL_SIGNING_KEY is not set"},
		{"short signing key", []string{"r", "img_1", "webp"}, map[string]string{"PICTOR_URL_SIGNING_KEY": "short"}, false, "entry 1 is 5 bytes"},
		{"bad ext", []string{"r", "img_1", "gif"}, key, false, "extension"},
		{"bad recipe", []string{"Bad/Recipe", "img_1", "webp"}, key, false, "recipe"},
		{"id with a dot", []string{"r", "img.1", "webp"}, key, false, "image id"},
		{"id with a slash", []string{"r", "img/1", "webp"}, key, false, "image id"},
		{"width not configured", []string{"-width", "500", "r", "img_1", "webp"}, key, false, "width 500"},
		{"negative width", []string{"-width", "-1", "r", "img_1", "webp"}, key, false, "width -1"},
		{"bad base", []string{"-base", "cdn.example.com", "r", "img_1", "webp"}, key, false, "base"},
		{"base with query", []string{"-base", "https://cdn.example.com/?x=1", "r", "img_1", "webp"}, key, false, "base"},
		{"negative expiry", []string{"-expires", "-1h", "r", "img_1", "webp"}, key, false, "-expires"},
		{"expiry under a second", []string{"-expires", "500ms", "r", "img_1", "webp"}, key, false, "-expires"},
		{"expiry not a duration", []string{"-expires", "tomorrow", "r", "img_1", "webp"}, key, true, ""},
		{"bad widths setting", []string{"r", "img_1", "webp"}, map[string]string{"PICTOR_URL_SIGNING_KEY": signingNew, "PICTOR_DELIVERY_WIDTHS": "x"}, false, "PICTOR_DELIVERY_WIDTHS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := sign(context.Background(), tt.args, envOf(tt.env), &stdout, &stderr)
			if err == nil {
				t.Fatalf("sign: got %q, want an error", stdout.String())
			}
			if got := errors.Is(err, errUsage); got != tt.wantUsage {
				t.Errorf("usage error: got %v (%v), want %v", got, err, tt.wantUsage)
			}
			if tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error: got %q, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), signingNew) {
				t.Errorf("error: got the signing key in %q", err)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout: got %q, want nothing", stdout.String())
			}
		})
	}
}

func TestSignExpires(t *testing.T) {
	t.Parallel()
	key := map[string]string{"PICTOR_URL_SIGNING_KEY": signingNew}
	tests := []struct {
		name     string
		args     []string
		rest     string // path and query before exp
		sep      string
		duration time.Duration
	}{
		{"a day", []string{"-expires", "24h", "listing-main", "img_0123abcd", "webp"}, "/listing-main/img_0123abcd.webp", "?", 24 * time.Hour},
		{"with width", []string{"-width", "640", "-expires", "90m", "listing-main", "img_0123abcd", "auto"}, "/listing-main/img_0123abcd.auto?w=640", "&", 90 * time.Minute},
		{"zero is never", []string{"-expires", "0", "r", "img_1", "png"}, "/r/img_1.png", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			before := time.Now().Add(tt.duration).Unix()
			if err := sign(context.Background(), tt.args, envOf(key), &stdout, &stderr); err != nil {
				t.Fatalf("sign: got %v, want nil (stderr %s)", err, stderr.String())
			}
			after := time.Now().Add(tt.duration).Unix()
			got := strings.TrimSpace(stdout.String())
			u, err := url.Parse(got)
			if err != nil {
				t.Fatalf("url %q: %v", got, err)
			}
			parts := strings.SplitN(u.Path, "/", 4) // "", "img", SIG, rest of path
			if len(parts) != 4 || parts[1] != "img" {
				t.Fatalf("url: got %q, want /img/SIG/...", got)
			}
			sig, msg := parts[2], strings.TrimPrefix(got, "http://localhost:8080/img/"+parts[2])
			if tt.duration == 0 {
				if msg != tt.rest || u.Query().Has("exp") {
					t.Fatalf("url: got %q, want no exp and %q after the signature", got, tt.rest)
				}
			} else {
				prefix := tt.rest + tt.sep + "exp="
				if !strings.HasPrefix(msg, prefix) {
					t.Fatalf("url: got %q, want %q then the expiry", msg, prefix)
				}
				exp, err := strconv.ParseInt(strings.TrimPrefix(msg, prefix), 10, 64)
				if err != nil || exp < before || exp > after {
					t.Errorf("exp: got %q, want Unix seconds in [%d, %d]", strings.TrimPrefix(msg, prefix), before, after)
				}
			}
			if !auth.Verify([][]byte{[]byte(signingNew)}, msg, sig) {
				t.Errorf("signature %q of %q: got no match, want one", sig, msg)
			}
		})
	}
}
