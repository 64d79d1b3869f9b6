// Package storage keeps objects (original images and renditions) in an
// S3-compatible object store (S3, MinIO) or in a local directory. Both
// stores have the same methods and the same error behaviour; consumers
// declare the interface they need.
//
// Keys are chosen by callers (content addressed, e.g. "sha256/ab/abcd…") and
// are checked by ValidateKey in both stores. Errors wrap the sentinels below,
// so errors.Is works across both stores.
package storage

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentinel errors. Returned errors wrap one of them (and, for S3, the
// original minio-go error) so that callers can use errors.Is.
var (
	// ErrNotFound means the object, or the bucket it would live in, does not exist.
	ErrNotFound = errors.New("storage: object not found")
	// ErrUnavailable means the store cannot be reached: connection refused,
	// timeouts, 5xx answers, an unusable local directory.
	ErrUnavailable = errors.New("storage: unavailable")
	// ErrInvalidKey means an object key that ValidateKey rejects.
	ErrInvalidKey = errors.New("storage: invalid key")
	// ErrInvalidBucket means a bucket name that ValidateBucket rejects.
	ErrInvalidBucket = errors.New("storage: invalid bucket name")
	// ErrInvalidMeta means user metadata that ValidateMeta rejects.
	ErrInvalidMeta = errors.New("storage: invalid metadata")
)

// DefaultContentType is the content type stored when PutOptions.ContentType is empty.
const DefaultContentType = "application/octet-stream"

// MaxKeyLen is the longest key accepted, in bytes (S3's limit).
const MaxKeyLen = 1024

// MaxSegmentLen is the longest '/'-separated key segment accepted, in bytes:
// file names are limited to 255 bytes, and the local store's sidecar adds a
// suffix to the last segment.
const MaxSegmentLen = 200

// MaxMetaLen is the most user metadata accepted, in bytes of keys plus
// values (S3's limit for user-defined metadata).
const MaxMetaLen = 2048

// metaSuffix ends the name of the local store's sidecar files; keys may not
// end with it.
const metaSuffix = ".meta.json"

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	// Bucket holds the object.
	Bucket string
	// Key names the object within Bucket.
	Key string
	// Size is the length of the content in bytes.
	Size int64
	// ContentType is the stored media type; DefaultContentType when none was given.
	ContentType string
	// ETag is a strong validator of the content for objects written by Put: S3's own
	// (the hex MD5 of a single-part upload) or, in the local store, the hex SHA-256.
	ETag string
	// Meta is the user metadata, keys in lower case; nil when there is none.
	Meta map[string]string
	// Modified is when the object was last written.
	Modified time.Time
}

// PutOptions describe an object being written.
type PutOptions struct {
	// ContentType is the media type; "" stores DefaultContentType.
	ContentType string
	// Meta is user metadata, checked by ValidateMeta; nil for none.
	Meta map[string]string
	// SHA256 is the hex SHA-256 of the data when the caller has it (content-addressed
	// originals do): the local store takes it as the ETag instead of hashing the data
	// again. It must be the data's; S3 ignores it.
	SHA256 string
}

// ValidateBucket reports whether name is a bucket name both stores accept:
// 3 to 63 bytes of lower-case letters, digits, '-' and '.', starting and
// ending with a letter or digit, without "..". The error wraps ErrInvalidBucket.
func ValidateBucket(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("bucket %q: %s: %w", name, why, ErrInvalidBucket)
	}
	if len(name) < 3 || len(name) > 63 {
		return bad("length must be 3 to 63")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' || c == '.':
			if i == 0 || i == len(name)-1 {
				return bad("must start and end with a letter or digit")
			}
		default:
			return bad("only a-z, 0-9, '-' and '.' are allowed")
		}
	}
	if strings.Contains(name, "..") {
		return bad(`must not contain ".."`)
	}
	return nil
}

