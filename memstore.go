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
// [Leaser] and [Lister], and is safe for concurrent use. The zero value is
// an empty store, ready to use.
type MemoryStore struct {
	mu      sync.Mutex // guards records and leases
	records map[string]*Record
	leases  map[string]memLease
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
	if l, held := m.leases[userID]; held && l.owner != owner && now.Before(l.expires) {
		return false, nil
	}
	m.leases[userID] = memLease{owner: owner, expires: now.Add(ttl)}
	return true, nil
}

// Release implements Leaser.
func (m *MemoryStore) Release(ctx context.Context, userID, owner string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.lock()
	defer m.mu.Unlock()
	if l, held := m.leases[userID]; held && l.owner == owner {
		delete(m.leases, userID)
	}
	return nil
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
