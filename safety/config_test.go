package safety

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfig(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	if c.Timeout != 30*time.Second {
		t.Errorf("Timeout = %s, want 30s", c.Timeout)
	}
	if c.MaxImageBytes != 32<<20 {
		t.Errorf("MaxImageBytes = %d, want %d", c.MaxImageBytes, 32<<20)
	}
	if c.URL != "" {
		t.Errorf("URL = %q, want empty", c.URL)
	}
	if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("DefaultConfig().Validate() = %v, want ErrInvalidConfig (no URL)", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		mutate   func(*Config)
		wantErr  bool
		wantText string // a part of the message, when wantErr
	}{
		{"http", func(c *Config) { c.URL = "http://127.0.0.1:8000" }, false, ""},
		{"https with path", func(c *Config) { c.URL = "https://gpu-1.internal/safety/" }, false, ""},
		{"ipv6", func(c *Config) { c.URL = "http://[::1]:8000" }, false, ""},
		{"upper-case scheme", func(c *Config) { c.URL = "HTTP://gpu-1" }, false, ""},
		{"zero timeout means default", func(c *Config) { c.Timeout = 0 }, false, ""},
		{"zero max bytes means default", func(c *Config) { c.MaxImageBytes = 0 }, false, ""},
		{"max bytes at contract limit", func(c *Config) { c.MaxImageBytes = 32 << 20 }, false, ""},
		{"small max bytes", func(c *Config) { c.MaxImageBytes = 1 }, false, ""},
		{"empty url", func(c *Config) { c.URL = "" }, true, "empty"},
		{"no scheme", func(c *Config) { c.URL = "gpu-1:8000" }, true, "scheme"},
		{"host only", func(c *Config) { c.URL = "gpu-1" }, true, "scheme"},
		{"ftp", func(c *Config) { c.URL = "ftp://gpu-1" }, true, "scheme"},
		{"opaque", func(c *Config) { c.URL = "http:gpu-1" }, true, "absolute"},
		{"no host", func(c *Config) { c.URL = "http:///v1" }, true, "host"},
		{"port only", func(c *Config) { c.URL = "http://:8000" }, true, "host"},
		{"userinfo", func(c *Config) { c.URL = "http://user:hunter2@gpu-1" }, true, "userinfo"},
		{"query", func(c *Config) { c.URL = "http://gpu-1/?key=1" }, true, "query"},
		{"empty query", func(c *Config) { c.URL = "http://gpu-1/?" }, true, "query"},
		{"fragment", func(c *Config) { c.URL = "http://gpu-1/#x" }, true, "fragment"},
		{"empty fragment", func(c *Config) { c.URL = "http://gpu-1/#" }, true, "fragment"},
		{"bad port", func(c *Config) { c.URL = "http://gpu-1:port" }, true, "parse"},
		{"space", func(c *Config) { c.URL = "http://gpu 1" }, true, "parse"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, true, "timeout"},
		{"negative max bytes", func(c *Config) { c.MaxImageBytes = -1 }, true, "max image bytes"},
		{"max bytes over contract", func(c *Config) { c.MaxImageBytes = 32<<20 + 1 }, true, "max image bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := DefaultConfig()
			c.URL = "http://127.0.0.1:8000"
			tt.mutate(&c)
			err := c.Validate()
			if got := err != nil; got != tt.wantErr {
				t.Fatalf("Validate() = %v, want error %v", err, tt.wantErr)
			}
			_, nerr := New(c, nil)
			if got := nerr != nil; got != tt.wantErr {
				t.Errorf("New() = %v, want error %v", nerr, tt.wantErr)
			}
			if err == nil {
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !errors.Is(nerr, ErrInvalidConfig) {
				t.Errorf("Validate() = %v, New() = %v, want both to wrap ErrInvalidConfig", err, nerr)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Validate() = %q, want it to mention %q", err, tt.wantText)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("Validate() = %q, want no password in it", err)
			}
		})
	}
}

func TestValidateReportsAll(t *testing.T) {
	t.Parallel()
	err := Config{URL: "ftp://x", Timeout: -1, MaxImageBytes: -1}.Validate()
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		t.Fatalf("Validate() = %v, want a joined error", err)
	}
	if got := len(joined.Unwrap()); got != 3 {
		t.Errorf("Validate() reported %d problems (%v), want 3", got, err)
	}
}

func TestNewFillsDefaults(t *testing.T) {
	t.Parallel()
	c, err := New(Config{URL: "http://127.0.0.1:1/base/"}, nil)
	if err != nil {
		t.Fatalf("New() = %v, want nil", err)
	}
	if c.cfg.Timeout != DefaultTimeout || c.cfg.MaxImageBytes != MaxImageBytes {
		t.Errorf("config = %+v, want Timeout %s and MaxImageBytes %d", c.cfg, DefaultTimeout, MaxImageBytes)
	}
	if c.hc.Timeout != DefaultTimeout {
		t.Errorf("http client timeout = %s, want %s", c.hc.Timeout, DefaultTimeout)
	}
	if c.classifyURL != "http://127.0.0.1:1/base/v1/classify" || c.healthURL != "http://127.0.0.1:1/base/v1/health" {
		t.Errorf("routes = %q, %q, want under http://127.0.0.1:1/base/v1/", c.classifyURL, c.healthURL)
	}
}
