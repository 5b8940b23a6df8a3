package serverauth_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// scriptedStore is a MemoryStore whose Put can be made to fail, to commit
// and then fail (an ambiguous commit), or to pause; and whose every call
// can be paused, as when the process using it is stopped. Records are
// plaintext in these tests (InsecurePlaintextTokens), so a test can read
// the refresh token a refresh tried to write.
type scriptedStore struct {
	*serverauth.MemoryStore

	mu         sync.Mutex
	failPuts   int                // the next n Puts fail without writing
	ambiguous  int                // the next n Puts write, then fail
	pausePut   chan struct{}      // when set, the next Put announces itself on it and waits for resume
	resume     chan struct{}      // closed to let paused calls go on
	paused     bool               // every call waits for resume
	holdAfter  chan struct{}      // when set, the next Put writes, announces itself on it and waits for resume
	holdGet    chan struct{}      // likewise for the next Get, after it read
	pauseLease bool               // once a Lease is granted, every later call waits for resume
	lastFailed *serverauth.Record // the record of the last failed, ambiguous or paused Put
}

var errScriptedStoreDown = errors.New("store down (test)")

func (s *scriptedStore) wait() {
	s.mu.Lock()
	paused, resume := s.paused, s.resume
	s.mu.Unlock()
	if paused {
		<-resume
	}
}

func (s *scriptedStore) Get(ctx context.Context, id string) (*serverauth.Record, error) {
	s.wait()
	rec, err := s.MemoryStore.Get(ctx, id)
	s.mu.Lock()
	hold, resume := s.holdGet, s.resume
	s.holdGet = nil
	s.mu.Unlock()
	if hold != nil {
		hold <- struct{}{}
		<-resume
	}
	return rec, err
}

// holdAfterNextGet makes the next Get read and then wait, alone, until
// resume is called: its caller goes on with what is by then a stale record.
func (s *scriptedStore) holdAfterNextGet() (entered <-chan struct{}, resume func()) {
	ch := make(chan struct{}, 1)
	r := make(chan struct{})
	s.mu.Lock()
	s.holdGet, s.resume = ch, r
	s.mu.Unlock()
	return ch, func() { close(r) }
}

// noLeases hides a store's Leaser, as a store without one would be: each
// replica then refreshes on its own.
type noLeases struct{ serverauth.TokenStore }

func (s *scriptedStore) Put(ctx context.Context, r *serverauth.Record) error {
	s.wait()
	s.mu.Lock()
	if s.pausePut != nil {
		announce := s.pausePut
		s.pausePut = nil
		s.paused = true
		s.lastFailed = r.Clone()
		s.mu.Unlock()
		announce <- struct{}{}
		s.wait()
		s.mu.Lock()
	}
	switch {
	case s.failPuts > 0:
		s.failPuts--
		s.lastFailed = r.Clone()
		s.mu.Unlock()
		return errScriptedStoreDown
	case s.ambiguous > 0:
		s.ambiguous--
		s.lastFailed = r.Clone()
		s.mu.Unlock()
		if err := s.MemoryStore.Put(ctx, r); err != nil {
			return err
		}
		return errScriptedStoreDown // committed, but the answer was lost
	}
	hold, resume := s.holdAfter, s.resume
	s.holdAfter = nil
	s.mu.Unlock()
	err := s.MemoryStore.Put(ctx, r)
	if hold != nil {
		hold <- struct{}{}
		<-resume
	}
	return err
}

func (s *scriptedStore) Lease(ctx context.Context, id, owner string, now time.Time, ttl time.Duration) (bool, error) {
	s.wait()
	got, err := s.MemoryStore.Lease(ctx, id, owner, now, ttl)
	s.mu.Lock()
	if got && s.pauseLease {
		s.pauseLease, s.paused = false, true // the holder stops here, lease in hand
	}
	s.mu.Unlock()
	return got, err
}

// LeaseGet is the MemoryStore's, with the scripted pauses of Lease.
func (s *scriptedStore) LeaseGet(ctx context.Context, id, owner string, version int64, now time.Time, ttl time.Duration) (*serverauth.Record, bool, error) {
	s.wait()
	rec, held, err := s.MemoryStore.LeaseGet(ctx, id, owner, version, now, ttl)
	s.mu.Lock()
	stop := held && s.pauseLease
	if stop {
		s.pauseLease, s.paused = false, true
	}
	s.mu.Unlock()
	if stop {
		s.wait() // the holder stops here, lease in hand, before its refresh
	}
	return rec, held, err
}

// UpdateSignIn goes through the scripted Get and Put.
func (s *scriptedStore) UpdateSignIn(ctx context.Context, u *serverauth.SignInUpdate) ([]byte, error) {
	return updateThroughPut(ctx, s, u)
}

// PutRelease is the scripted Put, then Release.
func (s *scriptedStore) PutRelease(ctx context.Context, r *serverauth.Record, owner string) error {
	return putThenRelease(ctx, s.Put, s.MemoryStore, r, owner)
}

