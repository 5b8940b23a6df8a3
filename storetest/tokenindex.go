package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/serverauth/serverauth"
)

// indexTests check [serverauth.RefreshTokenIndex].
var indexTests = []storeTest{
	{"Find", testIndexFind},
	{"FollowsWrites", testIndexFollowsWrites},
	{"Shared", testIndexShared},
	{"BadQuery", testIndexBadQuery},
}

// findUsers looks up by prefix hash (byPrefix) or by hash.
func findUsers(t *testing.T, s serverauth.TokenStore, byPrefix bool, id string) []string {
	t.Helper()
	ix := s.(serverauth.RefreshTokenIndex)
	prefixHash, hash := "", id
	if byPrefix {
		prefixHash, hash = id, ""
	}
	ids, err := ix.UsersByRefreshToken(t.Context(), prefixHash, hash)
	if err != nil {
		t.Fatalf("UsersByRefreshToken(%q, %q) = %v, want nil error", prefixHash, hash, err)
	}
	slices.Sort(ids)
	return ids
}

// checkFound fails unless both lookups of rec's identifiers find want.
func checkFound(t *testing.T, s serverauth.TokenStore, rec *serverauth.Record, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := findUsers(t, s, true, rec.RefreshTokenPrefixHash); !slices.Equal(got, want) {
		t.Errorf("UsersByRefreshToken(prefixHash of %q's token) = %q, want %q", rec.UserID, got, want)
	}
	if got := findUsers(t, s, false, rec.RefreshTokenHash); !slices.Equal(got, want) {
		t.Errorf("UsersByRefreshToken(hash of %q's token) = %q, want %q", rec.UserID, got, want)
	}
}

func testIndexFind(t *testing.T, s serverauth.TokenStore) {
	var recs []*serverauth.Record
	for i := range 5 {
		r := sampleRecord(fmt.Sprintf("user-%d", i), uint64(i+1))
		put(t, s, r)
		recs = append(recs, r)
	}
	for _, r := range recs {
		checkFound(t, s, r, r.UserID)
	}
	other := sampleRecord("never-stored", 99)
	checkFound(t, s, other)
	// One column is not looked up in the other.
	if got := findUsers(t, s, true, recs[0].RefreshTokenHash); len(got) != 0 {
		t.Errorf("UsersByRefreshToken(prefixHash = a RefreshTokenHash) = %q, want none", got)
	}
}

func testIndexFollowsWrites(t *testing.T, s serverauth.TokenStore) {
	r := sampleRecord("user", 1)
	put(t, s, r)
	old := r.Clone()
	next := sampleRecord("user", 2)
	next.Version = r.Version
	put(t, s, next)
	checkFound(t, s, old)
	checkFound(t, s, next, "user")
	// A record without a refresh token has no identifiers.
	none := next.Clone()
	none.RefreshToken, none.RefreshTokenPrefixHash, none.RefreshTokenHash = nil, "", ""
	put(t, s, none)
	checkFound(t, s, next)
	again := sampleRecord("user", 3)
	again.Version = none.Version
	put(t, s, again)
	checkFound(t, s, again, "user")
	if err := s.Delete(t.Context(), "user"); err != nil {
		t.Fatalf("Delete = %v", err)
	}
	checkFound(t, s, again)
}

func testIndexShared(t *testing.T, s serverauth.TokenStore) {
	// Two tokens may share their first 16 characters, though not their hash.
	a, b := sampleRecord("a", 1), sampleRecord("b", 2)
	b.RefreshTokenPrefixHash = a.RefreshTokenPrefixHash
	put(t, s, a)
	put(t, s, b)
	if got := findUsers(t, s, true, a.RefreshTokenPrefixHash); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("UsersByRefreshToken(a shared prefix hash) = %q, want [a b]", got)
	}
	if got := findUsers(t, s, false, b.RefreshTokenHash); !slices.Equal(got, []string{"b"}) {
		t.Errorf("UsersByRefreshToken(b's hash) = %q, want [b]", got)
	}
}

func testIndexBadQuery(t *testing.T, s serverauth.TokenStore) {
	ix := s.(serverauth.RefreshTokenIndex)
	r := sampleRecord("user", 1)
	put(t, s, r)
	if _, err := ix.UsersByRefreshToken(t.Context(), "", ""); err == nil {
		t.Error(`UsersByRefreshToken("", "") = nil error, want an error`)
	}
	if _, err := ix.UsersByRefreshToken(t.Context(), r.RefreshTokenPrefixHash, r.RefreshTokenHash); err == nil {
		t.Error("UsersByRefreshToken(both) = nil error, want an error")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := ix.UsersByRefreshToken(ctx, r.RefreshTokenPrefixHash, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("UsersByRefreshToken with a cancelled context = %v, want context.Canceled", err)
	}
}
