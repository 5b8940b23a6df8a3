// Package lru is a bounded concurrent map from string keys that evicts
// approximately the least recently used entries.
//
// It is built for a read path that does almost nothing: a read takes no
// lock, allocates nothing and, in the steady state, writes no shared
// memory, so reads of one key from many cores do not contend. A read
// touches two places: the slot array of one shard (contiguous, the key's
// 64-bit hash beside a pointer to its entry, so probing past other keys
// reads no entry) and the entry itself, which holds the key inline when it
// is short (up to 23 bytes, such as a Google user ID) and the value by
// value. Pointer chasing through scattered memory, not computation, is what
// a map lookup costs once the map outgrows the CPU caches; this layout
// keeps it to one scattered read.
//
// Layout: the keys are spread over a fixed number of shards by the top bits
// of their hash. Each shard is an open-addressing table with linear
// probing, written under the shard's mutex and published by an atomic
// pointer: writers replace a slot's entry pointer (entries are immutable
// once published) or the whole table when it grows, and a reader sees
// either the old or the new state, never a torn one. A deleted slot is a
// tombstone until the table is rebuilt.
//
// Recency: an entry carries the tick of the last Store or Load that saw it.
// The tick advances only when an entry is stored, and a read writes the
// entry's tick only when it changed, so the hot path stays read-only.
// When the map exceeds its bound, the tenth of the entries with the oldest
// ticks is dropped in one pass.
package lru

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

const (
	shardBits = 5
	nShards   = 1 << shardBits
	minSlots  = 8
	inlineKey = 23 // longest key kept inside its entry
	longKey   = 0xff
)

// Map is the cache. The zero value is not usable; use New. A Map is safe for
// concurrent use. Values are copied in by Store and must not be modified
// through the pointers Load returns, but for atomic fields of theirs.
type Map[V any] struct {
	seed maphash.Seed
	max  int

	tick atomic.Uint64 // advanced by every Store; read by every Load
	_    [56]byte      // keep tick, read on every Load, off the lines writers touch
	n    atomic.Int64  // entries present
	_    [56]byte

	evictMu sync.Mutex // serialises eviction

	shards [nShards]shard[V]
}

type shard[V any] struct {
	mu   sync.Mutex // guards writes to tab's slots, tab itself, live and used
	tab  atomic.Pointer[table[V]]
	live int // slots holding an entry
	used int // live slots plus tombstones
	_    [96]byte
}

// table is one shard's slots; len(slots) is a power of two. Once a newer
// table replaces it, a table is never written again.
type table[V any] struct {
	mask  uint64
	slots []slot[V]
}

// Slot states, in slot.hash. A key's hash is never one of them.
const (
	empty     = 0
	tombstone = 1
)

type slot[V any] struct {
	hash atomic.Uint64 // empty, tombstone, or the hash of e's key
	e    atomic.Pointer[entry[V]]
}

// entry is one key and its value; immutable once published, but for used
// and for atomic fields of v.
// What a read touches comes first (used, the inline key, the start of v),
// so that a hit on a short key reads as few cache lines as can be.
type entry[V any] struct {
	used atomic.Uint64   // the tick of the last Store or Load that saw it
	kn   uint8           // len(key), or longKey
	kb   [inlineKey]byte // the key, when it is at most inlineKey bytes
	v    V
	long *string // the key, when it is longer: a pointer, so that short keys, the usual ones, pay 8 bytes for it, not 16
}

func (e *entry[V]) is(key string) bool {
	if e.kn == longKey {
		return *e.long == key
	}
	return string(e.kb[:e.kn]) == key
}

func (e *entry[V]) key() string {
	if e.kn == longKey {
		return *e.long
	}
	return string(e.kb[:e.kn])
}

func newEntry[V any](key string, v V, tick uint64) *entry[V] {
	e := &entry[V]{v: v}
	if len(key) <= inlineKey {
		e.kn = uint8(copy(e.kb[:], key))
	} else {
		e.kn, e.long = longKey, &key
	}
	e.used.Store(tick)
	return e
}

// New returns a Map holding at most about size entries (size ≥ 1).
func New[V any](size int) *Map[V] {
	return &Map[V]{seed: maphash.MakeSeed(), max: max(size, 1)}
}

func (c *Map[V]) hash(key string) uint64 {
	h := maphash.String(c.seed, key)
	if h <= tombstone {
		h += 2
	}
	return h
}

func (c *Map[V]) shard(h uint64) *shard[V] { return &c.shards[h>>(64-shardBits)] }

// Load returns a pointer to the value stored for key. The value must not be
// modified, but through its atomic fields; a later Store for key publishes
// a new one beside it.
func (c *Map[V]) Load(key string) (*V, bool) {
	h := c.hash(key)
	t := c.shard(h).tab.Load()
	if t == nil {
		return nil, false
	}
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		switch sh := s.hash.Load(); {
		case sh == h:
			if e := s.e.Load(); e != nil && e.is(key) {
				if tick := c.tick.Load(); e.used.Load() != tick {
					e.used.Store(tick)
				}
				return &e.v, true
			}
		case sh == empty:
			return nil, false
		}
	}
}

