package serverauth

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/serverauth/serverauth/internal/flight"
	"github.com/serverauth/serverauth/internal/lru"
)

// users owns every piece of in-memory state the Exchanger keeps per user:
// the cached access token, the refresh in flight, the failure streak that
// paces retries, and the pending write of a refreshed record the store
// refused. The store holds the truth; this is a cache of it plus the one
// thing the store does not have yet (a pending rotated refresh token).
//
// Every path that ends or replaces a grant (Save, Revoke, ResetConsent, a
// refresh that finds the grant dead) calls invalidate, which forgets it all
// at once and hands back the pending write, if any, for the caller to
// decide about: a revoke revokes its refresh token, a save of a sign-in
// without a refresh token keeps it, a dead grant has none.
//
// invalidate also starts a new epoch for the user: a refresh that began
// before it may finish afterwards, and its token must not reach the cache
// (it belongs to a grant that was just ended or replaced). remember takes
// the epoch the refresh started in and caches only if it is still current.
type users struct {
	now  func() time.Time
	hits *hitCounter // counts cache hits (Stats.TokenCacheHits)

	cache     *lru.Map[tokenEntry]                // by user; internally locked
	refreshes *flight.Group[string, *cachedToken] // one refresh per flight key; internally locked

	mu sync.Mutex // guards the fields below
	// seq counts invalidations; epoch reads it.
	seq uint64
	// invalidated is the seq of each user's last invalidation, kept only
	// while a refresh that started before it may still be running.
	invalidated map[string]uint64
	// running counts the refreshes in progress by the seq they started at.
	running map[uint64]int
	// failures is each user's streak of failed refreshes and the end of
	// the backoff it set.
	failures map[string]failureStreak
	// pending holds refreshed records whose save failed, by user, until the
	// store takes them or a newer record makes them moot. Never evicted.
	pending map[string]*pendingWrite
}

// pendingWrite is a refreshed record the store did not take. It carries
// the refresh token it redeemed, so that it is written only over the
// record it was refreshed from (see flushPending).
type pendingWrite struct {
	rec      *Record  // the record to write, tokens sealed
	redeemed [32]byte // SHA-256 of the refresh token the refresh redeemed
}

// failureStreak is a user's run of failed refreshes.
type failureStreak struct {
	n     int       // attempts that failed in a row
	until time.Time // the backoff's end: the refresh outcome is shared until then
}

// maxTrackedFailures bounds the failure streaks remembered; forgetting one
// only shortens a backoff.
const maxTrackedFailures = 100000

func newUsers(now func() time.Time, cacheSize int, hits *hitCounter) *users {
	return &users{
		now:         now,
		hits:        hits,
		cache:       lru.New[tokenEntry](cacheSize),
		refreshes:   flight.New[string, *cachedToken](now, cacheSize),
		invalidated: make(map[string]uint64),
		running:     make(map[uint64]int),
		failures:    make(map[string]failureStreak),
		pending:     make(map[string]*pendingWrite),
	}
}

// Flight keys: a plain refresh, and one that must not return a token a
// resource server just refused.
func flightKey(userID string, rejected bool) string {
	if rejected {
		return userID + "\x00rejected"
	}
	return userID
}

// cached returns the user's cached token if it is still good to hand out.
func (u *users) cached(userID string) (*tokenEntry, bool) {
	te, ok := u.cache.Load(userID)
	if ok && te.usableAt(u.now()) {
		u.hits.add()
		return te, true
	}
	return nil, false
}

// unexpired returns the user's cached token if it has not expired yet,
// though it may be within the refresh margin: still good to send when a
// fresh one cannot be had at once.
func (u *users) unexpired(userID string) (*cachedToken, bool) {
	te, ok := u.cache.Load(userID)
	if ok && te.unexpiredAt(u.now()) {
		return &cachedToken{tokenFacts: te.tokenFacts}, true
	}
	return nil, false
}

// begin marks the start of work whose result may be cached (a refresh or
// a read of the store) and returns its epoch; end must follow.
func (u *users) begin() uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.running[u.seq]++
	return u.seq
}

// end marks the end of work begun at epoch.
func (u *users) end(epoch uint64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.running[epoch]--; u.running[epoch] <= 0 {
		delete(u.running, epoch)
	}
	if len(u.running) == 0 {
		clear(u.invalidated) // no work can be stale any more
	}
}

// remember caches ct for the user unless the user was invalidated after
// epoch, and reports whether it did.
func (u *users) remember(userID string, epoch uint64, ct *cachedToken) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.invalidated[userID] > epoch {
		return false
	}
	u.cache.Store(userID, ct.entry())
	return true
}

// invalidate forgets everything held in memory about the user: cached
// token, refresh results, failure streak. Work under way for the user
// cannot cache its result afterwards. It returns the pending write it
// removed, if any; the caller owns its refresh token now.
func (u *users) invalidate(userID string) *pendingWrite {
	u.mu.Lock()
	u.seq++
	if len(u.running) > 0 {
		u.invalidated[userID] = u.seq
	}
	p := u.pending[userID]
	delete(u.pending, userID)
	delete(u.failures, userID)
	u.cache.Delete(userID)
	u.mu.Unlock()
	u.refreshes.Forget(flightKey(userID, false))
	u.refreshes.Forget(flightKey(userID, true))
	return p
}

// park keeps a refreshed record the store refused.
func (u *users) park(userID string, p *pendingWrite) {
	u.mu.Lock()
	u.pending[userID] = p
	u.mu.Unlock()
}

// pendingOf returns the user's pending write, if any.
func (u *users) pendingOf(userID string) *pendingWrite {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.pending[userID]
}

// unpark removes p once it is written or moot, unless a newer one replaced
// it meanwhile.
func (u *users) unpark(userID string, p *pendingWrite) {
	u.mu.Lock()
	if u.pending[userID] == p {
		delete(u.pending, userID)
	}
	u.mu.Unlock()
}

// pendingUsers lists the users with a pending write.
func (u *users) pendingUsers() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	ids := make([]string, 0, len(u.pending))
	for id := range u.pending {
		ids = append(ids, id)
	}
	return ids
}

// failed records a failed refresh of n attempts and returns the streak;
// backoff turns the streak into the wait before the next refresh, which
// failed records.
func (u *users) failed(userID string, n int, backoff func(streak int) time.Duration) time.Duration {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.failures) >= maxTrackedFailures {
		clear(u.failures) // forgetting backoff state is harmless; growing without bound is not
	}
	f := u.failures[userID]
	f.n += max(n, 1)
	d := backoff(f.n)
	f.until = u.now().Add(d)
	u.failures[userID] = f
	return d
}

// gauges returns the number of pending writes and of users inside a
// refresh backoff at now.
func (u *users) gauges(now time.Time) (pending, backoffs int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, f := range u.failures {
		if now.Before(f.until) {
			backoffs++
		}
	}
	return len(u.pending), backoffs
}

// succeeded ends the user's failure streak.
func (u *users) succeeded(userID string) {
	u.mu.Lock()
	delete(u.failures, userID)
	u.mu.Unlock()
}

// tokenHash is how a pending write names the refresh token it redeemed,
// without keeping it.
func tokenHash(rt string) [32]byte { return sha256.Sum256([]byte(rt)) }