// holdAfterNextPut makes the next Put write and then wait, alone, until
// resume is called; entered receives once it has written.
func (s *scriptedStore) holdAfterNextPut() (entered <-chan struct{}, resume func()) {
	ch := make(chan struct{}, 1)
	r := make(chan struct{})
	s.mu.Lock()
	s.holdAfter, s.resume = ch, r
	s.mu.Unlock()
	return ch, func() { close(r) }
}

// stopAfterLease makes the store stop answering once a Lease is granted,
// as if the holder's process stopped right then; resume lets it go on.
func (s *scriptedStore) stopAfterLease() (resume func()) {
	r := make(chan struct{})
	s.mu.Lock()
	s.pauseLease, s.resume = true, r
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.paused = false
		s.mu.Unlock()
		close(r)
	}
}

// pauseNextPut makes the next Put stop (and every call after it wait)
// until the returned resume function is called; entered receives once the
// Put has stopped.
func (s *scriptedStore) pauseNextPut() (entered <-chan struct{}, resume func()) {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	s.pausePut, s.resume = ch, make(chan struct{})
	r := s.resume
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		s.paused = false
		s.mu.Unlock()
		close(r)
	}
}

// tokenAsync calls e.Token for user on another goroutine; the channel
// gets its error.
func tokenAsync(e *serverauth.Exchanger, user string) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := e.Token(context.Background(), user)
		done <- err
	}()
	return done
}

// rotatingFixture is a fake Google that rotates refresh tokens and one
// shared MemoryStore, with scripted views of it for several replicas.
type rotatingFixture struct {
	*fixture
	mem *serverauth.MemoryStore
}

func newRotatingFixture(t *testing.T) *rotatingFixture {
	return newSharedFixture(t, serverauthtest.Options{RotateRefreshTokens: true})
}

func newSharedFixture(t *testing.T, opts serverauthtest.Options) *rotatingFixture {
	mem := serverauth.NewMemoryStore()
	f := newFixture(t, opts, func(c *serverauth.Config) {
		c.Store, c.InsecurePlaintextTokens = &scriptedStore{MemoryStore: mem}, true
	})
	return &rotatingFixture{fixture: f, mem: mem}
}