// Store sets the value for key, evicting old entries if the map is full.
func (c *Map[V]) Store(key string, v V) {
	h := c.hash(key)
	e := newEntry(cloneLong(key), v, c.tick.Add(1))
	s := c.shard(h)
	s.mu.Lock()
	added := s.put(h, e)
	s.mu.Unlock()
	if added && c.n.Add(1) > int64(c.max) {
		c.evict()
	}
}

// cloneLong copies a key kept outside its entry, so that the map does not
// pin whatever larger string the caller's key is a slice of.
func cloneLong(key string) string {
	if len(key) <= inlineKey {
		return key // copied into the entry
	}
	return string(append([]byte(nil), key...))
}

// Delete removes key.
func (c *Map[V]) Delete(key string) {
	c.CompareAndDelete(key, nil)
}

// CompareAndDelete removes key only if match reports true for its value
// (or match is nil).
func (c *Map[V]) CompareAndDelete(key string, match func(*V) bool) {
	h := c.hash(key)
	s := c.shard(h)
	s.mu.Lock()
	removed := false
	if t := s.tab.Load(); t != nil {
		if i, ok := t.find(h, key); ok && (match == nil || match(&t.slots[i].e.Load().v)) {
			s.remove(t, i)
			removed = true
		}
	}
	s.mu.Unlock()
	if removed {
		c.n.Add(-1)
	}
}

// Len returns the number of entries.
func (c *Map[V]) Len() int { return int(c.n.Load()) }

// find returns the slot holding key. The caller holds the shard's lock.
func (t *table[V]) find(h uint64, key string) (uint64, bool) {
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		switch sh := s.hash.Load(); {
		case sh == h:
			if s.e.Load().is(key) {
				return i, true
			}
		case sh == empty:
			return 0, false
		}
	}
}

// put stores e under hash h, replacing the entry of the same key, and
// reports whether the key is new. The caller holds the lock.
func (s *shard[V]) put(h uint64, e *entry[V]) bool {
	t := s.tab.Load()
	if t != nil {
		if i, ok := t.find(h, e.key()); ok {
			t.slots[i].e.Store(e)
			return false
		}
	}
	if t == nil || 4*(s.used+1) > 3*len(t.slots) {
		t = s.rebuild(t)
	}
	i := h & t.mask
	for t.slots[i].hash.Load() > tombstone {
		i = (i + 1) & t.mask
	}
	if t.slots[i].hash.Load() == empty {
		s.used++
	}
	// Pointer first: a reader that sees the hash finds the entry.
	t.slots[i].e.Store(e)
	t.slots[i].hash.Store(h)
	s.live++
	return true
}

// remove empties slot i of t, the shard's current table. The caller holds
// the lock.
func (s *shard[V]) remove(t *table[V], i uint64) {
	t.slots[i].hash.Store(tombstone)
	t.slots[i].e.Store(nil)
	s.live--
}

// rebuild publishes a new table for the shard's live entries with room for
// one more: twice the size when they fill half of it, else the same size
// without tombstones. The caller holds the lock.
func (s *shard[V]) rebuild(old *table[V]) *table[V] {
	n := minSlots
	if old != nil {
		n = len(old.slots)
		if 2*(s.live+1) > n {
			n *= 2
		}
	}
	t := &table[V]{mask: uint64(n - 1), slots: make([]slot[V], n)}
	if old != nil {
		for i := range old.slots {
			os := &old.slots[i]
			h := os.hash.Load()
			if h <= tombstone {
				continue
			}
			j := h & t.mask
			for t.slots[j].hash.Load() != empty {
				j = (j + 1) & t.mask
			}
			t.slots[j].e.Store(os.e.Load())
			t.slots[j].hash.Store(h)
		}
	}
	s.used = s.live
	s.tab.Store(t)
	return t
}

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
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		if t := s.tab.Load(); t != nil {
			for j := range t.slots {
				if t.slots[j].hash.Load() > tombstone {
					ticks = append(ticks, t.slots[j].e.Load().used.Load())
				}
			}
		}
		s.mu.Unlock()
	}
	drop = min(drop, len(ticks))
	if drop == 0 {
		return // concurrent deletes emptied the map after the count was read
	}
	cutoff := nth(ticks, drop-1)
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		removed := 0
		if t := s.tab.Load(); t != nil {
			for j := range t.slots {
				if removed == drop {
					break
				}
				if t.slots[j].hash.Load() > tombstone && t.slots[j].e.Load().used.Load() <= cutoff {
					s.remove(t, uint64(j))
					removed++
				}
			}
		}
		s.mu.Unlock()
		c.n.Add(-int64(removed))
		if drop -= removed; drop == 0 {
			return
		}
	}
}

// nth returns the k-th smallest of a (0-based), reordering a: Hoare's
// selection, linear on average, so that eviction over a million entries
// does not sort them.
func nth(a []uint64, k int) uint64 {
	lo, hi := 0, len(a)-1
	for lo < hi {
		p := a[lo+(hi-lo)/2]
		i, j := lo, hi
		for i <= j {
			for a[i] < p {
				i++
			}
			for a[j] > p {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return a[k]
		}
	}
	return a[k]
}
