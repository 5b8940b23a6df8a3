// Package flight collapses concurrent work for the same key into one call
// and can keep the call's result for a while afterwards.
//
// Unlike golang.org/x/sync/singleflight, the work runs on a context detached
// from every caller (values kept, cancellation not), bounded by its own
// timeout, and each caller waits only as long as its own context allows: one
// caller giving up neither cancels the work nor fails the others, and a
// result that arrives after everyone left is still kept for the next caller.
package flight

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Share says how a caller of Do or DoInline got its result.
type Share int

const (
	Ran      Share = iota // this caller started the call
	Joined                // the call was in flight when the caller arrived
	Retained              // the call had finished; its retained result was returned
)

// Group runs keyed calls. The zero value is not usable; use New.
// A Group is safe for concurrent use.
type Group[K comparable, V any] struct {
	now func() time.Time

	mu        sync.Mutex // guards calls and pruneAt
	calls     map[K]*call[V]
	pruneAt   int // prune finished entries when len(calls) reaches this
	minPrune  int
	maxRetain int
}

type call[V any] struct {
	done    chan struct{}
	val     V
	err     error
	expires time.Time // set when done; zero means drop at once
}

// New returns a Group whose retention times are read from now. maxRetain
// bounds how many finished results are kept; past it the oldest-expiring
// are dropped early.
func New[K comparable, V any](now func() time.Time, maxRetain int) *Group[K, V] {
	return &Group[K, V]{now: now, calls: make(map[K]*call[V]), pruneAt: 64, minPrune: 64, maxRetain: maxRetain}
}

// Do returns the result of fn for key. If a call for key is in flight, Do
// waits for it; if a finished call's result is still retained, Do returns
// it at once. Otherwise it starts fn on a context detached from ctx with the
// given timeout. After fn returns, retain(val, err) says how long to keep the
// result for later callers (zero or negative: not at all).
//
// shared says whether the caller ran the call, joined it in flight, or got
// a retained result. If ctx ends first, Do returns ctx.Err() and the call
// goes on.
func (g *Group[K, V]) Do(ctx context.Context, key K, timeout time.Duration, fn func(context.Context) (V, error), retain func(V, error) time.Duration) (val V, err error, shared Share) {
	return g.do(ctx, key, timeout, fn, retain, false)
}

// DoInline is Do, except that a caller who starts the call runs it itself,
// on a context detached from its own, instead of on a new goroutine: it
// waits for the call to finish whatever its ctx says (within timeout), and
// gets the result even if its ctx ended meanwhile. Callers who join a call
// in flight still wait only as long as their own ctx allows. It saves a
// goroutine per call where the starter has nothing better to do than wait.
func (g *Group[K, V]) DoInline(ctx context.Context, key K, timeout time.Duration, fn func(context.Context) (V, error), retain func(V, error) time.Duration) (val V, err error, shared Share) {
	return g.do(ctx, key, timeout, fn, retain, true)
}

func (g *Group[K, V]) do(ctx context.Context, key K, timeout time.Duration, fn func(context.Context) (V, error), retain func(V, error) time.Duration, inline bool) (val V, err error, shared Share) {
	g.mu.Lock()
	c, ok := g.calls[key]
	how := Joined
	if ok {
		select {
		case <-c.done:
			how = Retained
			if !g.now().Before(c.expires) {
				ok = false // expired; start anew
			}
		default:
		}
	}
	if !ok {
		c = &call[V]{done: make(chan struct{})}
		g.calls[key] = c
		g.maybePrune()
		detached := context.WithoutCancel(ctx)
		if inline {
			g.mu.Unlock()
			g.run(detached, key, c, timeout, fn, retain)
			return c.val, c.err, Ran
		}
		go g.run(detached, key, c, timeout, fn, retain)
	}
	g.mu.Unlock()
	if !ok {
		how = Ran
	}
	select {
	case <-c.done:
		return c.val, c.err, how
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err(), how
	}
}

func (g *Group[K, V]) run(ctx context.Context, key K, c *call[V], timeout time.Duration, fn func(context.Context) (V, error), retain func(V, error) time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c.val, c.err = fn(ctx)
	keep := time.Duration(0)
	if retain != nil {
		keep = retain(c.val, c.err)
	}
	g.mu.Lock()
	c.expires = g.now().Add(keep)
	if keep <= 0 && g.calls[key] == c {
		delete(g.calls, key)
	}
	g.mu.Unlock()
	close(c.done)
}

// Forget drops any retained result for key; a call in flight goes on but
// later callers start a new one.
func (g *Group[K, V]) Forget(key K) {
	g.mu.Lock()
	delete(g.calls, key)
	g.mu.Unlock()
}

// Len returns how many calls are in flight or retained.
func (g *Group[K, V]) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.calls)
}

// maybePrune drops expired results once the map has grown, amortising the
// scan; if more than maxRetain finished results remain, the ones expiring
// soonest go. Called with mu held.
func (g *Group[K, V]) maybePrune() {
	if len(g.calls) < g.pruneAt {
		return
	}
	now := g.now()
	type entry struct {
		key     K
		expires time.Time
	}
	var finished []entry
	for k, c := range g.calls {
		select {
		case <-c.done:
			if !now.Before(c.expires) {
				delete(g.calls, k)
				continue
			}
			finished = append(finished, entry{k, c.expires})
		default:
		}
	}
	if extra := len(finished) - g.maxRetain; extra > 0 {
		slices.SortFunc(finished, func(a, b entry) int { return a.expires.Compare(b.expires) })
		for _, e := range finished[:extra] {
			delete(g.calls, e.key)
		}
	}
	// Prune again when the map has doubled, but never let finished results
	// run far past maxRetain.
	g.pruneAt = max(min(2*len(g.calls), len(g.calls)+g.maxRetain/10+1), g.minPrune)
}
