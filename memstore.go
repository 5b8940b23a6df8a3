package serverauth

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"sync"
	"time"
)

// MemoryStore is a [TokenStore] in process memory, for tests and
// single-process use: its contents die with the process. Because nothing
// leaves the process, New does not require a Cipher with it. It implements
// [Leaser], [RecordLeaser], [SignInUpdater], [Lister], [RefreshTokenIndex]
// and [EventLedger], and is safe for concurrent use. The zero value is an
// empty store, ready to use.
type MemoryStore struct {
	mu      sync.Mutex // guards records, leases, events and eventsPruneAt
	records map[string]*Record
	leases  map[string]memLease
	events  map[string]memEvent
	// eventsPruneAt is the size of events at which expired entries are
	// dropped next: twice what remained after the last prune.
	eventsPruneAt int
}

// memEvent is an event's claim or, once done, its record.
type memEvent struct {
	owner   string // the claim's owner; "" once done
	expires time.Time
}

type memLease struct {
	owner   string
	expires time.Time
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return new(MemoryStore) }

// lock locks m and makes its maps on first use, so the zero value works.
func (m *MemoryStore) lock() {
	m.mu.Lock()
	if m.records == nil {
		m.records = make(map[string]*Record)
		m.leases = make(map[string]memLease)
		m.events = make(map[string]memEvent)
	}
}

// Get implements TokenStore.
func (m *MemoryStore) Get(ctx context.Context, userID string) (*Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.lock()
	defer m.mu.Unlock()
	r, ok := m.records[userID]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, userID)
	}
	return r.Clone(), nil
}

// Put implements TokenStore.
func (m *MemoryStore) Put(ctx context.Context, rec *Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.lock()
	defer m.mu.Unlock()
	return m.put(rec)
}

// put is Put with m locked.
func (m *MemoryStore) put(rec *Record) error {
	var stored int64
	if r, ok := m.records[rec.UserID]; ok {
		stored = r.Version
	}
	if rec.Version != stored {
		return fmt.Errorf("%w: user %q is at version %d, not %d", ErrVersionConflict, rec.UserID, stored, rec.Version)
	}
	c := rec.Clone()
	c.Version = stored + 1
	m.records[rec.UserID] = c
	rec.Version = c.Version
	return nil
}

// Delete implements TokenStore.
func (m *MemoryStore) Delete(ctx context.Context, userID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.lock()
	defer m.mu.Unlock()
	delete(m.records, userID)
	delete(m.leases, userID)
	return nil
}

// Lease implements Leaser.
func (m *MemoryStore) Lease(ctx context.Context, userID, owner string, now time.Time, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if owner == "" || ttl <= 0 {
		return false, fmt.Errorf("serverauth: MemoryStore.Lease needs an owner and a positive ttl")
	}
	m.lock()
	defer m.mu.Unlock()
	if _, ok := m.records[userID]; !ok {
		return false, fmt.Errorf("%w: %q", ErrNotFound, userID)
	}
	return m.lease(userID, owner, now, ttl), nil
}

// lease is Lease of a stored user with m locked.
func (m *MemoryStore) lease(userID, owner string, now time.Time, ttl time.Duration) bool {
	if l, held := m.leases[userID]; held && l.owner != owner && now.Before(l.expires) {
		return false
	}
	m.leases[userID] = memLease{owner: owner, expires: now.Add(ttl)}
	return true
}

// Release implements Leaser.
func (m *MemoryStore) Release(ctx context.Context, userID, owner string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.lock()
	defer m.mu.Unlock()
	m.release(userID, owner)
	return nil
}

// release is Release with m locked.
func (m *MemoryStore) release(userID, owner string) {
	if l, held := m.leases[userID]; held && l.owner == owner {
		delete(m.leases, userID)
	}
}

// LeaseGet implements RecordLeaser.
func (m *MemoryStore) LeaseGet(ctx context.Context, userID, owner string, version int64, now time.Time, ttl time.Duration) (*Record, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if owner == "" || ttl <= 0 {
		return nil, false, fmt.Errorf("serverauth: MemoryStore.LeaseGet needs an owner and a positive ttl")
	}
	m.lock()
	defer m.mu.Unlock()
	r, ok := m.records[userID]
	if !ok {
		return nil, false, fmt.Errorf("%w: %q", ErrNotFound, userID)
	}
	held := false
	if r.Version == version {
		held = m.lease(userID, owner, now, ttl)
	} else if l, ok := m.leases[userID]; ok && l.owner == owner && now.Before(l.expires) {
		held = true // owner's lease from before stands
	}
	return r.Clone(), held, nil
}