// ValidateKey reports whether key is an object key both stores accept. A key
// is valid UTF-8 of 1 to MaxKeyLen bytes, made of '/'-separated segments; it
// does not start or end with '/', has no empty segment, no segment longer
// than MaxSegmentLen, no segment that
// starts with '.' (so no "." or ".." and no hidden files), no control
// characters (NUL included), and does not end with ".meta.json" (the local
// store's sidecar suffix). The error wraps ErrInvalidKey.
func ValidateKey(key string) error {
	bad := func(why string) error {
		shown := key
		if len(shown) > 80 {
			shown = shown[:80] + "…"
		}
		return fmt.Errorf("key %q: %s: %w", shown, why, ErrInvalidKey)
	}
	switch {
	case key == "":
		return bad("empty")
	case len(key) > MaxKeyLen:
		return bad(fmt.Sprintf("longer than %d bytes", MaxKeyLen))
	case !utf8.ValidString(key):
		return bad("not valid UTF-8")
	case strings.HasPrefix(key, "/"):
		return bad("leading '/'")
	case strings.HasSuffix(key, "/"):
		return bad("trailing '/'")
	case strings.HasSuffix(key, metaSuffix):
		return bad(`ends with reserved suffix "` + metaSuffix + `"`)
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return bad("control character")
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" {
			return bad("empty path segment")
		}
		if len(seg) > MaxSegmentLen {
			return bad(fmt.Sprintf("path segment longer than %d bytes", MaxSegmentLen))
		}
		if seg[0] == '.' {
			return bad(`path segment starts with "."`)
		}
	}
	return nil
}

// reservedMetaPrefixes and reservedMetaKeys are metadata keys that S3
// clients send as headers of their own, not as x-amz-meta-*.
var (
	reservedMetaPrefixes = []string{"x-amz-", "x-minio-"}
	reservedMetaKeys     = map[string]bool{
		"cache-control": true, "content-disposition": true, "content-encoding": true,
		"content-language": true, "content-length": true, "content-md5": true,
		"content-type": true, "expires": true, "etag": true, "last-modified": true,
	}
)

// ValidateMeta reports whether meta is user metadata both stores keep as
// given. Keys are lower-case ASCII letters, digits and '-', starting with a
// letter or digit, and are not HTTP headers S3 treats specially
// (content-type, x-amz-*, …). Values are printable ASCII (space to '~')
// without leading or trailing spaces; encode anything else. Keys plus values
// are at most MaxMetaLen bytes. The error wraps ErrInvalidMeta.
func ValidateMeta(meta map[string]string) error {
	total := 0
	for k, v := range meta {
		bad := func(why string) error {
			return fmt.Errorf("meta %q: %s: %w", k, why, ErrInvalidMeta)
		}
		if k == "" {
			return bad("empty key")
		}
		for i := 0; i < len(k); i++ {
			c := k[i]
			ok := (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i > 0)
			if !ok {
				return bad("key must be lower-case a-z, 0-9 and '-'")
			}
		}
		if reservedMetaKeys[k] {
			return bad("reserved key")
		}
		for _, p := range reservedMetaPrefixes {
			if strings.HasPrefix(k, p) {
				return bad("reserved key prefix " + p)
			}
		}
		for i := 0; i < len(v); i++ {
			if v[i] < 0x20 || v[i] > 0x7e {
				return bad("value must be printable ASCII")
			}
		}
		if strings.TrimSpace(v) != v {
			return bad("value has leading or trailing space")
		}
		total += len(k) + len(v)
	}
	if total > MaxMetaLen {
		return fmt.Errorf("meta is %d bytes, more than %d: %w", total, MaxMetaLen, ErrInvalidMeta)
	}
	return nil
}

// validate checks a bucket and key together.
func validate(bucket, key string) error {
	if err := ValidateBucket(bucket); err != nil {
		return err
	}
	return ValidateKey(key)
}

// copyMeta returns a copy of m, nil when m is empty.
func copyMeta(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
