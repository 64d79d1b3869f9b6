package sdclient

import "time"

// SetPoolClock replaces the clock a Pool's circuit breaker reads, so tests
// can move time on instead of sleeping. Call it before using the Pool.
func SetPoolClock(p *Pool, now func() time.Time) { p.now = now }
