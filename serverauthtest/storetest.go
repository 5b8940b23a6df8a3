package serverauthtest

import (
	"bytes"
	"cmp"
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

// TestTokenStore checks a [serverauth.TokenStore] against the contract
// documented on the interface, as testing/fstest.TestFS does for file
// systems. If the store also implements [serverauth.Leaser] or
// [serverauth.Lister], those capabilities are checked too; otherwise their
// subtests are skipped.
//
// newStore is called once for every subtest, with that subtest's t. It must
// return an empty store isolated from every other store it returned (a fresh
// table, key prefix or directory) and arrange its cleanup with t.Cleanup.
// Subtests run one after another; several start up to 32 goroutines on one
// store, so run the suite with -race.
//
// A store for your own database is checked like this:
//
//	func TestStore(t *testing.T) {
//		serverauthtest.TestTokenStore(t, func(t *testing.T) serverauth.TokenStore {
//			s := mystore.New(db, mystore.Config{Table: uniqueTableName(t)})
//			if err := s.CreateTable(t.Context()); err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { dropTable(t, s) })
//			return s
//		})
//	}
//
// The suite reads the contract as follows, where the interface comments
// leave room:
//   - Times round-trip to the microsecond: they are compared with
//     [time.Time.Equal] after truncation to a microsecond, so neither the
//     location nor the monotonic reading need be kept. Times used lie in the
//     years 1000 to 9999; zero times must come back zero, and the Unix epoch
//     must not turn into the zero time.
//   - Nil and empty token and scope slices are interchangeable.
//   - User IDs are non-empty valid UTF-8 of up to 255 characters without
//     NUL; every such ID is distinct from every other, byte for byte (no
//     case folding, Unicode normalisation or trailing-space trimming).
//     Scopes never contain spaces.
//   - A Put that fails leaves rec.Version unchanged. A negative Version is a
//     version conflict.
//   - Leases are probed a second or more away from their expiry, never at
//     the instant now+ttl itself. Release on a user without a record is not
//     an error.
//   - Every method called with an already cancelled context returns an error
//     wrapping [context.Canceled] and changes nothing; Users yields only
//     that error. Cancelling a context during a walk makes Users yield an
//     error wrapping context.Canceled as its last value.
//
// The suite never sleeps and makes no timing assertions: leases are tested
// with synthetic values of now.
func TestTokenStore(t *testing.T, newStore func(t *testing.T) serverauth.TokenStore) {
	t.Helper()
	for _, st := range storeTests {
		t.Run(st.name, func(t *testing.T) {
			st.run(t, newStore(t))
		})
	}
	t.Run("Lease", func(t *testing.T) {
		if _, ok := newStore(t).(serverauth.Leaser); !ok {
			t.Skip("store does not implement serverauth.Leaser")
		}
		for _, lt := range leaseTests {
			t.Run(lt.name, func(t *testing.T) {
				runLeaseTest(t, newStore(t), lt)
			})
		}
		for _, st := range leaserTests {
			t.Run(st.name, func(t *testing.T) {
				st.run(t, newStore(t))
			})
		}
	})
	t.Run("Users", func(t *testing.T) {
		if _, ok := newStore(t).(serverauth.Lister); !ok {
			t.Skip("store does not implement serverauth.Lister")
		}
		for _, st := range listerTests {
			t.Run(st.name, func(t *testing.T) {
				st.run(t, newStore(t))
			})
		}
	})
}

type storeTest struct {
	name string
	run  func(t *testing.T, s serverauth.TokenStore)
}

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

// base is the fixed instant the suite's records are built around. It has
// nanoseconds, which stores may drop.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

// sampleRecord returns a record for id with every field set, derived from
// seed, not yet stored.
func sampleRecord(id string, seed uint64) *serverauth.Record {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	at := base.Add(time.Duration(seed) * time.Hour)
	return &serverauth.Record{
		UserID:             id,
		RefreshToken:       randomBytes(r, 48+int(seed%16)),
		AccessToken:        randomBytes(r, 96+int(seed%16)),
		Expiry:             at.Add(time.Hour),
		RefreshTokenExpiry: at.Add(7 * 24 * time.Hour),
		Scopes:             []string{"openid", "email", fmt.Sprintf("https://www.googleapis.com/auth/drive.appdata?seed=%d", seed)},
		ClientID:           fmt.Sprintf("%d-client.apps.googleusercontent.com", seed),
		Status:             serverauth.StatusActive,
		Created:            at,
		Updated:            at.Add(time.Minute),
	}
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	// Make sure the values no text encoding survives are present.
	if n >= 3 {
		b[0], b[1], b[2] = 0x00, 0xff, '\n'
	}
	return b
}

// recordDiff describes how got differs from want, or returns "" when they
// are equal under the suite's comparison rules.
func recordDiff(got, want *serverauth.Record) string {
	var d []string
	if got.UserID != want.UserID {
		d = append(d, fmt.Sprintf("UserID = %q, want %q", got.UserID, want.UserID))
	}
	d = bytesDiff(d, "RefreshToken", got.RefreshToken, want.RefreshToken)
	d = bytesDiff(d, "AccessToken", got.AccessToken, want.AccessToken)
	d = timeDiff(d, "Expiry", got.Expiry, want.Expiry)
	d = timeDiff(d, "RefreshTokenExpiry", got.RefreshTokenExpiry, want.RefreshTokenExpiry)
	if !slices.Equal(got.Scopes, want.Scopes) {
		d = append(d, fmt.Sprintf("Scopes = %s, want %s", scopesString(got.Scopes), scopesString(want.Scopes)))
	}
	if got.ClientID != want.ClientID {
		d = append(d, fmt.Sprintf("ClientID = %q, want %q", got.ClientID, want.ClientID))
	}
	if got.Status != want.Status {
		d = append(d, fmt.Sprintf("Status = %q, want %q", got.Status, want.Status))
	}
	d = timeDiff(d, "Created", got.Created, want.Created)
	d = timeDiff(d, "Updated", got.Updated, want.Updated)
	if got.Version != want.Version {
		d = append(d, fmt.Sprintf("Version = %d, want %d", got.Version, want.Version))
	}
	return strings.Join(d, "; ")
}

func scopesString(s []string) string {
	if len(s) > 6 {
		return fmt.Sprintf("%d scopes %q…", len(s), s[:6])
	}
	return fmt.Sprintf("%q", s)
}

// bytesDiff compares token bytes without printing them: they may be large,
// and a store under test may hold real (sealed) tokens.
func bytesDiff(d []string, field string, got, want []byte) []string {
	if bytes.Equal(got, want) {
		return d
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	return append(d, fmt.Sprintf("%s = %d bytes, want %d bytes (first difference at byte %d)", field, len(got), len(want), i))
}

func timeDiff(d []string, field string, got, want time.Time) []string {
	if timeEqual(got, want) {
		return d
	}
	f := func(t time.Time) string {
		if t.IsZero() {
			return "zero time"
		}
		return t.Format(time.RFC3339Nano)
	}
	return append(d, fmt.Sprintf("%s = %s, want %s", field, f(got), f(want)))
}

func timeEqual(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() == b.IsZero()
	}
	return a.Truncate(time.Microsecond).Equal(b.Truncate(time.Microsecond))
}

func put(t *testing.T, s serverauth.TokenStore, rec *serverauth.Record) {
	t.Helper()
	v := rec.Version
	if err := s.Put(t.Context(), rec); err != nil {
		t.Fatalf("Put(%q, version %d) = %v, want nil", rec.UserID, v, err)
	}
	if rec.Version != v+1 {
		t.Fatalf("after Put(%q, version %d): rec.Version = %d, want %d", rec.UserID, v, rec.Version, v+1)
	}
}

func get(t *testing.T, s serverauth.TokenStore, id string) *serverauth.Record {
	t.Helper()
	got, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%q) = %v, want nil error", id, err)
	}
	if got == nil {
		t.Fatalf("Get(%q) = nil record, nil error", id)
	}
	return got
}

