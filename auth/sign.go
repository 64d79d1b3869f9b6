package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// MinSigningKeyLen is the shortest URL signing key accepted, in bytes.
const MinSigningKeyLen = 32

// SignatureLen is the length of a delivery signature: the full 32-byte HMAC-SHA256 in
// unpadded base64url (43 characters).
const SignatureLen = (sha256.Size*8 + 5) / 6

// ParseSigningKeys reads a PICTOR_URL_SIGNING_KEY value: one or more keys separated by commas,
// each used as its raw bytes and at least MinSigningKeyLen long. The first key signs; every
// key verifies, so a new key can be put first while URLs signed with the old one keep working.
// "" is no keys. Errors wrap ErrInvalidSigningKey, name the entry by position and never
// quote a key.
func ParseSigningKeys(v string) ([][]byte, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	entries := strings.Split(v, ",")
	keys := make([][]byte, 0, len(entries))
	seen := map[string]int{}
	for i, e := range entries {
		n := i + 1
		e = strings.TrimSpace(e)
		if len(e) < MinSigningKeyLen {
			return nil, fmt.Errorf("%w: entry %d is %d bytes, want at least %d (try: openssl rand -base64 48)", ErrInvalidSigningKey, n, len(e), MinSigningKeyLen)
		}
		if prev, dup := seen[e]; dup {
			return nil, fmt.Errorf("%w: entries %d and %d are the same key", ErrInvalidSigningKey, prev, n)
		}
		seen[e] = n
		keys = append(keys, []byte(e))
	}
	return keys, nil
}

// DeliveryMessage is the text a delivery URL's signature covers:
// "/" + recipe + "/" + imageID + "." + ext, then "?w=" + width when width > 0.
// It is also the URL path after the signature. It is DeliveryMessageExpires with no expiry.
func DeliveryMessage(recipe, imageID, ext string, width int) string {
	return DeliveryMessageExpires(recipe, imageID, ext, width, 0)
}

// DeliveryMessageExpires is DeliveryMessage followed, when exp > 0, by "exp=" + exp (Unix
// seconds, decimal) after "?" or, with a width, "&": "/r/i.webp?w=640&exp=1700000000".
// exp <= 0 is no expiry and gives exactly DeliveryMessage, so URLs without one verify as
// they always did. It is also the URL path and query after the signature.
func DeliveryMessageExpires(recipe, imageID, ext string, width int, exp int64) string {
	m := "/" + recipe + "/" + imageID + "." + ext
	sep := "?"
	if width > 0 {
		m += "?w=" + strconv.Itoa(width)
		sep = "&"
	}
	if exp > 0 {
		m += sep + "exp=" + strconv.FormatInt(exp, 10)
	}
	return m
}

// Sign is the signature of msg under key: HMAC-SHA256, all 32 bytes, unpadded base64url.
func Sign(key []byte, msg string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Verify reports whether sig is the signature of msg under any of keys. A signature of the
// wrong length or encoding never verifies. Every key is tried (hmac.Equal, no early exit).
func Verify(keys [][]byte, msg, sig string) bool {
	if len(sig) != SignatureLen {
		return false
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	ok := false
	for _, k := range keys {
		mac := hmac.New(sha256.New, k)
		mac.Write([]byte(msg))
		if hmac.Equal(mac.Sum(nil), got) {
			ok = true
		}
	}
	return ok
}

// SignedURL is the delivery URL of a recipe's rendition of an image, signed with key:
// base (scheme and host, any trailing "/" dropped) + "/img/" + signature + DeliveryMessage.
// It never expires; SignedURLExpires makes one that does.
func SignedURL(base string, key []byte, recipe, imageID, ext string, width int) string {
	return SignedURLExpires(base, key, recipe, imageID, ext, width, 0)
}

// SignedURLExpires is SignedURL over DeliveryMessageExpires: with exp > 0 (Unix seconds) the
// URL carries "exp=" + exp, covered by the signature, and the service refuses it after that
// second. exp <= 0 (the default) is no expiry, the same URL as SignedURL.
func SignedURLExpires(base string, key []byte, recipe, imageID, ext string, width int, exp int64) string {
	msg := DeliveryMessageExpires(recipe, imageID, ext, width, exp)
	return strings.TrimRight(base, "/") + "/img/" + Sign(key, msg) + msg
}
