package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
)

// storeTests check the methods of [serverauth.TokenStore] itself.
var storeTests = []storeTest{
	{"NotFound", testNotFound},
	{"RoundTrip", testRoundTrip},
	{"Overwrite", testOverwrite},
	{"VersionConflict", testVersionConflict},
	{"Delete", testDelete},
	{"PutCopies", testPutCopies},
	{"GetCopies", testGetCopies},
	{"LargeValues", testLargeValues},
	{"OddUserIDs", testOddUserIDs},
	{"ConcurrentWriters", testConcurrentWriters},
	{"ConcurrentUsers", testConcurrentUsers},
	{"ConcurrentCreate", testConcurrentCreate},
	{"Canceled", testCanceled},
}

func testNotFound(t *testing.T, s serverauth.TokenStore) {
	checkNotFound(t, s, "109876543210987654321")
	put(t, s, sampleRecord("someone", 1))
	checkNotFound(t, s, "someone-else")
	checkNotFound(t, s, "Someone")
	checkNotFound(t, s, "someone ")
}

func testRoundTrip(t *testing.T, s serverauth.TokenStore) {
	epoch := time.Unix(0, 0).UTC()
	tests := []struct {
		name string
		rec  *serverauth.Record
	}{
		{"every field", sampleRecord("full", 1)},
		{"only user ID", &serverauth.Record{UserID: "minimal"}},
		{"empty slices", &serverauth.Record{
			UserID:       "empty",
			RefreshToken: []byte{},
			AccessToken:  []byte{},
			Scopes:       []string{},
			Status:       serverauth.StatusActive,
		}},
		{"revoked without refresh token", func() *serverauth.Record {
			r := sampleRecord("revoked", 2)
			r.RefreshToken = nil
			r.RefreshTokenExpiry = time.Time{}
			r.RefreshTokenPrefixHash, r.RefreshTokenHash = "", ""
			r.Profile = nil
			r.Status = serverauth.StatusRevoked
			return r
		}()},
		{"zero expiries", func() *serverauth.Record {
			r := sampleRecord("zero-expiry", 3)
			r.Expiry, r.RefreshTokenExpiry, r.Consented = time.Time{}, time.Time{}, time.Time{}
			return r
		}()},
		{"Unix epoch is not zero", func() *serverauth.Record {
			r := sampleRecord("epoch", 4)
			r.Expiry, r.RefreshTokenExpiry, r.Created, r.Updated = epoch, epoch, epoch, epoch
			return r
		}()},
		{"times far apart and zoned", func() *serverauth.Record {
			r := sampleRecord("zoned", 5)
			r.Created = time.Date(1969, 7, 20, 20, 17, 40, 123456789, time.FixedZone("UTC-4", -4*3600))
			r.Updated = time.Date(2038, 1, 19, 3, 14, 8, 999999999, time.FixedZone("IST", 5*3600+1800))
			r.Expiry = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
			r.RefreshTokenExpiry = time.Date(1000, 1, 1, 0, 0, 0, 1000, time.UTC)
			return r
		}()},
		{"monotonic clock reading", func() *serverauth.Record {
			r := sampleRecord("monotonic", 6)
			r.Updated = time.Now()
			return r
		}()},
		{"status expired", withStatus(sampleRecord("expired", 7), serverauth.StatusExpired)},
		{"status reauth_required", withStatus(sampleRecord("reauth", 8), serverauth.StatusReauthRequired)},
		{"status scope_removed", withStatus(sampleRecord("scope-removed", 9), serverauth.StatusScopeRemoved)},
		{"status disabled", withStatus(sampleRecord("disabled", 12), serverauth.StatusDisabled)},
		{"unknown status", withStatus(sampleRecord("unknown-status", 10), "some_future_status")},
		{"one scope", func() *serverauth.Record {
			r := sampleRecord("one-scope", 11)
			r.Scopes = []string{"openid"}
			return r
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.rec.Clone()
			want.Version = 1
			put(t, s, tt.rec)
			checkStored(t, s, want)
		})
	}
}

func withStatus(r *serverauth.Record, s serverauth.Status) *serverauth.Record {
	r.Status = s
	return r
}

