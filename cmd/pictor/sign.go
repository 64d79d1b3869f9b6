package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pictor/pictor/api"
	"github.com/pictor/pictor/auth"
	"github.com/pictor/pictor/pipeline"
)

const signUsage = `Usage: pictor sign [-base URL] [-width W] [-expires D] RECIPE IMAGE-ID EXT

Prints a signed delivery URL, BASE/img/SIGNATURE/RECIPE/IMAGE-ID.EXT[?w=W][&exp=T], signed
with the first key of PICTOR_URL_SIGNING_KEY. EXT is jpeg, jpg, png, webp, avif or auto (AVIF
or WebP by the browser's Accept header). W must be one of PICTOR_DELIVERY_WIDTHS. With
-expires (a duration such as 24h) the URL carries its expiry T, in Unix seconds, and the
service refuses it after then; by default it never expires.
`

// deliveryExts lists the extensions a delivery URL may end in.
const deliveryExts = "jpeg, jpg, png, webp, avif, auto"

// sign runs "pictor sign".
func sign(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pictor sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, signUsage); fs.PrintDefaults() }
	base := fs.String("base", "http://localhost:8080", "scheme, host and optional path prefix the service is reached at (a CDN in front of it, say)")
	width := fs.Int("width", 0, "fit the image to this width (0 = the recipe's own size)")
	expires := fs.Duration("expires", 0, "the URL stops working this long from now, e.g. 24h (0 = never)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 3 {
		fs.Usage()
		return errUsage
	}
	keys, err := auth.ParseSigningKeys(getenv("PICTOR_URL_SIGNING_KEY"))
	if err != nil {
		return fmt.Errorf("sign: PICTOR_URL_SIGNING_KEY: %w", err)
	}
	if len(keys) == 0 {
		return errors.New("sign: PICTOR_URL_SIGNING_KEY is not set; give it the key the service has (try: openssl rand -base64 48)")
	}
	widths := api.DefaultConfig().DeliveryWidths
	if v := getenv("PICTOR_DELIVERY_WIDTHS"); v != "" {
		if widths, err = parseWidths(v); err != nil {
			return fmt.Errorf("sign: PICTOR_DELIVERY_WIDTHS=%q: %w", v, err)
		}
	}
	var exp int64
	switch {
	case *expires < 0:
		return fmt.Errorf("sign: -expires %s: want a positive duration such as 24h, or 0 for never", *expires)
	case *expires > 0 && *expires < time.Second:
		return fmt.Errorf("sign: -expires %s: want at least 1s (the expiry is in whole seconds)", *expires)
	case *expires > 0:
		exp = time.Now().Add(*expires).Unix()
	}
	u, err := signedURL(*base, keys[0], fs.Arg(0), fs.Arg(1), fs.Arg(2), *width, widths, exp)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	fmt.Fprintln(stdout, u)
	return nil
}

// signedURL checks the parts of a delivery URL as the service will, then signs it; exp > 0
// is its expiry in Unix seconds, 0 none.
func signedURL(base string, key []byte, recipe, imageID, ext string, width int, widths []int, exp int64) (string, error) {
	b, err := url.Parse(base)
	if err != nil || (b.Scheme != "http" && b.Scheme != "https") || b.Host == "" || b.RawQuery != "" || b.Fragment != "" {
		return "", fmt.Errorf("base %q: want http(s)://host[:port][/prefix]", base)
	}
	if !pipeline.ValidRecipeName(recipe) {
		return "", fmt.Errorf("recipe %q: use 1-64 of a-z 0-9 . _ - starting with a letter or digit", recipe)
	}
	if !validImageID(imageID) {
		return "", fmt.Errorf("image id %q: want an id as the API returns it, such as img_0123abcd", imageID)
	}
	if !slices.Contains(strings.Split(deliveryExts, ", "), ext) {
		return "", fmt.Errorf("extension %q: want one of %s", ext, deliveryExts)
	}
	if width < 0 || (width > 0 && !slices.Contains(widths, width)) {
		return "", fmt.Errorf("width %d: want one of the delivery widths %v (PICTOR_DELIVERY_WIDTHS)", width, widths)
	}
	return auth.SignedURLExpires(base, key, recipe, imageID, ext, width, exp), nil
}

// validImageID reports whether id is 1-128 of a-z A-Z 0-9 _ -: nothing that would change
// the URL's path, and no dot (it ends the id in the delivery path).
func validImageID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
