package sdclient

import "time"

// SetPoolClock replaces the clock a Pool's circuit breaker reads, so tests
// can move time on instead of sleeping. Call it before using the Pool.
func SetPoolClock(p *Pool, now func() time.Time) { p.now = now }

// ParseAPIError exposes parseAPIError to the contract suite, which checks error
// shapes read by hand.
func ParseAPIError(endpoint string, status int, body []byte) error {
	return parseAPIError(endpoint, status, body)
}