func testOverwrite(t *testing.T, s serverauth.TokenStore) {
	rec := sampleRecord("user", 1)
	put(t, s, rec)
	other := sampleRecord("other", 2)
	put(t, s, other)

	updates := []struct {
		name   string
		update func(r *serverauth.Record)
	}{
		{"new access token", func(r *serverauth.Record) {
			r.AccessToken = []byte("new access token")
			r.Expiry = r.Expiry.Add(time.Hour)
			r.Updated = r.Updated.Add(time.Hour)
		}},
		{"every field", func(r *serverauth.Record) {
			n := sampleRecord(r.UserID, 3)
			n.Version = r.Version
			*r = *n
		}},
		{"revoked: fields cleared", func(r *serverauth.Record) {
			r.RefreshToken = nil
			r.AccessToken = nil
			r.Expiry = time.Time{}
			r.RefreshTokenExpiry = time.Time{}
			r.Scopes = nil
			r.Status = serverauth.StatusRevoked
		}},
		{"fields set again", func(r *serverauth.Record) {
			n := sampleRecord(r.UserID, 4)
			n.Version = r.Version
			*r = *n
		}},
	}
	for i, u := range updates {
		t.Run(u.name, func(t *testing.T) {
			u.update(rec)
			if rec.Version != int64(i+1) {
				t.Fatalf("before update %d: rec.Version = %d, want %d", i, rec.Version, i+1)
			}
			put(t, s, rec)
			checkStored(t, s, rec)
		})
	}
	// The other user is untouched.
	want := sampleRecord("other", 2)
	want.Version = 1
	checkStored(t, s, want)
}

func testVersionConflict(t *testing.T, s serverauth.TokenStore) {
	stored := sampleRecord("user", 1)
	put(t, s, stored) // version 1
	stored.Updated = stored.Updated.Add(time.Second)
	put(t, s, stored) // version 2

	tests := []struct {
		name    string
		user    string
		version int64
	}{
		{"create when stored", "user", 0},
		{"stale version", "user", 1},
		{"version ahead", "user", 3},
		{"version far ahead", "user", 1 << 40},
		{"negative version", "user", -1},
		{"update when absent", "absent", 1},
		{"stale update when absent", "absent", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := sampleRecord(tt.user, 99)
			rec.Version = tt.version
			err := s.Put(t.Context(), rec)
			if !errors.Is(err, serverauth.ErrVersionConflict) {
				t.Errorf("Put(%q, version %d) = %v, want error wrapping ErrVersionConflict", tt.user, tt.version, err)
			}
			if rec.Version != tt.version {
				t.Errorf("after failed Put(%q, version %d): rec.Version = %d, want it unchanged", tt.user, tt.version, rec.Version)
			}
			if tt.user == "user" {
				checkStored(t, s, stored)
			} else {
				checkNotFound(t, s, tt.user)
			}
		})
	}
	// After all that, the right version still works.
	put(t, s, stored)
	checkStored(t, s, stored)
}

func testDelete(t *testing.T, s serverauth.TokenStore) {
	ctx := t.Context()
	if err := s.Delete(ctx, "never-stored"); err != nil {
		t.Errorf("Delete(%q) of a user never stored = %v, want nil", "never-stored", err)
	}

	rec := sampleRecord("user", 1)
	put(t, s, rec)
	put(t, s, rec) // version 2
	keep := sampleRecord("keep", 2)
	put(t, s, keep)

	for i := range 2 {
		if err := s.Delete(ctx, "user"); err != nil {
			t.Errorf("Delete(%q) #%d = %v, want nil", "user", i+1, err)
		}
		checkNotFound(t, s, "user")
	}
	checkStored(t, s, keep)

	// The old version is gone with the record.
	stale := sampleRecord("user", 3)
	stale.Version = 2
	if err := s.Put(ctx, stale); !errors.Is(err, serverauth.ErrVersionConflict) {
		t.Errorf("Put(%q, version 2) after Delete = %v, want error wrapping ErrVersionConflict", "user", err)
	}
	checkNotFound(t, s, "user")

	// Creating again starts at version 1 with only the new values.
	again := sampleRecord("user", 4)
	put(t, s, again)
	checkStored(t, s, again)
	put(t, s, again)
	checkStored(t, s, again)
}

func testPutCopies(t *testing.T, s serverauth.TokenStore) {
	rec := sampleRecord("user", 1)
	want := rec.Clone()
	want.Version = 1
	put(t, s, rec)
	// Scribble over everything the caller still holds, in place.
	rec.RefreshToken[0] ^= 0xff
	rec.AccessToken[len(rec.AccessToken)-1] ^= 0xff
	rec.Profile[0] ^= 0xff
	rec.Scopes[0] = "mutated"
	rec.UserID = "mutated"
	rec.ClientID = "mutated"
	rec.Expiry = rec.Expiry.Add(time.Hour)
	rec.Version = 7
	checkStored(t, s, want)

	// The same through an update.
	upd := get(t, s, "user")
	upd.Scopes = append(upd.Scopes[:0:0], "a", "b")
	upd.RefreshToken = []byte("refresh v2")
	want = upd.Clone()
	want.Version = 2
	put(t, s, upd)
	upd.Scopes[1] = "mutated"
	upd.RefreshToken[0] = 'X'
	checkStored(t, s, want)
}

