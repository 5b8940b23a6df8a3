package serverauth

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Stats is a snapshot of an Exchanger's counters and gauges, from
// [Exchanger.Stats]. Counters count from New in this process; gauges are
// as of the call. Like an Observation it holds no user ID, token or email.
type Stats struct {
	// Ops counts the operations that ended since New, by Op (see
	// [Observer] for what each covers). Every Op has an entry. Refreshes
	// sent to Google are Ops[OpRefresh].Count; Token calls that shared
	// another caller's refresh are Ops[OpToken].Coalesced.
	Ops map[Op]OpStats

	// TokenCacheHits counts the Token, TokenSource, Client and Drive calls
	// answered from memory, which no Observation reports.
	TokenCacheHits uint64

	// PreviousSecretUses counts the refreshes Google refused with
	// Config.ClientSecret and accepted with Config.PreviousClientSecret.
	// Once it stops growing on every replica (the log then says the
	// current secret is in use), the previous secret can be deleted in the
	// Google Cloud console and dropped from the configuration.
	PreviousSecretUses uint64

	// CachedUsers is the number of users whose access token is held in
	// memory (at most Config.TokenCacheSize).
	CachedUsers int

	// PendingWrites is the number of refreshed records held in memory
	// because the store refused them (see SaveError); Flush writes them.
	PendingWrites int

	// Backoffs is the number of users whose last refresh failed and who are
	// inside its backoff now: their Token calls get that error without
	// reaching Google until it ends.
	Backoffs int

	// KeysFetched is when the signing keys in use were fetched from Google;
	// KeySetAge is Now minus that. Both are zero before the first fetch.
	// An age past a day means fetches have been failing (the last good set
	// is served for a day past its freshness, then refused).
	KeysFetched time.Time
	KeySetAge   time.Duration

	// Grants counts the stored grants by status, as the last complete walk
	// of the store counted them (Exchanger.Grants or
	// Exchanger.ExpiringGrants walked to the end, or CountGrants): the
	// store itself is not asked, which would cost a scan per call. A grant
	// whose time-limited end has passed counts as StatusExpired. Nil
	// before any walk; GrantsCounted is when that walk ended.
	Grants        map[Status]int
	GrantsCounted time.Time
}

// OpStats counts one kind of operation.
type OpStats struct {
	Count     uint64 // operations that ended
	Errors    uint64 // of them, those that failed
	Cached    uint64 // of them, answered from memory (Observation.Cached)
	Coalesced uint64 // of them, shared with another caller (Observation.Coalesced)
	Attempts  uint64 // requests they sent to Google, retries included
}

// allOps lists every Op an Observation can report, in Stats order.
var allOps = [...]Op{
	OpExchange, OpRefresh, OpRevoke, OpToken, OpVerify, OpKeyFetch,
	OpStoreLoad, OpStoreSave, OpStoreDelete, OpLease, OpDrive, OpRISCEvent,
}

// opIndex returns op's index in allOps, or -1.
func opIndex(op Op) int {
	for i, o := range allOps {
		if o == op {
			return i
		}
	}
	return -1
}

// opCounters are one Op's counters.
type opCounters struct {
	count, errors, cached, coalesced, attempts atomic.Uint64
}

// hitCounter counts token-cache hits on the hot path. It is striped, one
// cache line per stripe, by the calling goroutine's stack: goroutines
// running at once on different cores have different stacks, so they
// increment different lines and no line moves between cores, whether they
// serve one user or many. (Striping by user would not do that: two cores
// serving random users meet on a line written by the other core about half
// the time, and two cores serving one user always.)
type hitCounter struct {
	stripes [64]struct {
		n atomic.Uint64
		_ [56]byte
	}
}

// add counts a hit.
func (h *hitCounter) add() {
	var here byte
	sp := uint64(uintptr(unsafe.Pointer(&here))) >> 10 // below a goroutine's smallest stack
	h.stripes[(sp*0x9E3779B97F4A7C15)>>58].n.Add(1)
}

// load sums the stripes.
func (h *hitCounter) load() uint64 {
	var n uint64
	for i := range h.stripes {
		n += h.stripes[i].n.Load()
	}
	return n
}

// stats holds an Exchanger's counters. It is safe for concurrent use.
type stats struct {
	ops            [len(allOps)]opCounters
	cacheHits      hitCounter
	previousSecret atomic.Uint64

	mu            sync.Mutex // guards grants and grantsCounted
	grants        map[Status]int
	grantsCounted time.Time
}

// count adds a finished operation.
func (s *stats) count(o *Observation) {
	i := opIndex(o.Op)
	if i < 0 {
		return
	}
	c := &s.ops[i]
	c.count.Add(1)
	if o.Outcome == OutcomeError {
		c.errors.Add(1)
	}
	if o.Cached {
		c.cached.Add(1)
	}
	if o.Coalesced {
		c.coalesced.Add(1)
	}
	if o.Attempts > 0 {
		c.attempts.Add(uint64(o.Attempts))
	}
}

// setGrants records the counts of a complete walk.
func (s *stats) setGrants(counts map[Status]int, at time.Time) {
	s.mu.Lock()
	s.grants, s.grantsCounted = counts, at
	s.mu.Unlock()
}

// Stats returns a snapshot of the Exchanger's counters and gauges. It
// makes no call to the store or to Google; its cost grows with the number
// of users in a refresh backoff (one pass over them).
func (e *Exchanger) Stats() Stats {
	now := e.cfg.Now()
	st := Stats{
		Ops:                make(map[Op]OpStats, len(allOps)),
		TokenCacheHits:     e.stats.cacheHits.load(),
		PreviousSecretUses: e.stats.previousSecret.Load(),
		CachedUsers:        e.users.cache.Len(),
	}
	for i, op := range allOps {
		c := &e.stats.ops[i]
		st.Ops[op] = OpStats{
			Count: c.count.Load(), Errors: c.errors.Load(), Cached: c.cached.Load(),
			Coalesced: c.coalesced.Load(), Attempts: c.attempts.Load(),
		}
	}
	st.PendingWrites, st.Backoffs = e.users.gauges(now)
	if t := e.verifier.keys.Fetched(); !t.IsZero() {
		st.KeysFetched, st.KeySetAge = t, max(now.Sub(t), 0)
	}
	e.stats.mu.Lock()
	st.Grants, st.GrantsCounted = maps.Clone(e.stats.grants), e.stats.grantsCounted
	e.stats.mu.Unlock()
	return st
}