// replica returns an Exchanger on the fixture's fake and clock whose store
// is a new scripted view of the shared MemoryStore.
func (f *rotatingFixture) replica() (*serverauth.Exchanger, *scriptedStore) {
	f.t.Helper()
	st := &scriptedStore{MemoryStore: f.mem}
	cfg := f.cfg
	cfg.Store = st
	e, err := serverauth.New(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	return e, st
}

func (f *rotatingFixture) signIn(e *serverauth.Exchanger) string {
	f.t.Helper()
	res, err := e.Exchange(context.Background(), f.mint(serverauthtest.CodeRequest{Scopes: []string{"openid", "email"}}))
	if err != nil {
		f.t.Fatalf("Exchange = %v", err)
	}
	return res.UserID
}

// storedRefreshToken is the plaintext refresh token the store holds.
func (f *rotatingFixture) storedRefreshToken(userID string) string {
	f.t.Helper()
	rec, err := f.mem.Get(context.Background(), userID)
	if err != nil {
		f.t.Fatalf("stored record: %v", err)
	}
	return string(rec.RefreshToken)
}

// alive reports whether Google would still honour the refresh token. It
// refreshes it (so with rotation it is spent afterwards): call it last.
func (f *rotatingFixture) alive(rt string) bool {
	cfg := oauth2.Config{
		ClientID: f.g.WebClientID(), ClientSecret: f.g.WebClientSecret(),
		Endpoint: oauth2.Endpoint{TokenURL: f.cfg.Endpoints.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, f.g.Client())
	_, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
	return err == nil
}

// TestRevokeAfterFailedSaveRevokesPendingToken: a refresh rotates the
// refresh token but the store refuses the write, so the new token exists
// only in memory. Revoke must revoke that one too and leave no record; the
// old code revoked only the stored (already rotated-away) token, and the
// next Token wrote the user back with a live, never-revoked grant.
func TestRevokeAfterFailedSaveRevokesPendingToken(t *testing.T) {
	f := newRotatingFixture(t)
	e, st := f.replica()
	user := f.signIn(e)
	f.clock.Advance(2 * time.Hour)
	st.failPuts = 1
	_, err := e.Token(context.Background(), user)
	var se *serverauth.SaveError
	if !errors.As(err, &se) || se.Result != nil {
		t.Fatalf("Token with the store refusing the write = %v, want a *SaveError without Result", err)
	}
	pendingRT := string(st.lastFailed.RefreshToken)
	if err := e.Revoke(context.Background(), user); err != nil {
		t.Fatalf("Revoke = %v", err)
	}
	if _, err := e.Token(context.Background(), user); !errors.Is(err, serverauth.ErrNotFound) {
		t.Fatalf("Token after Revoke = %v, want ErrNotFound", err)
	}
	if _, err := f.mem.Get(context.Background(), user); !errors.Is(err, serverauth.ErrNotFound) {
		t.Fatalf("store after Revoke: %v, want no record", err)
	}
	if f.alive(pendingRT) {
		t.Fatal("the rotated refresh token held in memory survived Revoke")
	}
}

// TestRevokeRacingRotatingRefresh: Revoke runs while a refresh that already
// redeemed the stored token at Google waits in the store's Put. The
// refresh must find the record gone, revoke what it got, and never write
// the user back.
func TestRevokeRacingRotatingRefresh(t *testing.T) {
	f := newRotatingFixture(t)
	e, st := f.replica()
	user := f.signIn(e)
	f.clock.Advance(2 * time.Hour)
	entered, resume := st.pauseNextPut()
	done := tokenAsync(e, user)
	<-entered
	// Revoke goes through another view of the store (the paused one holds
	// every call, as a stalled connection would).
	other, _ := f.replica()
	if err := other.Revoke(context.Background(), user); err != nil {
		t.Fatalf("Revoke during the refresh = %v", err)
	}
	resume()
	if err := <-done; !errors.Is(err, serverauth.ErrNotFound) {
		t.Fatalf("the racing refresh = %v, want ErrNotFound (the user was disconnected)", err)
	}
	if f.alive(string(st.lastFailed.RefreshToken)) {
		t.Fatal("the refresh token the racing refresh got is still alive at Google")
	}
	for _, ex := range []*serverauth.Exchanger{e, other} {
		if _, err := ex.Token(context.Background(), user); !errors.Is(err, serverauth.ErrNotFound) {
			t.Fatalf("Token after Revoke = %v, want ErrNotFound", err)
		}
	}
	if _, err := f.mem.Get(context.Background(), user); !errors.Is(err, serverauth.ErrNotFound) {
		t.Fatalf("store after the race: %v, want no record", err)
	}
}

// TestRevokeAfterConcurrentRotation: Revoke reads the record, then a
// refresh on another replica rotates the refresh token and stores the new
// one before Revoke reaches Google. The token Revoke read is already dead
// (revoking it ends nothing), so Revoke must read again and revoke the live
// one rather than delete it unrevoked, which left a grant nobody held and
// the user's next sign-in without a refresh token (found by TestSoak).
func TestRevokeAfterConcurrentRotation(t *testing.T) {
	ctx := context.Background()
	f := newRotatingFixture(t)
	a, _ := f.replica()
	b, sb := f.replica()
	user := f.signIn(a)
	f.clock.Advance(2 * time.Hour)
	entered, resume := sb.holdAfterNextGet()
	done := make(chan error, 1)
	go func() { done <- b.Revoke(ctx, user) }()
	<-entered
	if _, err := a.Token(ctx, user); err != nil {
		t.Fatalf("refresh while Revoke holds a stale read = %v", err)
	}
	resume()
	if err := <-done; err != nil {
		t.Fatalf("Revoke = %v", err)
	}
	if n := f.g.LiveRefreshTokens(user); n != 0 {
		t.Fatalf("after Revoke Google still holds %d live refresh token(s) of the user", n)
	}
	if _, err := f.mem.Get(ctx, user); !errors.Is(err, serverauth.ErrNotFound) {
		t.Fatalf("store after Revoke: %v, want no record", err)
	}
	res, err := a.Exchange(ctx, f.mint(serverauthtest.CodeRequest{Scopes: []string{"openid", "email"}}))
	if err != nil || res.Token.RefreshToken == "" {
		t.Fatalf("the next sign-in = %v (refresh token %v); want a new consent with a refresh token", err, res != nil && res.Token.RefreshToken != "")
	}
}

// TestRevokeAfterRefreshSavedButBeforeCached: the refresh's write lands,
// then Revoke (on the same Exchanger) deletes the user before the refresh
// gets to cache its token. The token of the ended grant must not be served
// from memory afterwards.
func TestRevokeAfterRefreshSavedButBeforeCached(t *testing.T) {
	f := newRotatingFixture(t)
	e, st := f.replica()
	user := f.signIn(e)
	f.clock.Advance(2 * time.Hour)
	entered, resume := st.holdAfterNextPut()
	done := tokenAsync(e, user)
	<-entered
	if err := e.Revoke(context.Background(), user); err != nil {
		t.Fatalf("Revoke = %v", err)
	}
	resume()
	<-done // either outcome is fine for the call that raced
	if tok, err := e.Token(context.Background(), user); !errors.Is(err, serverauth.ErrNotFound) {
		t.Fatalf("Token after Revoke = %v, %v; want ErrNotFound, not a token of the ended grant", tok, err)
	}
}

// TestRefreshDoesNotOverwriteNewerSignIn: while replica A's refresh waits
// to save, the user signs in again through B. A's result must not replace
// the new grant.
func TestRefreshDoesNotOverwriteNewerSignIn(t *testing.T) {
	f := newRotatingFixture(t)
	a, sa := f.replica()
	b, _ := f.replica()
	user := f.signIn(a)
	f.clock.Advance(2 * time.Hour)
	entered, resume := sa.pauseNextPut()
	done := tokenAsync(a, user)
	<-entered
	if _, err := b.Exchange(context.Background(), f.mint(serverauthtest.CodeRequest{Scopes: []string{"openid", "email"}, Prompt: "consent"})); err != nil {
		t.Fatalf("new sign-in = %v", err)
	}
	newGrant := f.storedRefreshToken(user)
	resume()
	if err := <-done; err != nil {
		t.Fatalf("A's superseded refresh = %v, want its (still valid) token", err)
	}
	if got := f.storedRefreshToken(user); got != newGrant {
		t.Fatal("A's refresh overwrote the newer sign-in's grant")
	}
}

// TestAmbiguousCommitDoesNotOverwriteNewerRecord: replica A's save of a
// rotated token commits but reports an error. Replica B then refreshes
// that token and stores a newer one. A's pending copy must be dropped, not
// written over B's record (which would restore a token Google revoked and
// lock the user out).
func TestAmbiguousCommitDoesNotOverwriteNewerRecord(t *testing.T) {
	f := newRotatingFixture(t)
	a, sa := f.replica()
	b, _ := f.replica()
	user := f.signIn(a)
	f.clock.Advance(2 * time.Hour)
	sa.ambiguous = 1
	var se *serverauth.SaveError
	if _, err := a.Token(context.Background(), user); !errors.As(err, &se) {
		t.Fatalf("A's refresh with a lost commit answer = %v, want a *SaveError", err)
	}
	f.clock.Advance(2 * time.Hour)
	if _, err := b.Token(context.Background(), user); err != nil {
		t.Fatalf("B's refresh = %v", err)
	}
	newest := f.storedRefreshToken(user)
	if _, err := a.Token(context.Background(), user); err != nil {
		t.Fatalf("A's next Token = %v", err)
	}
	if got := f.storedRefreshToken(user); got != newest {
		t.Fatal("A wrote its pending record over B's newer one")
	}
	if err := a.Flush(context.Background()); err != nil {
		t.Fatalf("Flush = %v", err)
	}
	f.clock.Advance(2 * time.Hour)
	if _, err := a.Token(context.Background(), user); err != nil {
		t.Fatalf("refresh after the ambiguous commit = %v, want the grant alive", err)
	}
}

// TestPendingWriteFlushedOnShutdown: a rotated token the store refused is
// written by Flush once the store is back.
func TestPendingWriteFlushedOnShutdown(t *testing.T) {
	f := newRotatingFixture(t)
	e, st := f.replica()
	user := f.signIn(e)
	f.clock.Advance(2 * time.Hour)
	st.failPuts = 1
	if _, err := e.Token(context.Background(), user); err == nil {
		t.Fatal("Token with the store down succeeded")
	}
	st.failPuts = 1
	if err := e.Flush(context.Background()); !errors.Is(err, errScriptedStoreDown) {
		t.Fatalf("Flush with the store still down = %v, want its error", err)
	}
	if err := e.Flush(context.Background()); err != nil {
		t.Fatalf("Flush = %v", err)
	}
	if got, want := f.storedRefreshToken(user), string(st.lastFailed.RefreshToken); got != want {
		t.Fatal("Flush did not write the rotated refresh token")
	}
	other, _ := f.replica()
	f.clock.Advance(2 * time.Hour)
	if _, err := other.Token(context.Background(), user); err != nil {
		t.Fatalf("another replica's refresh after Flush = %v", err)
	}
}

// TestLeaseHolderPausedPastItsLease: replica A redeems the refresh token
// and stalls before saving (a stopped process) past its lease. B takes
// over, and its use of the same, now rotated-away, token fails: the grant
// is marked dead. When A resumes, its token must win over that dead
// record, since the failure was caused by A's own redemption.
func TestLeaseHolderPausedPastItsLease(t *testing.T) {
	f := newRotatingFixture(t)
	a, sa := f.replica()
	b, _ := f.replica()
	user := f.signIn(a)
	f.clock.Advance(2 * time.Hour)
	entered, resume := sa.pauseNextPut()
	done := tokenAsync(a, user)
	<-entered
	f.clock.Advance(11 * time.Second) // past A's lease, which A cannot renew
	if _, err := b.Token(context.Background(), user); !errors.Is(err, serverauth.ErrReauthRequired) {
		t.Fatalf("B's refresh with the rotated-away token = %v, want ErrReauthRequired", err)
	}
	resume()
	if err := <-done; err != nil {
		t.Fatalf("A's refresh after resuming = %v", err)
	}
	rec, err := f.mem.Get(context.Background(), user)
	if err != nil || rec.Status != serverauth.StatusActive || string(rec.RefreshToken) != string(sa.lastWritten(t, user)) {
		t.Fatalf("record after A resumed = %v, %v; want A's token, active", rec, err)
	}
	f.clock.Advance(2 * time.Hour)
	if _, err := b.Token(context.Background(), user); err != nil {
		t.Fatalf("B's next refresh = %v, want the grant alive", err)
	}
}

// lastWritten is the refresh token stored for the user now.
func (s *scriptedStore) lastWritten(t *testing.T, user string) []byte {
	t.Helper()
	rec, err := s.MemoryStore.Get(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	return rec.RefreshToken
}

// TestCrashedLeaseHolderStallsOthersBriefly: a replica that took the
// refresh lease and died blocks the others only until the short lease
// ends; a caller whose token has not expired yet does not wait at all.
func TestCrashedLeaseHolderStallsOthersBriefly(t *testing.T) {
	f := newSharedFixture(t, serverauthtest.Options{})
	e, _ := f.replica()
	user := f.signIn(e)
	before, err := e.Token(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	// Inside the refresh margin but before expiry, with the lease held by a
	// replica that crashed a moment ago.
	f.clock.Set(before.Expiry.Add(-30 * time.Second))
	if _, err := f.mem.Lease(context.Background(), user, "crashed-replica", f.clock.Now(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	got, err := e.Token(context.Background(), user)
	if err != nil || got.AccessToken != before.AccessToken {
		t.Fatalf("Token behind a held lease with a valid token = %v, %v; want the cached token at once", got, err)
	}
	if n := f.g.RefreshCount(user); n != 0 {
		t.Fatalf("refreshes = %d, want 0", n)
	}
	// Expired, and another replica took the lease with the library's own
	// lease time and stopped: the caller waits, but only until that short
	// lease ends.
	f.clock.Set(before.Expiry.Add(time.Second))
	crashed, cs := f.replica()
	resumeCrashed := cs.stopAfterLease()
	defer resumeCrashed()
	go crashed.Token(context.Background(), user)
	for !cs.isPaused() {
		time.Sleep(time.Millisecond)
	}
	done := tokenAsync(e, user)
	select {
	case err := <-done:
		t.Fatalf("Token behind a live lease = %v, want it to wait", err)
	case <-time.After(50 * time.Millisecond):
	}
	f.clock.Advance(11 * time.Second)
	if err := <-done; err != nil {
		t.Fatalf("Token after the crashed holder's lease ended = %v", err)
	}
	if n := f.g.RefreshCount(user); n != 1 {
		t.Fatalf("refreshes = %d, want 1", n)
	}
}

func (s *scriptedStore) isPaused() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paused
}

// TestTokenCacheOfOneUnderConcurrency: with room for one cached user,
// Token, Save and Revoke for several users at once must neither panic nor
// race.
func TestTokenCacheOfOneUnderConcurrency(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{}, func(c *serverauth.Config) { c.TokenCacheSize = 1 })
	users := make([]string, 4)
	for i := range users {
		users[i] = f.signIn(serverauthtest.CodeRequest{User: serverauthtest.User{Sub: "10000000000000000000" + string(rune('0'+i)), Email: "u" + string(rune('0'+i)) + "@example.com"}, Prompt: "consent"}).UserID
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				u := users[(g+i)%len(users)]
				if i%50 == 49 {
					f.e.Revoke(context.Background(), u)
					continue
				}
				f.e.Token(context.Background(), u)
			}
		}()
	}
	wg.Wait()
}

// TestMarkDeadNeverWipesANewerGrant: replica A read the record, then
// replica B refreshed the (rotating) token and stored the new one. A's
// refresh with the old token fails with invalid_grant: that must not mark
// B's newer, working grant dead.
func TestMarkDeadNeverWipesANewerGrant(t *testing.T) {
	f := newRotatingFixture(t)
	sa := &scriptedStore{MemoryStore: f.mem}
	cfg := f.cfg
	cfg.Store = noLeases{sa}
	a, err := serverauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store = noLeases{&scriptedStore{MemoryStore: f.mem}}
	b, err := serverauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	user := f.signIn(a)
	f.clock.Advance(2 * time.Hour)
	entered, resume := sa.holdAfterNextGet()
	done := tokenAsync(a, user)
	<-entered
	if _, err := b.Token(context.Background(), user); err != nil {
		t.Fatalf("B's refresh = %v", err)
	}
	resume()
	if err := <-done; !errors.Is(err, serverauth.ErrInvalidGrant) {
		t.Fatalf("A's refresh with the rotated-away token = %v, want invalid_grant", err)
	}
	rec, err := f.mem.Get(context.Background(), user)
	if err != nil || rec.Status != serverauth.StatusActive {
		t.Fatalf("record after A's failed refresh = %v, %v; want B's grant, active", rec, err)
	}
	f.clock.Advance(2 * time.Hour)
	if _, err := b.Token(context.Background(), user); err != nil {
		t.Fatalf("B's next refresh = %v, want the grant alive", err)
	}
}

// callCounts is a view of a shared MemoryStore that counts its calls by
// method; with plain set, it hides RecordLeaser, as a store offering only
// Leaser would.
type callCounts struct {
	*serverauth.MemoryStore
	mu    sync.Mutex
	calls map[string]int

	afterPutRelease func() // when set, runs after each PutRelease, before it returns
}

func (c *callCounts) count(m string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = make(map[string]int)
	}
	c.calls[m]++
}

// take returns the counts so far and starts again.
func (c *callCounts) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.calls
	c.calls = nil
	return m
}