// PutRelease implements RecordLeaser.
func (m *MemoryStore) PutRelease(ctx context.Context, rec *Record, owner string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.lock()
	defer m.mu.Unlock()
	if err := m.put(rec); err != nil {
		return err
	}
	m.release(rec.UserID, owner)
	return nil
}

// UpdateSignIn implements SignInUpdater.
func (m *MemoryStore) UpdateSignIn(ctx context.Context, u *SignInUpdate) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.lock()
	defer m.mu.Unlock()
	r, ok := m.records[u.UserID]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, u.UserID)
	}
	c := r.Clone()
	u.ApplyTo(c)
	c.Version++
	m.records[u.UserID] = c
	return append([]byte(nil), c.RefreshToken...), nil
}

// Users implements Lister. It walks a snapshot taken when the walk starts.
func (m *MemoryStore) Users(ctx context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		m.lock()
		ids := make([]string, 0, len(m.records))
		for id := range m.records {
			ids = append(ids, id)
		}
		m.mu.Unlock()
		slices.Sort(ids)
		for _, id := range ids {
			if err := ctx.Err(); err != nil {
				yield("", err)
				return
			}
			if !yield(id, nil) {
				return
			}
		}
	}
}

// UsersByRefreshToken implements RefreshTokenIndex, by a walk of the
// records.
func (m *MemoryStore) UsersByRefreshToken(ctx context.Context, prefixHash, hash string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if (prefixHash == "") == (hash == "") {
		return nil, fmt.Errorf("serverauth: MemoryStore.UsersByRefreshToken needs exactly one of prefixHash and hash")
	}
	m.lock()
	defer m.mu.Unlock()
	var ids []string
	for id, r := range m.records {
		if prefixHash != "" && r.RefreshTokenPrefixHash == prefixHash || hash != "" && r.RefreshTokenHash == hash {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// ClaimEvent implements EventLedger.
func (m *MemoryStore) ClaimEvent(ctx context.Context, eventID, owner string, now time.Time, ttl time.Duration) (EventClaim, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if eventID == "" || owner == "" || ttl <= 0 {
		return 0, fmt.Errorf("serverauth: MemoryStore.ClaimEvent needs an event ID, an owner and a positive ttl")
	}
	m.lock()
	defer m.mu.Unlock()
	if ev, ok := m.events[eventID]; ok && now.Before(ev.expires) {
		switch {
		case ev.owner == "":
			return EventDone, nil
		case ev.owner != owner:
			return EventBusy, nil
		}
	}
	m.events[eventID] = memEvent{owner: owner, expires: now.Add(ttl)}
	m.pruneEvents(now)
	return EventClaimed, nil
}

// FinishEvent implements EventLedger.
func (m *MemoryStore) FinishEvent(ctx context.Context, eventID, owner string, now time.Time, keep time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if eventID == "" || owner == "" {
		return fmt.Errorf("serverauth: MemoryStore.FinishEvent needs an event ID and an owner")
	}
	m.lock()
	defer m.mu.Unlock()
	m.events[eventID] = memEvent{expires: now.Add(keep)}
	return nil
}

// ReleaseEvent implements EventLedger.
func (m *MemoryStore) ReleaseEvent(ctx context.Context, eventID, owner string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.lock()
	defer m.mu.Unlock()
	if ev, ok := m.events[eventID]; ok && ev.owner != "" && ev.owner == owner {
		delete(m.events, eventID)
	}
	return nil
}

// pruneEvents drops expired events once the map has doubled since the last
// prune, so its cost is amortised over the claims. Call with m.mu held.
func (m *MemoryStore) pruneEvents(now time.Time) {
	if len(m.events) < max(m.eventsPruneAt, 1024) {
		return
	}
	for id, ev := range m.events {
		if !now.Before(ev.expires) {
			delete(m.events, id)
		}
	}
	m.eventsPruneAt = 2 * len(m.events)
}