// checkStored fails the test unless the store holds want for want.UserID.
func checkStored(t *testing.T, s serverauth.TokenStore, want *serverauth.Record) {
	t.Helper()
	if d := recordDiff(get(t, s, want.UserID), want); d != "" {
		t.Errorf("Get(%q) returned a different record: %s", want.UserID, d)
	}
}

func checkNotFound(t *testing.T, s serverauth.TokenStore, id string) {
	t.Helper()
	got, err := s.Get(t.Context(), id)
	if !errors.Is(err, serverauth.ErrNotFound) {
		t.Errorf("Get(%q) = %v, want error wrapping ErrNotFound", id, err)
	}
	if got != nil {
		t.Errorf("Get(%q) returned a record with error %v, want nil record", id, err)
	}
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
			r.Status = serverauth.StatusRevoked
			return r
		}()},
		{"zero expiries", func() *serverauth.Record {
			r := sampleRecord("zero-expiry", 3)
			r.Expiry, r.RefreshTokenExpiry = time.Time{}, time.Time{}
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

// Leases.

// leaseNow is the synthetic clock the lease tests start from; leaseTTL the
// default lease length.
var leaseNow = time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)

const leaseTTL = time.Minute

type leaseOp int

const (
	opLease    leaseOp = iota // Lease(user, owner, leaseNow+at, ttl) = want
	opRelease                 // Release(user, owner)
	opDelete                  // Delete(user)
	opRecreate                // Put a new record for user, version 0
	opUpdate                  // Get user and Put it back changed
)

type leaseStep struct {
	op    leaseOp
	owner string
	at    time.Duration // for opLease: offset from leaseNow
	ttl   time.Duration // for opLease: zero means leaseTTL
	want  bool          // for opLease
	user  string        // zero means "user"
}

type leaseTest struct {
	name  string
	steps []leaseStep
}

func lease(owner string, at time.Duration, want bool) leaseStep {
	return leaseStep{op: opLease, owner: owner, at: at, want: want}
}

var leaseTests = []leaseTest{
	{"Acquire", []leaseStep{
		lease("a", 0, true),
	}},
	{"OtherOwnerRefused", []leaseStep{
		lease("a", 0, true),
		lease("b", 0, false),
		lease("b", time.Second, false),
		lease("b", leaseTTL-time.Second, false),
	}},
	{"SameOwnerReacquires", []leaseStep{
		lease("a", 0, true),
		lease("a", 0, true),
		lease("a", time.Second, true),
	}},
	{"SameOwnerExtends", []leaseStep{
		lease("a", 0, true),
		lease("a", 30*time.Second, true), // now held until 90s
		lease("b", leaseTTL+time.Second, false),
		lease("b", 30*time.Second+leaseTTL-time.Second, false),
		lease("b", 30*time.Second+leaseTTL+time.Second, true),
	}},
	{"Expiry", []leaseStep{
		lease("a", 0, true),
		lease("b", leaseTTL-time.Second, false),
		lease("b", leaseTTL+time.Second, true),
		lease("a", leaseTTL+2*time.Second, false),
	}},
	{"ShortTTL", []leaseStep{
		{op: opLease, owner: "a", ttl: 10 * time.Second, want: true},
		lease("b", 9*time.Second, false),
		lease("b", 11*time.Second, true),
	}},
	{"ExpiredSameOwnerAgain", []leaseStep{
		lease("a", 0, true),
		lease("a", 10*leaseTTL, true),
		lease("b", 10*leaseTTL+time.Second, false),
	}},
	{"Release", []leaseStep{
		lease("a", 0, true),
		{op: opRelease, owner: "a"},
		lease("b", time.Second, true),
	}},
	{"ReleaseTwice", []leaseStep{
		lease("a", 0, true),
		{op: opRelease, owner: "a"},
		{op: opRelease, owner: "a"},
		lease("a", time.Second, true),
	}},
	{"ReleaseByNonHolder", []leaseStep{
		lease("a", 0, true),
		{op: opRelease, owner: "b"},
		lease("b", time.Second, false),
		lease("c", time.Second, false),
		lease("a", 2*time.Second, true),
	}},
	{"ReleaseNothing", []leaseStep{
		{op: opRelease, owner: "a"},
		lease("a", 0, true),
	}},
	{"ReleaseAfterTakeover", []leaseStep{
		lease("a", 0, true),
		lease("b", leaseTTL+time.Second, true),
		{op: opRelease, owner: "a"},
		lease("c", leaseTTL+2*time.Second, false),
		lease("b", leaseTTL+3*time.Second, true),
	}},
	{"PerUser", []leaseStep{
		lease("a", 0, true),
		{op: opLease, owner: "b", user: "user2", want: true},
		{op: opLease, owner: "a", user: "user2", want: false},
		{op: opRelease, owner: "a", user: "user2"},
		lease("b", 0, false),
		{op: opLease, owner: "a", user: "user2", want: false},
	}},
	{"DeleteDropsLease", []leaseStep{
		lease("a", 0, true),
		{op: opDelete},
		{op: opRecreate},
		lease("b", time.Second, true),
	}},
	{"PutKeepsLease", []leaseStep{
		lease("a", 0, true),
		{op: opUpdate},
		lease("b", time.Second, false),
		{op: opUpdate},
		lease("a", 2*time.Second, true),
		lease("b", 3*time.Second, false),
	}},
	{"LeaseKeepsRecord", []leaseStep{
		lease("a", 0, true),
		{op: opUpdate},
		{op: opRelease, owner: "a"},
		{op: opUpdate},
	}},
}

func runLeaseTest(t *testing.T, s serverauth.TokenStore, lt leaseTest) {
	l := s.(serverauth.Leaser)
	ctx := t.Context()
	recs := map[string]*serverauth.Record{
		"user":  sampleRecord("user", 1),
		"user2": sampleRecord("user2", 2),
	}
	for _, r := range recs {
		put(t, s, r)
	}
	for i, st := range lt.steps {
		user := cmp.Or(st.user, "user")
		switch st.op {
		case opLease:
			ttl := cmp.Or(st.ttl, leaseTTL)
			ok, err := l.Lease(ctx, user, st.owner, leaseNow.Add(st.at), ttl)
			if err != nil || ok != st.want {
				t.Fatalf("step %d: Lease(%q, %q, now+%v, %v) = %v, %v; want %v, nil", i, user, st.owner, st.at, ttl, ok, err, st.want)
			}
		case opRelease:
			if err := l.Release(ctx, user, st.owner); err != nil {
				t.Fatalf("step %d: Release(%q, %q) = %v, want nil", i, user, st.owner, err)
			}
		case opDelete:
			if err := s.Delete(ctx, user); err != nil {
				t.Fatalf("step %d: Delete(%q) = %v, want nil", i, user, err)
			}
		case opRecreate:
			recs[user] = sampleRecord(user, uint64(10+i))
			put(t, s, recs[user])
		case opUpdate:
			rec := get(t, s, user)
			rec.AccessToken = fmt.Appendf(nil, "access token at step %d", i)
			put(t, s, rec)
			recs[user] = rec
		}
	}
	// Leases never change the records.
	for _, r := range recs {
		checkStored(t, s, r)
	}
}

var leaserTests = []storeTest{
	{"MissingUser", testLeaseMissingUser},
	{"Race", testLeaseRace},
}

func testLeaseMissingUser(t *testing.T, s serverauth.TokenStore) {
	l := s.(serverauth.Leaser)
	ctx := t.Context()
	ok, err := l.Lease(ctx, "absent", "a", leaseNow, leaseTTL)
	if ok || !errors.Is(err, serverauth.ErrNotFound) {
		t.Errorf(`Lease("absent", "a") = %v, %v; want false, error wrapping ErrNotFound`, ok, err)
	}
	if err := l.Release(ctx, "absent", "a"); err != nil {
		t.Errorf(`Release("absent", "a") = %v, want nil`, err)
	}
	checkNotFound(t, s, "absent")

	// A deleted user is missing too, lease or not.
	put(t, s, sampleRecord("deleted", 1))
	if ok, err := l.Lease(ctx, "deleted", "a", leaseNow, leaseTTL); !ok || err != nil {
		t.Fatalf(`Lease("deleted", "a") = %v, %v; want true, nil`, ok, err)
	}
	if err := s.Delete(ctx, "deleted"); err != nil {
		t.Fatalf(`Delete("deleted") = %v, want nil`, err)
	}
	ok, err = l.Lease(ctx, "deleted", "b", leaseNow, leaseTTL)
	if ok || !errors.Is(err, serverauth.ErrNotFound) {
		t.Errorf(`Lease("deleted", "b") after Delete = %v, %v; want false, error wrapping ErrNotFound`, ok, err)
	}
	checkNotFound(t, s, "deleted")
}

func testLeaseRace(t *testing.T, s serverauth.TokenStore) {
	const racers = 16
	l := s.(serverauth.Leaser)
	put(t, s, sampleRecord("user", 1))
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []string
	)
	for i := range racers {
		wg.Go(func() {
			owner := fmt.Sprintf("owner-%02d", i)
			ok, err := l.Lease(t.Context(), "user", owner, leaseNow, leaseTTL)
			if err != nil {
				t.Errorf("Lease(%q, %q) = %v, want nil error", "user", owner, err)
			}
			if ok {
				mu.Lock()
				winners = append(winners, owner)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d owners racing for one lease: %d got it (%q), want exactly 1", racers, len(winners), winners)
	}
	// The winner holds it; everybody else is still refused.
	if ok, err := l.Lease(t.Context(), "user", winners[0], leaseNow.Add(time.Second), leaseTTL); !ok || err != nil {
		t.Errorf("Lease(%q, %q) by the winner = %v, %v; want true, nil", "user", winners[0], ok, err)
	}
	if ok, err := l.Lease(t.Context(), "user", "late", leaseNow.Add(time.Second), leaseTTL); ok || err != nil {
		t.Errorf("Lease(%q, %q) = %v, %v; want false, nil", "user", "late", ok, err)
	}
}

// Listing.

var listerTests = []storeTest{
	{"Empty", testUsersEmpty},
	{"All", testUsersAll},
	{"Break", testUsersBreak},
	{"CancelDuringWalk", testUsersCancel},
}

// checkUsers fails the test unless a walk yields each of want exactly once
// and nothing else.
func checkUsers(t *testing.T, l serverauth.Lister, want []string) {
	t.Helper()
	seen := make(map[string]int, len(want))
	for id, err := range l.Users(t.Context()) {
		if err != nil {
			t.Fatalf("Users yielded error %v after %d users, want none", err, len(seen))
		}
		seen[id]++
	}
	var missing, extra, repeated []string
	for _, id := range want {
		if seen[id] == 0 {
			missing = append(missing, id)
		}
	}
	for id, n := range seen {
		if !slices.Contains(want, id) {
			extra = append(extra, id)
		}
		if n > 1 {
			repeated = append(repeated, id)
		}
	}
	if len(missing)+len(extra)+len(repeated) > 0 {
		t.Errorf("Users yielded %d distinct users, want %d: missing %q, unexpected %q, repeated %q",
			len(seen), len(want), missing, extra, repeated)
	}
}

func testUsersEmpty(t *testing.T, s serverauth.TokenStore) {
	l := s.(serverauth.Lister)
	checkUsers(t, l, nil)
	put(t, s, sampleRecord("gone", 1))
	if err := s.Delete(t.Context(), "gone"); err != nil {
		t.Fatalf(`Delete("gone") = %v, want nil`, err)
	}
	checkUsers(t, l, nil)
}

func manyUsers(t *testing.T, s serverauth.TokenStore, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("user-%03d", i)
		put(t, s, &serverauth.Record{UserID: ids[i], Status: serverauth.StatusActive})
	}
	return ids
}

func testUsersAll(t *testing.T, s serverauth.TokenStore) {
	l := s.(serverauth.Lister)
	ids := manyUsers(t, s, 200)
	checkUsers(t, l, ids)

	// Leases and updates do not show as users or hide them.
	if lr, ok := s.(serverauth.Leaser); ok {
		for _, id := range ids[:10] {
			if _, err := lr.Lease(t.Context(), id, "owner", leaseNow, leaseTTL); err != nil {
				t.Fatalf("Lease(%q) = %v, want nil error", id, err)
			}
		}
	}
	for _, id := range ids[:100] {
		if err := s.Delete(t.Context(), id); err != nil {
			t.Fatalf("Delete(%q) = %v, want nil", id, err)
		}
	}
	checkUsers(t, l, ids[100:])
}

func testUsersBreak(t *testing.T, s serverauth.TokenStore) {
	l := s.(serverauth.Lister)
	manyUsers(t, s, 5)
	n := 0
	for _, err := range l.Users(t.Context()) {
		if err != nil {
			t.Fatalf("Users yielded error %v, want none", err)
		}
		n++
		break // the iterator must stop here, without panicking
	}
	if n != 1 {
		t.Errorf("Users yielded %d values before break, want 1", n)
	}
}

func testUsersCancel(t *testing.T, s serverauth.TokenStore) {
	l := s.(serverauth.Lister)
	manyUsers(t, s, 200)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var (
		ids     int
		last    error
		afterIt bool
	)
	for _, err := range l.Users(ctx) {
		if last != nil {
			afterIt = true
		}
		if err != nil {
			last = err
			continue
		}
		ids++
		cancel()
	}
	if !errors.Is(last, context.Canceled) {
		t.Errorf("Users cancelled after the first user ended with %v after %d users, want error wrapping context.Canceled", last, ids)
	}
	if afterIt {
		t.Errorf("Users yielded values after an error, want the error last")
	}
	if ids >= 200 {
		t.Errorf("Users cancelled after the first user yielded all %d users, want the walk to stop early", ids)
	}
}