func (c *callCounts) Get(ctx context.Context, id string) (*serverauth.Record, error) {
	c.count("Get")
	return c.MemoryStore.Get(ctx, id)
}

func (c *callCounts) Put(ctx context.Context, r *serverauth.Record) error {
	c.count("Put")
	return c.MemoryStore.Put(ctx, r)
}

func (c *callCounts) Delete(ctx context.Context, id string) error {
	c.count("Delete")
	return c.MemoryStore.Delete(ctx, id)
}

func (c *callCounts) Lease(ctx context.Context, id, owner string, now time.Time, ttl time.Duration) (bool, error) {
	c.count("Lease")
	return c.MemoryStore.Lease(ctx, id, owner, now, ttl)
}

func (c *callCounts) Release(ctx context.Context, id, owner string) error {
	c.count("Release")
	return c.MemoryStore.Release(ctx, id, owner)
}

func (c *callCounts) LeaseGet(ctx context.Context, id, owner string, version int64, now time.Time, ttl time.Duration) (*serverauth.Record, bool, error) {
	c.count("LeaseGet")
	return c.MemoryStore.LeaseGet(ctx, id, owner, version, now, ttl)
}

func (c *callCounts) UpdateSignIn(ctx context.Context, u *serverauth.SignInUpdate) ([]byte, error) {
	c.count("UpdateSignIn")
	return c.MemoryStore.UpdateSignIn(ctx, u)
}

