package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
)

// signInTests check [serverauth.SignInUpdater].
var signInTests = []storeTest{
	{"Statuses", testSignInStatuses},
	{"KeepsProfile", testSignInKeepsProfile},
	{"SetsCreated", testSignInSetsCreated},
	{"MissingUser", testSignInMissingUser},
	{"KeepsLease", testSignInKeepsLease},
	{"IndexFollows", testSignInIndexFollows},
}

// signInUpdate returns an update for id, every field different from
// sampleRecord's.
func signInUpdate(id string) *serverauth.SignInUpdate {
	return &serverauth.SignInUpdate{
		UserID:      id,
		AccessToken: []byte("a new sealed access token"),
		Expiry:      base.Add(100 * time.Hour),
		Profile:     []byte("new sealed profile claims"),
		Scopes:      []string{"openid", "email"},
		ClientID:    "new-client.apps.googleusercontent.com",
		Status:      serverauth.StatusScopeRemoved,
		Updated:     base.Add(99 * time.Hour),
	}
}

// updateSignIn calls UpdateSignIn, checks that the refresh token it
// returns is the stored one, and returns the stored record. It reports
// false when the store says it cannot (errors.ErrUnsupported), having
// checked that nothing changed.
func updateSignIn(t *testing.T, s serverauth.TokenStore, u *serverauth.SignInUpdate, before *serverauth.Record) (*serverauth.Record, bool) {
	t.Helper()
	got, err := s.(serverauth.SignInUpdater).UpdateSignIn(t.Context(), u)
	if errors.Is(err, errors.ErrUnsupported) {
		if got != nil {
			t.Errorf("UpdateSignIn(%q) returned %d bytes with ErrUnsupported, want none", u.UserID, len(got))
		}
		checkStored(t, s, before)
		return nil, false
	}
	if err != nil {
		t.Fatalf("UpdateSignIn(%q) = %v, want nil", u.UserID, err)
	}
	rec := get(t, s, u.UserID)
	if string(got) != string(rec.RefreshToken) {
		t.Errorf("UpdateSignIn(%q) returned a refresh token (%d bytes) other than the stored one (%d bytes)", u.UserID, len(got), len(rec.RefreshToken))
	}
	return rec, true
}

// testSignInStatuses: the update replaces its fields and keeps the others,
// and drops the refresh token of a grant whose token is dead.
func testSignInStatuses(t *testing.T, s serverauth.TokenStore) {
	for i, c := range []struct {
		status   serverauth.Status
		dropsRTs bool
	}{
		{serverauth.StatusActive, false},
		{"", false},
		{serverauth.StatusScopeRemoved, false},
		{serverauth.StatusReauthRequired, false},
		{serverauth.StatusDisabled, false},
		{serverauth.StatusRevoked, true},
		{serverauth.StatusExpired, true},
		{"a_status_of_a_later_version", true},
	} {
		id := "user-" + string(rune('a'+i))
		rec := sampleRecord(id, uint64(20+i))
		rec.Status = c.status
		put(t, s, rec)
		got, ok := updateSignIn(t, s, signInUpdate(id), rec)
		if !ok {
			t.Skip("the store cannot update a sign-in in one step (errors.ErrUnsupported) on this database")
		}
		want := rec.Clone()
		signInUpdate(id).ApplyTo(want)
		want.Version = rec.Version + 1
		if d := recordDiff(got, want); d != "" {
			t.Errorf("status %q: UpdateSignIn left:\n%s", c.status, d)
		}
		// The same, said field by field rather than through ApplyTo.
		u := signInUpdate(id)
		if string(got.AccessToken) != string(u.AccessToken) || string(got.Profile) != string(u.Profile) || !timeEqual(got.Expiry, u.Expiry) ||
			!timeEqual(got.Updated, u.Updated) || got.ClientID != u.ClientID || got.Status != u.Status || scopesString(got.Scopes) != scopesString(u.Scopes) {
			t.Errorf("status %q: the update's fields were not all written: %v", c.status, got)
		}
		if !timeEqual(got.Created, rec.Created) || !timeEqual(got.Consented, rec.Consented) || !timeEqual(got.RefreshTokenExpiry, rec.RefreshTokenExpiry) ||
			got.RefreshTokenTimeout != rec.RefreshTokenTimeout {
			t.Errorf("status %q: a field the update does not name changed: %v", c.status, got)
		}
		if !c.dropsRTs && (string(got.RefreshToken) != string(rec.RefreshToken) || got.RefreshTokenHash != rec.RefreshTokenHash || got.RefreshTokenPrefixHash != rec.RefreshTokenPrefixHash) {
			t.Errorf("status %q: the refresh token was not kept", c.status)
		}
		if dropped := len(got.RefreshToken) == 0 && got.RefreshTokenPrefixHash == "" && got.RefreshTokenHash == ""; dropped != c.dropsRTs {
			t.Errorf("status %q: refresh token dropped = %v, want %v", c.status, dropped, c.dropsRTs)
		}
	}
}

