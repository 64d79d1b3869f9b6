package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/pictor/pictor/auth"
)

// sessionStore records signed-out console sessions in the shared database, so a sign-out
// on one replica ends the session on every replica.
type sessionStore interface {
	RevokeSession(ctx context.Context, id string, expires time.Time) error
	SessionRevoked(ctx context.Context, id string) (bool, error)
}

// Session cookies let a browser hold an API key's rights without keeping the key: the
// console exchanges the key once (POST /v1/session) for an HttpOnly cookie holding a
// session token (auth.SignSession, auth.VerifySession: HMAC-signed, with the key, scopes,
// expiry and a session id). Its secret is derived from every configured key hash with its
// scopes and from secret material: the session secret, else the URL signing keys, else
// random bytes of this process (see Config.SessionSecret). So every replica with the same
// configuration accepts a session, and removing or adding a key, changing its scopes or
// rotating the material signs every session out. Signing out (DELETE /v1/session) records
// the session id as revoked in the shared database (Catalog.RevokeSession) until the token
// would have expired, and every replica refuses it from then on.
const (
	// SessionCookie is the name of the session cookie.
	SessionCookie = "pictor_session"
	// SessionTTL is how long a session lasts after sign-in: 12 hours, not extended by use.
	SessionTTL = 12 * time.Hour
	// ConsoleHeader and ConsoleHeaderValue ("X-Requested-With: pictor-console") must come
	// with every request that a session cookie authenticates, except GET and HEAD, and with
	// POST and DELETE /v1/session once keys are configured: a cross-site form cannot set
	// the header, and a cross-site fetch that sets it needs a preflight, which fails. This
	// is the console's defence against cross-site request forgery.
	ConsoleHeader      = "X-Requested-With"
	ConsoleHeaderValue = "pictor-console"
)

// sessionPath is the route of the session endpoints; authorize lets it through, and the
// handlers check what they need themselves.
const sessionPath = "/v1/session"

// errSessionRevoked is a valid token whose session was signed out; like the token errors
// of auth (auth.ErrSessionExpired and the rest) it is answered 401 without saying which.
var errSessionRevoked = errors.New("session signed out")

// sessionCookie is the Set-Cookie of a session: HttpOnly, SameSite=Strict, Path=/, Secure
// when the browser reached the service over HTTPS (secureRequest). An empty value clears
// the cookie.
func (s *server) sessionCookie(r *http.Request, value string, expires time.Time) *http.Cookie {
	c := &http.Cookie{
		Name:     SessionCookie,
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
		Secure:   s.secureRequest(r),
	}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires.UTC()
		c.MaxAge = int(time.Until(expires).Seconds())
	}
	return c
}