func (c *callCounts) PutRelease(ctx context.Context, r *serverauth.Record, owner string) error {
	c.count("PutRelease")
	err := c.MemoryStore.PutRelease(ctx, r, owner)
	if c.afterPutRelease != nil {
		c.afterPutRelease()
	}
	return err
}

// unsupportedUpdater is a callCounts whose UpdateSignIn says
// errors.ErrUnsupported, as sqlstore's does on MySQL and SQLite.
type unsupportedUpdater struct{ *callCounts }

func (s unsupportedUpdater) UpdateSignIn(context.Context, *serverauth.SignInUpdate) ([]byte, error) {
	s.count("UpdateSignIn")
	return nil, fmt.Errorf("test store: %w", errors.ErrUnsupported)
}

// leaserOnly is a callCounts without RecordLeaser.
type leaserOnly struct{ c *callCounts }

func (s leaserOnly) Get(ctx context.Context, id string) (*serverauth.Record, error) {
	return s.c.Get(ctx, id)
}
func (s leaserOnly) Put(ctx context.Context, r *serverauth.Record) error { return s.c.Put(ctx, r) }
func (s leaserOnly) Delete(ctx context.Context, id string) error         { return s.c.Delete(ctx, id) }
func (s leaserOnly) Lease(ctx context.Context, id, owner string, now time.Time, ttl time.Duration) (bool, error) {
	return s.c.Lease(ctx, id, owner, now, ttl)
}
func (s leaserOnly) Release(ctx context.Context, id, owner string) error {
	return s.c.Release(ctx, id, owner)
}