// testSignInKeepsProfile: a nil Profile keeps the stored one.
func testSignInKeepsProfile(t *testing.T, s serverauth.TokenStore) {
	rec := sampleRecord("user", 3)
	put(t, s, rec)
	u := signInUpdate("user")
	u.Profile = nil
	got, ok := updateSignIn(t, s, u, rec)
	if !ok {
		t.Skip("errors.ErrUnsupported")
	}
	if string(got.Profile) != string(rec.Profile) {
		t.Errorf("Profile after an update without one = %q, want the stored %q", got.Profile, rec.Profile)
	}
}

// testSignInSetsCreated: a record without a creation time gets the
// update's time.
func testSignInSetsCreated(t *testing.T, s serverauth.TokenStore) {
	rec := sampleRecord("user", 4)
	rec.Created = time.Time{}
	put(t, s, rec)
	u := signInUpdate("user")
	got, ok := updateSignIn(t, s, u, rec)
	if !ok {
		t.Skip("errors.ErrUnsupported")
	}
	if !timeEqual(got.Created, u.Updated) {
		t.Errorf("Created = %v, want the update's %v", got.Created, u.Updated)
	}
}

// testSignInMissingUser: no record, none made.
func testSignInMissingUser(t *testing.T, s serverauth.TokenStore) {
	got, err := s.(serverauth.SignInUpdater).UpdateSignIn(t.Context(), signInUpdate("absent"))
	if got != nil || !errors.Is(err, serverauth.ErrNotFound) && !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf(`UpdateSignIn("absent") = %d bytes, %v; want none and an error wrapping ErrNotFound`, len(got), err)
	}
	checkNotFound(t, s, "absent")
}

// testSignInKeepsLease: the update leaves a lease as it was.
func testSignInKeepsLease(t *testing.T, s serverauth.TokenStore) {
	l, ok := s.(serverauth.Leaser)
	if !ok {
		t.Skip("store does not implement serverauth.Leaser")
	}
	rec := sampleRecord("user", 5)
	put(t, s, rec)
	if ok, err := l.Lease(t.Context(), "user", "a", leaseNow, leaseTTL); !ok || err != nil {
		t.Fatalf("Lease = %v, %v", ok, err)
	}
	if _, ok := updateSignIn(t, s, signInUpdate("user"), rec); !ok {
		t.Skip("errors.ErrUnsupported")
	}
	if ok, err := l.Lease(t.Context(), "user", "b", leaseNow.Add(time.Second), leaseTTL); ok || err != nil {
		t.Errorf("another owner's Lease after UpdateSignIn = %v, %v; want false, nil", ok, err)
	}
}

// testSignInIndexFollows: a dropped refresh token leaves the index.
func testSignInIndexFollows(t *testing.T, s serverauth.TokenStore) {
	if _, ok := s.(serverauth.RefreshTokenIndex); !ok {
		t.Skip("store does not implement serverauth.RefreshTokenIndex")
	}
	rec := sampleRecord("user", 6)
	rec.Status = serverauth.StatusRevoked
	put(t, s, rec)
	if _, ok := updateSignIn(t, s, signInUpdate("user"), rec); !ok {
		t.Skip("errors.ErrUnsupported")
	}
	if ids := findUsers(t, s, false, rec.RefreshTokenHash); len(ids) != 0 {
		t.Errorf("UsersByRefreshToken(the dropped token) = %q, want none", ids)
	}
}
