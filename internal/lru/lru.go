// Package lru is a bounded concurrent map from string keys that evicts
// approximately the least recently used entries.
//
// Reads take no lock and, in the steady state, write no shared memory: an
// entry's recency is a coarse tick that advances only when entries are
// stored, and a read updates it only when it changed. So reads of the same
// key from many cores do not contend, and throughput grows with cores
// (unlike a mutex-guarded LRU list, which serialises every read).
// Eviction runs when the map exceeds its bound and drops the tenth of
// entries with the oldest ticks.
package lru

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Map is the cache. The zero value is not usable; use New. A Map is safe for
// concurrent use.
type Map[V any] struct {
	max  int
	m    sync.Map // string → *entry[V]
	n    atomic.Int64
	tick atomic.Uint64

	evictMu sync.Mutex // serialises eviction
}

type entry[V any] struct {
	v    V
	used atomic.Uint64
}

// New returns a Map holding at most about size entries (size ≥ 1).
func New[V any](size int) *Map[V] {
	return &Map[V]{max: max(size, 1)}
}

// Load returns the value for key.
func (c *Map[V]) Load(key string) (V, bool) {
	x, ok := c.m.Load(key)
	if !ok {
		var zero V
		return zero, false
	}
	e := x.(*entry[V])
	if t := c.tick.Load(); e.used.Load() != t {
		e.used.Store(t)
	}
	return e.v, true
}

// Store sets the value for key, evicting old entries if the map is full.
func (c *Map[V]) Store(key string, v V) {
	e := &entry[V]{v: v}
	e.used.Store(c.tick.Add(1))
	if _, loaded := c.m.Swap(key, e); !loaded && c.n.Add(1) > int64(c.max) {
		c.evict()
	}
}

// Delete removes key.
func (c *Map[V]) Delete(key string) {
	if _, loaded := c.m.LoadAndDelete(key); loaded {
		c.n.Add(-1)
	}
}

// CompareAndDelete removes key only if match reports true for its value.
func (c *Map[V]) CompareAndDelete(key string, match func(V) bool) {
	x, ok := c.m.Load(key)
	if ok && match(x.(*entry[V]).v) && c.m.CompareAndDelete(key, x) {
		c.n.Add(-1)
	}
}

// Len returns the number of entries.
func (c *Map[V]) Len() int { return int(c.n.Load()) }

// evict drops the least recently used tenth of the entries (at least enough
// to get back under the bound). Concurrent callers skip: one eviction at a
// time is enough.
func (c *Map[V]) evict() {
	if !c.evictMu.TryLock() {
		return
	}
	defer c.evictMu.Unlock()
	over := int(c.n.Load()) - c.max
	if over <= 0 {
		return
	}
	drop := max(over, c.max/10)
	ticks := make([]uint64, 0, c.n.Load())
	c.m.Range(func(_, x any) bool {
		ticks = append(ticks, x.(*entry[V]).used.Load())
		return true
	})
	if drop >= len(ticks) {
		drop = len(ticks)
	}
	if drop == 0 {
		return // concurrent deletes emptied the map after the count was read
	}
	slices.Sort(ticks)
	cutoff := ticks[drop-1]
	c.m.Range(func(k, x any) bool {
		if drop == 0 {
			return false
		}
		if x.(*entry[V]).used.Load() <= cutoff && c.m.CompareAndDelete(k, x) {
			c.n.Add(-1)
			drop--
		}
		return true
	})
}
