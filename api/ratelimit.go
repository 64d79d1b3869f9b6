package api

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Bounds of the limiter's memory: idle buckets (refilled to full) are dropped at most once
// a sweepEvery, and past maxBuckets new callers share one overflow bucket.
const (
	sweepEvery = time.Minute
	maxBuckets = 100_000
	overflowID = "overflow"
	// maxRetryAfter caps the Retry-After of very slow rates.
	maxRetryAfter = 24 * time.Hour
)

// limiter is a token bucket per caller id, in this process's memory: each replica limits
// on its own, so a caller behind a load balancer gets up to replicas times the rate.
type limiter struct {
	rate       float64
	burst      float64
	now        func() time.Time
	maxBuckets int

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rl RateLimit) *limiter {
	return &limiter{
		rate:       rl.PerSecond,
		burst:      float64(rl.Burst),
		now:        time.Now,
		maxBuckets: maxBuckets,
		buckets:    map[string]*bucket{},
	}
}

// allow takes a token from id's bucket. When none is left it reports false and how long
// until one is.
func (l *limiter) allow(id string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.lastSweep) >= sweepEvery {
		l.sweep(now)
	}
	b, ok := l.buckets[id]
	if !ok {
		if len(l.buckets) >= l.maxBuckets {
			id = overflowID
			b = l.buckets[id]
		}
		if b == nil {
			b = &bucket{tokens: l.burst, last: now}
			l.buckets[id] = b
		}
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(l.burst, b.tokens+el*l.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	secs := math.Min((1-b.tokens)/l.rate, maxRetryAfter.Seconds()) // a tiny rate must not overflow
	return false, time.Duration(secs * float64(time.Second))
}

// sweep drops the buckets that have refilled to full: forgetting them changes nothing.
func (l *limiter) sweep(now time.Time) {
	l.lastSweep = now
	for id, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, id)
		}
	}
}

// clientIP is the limiter id of an unauthenticated caller: the remote IP, its /64 for IPv6
// (one subscriber usually holds a whole /64). Forwarded headers are not trusted.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return "ip:" + host
	}
	if ip4 := ip.To4(); ip4 != nil {
		return "ip:" + ip4.String()
	}
	return "ip:" + ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// rateLimit applies Config.RateLimit to the route it wraps, per API key, or per client IP
// when the service is open: over the limit is 429 rate-limited with Retry-After in seconds.
func (s *server) rateLimit(next http.Handler) http.Handler {
	return s.limitWith(s.limiter, s.cfg.RateLimit, "on ingest, render and analyze", next)
}

// batchRateLimit applies Config.BatchRateLimit to batch creation, as rateLimit does.
func (s *server) batchRateLimit(next http.Handler) http.Handler {
	return s.limitWith(s.batchLimiter, s.cfg.BatchRateLimit, "on batch creation", next)
}

// limitWith limits next by l (off when nil), whose rate rl is named in the problem with where.
func (s *server) limitWith(l *limiter, rl RateLimit, where string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l == nil {
			next.ServeHTTP(w, r)
			return
		}
		id := clientIP(r)
		if c, ok := callerFrom(r.Context()); ok && c.key >= 0 {
			id = "key:" + strconv.Itoa(c.key)
		}
		ok, wait := l.allow(id)
		if !ok {
			secs := int(math.Ceil(wait.Seconds()))
			if secs < 1 {
				secs = 1
			}
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			s.writeProblem(w, r, newProblem(http.StatusTooManyRequests, "rate-limited", "Rate limit exceeded",
				fmt.Sprintf("at most %g requests a second (burst %d) %s; retry after %d s", rl.PerSecond, rl.Burst, where, secs)))
			return
		}
		next.ServeHTTP(w, r)
	})
}
