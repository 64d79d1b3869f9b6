package fetch

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestDefaultConfig(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v, want nil", err)
	}
	if c.MaxBytes != 32<<20 {
		t.Errorf("MaxBytes = %d, want %d", c.MaxBytes, 32<<20)
	}
	if c.Timeout != 20*time.Second {
		t.Errorf("Timeout = %s, want %s", c.Timeout, 20*time.Second)
	}
	if c.MaxRedirects != 5 {
		t.Errorf("MaxRedirects = %d, want 5", c.MaxRedirects)
	}
	if len(c.AllowedNets) != 0 {
		t.Errorf("AllowedNets = %v, want none", c.AllowedNets)
	}
	if c.UserAgent != "Pictor/1 (+https://github.com/pictor/pictor)" {
		t.Errorf("UserAgent = %q, want %q", c.UserAgent, "Pictor/1 (+https://github.com/pictor/pictor)")
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr bool
	}{
		{"default", func(*Config) {}, false},
		{"zero redirects", func(c *Config) { c.MaxRedirects = 0 }, false},
		{"empty user agent", func(c *Config) { c.UserAgent = "" }, false},
		{"allowed nets", func(c *Config) { c.AllowedNets = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} }, false},
		{"zero max bytes", func(c *Config) { c.MaxBytes = 0 }, true},
		{"negative max bytes", func(c *Config) { c.MaxBytes = -1 }, true},
		{"zero timeout", func(c *Config) { c.Timeout = 0 }, true},
		{"negative redirects", func(c *Config) { c.MaxRedirects = -1 }, true},
		{"invalid prefix", func(c *Config) { c.AllowedNets = []netip.Prefix{{}} }, true},
		{"user agent line break", func(c *Config) { c.UserAgent = "a\r\nX-Evil: 1" }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if got := err != nil; got != tt.wantErr {
				t.Fatalf("Validate() = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("Validate() = %v, want it to wrap ErrInvalidConfig", err)
			}
			_, nerr := New(c)
			if got := nerr != nil; got != tt.wantErr {
				t.Errorf("New() = %v, want error %v", nerr, tt.wantErr)
			}
		})
	}
}

func TestValidateReportsAll(t *testing.T) {
	t.Parallel()
	c := Config{MaxBytes: 0, Timeout: 0, MaxRedirects: -1}
	err := c.Validate()
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		t.Fatalf("Validate() = %v, want a joined error", err)
	}
	if got := len(joined.Unwrap()); got != 3 {
		t.Errorf("Validate() reported %d errors, want 3: %v", got, err)
	}
}

func TestParseNets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{" , ,", nil, false},
		{"127.0.0.0/8", []string{"127.0.0.0/8"}, false},
		{"127.0.0.0/8,10.1.2.3", []string{"127.0.0.0/8", "10.1.2.3/32"}, false},
		{" 192.168.1.0/24 , ::1 ", []string{"192.168.1.0/24", "::1/128"}, false},
		{"10.1.2.3/8", []string{"10.0.0.0/8"}, false},
		{"fd00::/8", []string{"fd00::/8"}, false},
		{"::ffff:10.0.0.0/104", []string{"10.0.0.0/8"}, false},
		{"::ffff:127.0.0.1", []string{"127.0.0.1/32"}, false},
		{"10.0.0.0/33", nil, true},
		{"10.0.0", nil, true},
		{"example.com", nil, true},
		{"127.0.0.1,bogus", nil, true},
		{"fe80::1%eth0", nil, true},
		{"fe80::/10%eth0", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			nets, err := ParseNets(tt.in)
			if tt.wantErr {
				if err == nil || !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("ParseNets(%q) = %v, %v, want an ErrInvalidConfig error", tt.in, nets, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseNets(%q) error = %v, want nil", tt.in, err)
			}
			var got []string
			for _, p := range nets {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ParseNets(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