func testGetCopies(t *testing.T, s serverauth.TokenStore) {
	rec := sampleRecord("user", 1)
	put(t, s, rec)
	got := get(t, s, "user")
	got.RefreshToken[0] ^= 0xff
	got.AccessToken[0] ^= 0xff
	got.Scopes[0] = "mutated"
	got.Scopes = append(got.Scopes, "appended")
	got.UserID = "mutated"
	got.Version = 42
	checkStored(t, s, rec)

	// Two Gets share nothing either.
	a, b := get(t, s, "user"), get(t, s, "user")
	a.RefreshToken[1] ^= 0xff
	a.Scopes[1] = "mutated"
	if d := recordDiff(b, rec); d != "" {
		t.Errorf("Get(%q) result changed when another Get's result was modified: %s", "user", d)
	}
}

func testLargeValues(t *testing.T, s serverauth.TokenStore) {
	r := rand.New(rand.NewPCG(1, 2))
	rec := sampleRecord("large", 1)
	rec.RefreshToken = randomBytes(r, 64<<10)
	rec.AccessToken = randomBytes(r, 8<<10)
	rec.Scopes = make([]string, 200)
	for i := range rec.Scopes {
		rec.Scopes[i] = fmt.Sprintf("https://www.googleapis.com/auth/scope.number-%03d.readonly", i)
	}
	put(t, s, rec)
	checkStored(t, s, rec)

	rec.RefreshToken = randomBytes(r, 64<<10)
	rec.Scopes = rec.Scopes[:150]
	put(t, s, rec)
	checkStored(t, s, rec)
}

// oddUserIDs are user IDs a store must keep apart and round-trip, whatever
// it derives file names, keys or SQL literals from.
var oddUserIDs = []string{
	"109876543210987654321", // a Google sub: 21 digits
	"1",
	"ユーザー",
	"émoji 👍🏽",
	"\u00e9",  // é, precomposed (NFC)
	"e\u0301", // é, decomposed (NFD)
	"Case",
	"case",
	"CASE",
	"quote'single",
	`quote"double`,
	`back\slash`,
	"`backtick`",
	"slash/inside",
	"../escape",
	"../../../../etc/passwd",
	"..",
	".",
	"/absolute",
	`..\windows\path`,
	"C:",
	"nul",
	"with space",
	" leading",
	"trailing",
	"trailing ",
	"trailing  ",
	"tab\tinside",
	"new\nline",
	"percent%20%",
	"star*",
	"question?",
	"colon:",
	"hash#",
	"semi;colon",
	"{brace}",
	"}{",
	"[bracket]",
	"<angle>",
	"pipe|",
	"'; DROP TABLE users; --",
	"NULL",
	strings.Repeat("a", 255),
	strings.Repeat("ü", 255),
}

func testOddUserIDs(t *testing.T, s serverauth.TokenStore) {
	recs := make(map[string]*serverauth.Record, len(oddUserIDs))
	for i, id := range oddUserIDs {
		rec := sampleRecord(id, uint64(i))
		rec.ClientID = fmt.Sprintf("client-for-id-%d", i)
		recs[id] = rec
		put(t, s, rec)
	}
	for _, id := range oddUserIDs {
		checkStored(t, s, recs[id])
	}
	if l, ok := s.(serverauth.Lister); ok {
		checkUsers(t, l, oddUserIDs)
	}
	// Updating and deleting every other ID leaves the rest alone.
	for i, id := range oddUserIDs {
		if i%2 == 0 {
			if err := s.Delete(t.Context(), id); err != nil {
				t.Errorf("Delete(%q) = %v, want nil", id, err)
			}
		} else {
			recs[id].Status = serverauth.StatusRevoked
			put(t, s, recs[id])
		}
	}
	for i, id := range oddUserIDs {
		if i%2 == 0 {
			checkNotFound(t, s, id)
		} else {
			checkStored(t, s, recs[id])
		}
	}
}

// maxAttempts bounds the retries of a read-modify-write loop, so a store
// that never accepts a write fails the test instead of hanging it.
const maxAttempts = 1000

// addScope adds scope to id's record with a read-modify-write loop that
// retries on version conflicts.
func addScope(ctx context.Context, s serverauth.TokenStore, id, scope string) error {
	for range maxAttempts {
		rec, err := s.Get(ctx, id)
		if err != nil {
			return fmt.Errorf("Get(%q) = %v", id, err)
		}
		rec.Scopes = append(rec.Scopes, scope)
		err = s.Put(ctx, rec)
		if errors.Is(err, serverauth.ErrVersionConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("Put(%q) = %v", id, err)
		}
		return nil
	}
	return fmt.Errorf("no write of %q accepted in %d attempts", id, maxAttempts)
}

