package serverauth_test

import (
	"context"
	"errors"
	"testing"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// The tests of issue-sized security rules that have no better home; each
// fails with its rule removed.

// TestRevokeUndecryptableRecordStillDeletes: a record sealed under a key
// this Exchanger no longer has cannot be revoked at Google, but it must not
// block the user's disconnect: it is deleted, and the error says so.
func TestRevokeUndecryptableRecordStillDeletes(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	otherKey, _ := testKeyring(t, 2)
	e := f.newReplica(func(c *serverauth.Config) { c.Cipher = otherKey })
	err := e.Revoke(context.Background(), res.UserID)
	if !errors.Is(err, serverauth.ErrDecrypt) {
		t.Fatalf("Revoke of an undecryptable record = %v, want an error wrapping ErrDecrypt", err)
	}
	if _, err := f.store.Get(context.Background(), res.UserID); !errors.Is(err, serverauth.ErrNotFound) {
		t.Fatalf("record after Revoke: %v, want deleted", err)
	}
	if n := f.g.RequestCount(serverauthtest.EndpointRevoke); n != 0 {
		t.Fatalf("revocation requests = %d, want 0 (there is no token to send)", n)
	}
}

// TestSignInWithoutRefreshTokenOverUndecryptableRecord: a sign-in that
// brings no refresh token, over a stored one that cannot be decrypted, is
// the consent path (ErrNoRefreshToken), not a silent success followed by
// ErrDecrypt on every refresh. Both ways Save writes: a read and a write
// (a store without SignInUpdater), and one UpdateSignIn (a MemoryStore).
func TestSignInWithoutRefreshTokenOverUndecryptableRecord(t *testing.T) {
	for _, updater := range []bool{false, true} {
		t.Run(map[bool]string{false: "Get and Put", true: "SignInUpdater"}[updater], func(t *testing.T) {
			f := newStoreFixture(t, serverauthtest.Options{})
			if updater {
				f, _ = memFixture(t, serverauthtest.Options{}, nil)
			}
			f.signIn(serverauthtest.CodeRequest{})
			otherKey, _ := testKeyring(t, 2)
			e := f.newReplica(func(c *serverauth.Config) { c.Cipher = otherKey })
			res, err := e.Exchange(context.Background(), f.mint(serverauthtest.CodeRequest{Scopes: []string{"openid", "email", "profile", "drive.appdata"}}))
			if !errors.Is(err, serverauth.ErrNoRefreshToken) || res == nil {
				t.Fatalf("sign-in over an undecryptable refresh token = %v, %v; want the Result with ErrNoRefreshToken", res, err)
			}
			if _, err := e.Token(context.Background(), res.UserID); errors.Is(err, serverauth.ErrDecrypt) {
				t.Fatalf("Token after that sign-in = %v; the unreadable token must not be kept", err)
			}
		})
	}
}
