package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
)

// TestTokenStore checks a [serverauth.TokenStore] against the contract
// documented on the interface, as testing/fstest.TestFS does for file
// systems. If the store also implements [serverauth.Leaser],
// [serverauth.RecordLeaser], [serverauth.SignInUpdater], [serverauth.Lister],
// [serverauth.RefreshTokenIndex] or [serverauth.EventLedger], those
// capabilities are checked too; otherwise their subtests are skipped.
//
// newStore is called once for every subtest, with that subtest's t. It must
// return an empty store isolated from every other store it returned (a fresh
// table, key prefix or directory) and arrange its cleanup with t.Cleanup.
// Subtests run one after another; several start up to 32 goroutines on one
// store, so run the suite with -race.
//
// The package documentation shows a call.
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
//   - Leases, event claims and finished events are probed a second or more
//     away from their expiry, never at the instant now+ttl itself. Release on a user without a record is not
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
	runStoreTests(t, storeTests, newStore)
	capability[serverauth.Leaser](t, "Lease", newStore, func(t *testing.T) {
		runLeaseSteps(t, leaseTests, newStore, false)
		runStoreTests(t, leaserTests, newStore)
	})
	capability[serverauth.RecordLeaser](t, "RecordLeaser", newStore, func(t *testing.T) {
		runLeaseSteps(t, append(recordLeaseTests, leaseTests...), newStore, true)
		runStoreTests(t, recordLeaserTests, newStore)
	})
	capability[serverauth.SignInUpdater](t, "SignInUpdater", newStore, func(t *testing.T) {
		runStoreTests(t, signInTests, newStore)
	})
	capability[serverauth.Lister](t, "Users", newStore, func(t *testing.T) {
		runStoreTests(t, listerTests, newStore)
	})
	capability[serverauth.RefreshTokenIndex](t, "RefreshTokenIndex", newStore, func(t *testing.T) {
		runStoreTests(t, indexTests, newStore)
	})
	capability[serverauth.EventLedger](t, "EventLedger", newStore, func(t *testing.T) {
		runStoreTests(t, eventTests, newStore)
	})
}

// capability runs the subtest name when the store implements the
// capability C, and skips it otherwise.
func capability[C any](t *testing.T, name string, newStore func(t *testing.T) serverauth.TokenStore, run func(t *testing.T)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		if _, ok := newStore(t).(C); !ok {
			t.Skipf("store does not implement %v", reflect.TypeFor[C]())
		}
		run(t)
	})
}

// runLeaseSteps runs each of tests as a subtest on a fresh store; see
// runLeaseTest for viaLeaseGet.
func runLeaseSteps(t *testing.T, tests []leaseTest, newStore func(t *testing.T) serverauth.TokenStore, viaLeaseGet bool) {
	t.Helper()
	for _, lt := range tests {
		t.Run(lt.name, func(t *testing.T) {
			runLeaseTest(t, newStore(t), lt, viaLeaseGet)
		})
	}
}

// storeTest is one subtest, run on a fresh store.
type storeTest struct {
	name string
	run  func(t *testing.T, s serverauth.TokenStore)
}

// runStoreTests runs each of tests as a subtest, on a fresh store from
// newStore.
func runStoreTests(t *testing.T, tests []storeTest, newStore func(t *testing.T) serverauth.TokenStore) {
	t.Helper()
	for _, st := range tests {
		t.Run(st.name, func(t *testing.T) {
			st.run(t, newStore(t))
		})
	}
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

		RefreshTokenPrefixHash: serverauth.RefreshTokenPrefixHash(fmt.Sprintf("1//0prefix-%d", seed)),
		RefreshTokenHash:       serverauth.RefreshTokenHash(fmt.Sprintf("1//0token-%d", seed)),
		Consented:              at.Add(-time.Minute),
		RefreshTokenTimeout:    time.Duration(seed+1)*24*time.Hour + 123456*time.Microsecond,
		Profile:                randomBytes(r, 64+int(seed%16)),
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
	if got.RefreshTokenPrefixHash != want.RefreshTokenPrefixHash || got.RefreshTokenHash != want.RefreshTokenHash {
		d = append(d, fmt.Sprintf("refresh token identifiers = %q, %q, want %q, %q",
			got.RefreshTokenPrefixHash, got.RefreshTokenHash, want.RefreshTokenPrefixHash, want.RefreshTokenHash))
	}
	d = timeDiff(d, "Consented", got.Consented, want.Consented)
	if got.RefreshTokenTimeout != want.RefreshTokenTimeout {
		d = append(d, fmt.Sprintf("RefreshTokenTimeout = %v, want %v", got.RefreshTokenTimeout, want.RefreshTokenTimeout))
	}
	d = bytesDiff(d, "Profile", got.Profile, want.Profile)
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
