package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/pictor/pictor/auth"
)

// callerKey holds the authenticated caller in a request's context.
type callerKey struct{}

// caller is who made a request: the index of the API key it presented, or -1 when no keys
// are configured (open service).
type caller struct {
	key    int
	name   string
	scopes auth.Scope
}

// mayReview tells whether the request's caller may see and decide renditions held for
// review: write scope or more, or any caller of an open service.
func mayReview(r *http.Request) bool {
	c, ok := callerFrom(r.Context())
	return ok && (c.key < 0 || c.scopes.Allows(auth.ScopeWrite))
}

func callerFrom(ctx context.Context) (caller, bool) {
	c, ok := ctx.Value(callerKey{}).(caller)
	return c, ok
}

// requiredScope is the scope a /v1 request needs: admin for recipes and backends whatever
// the method, read for GET and HEAD and for POST /v1/images/select (a preview that changes
// nothing), write for everything else. Unknown paths and methods
// fall to write or admin, never to less.
func requiredScope(method, path string) auth.Scope {
	for _, p := range []string{"/v1/recipes", "/v1/backends"} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return auth.ScopeAdmin
		}
	}
	if method == http.MethodGet || method == http.MethodHead {
		return auth.ScopeRead
	}
	// Previewing a selection reads only; it is a POST for its body.
	if method == http.MethodPost && path == "/v1/images/select" {
		return auth.ScopeRead
	}
	return auth.ScopeWrite
}

// bearerToken extracts KEY from "Authorization: Bearer KEY" (scheme case-insensitive).
func bearerToken(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// authorize guards the /v1 routes once API keys are configured. A request authenticates
// with "Authorization: Bearer KEY" or, when it sends no Authorization header, with the
// console's session cookie (session.go). A missing or unknown credential is 401
// unauthorized with WWW-Authenticate: Bearer, a key without the scope the request needs
// (requiredScope) is 403 insufficient-scope, and a cookie-authenticated request other than
// GET or HEAD without "X-Requested-With: pictor-console" is 403 csrf-header-missing; a
// signed-out session is 401 like an expired one. Keys
// are compared in constant time and never logged; the access log names the key (its @name
// or key-N). The session routes check for themselves. With no keys every request passes.
func (s *server) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(s.cfg.Keys) == 0 {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, caller{key: -1, scopes: auth.ScopeAdmin})))
			return
		}
		if r.URL.Path == sessionPath {
			next.ServeHTTP(w, r)
			return
		}
		cr, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		c := cr.caller
		c.scopes = cr.scopes
		if info := logInfoFrom(r.Context()); info != nil {
			info.key = c.name
		}
		need := requiredScope(r.Method, r.URL.Path)
		if !cr.scopes.Allows(need) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pictor", error="insufficient_scope", scope="`+need.String()+`"`)
			s.writeProblem(w, r, newProblem(http.StatusForbidden, "insufficient-scope", "Insufficient scope",
				"this API key lacks the "+need.String()+" scope that "+r.Method+" "+r.URL.Path+" needs"))
			return
		}
		if cr.cookie && !safeMethod(r.Method) && !hasConsoleHeader(r) {
			s.writeProblem(w, r, csrfProblem(r))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
	})
}
