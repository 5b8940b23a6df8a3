package serverauth_test

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// TestRefreshTokenHashIsDoubleSHA512: the "hash_base64_sha512_sha512"
// identifier, computed independently.
func TestRefreshTokenHashIsDoubleSHA512(t *testing.T) {
	first := sha512.Sum512([]byte("1//0token"))
	second := sha512.Sum512(first[:])
	if got, want := serverauth.RefreshTokenHash("1//0token"), base64.StdEncoding.EncodeToString(second[:]); got != want {
		t.Errorf("RefreshTokenHash = %q, want %q", got, want)
	}
	// The prefix identifier is a token's first 16 characters: a whole token
	// and its prefix hash alike.
	if a, b := serverauth.RefreshTokenPrefixHash("1//0123456789abcdefXYZ"), serverauth.RefreshTokenPrefixHash("1//0123456789abc"); a != b {
		t.Errorf("prefix hash of a token %q != prefix hash of its first 16 characters %q", a, b)
	}
}

// TestStoredIdentifiersFollowTheRefreshToken: the identifiers, consent time
// and sealed profile are written with the grant, and the identifiers follow
// a rotated refresh token.
func TestStoredIdentifiersFollowTheRefreshToken(t *testing.T) {
	f := newRotatingFixture(t) // plaintext tokens: the stored refresh token is readable
	signedIn := f.clock.Now()
	user := f.signIn(f.e)
	check := func(when string) {
		t.Helper()
		rec, err := f.mem.Get(context.Background(), user)
		if err != nil {
			t.Fatal(err)
		}
		rt := string(rec.RefreshToken)
		if rt == "" || rec.RefreshTokenHash != serverauth.RefreshTokenHash(rt) || rec.RefreshTokenPrefixHash != serverauth.RefreshTokenPrefixHash(rt) {
			t.Errorf("%s: stored identifiers %q, %q do not identify the stored refresh token", when, rec.RefreshTokenPrefixHash, rec.RefreshTokenHash)
		}
		if !rec.Consented.Equal(signedIn) {
			t.Errorf("%s: Consented = %v, want the sign-in time %v", when, rec.Consented, signedIn)
		}
		if len(rec.Profile) == 0 {
			t.Errorf("%s: no profile stored", when)
		}
	}
	check("after sign-in")
	before := f.storedRefreshToken(user)
	f.clock.Advance(2 * time.Hour)
	if _, err := f.e.Token(context.Background(), user); err != nil {
		t.Fatal(err)
	}
	if f.storedRefreshToken(user) == before {
		t.Fatal("the refresh did not rotate the refresh token; the test checks nothing")
	}
	check("after a rotating refresh") // Consented stays: a refresh is no consent
}

// TestProfileIsSealed: the stored profile holds no personal data in the
// clear.
func TestProfileIsSealed(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	rec, err := f.store.Get(context.Background(), res.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if res.Profile.Email == "" || len(rec.Profile) == 0 {
		t.Fatalf("profile email %q, stored profile %d bytes: nothing to check", res.Profile.Email, len(rec.Profile))
	}
	if bytes.Contains(rec.Profile, []byte(res.Profile.Email)) || bytes.Contains(rec.Profile, []byte(res.UserID)) {
		t.Error("the stored profile holds the email or user ID in the clear")
	}
}