// secureRequest reports whether the browser reached the service over HTTPS: the connection
// to this process is TLS, or it comes from one of Config.TrustedProxies and the first
// X-Forwarded-Proto value (the scheme the outermost proxy saw) is https. From any other
// peer the header is ignored, whatever it says.
func (s *server) secureRequest(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if len(s.cfg.TrustedProxies) == 0 {
		return false
	}
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !s.trustedProxy(peer.Addr().Unmap()) {
		return false
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

// trustedProxy reports whether a is in Config.TrustedProxies.
func (s *server) trustedProxy(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// credentials is how a request authenticated.
type credentials struct {
	caller
	scopes  auth.Scope
	cookie  bool
	expires time.Time // of the session; zero for a bearer key
}

// authenticate finds the request's credentials: the Authorization header when present
// (a bearer key), else the session cookie, which must be valid and not signed out. When
// there is none or it is not valid it answers the request (401, an invalid cookie cleared;
// or the error of the revocation lookup) and reports false.
func (s *server) authenticate(w http.ResponseWriter, r *http.Request) (credentials, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := bearerToken(h)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pictor"`)
			s.writeProblem(w, r, newProblem(http.StatusUnauthorized, "unauthorized", "Unauthorized",
				"send an API key as Authorization: Bearer KEY"))
			return credentials{}, false
		}
		i, ok := auth.Lookup(s.cfg.Keys, tok)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pictor", error="invalid_token"`)
			s.writeProblem(w, r, newProblem(http.StatusUnauthorized, "unauthorized", "Unauthorized", "the API key is not valid"))
			return credentials{}, false
		}
		return credentials{caller: caller{key: i, name: s.keyNames[i]}, scopes: s.cfg.Keys[i].Scopes}, true
	}
	ck, err := r.Cookie(SessionCookie)
	if err != nil || ck.Value == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="pictor"`)
		s.writeProblem(w, r, newProblem(http.StatusUnauthorized, "unauthorized", "Unauthorized",
			"send an API key as Authorization: Bearer KEY, or sign in to the console (POST /v1/session)"))
		return credentials{}, false
	}
	sess, err := auth.VerifySession(s.sessionKey, s.cfg.Keys, ck.Value, time.Now())
	if err == nil {
		var revoked bool
		if revoked, err = s.catalog.SessionRevoked(r.Context(), sess.ID); err != nil {
			s.writeError(w, r, fmt.Errorf("look up session: %w", err))
			return credentials{}, false
		}
		if revoked {
			err = errSessionRevoked
		}
	}
	if err != nil {
		http.SetCookie(w, s.sessionCookie(r, "", time.Time{}))
		w.Header().Set("WWW-Authenticate", `Bearer realm="pictor", error="invalid_token"`)
		s.writeProblem(w, r, newProblem(http.StatusUnauthorized, "unauthorized", "Unauthorized",
			"the session has expired, was signed out or is no longer valid; sign in again"))
		return credentials{}, false
	}
	return credentials{
		caller:  caller{key: sess.Key, name: s.keyNames[sess.Key]},
		scopes:  sess.Scopes,
		cookie:  true,
		expires: sess.Expires,
	}, true
}

// safeMethod reports whether m only reads (no CSRF header needed).
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead
}

// csrfProblem is the answer to a cookie-authenticated change without ConsoleHeader.
func csrfProblem(r *http.Request) Problem {
	return newProblem(http.StatusForbidden, "csrf-header-missing", "Console header missing",
		fmt.Sprintf("%s %s with a session cookie needs the header %s: %s", r.Method, r.URL.Path, ConsoleHeader, ConsoleHeaderValue))
}

// hasConsoleHeader reports whether r carries ConsoleHeader with its value.
func hasConsoleHeader(r *http.Request) bool {
	return r.Header.Get(ConsoleHeader) == ConsoleHeaderValue
}

// sessionAnswer is the body of GET /v1/session.
type sessionAnswer struct {
	// Open is true when no API keys are configured: every route is open.
	Open bool `json:"open"`
	// Key names the key (its @name or key-N); "" when open.
	Key string `json:"key,omitempty"`
	// Scopes are the effective scopes, implied ones included.
	Scopes []string `json:"scopes"`
	// Via is "cookie" or "bearer"; "" when open.
	Via string `json:"via,omitempty"`
	// ExpiresAt is when the session ends; absent for a bearer key and when open.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// scopeList lists the scopes s allows, implied ones included, in order read, write, admin.
func scopeList(s auth.Scope) []string {
	out := []string{}
	for _, sc := range []auth.Scope{auth.ScopeRead, auth.ScopeWrite, auth.ScopeAdmin} {
		if s.Allows(sc) {
			out = append(out, sc.String())
		}
	}
	return out
}

// handleGetSession serves GET /v1/session: who the request is (key name, scopes, expiry),
// 200 with open true when no keys are configured, 401 when it carries no valid credential.
func (s *server) handleGetSession() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if len(s.cfg.Keys) == 0 {
			s.writeJSON(w, r, http.StatusOK, sessionAnswer{Open: true, Scopes: scopeList(auth.ScopeAdmin)})
			return
		}
		cr, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		out := sessionAnswer{Key: cr.name, Scopes: scopeList(cr.scopes), Via: "bearer"}
		if cr.cookie {
			out.Via = "cookie"
			exp := cr.expires.UTC()
			out.ExpiresAt = &exp
		}
		s.writeJSON(w, r, http.StatusOK, out)
	}
}

// handleCreateSession serves POST /v1/session {"key": "pk_..."}: 204 with the session
// cookie, 401 for a key that is not configured. With no keys configured it answers 204 and
// sets nothing. Once keys are configured the request needs ConsoleHeader (403 without).
func (s *server) handleCreateSession() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if len(s.cfg.Keys) == 0 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if !hasConsoleHeader(r) {
			s.writeProblem(w, r, csrfProblem(r))
			return
		}
		var in struct {
			Key string `json:"key"`
		}
		if err := s.decodeJSON(w, r, &in); err != nil {
			s.writeError(w, r, err)
			return
		}
		i, ok := auth.Lookup(s.cfg.Keys, strings.TrimSpace(in.Key))
		if !ok || i > math.MaxUint16 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pictor", error="invalid_token"`)
			s.writeProblem(w, r, newProblem(http.StatusUnauthorized, "unauthorized", "Unauthorized",
				"the API key is not valid"))
			return
		}
		if info := logInfoFrom(r.Context()); info != nil {
			info.key = s.keyNames[i]
		}
		exp := time.Now().Add(SessionTTL).Truncate(time.Second)
		tok := auth.SignSession(s.sessionKey, auth.Session{Key: i, Scopes: s.cfg.Keys[i].Scopes, Expires: exp, ID: auth.NewSessionID()})
		http.SetCookie(w, s.sessionCookie(r, tok, exp))
		w.WriteHeader(http.StatusNoContent)
	}
}

// handleDeleteSession serves DELETE /v1/session: 204, and the cookie is cleared. A valid
// session cookie is also revoked for good (Catalog.RevokeSession), on every replica: the
// token is refused even by a browser or a copy that kept it. When that record cannot be
// written the cookie is still cleared and the error answered (the session is not ended).
// Once keys are configured the request needs ConsoleHeader (403 without).
func (s *server) handleDeleteSession() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if len(s.cfg.Keys) > 0 && !hasConsoleHeader(r) {
			s.writeProblem(w, r, csrfProblem(r))
			return
		}
		http.SetCookie(w, s.sessionCookie(r, "", time.Time{}))
		if ck, err := r.Cookie(SessionCookie); err == nil && ck.Value != "" && len(s.cfg.Keys) > 0 {
			if sess, err := auth.VerifySession(s.sessionKey, s.cfg.Keys, ck.Value, time.Now()); err == nil {
				if info := logInfoFrom(r.Context()); info != nil {
					info.key = s.keyNames[sess.Key]
				}
				if err := s.catalog.RevokeSession(r.Context(), sess.ID, sess.Expires); err != nil {
					s.writeError(w, r, fmt.Errorf("revoke session: %w", err))
					return
				}
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}
}