func testConcurrentWriters(t *testing.T, s serverauth.TokenStore) {
	const writers = 32
	put(t, s, &serverauth.Record{UserID: "shared", Status: serverauth.StatusActive})
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			if err := addScope(t.Context(), s, "shared", fmt.Sprintf("scope-%02d", i)); err != nil {
				t.Errorf("writer %d: %v", i, err)
			}
		})
	}
	wg.Wait()

	got := get(t, s, "shared")
	if got.Version != writers+1 {
		t.Errorf("after %d concurrent updates: Version = %d, want %d", writers, got.Version, writers+1)
	}
	scopes := slices.Sorted(slices.Values(got.Scopes))
	var want []string
	for i := range writers {
		want = append(want, fmt.Sprintf("scope-%02d", i))
	}
	if !slices.Equal(scopes, want) {
		t.Errorf("after %d concurrent updates: Scopes (sorted) = %q, want %q (lost or repeated updates)", writers, scopes, want)
	}
}

func testConcurrentUsers(t *testing.T, s serverauth.TokenStore) {
	const users, updates = 32, 5
	var wg sync.WaitGroup
	for i := range users {
		wg.Go(func() {
			ctx := t.Context()
			id := fmt.Sprintf("user-%02d", i)
			rec := sampleRecord(id, uint64(i))
			if err := s.Put(ctx, rec); err != nil {
				t.Errorf("Put(%q, version 0) = %v, want nil", id, err)
				return
			}
			for j := range updates {
				rec.Scopes = append(rec.Scopes, fmt.Sprintf("scope-%d", j))
				v := rec.Version
				if err := s.Put(ctx, rec); err != nil {
					t.Errorf("Put(%q, version %d) = %v, want nil", id, v, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for i := range users {
		id := fmt.Sprintf("user-%02d", i)
		want := sampleRecord(id, uint64(i))
		for j := range updates {
			want.Scopes = append(want.Scopes, fmt.Sprintf("scope-%d", j))
		}
		want.Version = updates + 1
		checkStored(t, s, want)
	}
}

func testConcurrentCreate(t *testing.T, s serverauth.TokenStore) {
	const creators = 16
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []int
	)
	for i := range creators {
		wg.Go(func() {
			rec := sampleRecord("contended", uint64(i))
			err := s.Put(t.Context(), rec)
			switch {
			case err == nil:
				mu.Lock()
				winners = append(winners, i)
				mu.Unlock()
			case !errors.Is(err, serverauth.ErrVersionConflict):
				t.Errorf("creator %d: Put(%q, version 0) = %v, want nil or error wrapping ErrVersionConflict", i, "contended", err)
			}
		})
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d concurrent creates of one user: %d succeeded (%v), want exactly 1", creators, len(winners), winners)
	}
	want := sampleRecord("contended", uint64(winners[0]))
	want.Version = 1
	checkStored(t, s, want)
}

func testCanceled(t *testing.T, s serverauth.TokenStore) {
	present := sampleRecord("present", 1)
	put(t, s, present)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	check := func(call string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want error wrapping context.Canceled", call, err)
		}
	}

	_, err := s.Get(ctx, "present")
	check(`Get("present")`, err)
	_, err = s.Get(ctx, "absent")
	check(`Get("absent")`, err)
	check(`Put("new", version 0)`, s.Put(ctx, sampleRecord("new", 2)))
	upd := present.Clone()
	upd.ClientID = "changed"
	check(`Put("present", version 1)`, s.Put(ctx, upd))
	if upd.Version != 1 {
		t.Errorf(`after Put("present", version 1) with a cancelled context: rec.Version = %d, want 1`, upd.Version)
	}
	check(`Delete("present")`, s.Delete(ctx, "present"))

	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	l, isLeaser := s.(serverauth.Leaser)
	if isLeaser {
		ok, err := l.Lease(ctx, "present", "owner-a", now, time.Minute)
		check(`Lease("present", "owner-a")`, err)
		if ok {
			t.Errorf(`Lease("present", "owner-a") with a cancelled context = true, want false`)
		}
		check(`Release("present", "owner-a")`, l.Release(ctx, "present", "owner-a"))
	}
	if ls, ok := s.(serverauth.Lister); ok {
		var errs []error
		for id, err := range ls.Users(ctx) {
			if err == nil {
				t.Errorf("Users with a cancelled context yielded %q, want only an error", id)
				continue
			}
			errs = append(errs, err)
		}
		if len(errs) != 1 {
			t.Errorf("Users with a cancelled context yielded %d errors, want 1", len(errs))
		} else {
			check("Users", errs[0])
		}
	}

	// Nothing changed.
	checkStored(t, s, present)
	checkNotFound(t, s, "new")
	if isLeaser {
		if ok, err := l.Lease(t.Context(), "present", "owner-b", now, time.Minute); !ok || err != nil {
			t.Errorf(`Lease("present", "owner-b") after a cancelled Lease by owner-a = %v, %v; want true, nil`, ok, err)
		}
	}
}
