package serverauth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// memFixture is a storeFixture whose store is a bare MemoryStore (with its
// RefreshTokenIndex), wrapped as the test needs.
func memFixture(t *testing.T, opts serverauthtest.Options, wrap func(*serverauth.MemoryStore) serverauth.TokenStore) (*storeFixture, *serverauth.MemoryStore) {
	t.Helper()
	mem := serverauth.NewMemoryStore()
	var st serverauth.TokenStore = mem
	if wrap != nil {
		st = wrap(mem)
	}
	f := newStoreFixture(t, opts, func(c *serverauth.Config) { c.Store = st })
	return f, mem
}

func stored(t *testing.T, st serverauth.TokenStore, userID string) *serverauth.Record {
	t.Helper()
	rec, err := st.Get(context.Background(), userID)
	if errors.Is(err, serverauth.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestDeleteGrant(t *testing.T) {
	ctx := context.Background()
	f, mem := memFixture(t, serverauthtest.Options{}, nil)
	res := f.signIn(serverauthtest.CodeRequest{Prompt: "consent"})
	consented := stored(t, mem, res.UserID).Consented
	if consented.IsZero() {
		t.Fatal("Consented not set by the sign-in")
	}
	// An event older than the consent leaves the grant.
	if deleted, err := f.e.DeleteGrant(ctx, res.UserID, consented.Add(-time.Second)); err != nil || deleted {
		t.Fatalf("DeleteGrant(before the consent) = %v, %v; want false, nil", deleted, err)
	}
	if _, err := f.e.Token(ctx, res.UserID); err != nil {
		t.Fatalf("Token = %v, want the grant kept", err)
	}
	revokes := f.g.RequestCount(serverauthtest.EndpointRevoke)
	if deleted, err := f.e.DeleteGrant(ctx, res.UserID, consented); err != nil || !deleted {
		t.Fatalf("DeleteGrant(at the consent) = %v, %v; want true, nil", deleted, err)
	}
	if stored(t, mem, res.UserID) != nil {
		t.Error("the record is still stored")
	}
	if _, err := f.e.Token(ctx, res.UserID); !errors.Is(err, serverauth.ErrNotFound) {
		t.Errorf("Token after DeleteGrant = %v, want ErrNotFound (nothing cached survives)", err)
	}
	if n := f.g.RequestCount(serverauthtest.EndpointRevoke) - revokes; n != 0 {
		t.Errorf("DeleteGrant made %d revoke requests, want none", n)
	}
	if deleted, err := f.e.DeleteGrant(ctx, res.UserID, time.Time{}); err != nil || deleted {
		t.Errorf("DeleteGrant(no record) = %v, %v; want false, nil", deleted, err)
	}
	// A zero time deletes whatever is stored.
	res = f.signIn(serverauthtest.CodeRequest{Prompt: "consent"})
	if deleted, err := f.e.DeleteGrant(ctx, res.UserID, time.Time{}); err != nil || !deleted {
		t.Errorf("DeleteGrant(zero time) = %v, %v; want true, nil", deleted, err)
	}
}

func TestAccountEventsWithoutStore(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	ctx := context.Background()
	_, err1 := f.e.DeleteGrant(ctx, "u", time.Time{})
	_, err2 := f.e.DeleteGrantByRefreshToken(ctx, serverauth.TokenIDPrefix, "1//0123456789abc")
	_, err3 := f.e.DisableGrant(ctx, "u", time.Time{})
	_, err4 := f.e.EnableGrant(ctx, "u")
	for i, err := range []error{err1, err2, err3, err4} {
		if !errors.Is(err, serverauth.ErrInvalidConfig) {
			t.Errorf("call %d without a store = %v, want ErrInvalidConfig", i, err)
		}
	}
}

// onlyLister hides the MemoryStore's RefreshTokenIndex: the lookup walks
// the users instead.
type onlyLister struct{ *serverauth.MemoryStore }

func (s onlyLister) UsersByRefreshToken() {} // shadows the index method

// indexCount counts index lookups.
type indexCount struct {
	*serverauth.MemoryStore
	n int
}

func (s *indexCount) UsersByRefreshToken(ctx context.Context, prefixHash, hash string) ([]string, error) {
	s.n++
	return s.MemoryStore.UsersByRefreshToken(ctx, prefixHash, hash)
}

// plainStore has neither capability.
type plainStore struct{ serverauth.TokenStore }

func TestDeleteGrantByRefreshToken(t *testing.T) {
	ctx := context.Background()
	var ix *indexCount
	for _, tt := range []struct {
		name string
		wrap func(*serverauth.MemoryStore) serverauth.TokenStore
	}{
		{"index", func(m *serverauth.MemoryStore) serverauth.TokenStore { ix = &indexCount{MemoryStore: m}; return ix }},
		{"lister", func(m *serverauth.MemoryStore) serverauth.TokenStore { return onlyLister{m} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, mem := memFixture(t, serverauthtest.Options{}, tt.wrap)
			other := serverauthtest.User{Sub: "200000000000000000002", Email: "o@example.com"}
			f.signIn(serverauthtest.CodeRequest{User: other, Prompt: "consent"})
			hash := func(rt string) string { return serverauth.RefreshTokenHash(rt) }
			rawURL := func(rt string) string {
				b, _ := base64.StdEncoding.DecodeString(serverauth.RefreshTokenHash(rt))
				return base64.RawURLEncoding.EncodeToString(b)
			}
			for _, id := range []struct {
				alg string
				of  func(string) string
			}{
				{serverauth.TokenIDPrefix, func(rt string) string { return rt[:16] }},
				{serverauth.TokenIDHash, hash},
				{serverauth.TokenIDHash, rawURL},
			} {
				res := f.signIn(serverauthtest.CodeRequest{Prompt: "consent"})
				rt := res.Token.RefreshToken
				users, err := f.e.DeleteGrantByRefreshToken(ctx, id.alg, id.of(rt))
				if err != nil || !slices.Equal(users, []string{res.UserID}) {
					t.Fatalf("DeleteGrantByRefreshToken(%s) = %v, %v; want [%s]", id.alg, users, err, res.UserID)
				}
				if stored(t, mem, res.UserID) != nil {
					t.Errorf("%s: the grant is still stored", id.alg)
				}
				if stored(t, mem, other.Sub) == nil {
					t.Fatalf("%s: another user's grant was deleted", id.alg)
				}
			}
			// Identifiers that match nothing.
			for _, id := range []string{"", "1//0nosuchtoken0", "not base64!", base64.StdEncoding.EncodeToString([]byte("short"))} {
				for _, alg := range []string{serverauth.TokenIDPrefix, serverauth.TokenIDHash} {
					if users, err := f.e.DeleteGrantByRefreshToken(ctx, alg, id); err != nil || len(users) != 0 {
						t.Errorf("DeleteGrantByRefreshToken(%s, %q) = %v, %v; want nothing", alg, id, users, err)
					}
				}
			}
			if stored(t, mem, other.Sub) == nil {
				t.Error("a non-matching identifier deleted a grant")
			}
			if _, err := f.e.DeleteGrantByRefreshToken(ctx, "plain", "x"); err == nil {
				t.Error("DeleteGrantByRefreshToken(unknown alg) = nil error")
			}
		})
	}
	if ix == nil || ix.n == 0 {
		t.Error("the store's RefreshTokenIndex was not used")
	}
	f, _ := memFixture(t, serverauthtest.Options{}, func(m *serverauth.MemoryStore) serverauth.TokenStore { return plainStore{m} })
	if _, err := f.e.DeleteGrantByRefreshToken(ctx, serverauth.TokenIDPrefix, "1//0123456789abc"); !errors.Is(err, serverauth.ErrInvalidConfig) {
		t.Errorf("DeleteGrantByRefreshToken on a store with neither capability = %v, want ErrInvalidConfig", err)
	}
}

// staleIndex answers a lookup with a user whose record holds another
// token: the lookup raced with a new sign-in.
type staleIndex struct{ *serverauth.MemoryStore }

func (s staleIndex) UsersByRefreshToken(context.Context, string, string) ([]string, error) {
	return []string{serverauthtest.DemoUser().Sub}, nil
}

func TestDeleteGrantByRefreshTokenRechecks(t *testing.T) {
	f, mem := memFixture(t, serverauthtest.Options{}, func(m *serverauth.MemoryStore) serverauth.TokenStore { return staleIndex{m} })
	res := f.signIn(serverauthtest.CodeRequest{Prompt: "consent"})
	users, err := f.e.DeleteGrantByRefreshToken(context.Background(), serverauth.TokenIDPrefix, "1//0someoneelse0")
	if err != nil || len(users) != 0 || stored(t, mem, res.UserID) == nil {
		t.Errorf("DeleteGrantByRefreshToken with a stale lookup = %v, %v; want the grant kept", users, err)
	}
}

func TestDisableGrant(t *testing.T) {
	ctx := context.Background()
	f, mem := memFixture(t, serverauthtest.Options{}, nil)
	res := f.signIn(serverauthtest.CodeRequest{Prompt: "consent"})
	userID := res.UserID
	if _, err := f.e.Token(ctx, userID); err != nil {
		t.Fatal(err)
	}
	before := stored(t, mem, userID)
	if changed, err := f.e.DisableGrant(ctx, userID, before.Consented.Add(-time.Second)); err != nil || changed {
		t.Fatalf("DisableGrant(before the consent) = %v, %v; want false, nil", changed, err)
	}
	if changed, err := f.e.DisableGrant(ctx, userID, f.clock.Now()); err != nil || !changed {
		t.Fatalf("DisableGrant = %v, %v; want true, nil", changed, err)
	}
	rec := stored(t, mem, userID)
	if rec.Status != serverauth.StatusDisabled || !slices.Equal(rec.RefreshToken, before.RefreshToken) || len(rec.AccessToken) != 0 || rec.RefreshTokenHash != before.RefreshTokenHash {
		t.Fatalf("record = %v, want disabled with the refresh token and its identifiers kept, no access token", rec)
	}
	if !rec.Status.NeedsConsent() {
		t.Error("StatusDisabled.NeedsConsent() = false")
	}
	if changed, err := f.e.DisableGrant(ctx, userID, f.clock.Now()); err != nil || changed {
		t.Errorf("DisableGrant again = %v, %v; want false, nil", changed, err)
	}
	refreshes := f.g.RefreshCount(userID)
	if _, err := f.e.Token(ctx, userID); !errors.Is(err, serverauth.ErrReauthRequired) {
		t.Errorf("Token = %v, want ErrReauthRequired", err)
	}
	if n := f.g.RefreshCount(userID) - refreshes; n != 0 {
		t.Errorf("%d refreshes, want none", n)
	}
	// A sign-in without a new refresh token (no consent screen) keeps the
	// stored one and restores the grant.
	res2 := f.signIn(serverauthtest.CodeRequest{})
	if res2.Token.RefreshToken != "" {
		t.Fatal("the fake returned a refresh token without consent")
	}
	rec = stored(t, mem, userID)
	if rec.Status != serverauth.StatusActive || !slices.Equal(rec.RefreshToken, before.RefreshToken) {
		t.Fatalf("record after a sign-in = %v, want active with the refresh token kept", rec)
	}
	f.clock.Advance(2 * time.Hour)
	if _, err := f.e.Token(ctx, userID); err != nil {
		t.Errorf("Token after the sign-in = %v", err)
	}
}

func TestEnableGrant(t *testing.T) {
	ctx := context.Background()
	f, mem := memFixture(t, serverauthtest.Options{}, nil)
	userID := f.signIn(serverauthtest.CodeRequest{Prompt: "consent"}).UserID
	if changed, err := f.e.EnableGrant(ctx, userID); err != nil || changed {
		t.Errorf("EnableGrant(active) = %v, %v; want false, nil", changed, err)
	}
	if _, err := f.e.DisableGrant(ctx, userID, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if changed, err := f.e.EnableGrant(ctx, userID); err != nil || !changed {
		t.Fatalf("EnableGrant(disabled) = %v, %v; want true, nil", changed, err)
	}
	if rec := stored(t, mem, userID); rec.Status != serverauth.StatusReauthRequired || len(rec.RefreshToken) == 0 {
		t.Errorf("record = %v, want reauth_required with the refresh token", rec)
	}
	if _, err := f.e.Token(ctx, userID); !errors.Is(err, serverauth.ErrReauthRequired) {
		t.Errorf("Token = %v, want ErrReauthRequired until the next sign-in", err)
	}
	if changed, err := f.e.EnableGrant(ctx, "nobody"); err != nil || changed {
		t.Errorf("EnableGrant(no record) = %v, %v", changed, err)
	}
}

// hookStore runs before once, just before the first Put that stores an
// access token over a stored record (a refresh's write).
type hookStore struct {
	*serverauth.MemoryStore
	before func()
}

func (s *hookStore) Put(ctx context.Context, rec *serverauth.Record) error {
	if s.before != nil && rec.Version > 0 && len(rec.AccessToken) > 0 {
		b := s.before
		s.before = nil
		b()
	}
	return s.MemoryStore.Put(ctx, rec)
}

func (s *hookStore) UpdateSignIn(ctx context.Context, u *serverauth.SignInUpdate) ([]byte, error) {
	return updateThroughPut(ctx, s, u)
}

func (s *hookStore) PutRelease(ctx context.Context, rec *serverauth.Record, owner string) error {
	return putThenRelease(ctx, s.Put, s.MemoryStore, rec, owner)
}

// TestDisableDuringRefresh: a refresh under way when the grant is disabled
// does not make it active again when its write lands.
func TestDisableDuringRefresh(t *testing.T) {
	ctx := context.Background()
	var hs *hookStore
	f, mem := memFixture(t, serverauthtest.Options{}, func(m *serverauth.MemoryStore) serverauth.TokenStore {
		hs = &hookStore{MemoryStore: m}
		return hs
	})
	userID := f.signIn(serverauthtest.CodeRequest{Prompt: "consent"}).UserID
	other := f.newReplica()
	f.clock.Advance(2 * time.Hour) // the access token expired: Token refreshes
	hs.before = func() {
		if _, err := other.DisableGrant(ctx, userID, time.Time{}); err != nil {
			t.Error(err)
		}
	}
	f.e.Token(ctx, userID)
	if rec := stored(t, mem, userID); rec.Status != serverauth.StatusDisabled {
		t.Errorf("status after a refresh raced with DisableGrant = %s, want disabled", rec.Status)
	}
}

// flakyPut fails Put while fail is set.
type flakyPut struct {
	*serverauth.MemoryStore
	fail bool
}

func (s *flakyPut) Put(ctx context.Context, rec *serverauth.Record) error {
	if s.fail {
		return errStoreDown
	}
	return s.MemoryStore.Put(ctx, rec)
}

func (s *flakyPut) UpdateSignIn(ctx context.Context, u *serverauth.SignInUpdate) ([]byte, error) {
	return updateThroughPut(ctx, s, u)
}

func (s *flakyPut) PutRelease(ctx context.Context, rec *serverauth.Record, owner string) error {
	return putThenRelease(ctx, s.Put, s.MemoryStore, rec, owner)
}

// TestDisableWithPendingWrite: a rotated refresh token held in memory
// (its save failed) is written on the disabled record without lifting
// the mark, whether this process or another disabled it.
func TestDisableWithPendingWrite(t *testing.T) {
	ctx := context.Background()
	for _, replica := range []bool{false, true} {
		var fp *flakyPut
		f, mem := memFixture(t, serverauthtest.Options{RotateRefreshTokens: true}, func(m *serverauth.MemoryStore) serverauth.TokenStore {
			fp = &flakyPut{MemoryStore: m}
			return fp
		})
		userID := f.signIn(serverauthtest.CodeRequest{Prompt: "consent"}).UserID
		f.clock.Advance(2 * time.Hour)
		fp.fail = true
		var se *serverauth.SaveError
		if _, err := f.e.Token(ctx, userID); !errors.As(err, &se) {
			t.Fatalf("Token with the store failing = %v, want a SaveError", err)
		}
		fp.fail = false
		old := stored(t, mem, userID).RefreshTokenHash
		disabler := f.e
		if replica {
			disabler = f.newReplica()
		}
		if _, err := disabler.DisableGrant(ctx, userID, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if err := f.e.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		rec := stored(t, mem, userID)
		if rec.Status != serverauth.StatusDisabled {
			t.Errorf("replica %v: status = %s, want disabled", replica, rec.Status)
		}
		if rec.RefreshTokenHash == old {
			t.Errorf("replica %v: the rotated refresh token was not written", replica)
		}
	}
}

func TestExchangerAccessors(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	ids := f.e.AllowedClientIDs()
	if !slices.Equal(ids, f.cfg.AllowedClientIDs) {
		t.Errorf("AllowedClientIDs = %q, want %q", ids, f.cfg.AllowedClientIDs)
	}
	ids[0] = "changed"
	if f.e.AllowedClientIDs()[0] == "changed" {
		t.Error("AllowedClientIDs returned the Exchanger's own slice")
	}
	if !f.e.Now().Equal(f.clock.Now()) {
		t.Errorf("Now = %v, want the configured clock's %v", f.e.Now(), f.clock.Now())
	}
	if f.e.HTTPClient() == nil || f.e.HTTPClient().Transport != f.cfg.HTTPClient.Transport {
		t.Error("HTTPClient is not the configured client's")
	}
	if f.e.Store() != f.store {
		t.Error("Store is not Config.Store")
	}
}
