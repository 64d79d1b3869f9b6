package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Session tokens let a browser hold an API key's rights without keeping the key (the API
// sets one as the console's session cookie). A token is
//
//	base64url(version, key index, scopes, expiry, session id) "." base64url(HMAC-SHA256(secret, payload))
//
// and the secret (SessionSecret) is derived from every configured key hash with its scopes
// and from secret material, so removing or adding a key, changing its scopes or rotating
// the material makes every token invalid. Revoking a single session is the caller's
// business: a token names its session (Session.ID) for that.

// Errors of session tokens. A caller should answer them all alike, without saying which.
var (
	// ErrSessionMalformed is returned for a token that is not one this package makes: bad
	// encoding, wrong length, too long, or an older version.
	ErrSessionMalformed = errors.New("session token malformed")
	// ErrSessionSignature is returned for a token whose signature does not match.
	ErrSessionSignature = errors.New("session token signature mismatch")
	// ErrSessionExpired is returned for a token at or past its expiry.
	ErrSessionExpired = errors.New("session expired")
	// ErrSessionUnknown is returned for a token that names a key not configured, or whose
	// scopes the key no longer holds.
	ErrSessionUnknown = errors.New("session names a key that is not configured")
)

// sessionVersion is the first byte of every token payload. Version 1 tokens (no session
// id, so they could not be revoked) are refused: their holders sign in again.
const sessionVersion = 2

// SessionIDLen is the length of a session's random id, in bytes (22 characters of
// unpadded base64url).
const SessionIDLen = 16

// sessionPayloadLen is version (1) + key index (2) + scopes (1) + expiry in Unix seconds (8)
// + session id (16).
const sessionPayloadLen = 12 + SessionIDLen

// maxSessionTokenLen bounds the length of a token VerifySession looks at.
const maxSessionTokenLen = 128

// Session is what a valid session token carries.
type Session struct {
	// Key is the index of the API key in the configured keys, at most math.MaxUint16.
	Key int
	// Scopes are the scopes the session grants: those the key held at sign-in, and still holds.
	Scopes Scope
	// Expires is when the session ends, to the second.
	Expires time.Time
	// ID names the session for revocation: SessionIDLen random bytes, base64url (NewSessionID).
	ID string
}

// NewSessionID is a fresh random session id.
func NewSessionID() string {
	b := make([]byte, SessionIDLen)
	_, _ = rand.Read(b) // never fails since Go 1.24
	return base64.RawURLEncoding.EncodeToString(b)
}

// SessionSecret derives the HMAC key of session tokens from the configured key hashes and
// scopes and the secret material, each length-prefixed so no two configurations collide.
// The key hashes alone are no secret (config files carry them): material must hold one.
func SessionSecret(keys []Key, material [][]byte) []byte {
	h := sha256.New()
	h.Write([]byte("pictor session v1\x00"))
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(keys)))
	h.Write(n[:])
	for _, k := range keys {
		h.Write(k.Hash[:])
		h.Write([]byte{byte(k.Scopes)})
	}
	binary.BigEndian.PutUint32(n[:], uint32(len(material)))
	h.Write(n[:])
	for _, k := range material {
		binary.BigEndian.PutUint32(n[:], uint32(len(k)))
		h.Write(n[:])
		h.Write(k)
	}
	return h.Sum(nil)
}

// SignSession makes the token of a session under secret. s.ID must be a session id
// (NewSessionID) and s.Key fit in 16 bits; anything else is a programming error and panics.
func SignSession(secret []byte, s Session) string {
	if s.Key < 0 || s.Key > math.MaxUint16 {
		panic(fmt.Sprintf("auth.SignSession: key index %d out of range", s.Key))
	}
	id, err := base64.RawURLEncoding.DecodeString(s.ID)
	if err != nil || len(id) != SessionIDLen {
		panic("auth.SignSession: malformed session id") // ids come from NewSessionID
	}
	var p [sessionPayloadLen]byte
	p[0] = sessionVersion
	binary.BigEndian.PutUint16(p[1:3], uint16(s.Key))
	p[3] = byte(s.Scopes)
	binary.BigEndian.PutUint64(p[4:12], uint64(s.Expires.Unix()))
	copy(p[12:], id)
	payload := base64.RawURLEncoding.EncodeToString(p[:])
	return payload + "." + base64.RawURLEncoding.EncodeToString(sessionMAC(secret, payload))
}

func sessionMAC(secret []byte, payload string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// VerifySession checks a token's signature under secret first, then its expiry against
// now and its key against keys. The scopes it grants are those it carries that the key
// still holds. Errors are ErrSessionMalformed, ErrSessionSignature, ErrSessionExpired and
// ErrSessionUnknown. Whether the session was revoked is for the caller to ask.
func VerifySession(secret []byte, keys []Key, token string, now time.Time) (Session, error) {
	payload, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > maxSessionTokenLen {
		return Session{}, ErrSessionMalformed
	}
	gotMAC, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return Session{}, ErrSessionMalformed
	}
	if subtle.ConstantTimeCompare(gotMAC, sessionMAC(secret, payload)) != 1 {
		return Session{}, ErrSessionSignature
	}
	p, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || len(p) != sessionPayloadLen || p[0] != sessionVersion {
		return Session{}, ErrSessionMalformed
	}
	s := Session{
		Key:     int(binary.BigEndian.Uint16(p[1:3])),
		Scopes:  Scope(p[3]),
		Expires: time.Unix(int64(binary.BigEndian.Uint64(p[4:12])), 0),
		ID:      base64.RawURLEncoding.EncodeToString(p[12:]),
	}
	if !now.Before(s.Expires) {
		return Session{}, ErrSessionExpired
	}
	if s.Key >= len(keys) {
		return Session{}, ErrSessionUnknown
	}
	s.Scopes &= keys[s.Key].Scopes
	if s.Scopes == 0 {
		return Session{}, ErrSessionUnknown
	}
	return s, nil
}