// TestRefreshStoreCalls: a refresh under the lease of a RecordLeaser is
// three store calls (Get, LeaseGet, PutRelease), five with a plain Leaser;
// a replica that finds the refreshed record reads it once; and a replica
// waiting behind another's lease polls with one call per round.
func TestRefreshStoreCalls(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name                string
		plain               bool
		refresh, reader     map[string]int
		waiterPerPoll, wait string
	}{
		{"RecordLeaser", false, map[string]int{"Get": 1, "LeaseGet": 1, "PutRelease": 1}, map[string]int{"Get": 1}, "LeaseGet", ""},
		{"Leaser", true, map[string]int{"Get": 2, "Lease": 1, "Put": 1, "Release": 1}, map[string]int{"Get": 1}, "Lease", "Get"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newSharedFixture(t, serverauthtest.Options{})
			replica := func() (*serverauth.Exchanger, *callCounts) {
				c := &callCounts{MemoryStore: f.mem}
				cfg := f.cfg
				cfg.Store = c
				if tc.plain {
					cfg.Store = leaserOnly{c}
				}
				e, err := serverauth.New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				return e, c
			}
			a, ac := replica()
			b, bc := replica()
			user := f.signIn(a)
			f.clock.Advance(2 * time.Hour)
			ac.take()
			if _, err := a.Token(ctx, user); err != nil {
				t.Fatal(err)
			}
			if got := ac.take(); !maps.Equal(got, tc.refresh) {
				t.Errorf("store calls of a refresh = %v, want %v", got, tc.refresh)
			}
			bc.take()
			if _, err := b.Token(ctx, user); err != nil {
				t.Fatal(err)
			}
			if got := bc.take(); !maps.Equal(got, tc.reader) {
				t.Errorf("store calls of a replica reading the refreshed record = %v, want %v", got, tc.reader)
			}
			if n := f.g.RefreshCount(user); n != 1 {
				t.Errorf("refreshes = %d, want 1", n)
			}

			// Behind another owner's lease: each poll is one LeaseGet (Lease
			// and Get without RecordLeaser) until the holder's write shows.
			f.clock.Advance(2 * time.Hour)
			if _, err := f.mem.Lease(ctx, user, "other-replica", f.clock.Now(), 10*time.Second); err != nil {
				t.Fatal(err)
			}
			ac.take()
			done := tokenAsync(a, user)
			for ac.counted(tc.waiterPerPoll) < 3 {
				time.Sleep(time.Millisecond)
			}
			f.clock.Advance(11 * time.Second) // the other owner's lease ends
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			got := ac.take()
			polls := got[tc.waiterPerPoll]
			if tc.wait != "" && got[tc.wait] != polls+1 { // and the first read
				t.Errorf("%s calls = %d with %d polls, want %d", tc.wait, got[tc.wait], polls, polls+1)
			}
			if tc.wait == "" && got["Get"] != 1 {
				t.Errorf("Get calls of a waiter = %d, want 1 (its first read)", got["Get"])
			}
		})
	}
}

