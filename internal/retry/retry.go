// Package retry is the library's one retry policy: capped exponential
// backoff with jitter, honouring a server's Retry-After, bounded by the
// caller's context and a total time budget. Which failures are worth
// another attempt is the caller's call, made per attempt.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Defaults of a zero Policy.
const (
	DefaultMaxAttempts    = 4
	DefaultInitialBackoff = 250 * time.Millisecond
	DefaultMaxBackoff     = 8 * time.Second
	DefaultBudget         = 20 * time.Second
)

// Policy says how often and how long to retry. The zero value uses the
// defaults; Now and Sleep default to the real clock.
type Policy struct {
	MaxAttempts    int // first attempt included; 1 means no retry
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	Budget         time.Duration // total time from the first attempt

	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	Rand  func() float64 // in [0, 1), for jitter
}

// Decision is what a failed attempt says about trying again.
type Decision struct {
	Retry bool
	After time.Duration // the server's Retry-After; 0 when it gave none
}

// Stop is the decision not to retry.
var Stop = Decision{}

// Again is the decision to retry after the policy's backoff.
var Again = Decision{Retry: true}

// Do calls attempt until it succeeds, its decision says stop, the attempts
// or the budget run out, or ctx ends, and returns the last attempt's error.
// A Retry-After longer than what is left of the budget ends the retries at
// once rather than wait in vain.
func (p Policy) Do(ctx context.Context, attempt func(ctx context.Context) (Decision, error)) error {
	a := p.Start()
	for {
		d, err := attempt(ctx)
		if err == nil || !d.Retry {
			return err
		}
		wait, ok := a.Next(ctx, d.After)
		if !ok || a.Sleep(ctx, wait) != nil {
			return err
		}
	}
}

// Attempt tracks one call's retries, for loops that must act between
// deciding to retry and waiting (such as draining a response).
type Attempt struct {
	p     Policy
	start time.Time
	n     int // attempts made
}

// Start begins a call: the first attempt is about to be made.
func (p Policy) Start() *Attempt {
	p = p.withDefaults()
	return &Attempt{p: p, start: p.Now(), n: 1}
}

// Next reports whether another attempt may follow the one that just failed
// (with the server's Retry-After, if any) and how long to wait first. It
// counts the attempt.
func (a *Attempt) Next(ctx context.Context, after time.Duration) (time.Duration, bool) {
	p := a.p
	if a.n >= p.MaxAttempts || ctx.Err() != nil {
		return 0, false
	}
	wait := max(p.backoff(a.n), after)
	if p.Now().Add(wait).Sub(a.start) > p.Budget {
		return 0, false
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
		return 0, false
	}
	a.n++
	return wait, true
}

// Sleep waits d with the policy's sleep function.
func (a *Attempt) Sleep(ctx context.Context, d time.Duration) error { return a.p.Sleep(ctx, d) }

// backoff is the wait before attempt n+1: InitialBackoff doubled per attempt,
// capped at MaxBackoff, with "equal jitter" (half fixed, half random) so that
// many clients failing together do not retry together.
func (p Policy) backoff(n int) time.Duration {
	d := p.InitialBackoff
	for i := 1; i < n && d < p.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.MaxBackoff)
	return d/2 + time.Duration(p.Rand()*float64(d/2))
}

func (p Policy) withDefaults() Policy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = DefaultInitialBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = DefaultMaxBackoff
	}
	if p.Budget <= 0 {
		p.Budget = DefaultBudget
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Sleep == nil {
		p.Sleep = sleep
	}
	if p.Rand == nil {
		p.Rand = rand.Float64
	}
	return p
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
