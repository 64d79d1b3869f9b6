package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/pictor/pictor/api"
	"github.com/pictor/pictor/auth"
	"github.com/pictor/pictor/fetch"
)

const keysUsage = `Usage: pictor keys new [-scopes read,write] [-name NAME]

Makes an API key. The key goes to stdout once, on the first line: store it now, it cannot
be recovered. The second line is the PICTOR_API_KEYS value to configure the service with:
any keys already in PICTOR_API_KEYS, then the new key's hash, scopes and name (hashes only).
Scopes: read (GET), write (POST/PUT/DELETE; implies read), admin (recipes and backends;
implies write).
`

// keys runs "pictor keys new".
func keys(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "new" {
		fmt.Fprint(stderr, keysUsage)
		return errUsage
	}
	fs := flag.NewFlagSet("pictor keys new", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, keysUsage) }
	scopesFlag := fs.String("scopes", "read", "scopes of the key, comma or + separated: read, write, admin")
	name := fs.String("name", "", "name of the key in the service's logs (1-64 of a-z A-Z 0-9 . _ -)")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	if fs.NArg() != 0 {
		fmt.Fprint(stderr, keysUsage)
		return errUsage
	}
	scopes, err := auth.ParseScopes(*scopesFlag)
	if err != nil {
		return fmt.Errorf("keys new: %w", err)
	}
	existing, err := auth.ParseKeys(getenv("PICTOR_API_KEYS"))
	if err != nil {
		return fmt.Errorf("keys new: the current PICTOR_API_KEYS: %w", err)
	}
	secret, k, err := auth.NewKey(scopes, *name)
	if err != nil {
		return fmt.Errorf("keys new: %w", err)
	}
	fmt.Fprintln(stdout, secret)
	fmt.Fprintf(stdout, "PICTOR_API_KEYS=%s\n", auth.FormatKeys(append(existing, k)))
	fmt.Fprintf(stderr, "pictor: made a %s key; the first line is the key, shown this once: store it now.\n"+
		"pictor: configure the service with the PICTOR_API_KEYS line (hashes only); clients send Authorization: Bearer KEY.\n",
		scopes)
	return nil
}

// accessSettings are serve's access settings as their PICTOR_ variables spell them; apply
// parses them into an api.Config.
type accessSettings struct {
	// APIKeys is PICTOR_API_KEYS: sha256hex:scope+scope[@name], comma separated. Default "": open.
	APIKeys string
	// URLSigningKey is PICTOR_URL_SIGNING_KEY: keys of 32+ bytes, comma separated, the first
	// signs. Default "": signed delivery off.
	URLSigningKey string
	// SessionSecret is PICTOR_SESSION_SECRET: 32+ bytes keying console session cookies.
	// Default "": the URL signing keys, else a random secret per process.
	SessionSecret string
	// DeliveryWidths is PICTOR_DELIVERY_WIDTHS: widths ?w= may ask for, comma separated, or
	// "none". Default "": api.DefaultConfig's widths.
	DeliveryWidths string
	// CORSOrigins is PICTOR_CORS_ORIGINS: browser origins allowed cross-origin, comma
	// separated. Default "": none.
	CORSOrigins string
	// RateLimit is PICTOR_RATE_LIMIT: ingest/render/analyze requests a second per key, 0 for
	// off. Default "": 20.
	RateLimit string
	// RateBurst is PICTOR_RATE_BURST: the burst of the rate limit. Default "": 40.
	RateBurst string
	// BatchRateLimit is PICTOR_BATCH_RATE_LIMIT: batches created a second per key, 0 for
	// off; the burst is 10. Default "": 0.2.
	BatchRateLimit string
	// TrustedProxies is PICTOR_TRUSTED_PROXIES: addresses or CIDRs of the reverse proxies
	// whose X-Forwarded-Proto is believed (the session cookie is Secure when they say
	// https), comma separated. Default "": none, the header is ignored.
	TrustedProxies string
}

// apply parses s into ac, leaving ac's value for each empty setting; the errors name the
// variable and never quote a key.
func (s accessSettings) apply(ac *api.Config) error {
	var errs []error
	var err error
	if ac.Keys, err = auth.ParseKeys(s.APIKeys); err != nil {
		errs = append(errs, fmt.Errorf("PICTOR_API_KEYS: %w", err))
	}
	if ac.SigningKeys, err = auth.ParseSigningKeys(s.URLSigningKey); err != nil {
		errs = append(errs, fmt.Errorf("PICTOR_URL_SIGNING_KEY: %w", err))
	}
	if v := strings.TrimSpace(s.SessionSecret); v != "" {
		if len(v) < auth.MinSigningKeyLen {
			errs = append(errs, fmt.Errorf("PICTOR_SESSION_SECRET: %d bytes, want at least %d (try: openssl rand -base64 48)", len(v), auth.MinSigningKeyLen))
		}
		ac.SessionSecret = []byte(v)
	}
	if s.DeliveryWidths != "" {
		if ac.DeliveryWidths, err = parseWidths(s.DeliveryWidths); err != nil {
			errs = append(errs, fmt.Errorf("PICTOR_DELIVERY_WIDTHS=%q: %w", s.DeliveryWidths, err))
		}
	}
	ac.CORSOrigins = splitList(s.CORSOrigins)
	if ac.TrustedProxies, err = fetch.ParseNets(s.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("PICTOR_TRUSTED_PROXIES: %w", err))
	}
	if s.RateLimit != "" {
		if ac.RateLimit.PerSecond, err = strconv.ParseFloat(strings.TrimSpace(s.RateLimit), 64); err != nil {
			errs = append(errs, fmt.Errorf("PICTOR_RATE_LIMIT=%q: want requests a second, 0 for off", s.RateLimit))
		}
	}
	if s.RateBurst != "" {
		if ac.RateLimit.Burst, err = strconv.Atoi(strings.TrimSpace(s.RateBurst)); err != nil {
			errs = append(errs, fmt.Errorf("PICTOR_RATE_BURST=%q: want a whole number", s.RateBurst))
		}
	}
	if s.BatchRateLimit != "" {
		if ac.BatchRateLimit.PerSecond, err = strconv.ParseFloat(strings.TrimSpace(s.BatchRateLimit), 64); err != nil {
			errs = append(errs, fmt.Errorf("PICTOR_BATCH_RATE_LIMIT=%q: want batches a second, 0 for off", s.BatchRateLimit))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return ac.Validate()
}

// splitList splits a comma-separated list, dropping blanks; nil for "".
func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseWidths reads comma-separated positive widths; "none" is an empty list.
func parseWidths(v string) ([]int, error) {
	if strings.TrimSpace(v) == "none" {
		return []int{}, nil
	}
	parts := splitList(v)
	if len(parts) == 0 {
		return nil, errors.New("want widths such as 320,640,960 or none")
	}
	out := make([]int, 0, len(parts))
	for _, p := range parts {
		w, err := strconv.Atoi(p)
		if err != nil || w < 1 || w > api.MaxDeliveryWidth {
			return nil, fmt.Errorf("width %q: want a whole number from 1 to %d", p, api.MaxDeliveryWidth)
		}
		out = append(out, w)
	}
	return out, nil
}
