package serverauthtest

import (
	"sync"
	"time"
)

// Clock is a settable clock, to share between the fake and the code under
// test (Options.Now = clock.Now, serverauth.Config.Now = clock.Now) so that
// tests move time instead of sleeping. It is safe for concurrent use.
type Clock struct {
	// guards now
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time. It is a method value fit for Options.Now.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d (backward for negative d).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