// counted returns the count of method so far.
func (c *callCounts) counted(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[method]
}

// blockRefresh is a transport that holds every refresh (a token request
// with grant_type=refresh_token) until released; entered receives once per
// held request.
type blockRefresh struct {
	base    http.RoundTripper
	entered chan struct{}
	release chan struct{}
}

func (b *blockRefresh) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && r.Body != nil {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if bytes.Contains(body, []byte("grant_type=refresh_token")) {
			b.entered <- struct{}{}
			<-b.release
		}
	}
	return b.base.RoundTrip(r)
}

// TestLeaseRenewedDuringLongRefresh: a refresh that outlasts the lease
// keeps it, renewed on the Exchanger's clock, so another replica does not
// take over and refresh the same token; once the refresh is done the lease
// is released with its write.
func TestLeaseRenewedDuringLongRefresh(t *testing.T) {
	ctx := context.Background()
	f := newSharedFixture(t, serverauthtest.Options{})
	block := &blockRefresh{base: f.cfg.HTTPClient.Transport, entered: make(chan struct{}, 1), release: make(chan struct{})}
	if block.base == nil {
		block.base = http.DefaultTransport
	}
	counts := &callCounts{MemoryStore: f.mem}
	cfg := f.cfg
	cfg.Store = counts
	client := *f.cfg.HTTPClient
	client.Transport = block
	cfg.HTTPClient = &client
	a, err := serverauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	serverauth.SetLeaseRenewal(a, time.Millisecond)
	user := f.signIn(a)
	f.clock.Advance(2 * time.Hour)
	done := tokenAsync(a, user)
	<-block.entered // the refresh is at Google, lease in hand
	// 8 s on, a renewal moves the lease's end to 18 s past its start.
	f.clock.Advance(8 * time.Second)
	n0 := counts.counted("Lease")
	for give := time.Now().Add(10 * time.Second); counts.counted("Lease") < n0+2; { // one that surely read the new time
		if time.Now().After(give) {
			t.Fatal("no lease renewal while the refresh was held")
		}
		time.Sleep(time.Millisecond)
	}
	// 12 s after the lease was taken, past its first end: still held.
	f.clock.Advance(4 * time.Second)
	if got, err := f.mem.Lease(ctx, user, "other-replica", f.clock.Now(), 10*time.Second); err != nil || got {
		t.Fatalf("another replica's Lease 12 s into a renewed 10 s lease = %v, %v; want false, nil", got, err)
	}
	// The renewal stops before the write that releases the lease: renewing
	// after it would take the lease again. While the write's answer is on
	// its way (up to 50 ms here; the renewal runs every millisecond), no
	// renewal may come.
	renewedAfterRelease := make(chan int, 1)
	counts.afterPutRelease = func() {
		n := counts.counted("Lease")
		for give := time.Now().Add(50 * time.Millisecond); time.Now().Before(give); time.Sleep(time.Millisecond) {
			if m := counts.counted("Lease"); m > n {
				renewedAfterRelease <- m - n
				return
			}
		}
	}
	close(block.release)
	if err := <-done; err != nil {
		t.Fatalf("Token after the long refresh = %v", err)
	}
	if n := f.g.RefreshCount(user); n != 1 {
		t.Errorf("refreshes = %d, want 1", n)
	}
	select {
	case n := <-renewedAfterRelease:
		t.Errorf("%d lease renewals after the releasing write", n)
	default:
	}
	// Released with the write: another replica takes it at once.
	if got, err := f.mem.Lease(ctx, user, "other-replica", f.clock.Now(), 10*time.Second); err != nil || !got {
		t.Errorf("another replica's Lease after the refresh = %v, %v; want true, nil", got, err)
	}
}

// TestSaveSignInInOneStoreCall: a returning user's sign-in (no refresh
// token) is one UpdateSignIn with a SignInUpdater, where a plain store
// takes a Get and a Put, and both leave the same record and answer: the
// refresh token kept, or dropped when it was dead, the grant active again.
func TestSaveSignInInOneStoreCall(t *testing.T) {
	ctx := context.Background()
	type outcome struct {
		rec   *serverauth.Record
		noRT  bool
		calls map[string]int
	}
	run := func(t *testing.T, prior serverauth.Status, store string) outcome {
		f := newSharedFixture(t, serverauthtest.Options{})
		c := &callCounts{MemoryStore: f.mem}
		cfg := f.cfg
		switch store {
		case "updater":
			cfg.Store = c
		case "plain":
			cfg.Store = leaserOnly{c}
		case "unsupported":
			cfg.Store = unsupportedUpdater{c}
		}
		e, err := serverauth.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		user := f.signIn(e) // the first consent: a refresh token
		rec := stored(t, f.mem, user)
		rec.Status = prior
		if err := f.mem.Put(ctx, rec); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Minute)
		c.take()
		_, err = e.Exchange(ctx, f.mint(serverauthtest.CodeRequest{Scopes: []string{"openid", "email"}}))
		if err != nil && !errors.Is(err, serverauth.ErrNoRefreshToken) {
			t.Fatalf("second sign-in = %v", err)
		}
		return outcome{stored(t, f.mem, user), errors.Is(err, serverauth.ErrNoRefreshToken), c.take()}
	}
	for _, prior := range []serverauth.Status{serverauth.StatusActive, serverauth.StatusScopeRemoved, serverauth.StatusReauthRequired,
		serverauth.StatusDisabled, serverauth.StatusRevoked, serverauth.StatusExpired} {
		t.Run(string(prior), func(t *testing.T) {
			fast, slow, refused := run(t, prior, "updater"), run(t, prior, "plain"), run(t, prior, "unsupported")
			if want := map[string]int{"UpdateSignIn": 1}; !maps.Equal(fast.calls, want) {
				t.Errorf("store calls with a SignInUpdater = %v, want %v", fast.calls, want)
			}
			if want := map[string]int{"Get": 1, "Put": 1}; !maps.Equal(slow.calls, want) {
				t.Errorf("store calls without = %v, want %v", slow.calls, want)
			}
			if want := map[string]int{"UpdateSignIn": 1, "Get": 1, "Put": 1}; !maps.Equal(refused.calls, want) {
				t.Errorf("store calls with a SignInUpdater saying ErrUnsupported = %v, want %v", refused.calls, want)
			}
			dead := prior == serverauth.StatusRevoked || prior == serverauth.StatusExpired
			for name, o := range map[string]outcome{"SignInUpdater": fast, "Get and Put": slow, "ErrUnsupported": refused} {
				if o.noRT != dead || (len(o.rec.RefreshToken) == 0) != dead {
					t.Errorf("%s: ErrNoRefreshToken = %v, refresh token kept = %v; want %v, %v", name, o.noRT, len(o.rec.RefreshToken) > 0, dead, !dead)
				}
				if o.rec.Status != serverauth.StatusActive {
					t.Errorf("%s: status after the sign-in = %s, want active", name, o.rec.Status)
				}
			}
			for _, b := range []*serverauth.Record{slow.rec, refused.rec} {
				a := fast.rec
				if a.Version != b.Version || !a.Updated.Equal(b.Updated) || !a.Created.Equal(b.Created) || !a.Consented.Equal(b.Consented) ||
					!slices.Equal(a.Scopes, b.Scopes) || a.ClientID != b.ClientID || (len(a.Profile) == 0) != (len(b.Profile) == 0) ||
					(a.RefreshTokenHash == "") != (b.RefreshTokenHash == "") || !a.RefreshTokenExpiry.Equal(b.RefreshTokenExpiry) {
					t.Errorf("the two paths stored different records:\n  %v\n  %v", a, b)
				}
			}
		})
	}
}
