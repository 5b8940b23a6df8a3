package risc_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/risc"
	"github.com/serverauth/serverauth/serverauthtest"
)

// Each test here signs a user in, has the fake push an event as Google
// would, and checks what Token says afterwards and that OnEvent ran once.

// deliverOnce sends ev, wants 202 and exactly one OnEvent call, and
// returns the event OnEvent got.
func (f *fixture) deliverOnce(ev serverauthtest.RISCEvent) *risc.Event {
	f.t.Helper()
	before := len(f.got())
	d := f.send(ev)
	if d.Status != http.StatusAccepted {
		f.t.Fatalf("delivery of %s = %+v, want 202", ev.Type, d)
	}
	// A redelivery changes nothing.
	if r := f.redeliver(d.ID); r.Status != http.StatusAccepted {
		f.t.Fatalf("redelivery of %s = %+v, want 202", ev.Type, r)
	}
	got := f.got()
	if len(got)-before != 1 {
		f.t.Fatalf("OnEvent called %d times for %s, want 1", len(got)-before, ev.Type)
	}
	if got[len(got)-1].ID != d.ID {
		f.t.Fatalf("OnEvent got event %q, want %q", got[len(got)-1].ID, d.ID)
	}
	return got[len(got)-1]
}

func TestEventTokensRevoked(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.signIn(serverauthtest.User{})
	refreshes := f.g.RequestCount(serverauthtest.EndpointToken)
	revokes := f.g.RequestCount(serverauthtest.EndpointRevoke)
	ev := f.deliverOnce(serverauthtest.RISCEvent{Type: "tokens-revoked", Sub: sub})
	if ev.Subject != sub || ev.Type != risc.TypeTokensRevoked {
		t.Errorf("Event = %+v", ev)
	}
	if _, err := f.e.Token(context.Background(), sub); !errors.Is(err, serverauth.ErrNotFound) {
		t.Errorf("Token after tokens-revoked = %v, want ErrNotFound (the grant is gone)", err)
	}
	if f.record(sub) != nil {
		t.Error("the record is still stored")
	}
	if n := f.g.RequestCount(serverauthtest.EndpointToken) - refreshes; n != 0 {
		t.Errorf("%d token requests, want none", n)
	}
	if n := f.g.RequestCount(serverauthtest.EndpointRevoke) - revokes; n != 0 {
		t.Errorf("%d revoke requests, want none: Google revoked the grant already", n)
	}
}

func TestEventAccountPurged(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.signIn(serverauthtest.User{})
	f.deliverOnce(serverauthtest.RISCEvent{Type: "account-purged", Sub: sub})
	if _, err := f.e.Token(context.Background(), sub); !errors.Is(err, serverauth.ErrNotFound) {
		t.Errorf("Token after account-purged = %v, want ErrNotFound", err)
	}
}

func TestEventTokenRevoked(t *testing.T) {
	for _, alg := range []string{serverauth.TokenIDPrefix, serverauth.TokenIDHash} {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, fixtureOpts{})
			res := f.signIn(serverauthtest.User{})
			other := serverauthtest.User{Sub: "200000000000000000002", Email: "other@example.com", EmailVerified: true}
			f.signIn(other)
			ev := f.deliverOnce(serverauthtest.RISCEvent{Type: "token-revoked", RefreshToken: res.Token.RefreshToken, TokenIdentifierAlg: alg})
			if ev.Subject != sub {
				t.Errorf("Event.Subject = %q, want the user whose grant held the token, %q", ev.Subject, sub)
			}
			if _, err := f.e.Token(context.Background(), sub); !errors.Is(err, serverauth.ErrNotFound) {
				t.Errorf("Token after token-revoked = %v, want ErrNotFound", err)
			}
			if _, err := f.e.Token(context.Background(), other.Sub); err != nil {
				t.Errorf("Token of another user = %v, want their grant untouched", err)
			}
		})
	}
}

func TestEventTokenRevokedNoMatch(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.signIn(serverauthtest.User{})
	// A token the store does not hold (revoked at the fake, never saved).
	code, _ := f.g.MintCode(serverauthtest.CodeRequest{Prompt: "consent", User: serverauthtest.User{Sub: "300000000000000000003", Email: "x@example.com"}})
	tok, err := f.e.Exchange(context.Background(), code)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.Delete(context.Background(), tok.UserID); err != nil {
		t.Fatal(err)
	}
	ev := f.deliverOnce(serverauthtest.RISCEvent{Type: "token-revoked", RefreshToken: tok.Token.RefreshToken})
	if ev.Subject != "" {
		t.Errorf("Event.Subject = %q, want \"\" for a token no grant holds", ev.Subject)
	}
	if _, err := f.e.Token(context.Background(), sub); err != nil {
		t.Errorf("Token of the signed-in user = %v, want it untouched", err)
	}
}

func TestEventAccountDisabled(t *testing.T) {
	for _, reason := range []string{risc.ReasonHijacking, risc.ReasonBulkAccount, ""} {
		t.Run("reason "+reason, func(t *testing.T) {
			f := newFixture(t, fixtureOpts{})
			f.signIn(serverauthtest.User{})
			ev := f.deliverOnce(serverauthtest.RISCEvent{Type: "account-disabled", Sub: sub, Reason: reason})
			if ev.Reason != reason {
				t.Errorf("Event.Reason = %q, want %q", ev.Reason, reason)
			}
			// Past the access token's lifetime, so nothing cached could answer.
			f.clock.Advance(2 * time.Hour)
			before := f.g.RefreshCount(sub)
			if _, err := f.e.Token(context.Background(), sub); !errors.Is(err, serverauth.ErrReauthRequired) {
				t.Errorf("Token after account-disabled = %v, want ErrReauthRequired", err)
			}
			if n := f.g.RefreshCount(sub) - before; n != 0 {
				t.Errorf("%d refreshes at Google, want none: the grant is disabled", n)
			}
			rec := f.record(sub)
			if rec == nil || rec.Status != serverauth.StatusDisabled || len(rec.RefreshToken) == 0 || len(rec.AccessToken) != 0 {
				t.Fatalf("record = %v, want disabled, refresh token kept, access token dropped", rec)
			}
			// The user signs in again: the grant is back.
			f.signIn(serverauthtest.User{})
			if _, err := f.e.Token(context.Background(), sub); err != nil {
				t.Errorf("Token after a new sign-in = %v, want a token", err)
			}
		})
	}
}

// TestEventAccountDisabledCachedToken: the access token cached before the
// event is not handed out after it.
func TestEventAccountDisabledCachedToken(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.signIn(serverauthtest.User{})
	if _, err := f.e.Token(context.Background(), sub); err != nil {
		t.Fatal(err)
	}
	f.deliverOnce(serverauthtest.RISCEvent{Type: "account-disabled", Sub: sub, Reason: risc.ReasonHijacking})
	if tok, err := f.e.Token(context.Background(), sub); !errors.Is(err, serverauth.ErrReauthRequired) {
		t.Errorf("Token right after account-disabled = %v, %v; want ErrReauthRequired, not the cached token", tok, err)
	}
}

func TestEventAccountEnabled(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.signIn(serverauthtest.User{})
	f.deliverOnce(serverauthtest.RISCEvent{Type: "account-disabled", Sub: sub, Reason: risc.ReasonHijacking})
	f.clock.Advance(time.Minute)
	f.deliverOnce(serverauthtest.RISCEvent{Type: "account-enabled", Sub: sub})
	if rec := f.record(sub); rec == nil || rec.Status != serverauth.StatusReauthRequired || len(rec.RefreshToken) == 0 {
		t.Fatalf("record after account-enabled = %v, want reauth_required with the refresh token kept", rec)
	}
	if _, err := f.e.Token(context.Background(), sub); !errors.Is(err, serverauth.ErrReauthRequired) {
		t.Errorf("Token after account-enabled = %v, want ErrReauthRequired until the next sign-in", err)
	}
	f.signIn(serverauthtest.User{})
	if _, err := f.e.Token(context.Background(), sub); err != nil {
		t.Errorf("Token after the next sign-in = %v", err)
	}
	// account-enabled on an active grant changes nothing.
	f.deliverOnce(serverauthtest.RISCEvent{Type: "account-enabled", Sub: sub})
	if rec := f.record(sub); rec.Status != serverauth.StatusActive {
		t.Errorf("status after account-enabled on an active grant = %s, want active", rec.Status)
	}
}

func TestEventsWithoutTokenAction(t *testing.T) {
	for _, typ := range []string{"sessions-revoked", "account-credential-change-required"} {
		t.Run(typ, func(t *testing.T) {
			f := newFixture(t, fixtureOpts{})
			f.signIn(serverauthtest.User{})
			ev := f.deliverOnce(serverauthtest.RISCEvent{Type: typ, Sub: sub, Email: "jane.doe.demo@gmail.com"})
			if ev.Subject != sub || ev.Email != "jane.doe.demo@gmail.com" || !strings.HasSuffix(ev.Type, typ) {
				t.Errorf("Event = %+v", ev)
			}
			f.clock.Advance(2 * time.Hour)
			if _, err := f.e.Token(context.Background(), sub); err != nil {
				t.Errorf("Token after %s = %v, want the grant untouched", typ, err)
			}
		})
	}
}

func TestEventVerification(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	ev := f.deliverOnce(serverauthtest.RISCEvent{Type: "verification", State: "deploy 2026-03-14"})
	if ev.State != "deploy 2026-03-14" || ev.Subject != "" {
		t.Errorf("Event = %+v", ev)
	}
	if !strings.Contains(f.logs.String(), "deploy 2026-03-14") {
		t.Error("the verification state was not logged")
	}
}

// TestEventBeforeConsent: an event issued before the user consented again
// concerns the earlier grant: the new one stays.
func TestEventBeforeConsent(t *testing.T) {
	for _, typ := range []string{risc.TypeTokensRevoked, risc.TypeAccountDisabled} {
		t.Run(typ, func(t *testing.T) {
			f := newFixture(t, fixtureOpts{})
			f.signIn(serverauthtest.User{})
			claims := withEvent(f.claims(sub), typ, map[string]any{
				"subject": map[string]any{"subject_type": "iss-sub", "iss": f.g.RISCIssuer(), "sub": sub},
			})
			f.clock.Advance(2 * time.Minute) // past the leeway
			f.signIn(serverauthtest.User{})  // consents again after the event
			if status, eb := f.postSET(f.header(), claims); status != http.StatusAccepted {
				t.Fatalf("POST = %d %+v", status, eb)
			}
			if _, err := f.e.Token(context.Background(), sub); err != nil {
				t.Errorf("Token = %v, want the newer grant kept", err)
			}
			// The same event issued after the consent acts.
			claims = with(with(claims, "jti", "later"), "iat", f.clock.Now().Unix())
			if status, _ := f.postSET(f.header(), claims); status != http.StatusAccepted {
				t.Fatalf("POST = %d", status)
			}
			if _, err := f.e.Token(context.Background(), sub); err == nil {
				t.Error("Token after an event newer than the consent succeeded")
			}
			// A consent within the leeway of the event's iat is not newer.
			f.signIn(serverauthtest.User{})
			claims = with(with(claims, "jti", "close"), "iat", f.clock.Now().Add(-30*time.Second).Unix())
			if status, _ := f.postSET(f.header(), claims); status != http.StatusAccepted {
				t.Fatalf("POST = %d", status)
			}
			if _, err := f.e.Token(context.Background(), sub); err == nil {
				t.Error("Token after an event issued 30 s before the consent succeeded; within the leeway it must act")
			}
		})
	}
}

// TestEventUnknownUser: an event about a user with no stored grant is
// accepted and passed to the hook.
func TestEventUnknownUser(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	for _, typ := range []string{"tokens-revoked", "account-disabled", "account-enabled", "account-purged"} {
		f.deliverOnce(serverauthtest.RISCEvent{Type: typ, Sub: "400000000000000000004"})
	}
}

// TestEventNoStore: an Exchanger without a store still gets the hook.
func TestEventNoStore(t *testing.T) {
	g := serverauthtest.NewServer(serverauthtest.Options{})
	t.Cleanup(g.Close)
	e, err := serverauth.New(g.Config())
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	rc, err := risc.NewReceiver(risc.Config{Exchanger: e, ConfigurationURL: g.RISCConfigurationURL(),
		OnEvent: func(context.Context, *risc.Event) error { calls++; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, g: g, e: e, rc: rc}
	srv := newServer(t, rc)
	if err := g.SetRISCStream(serverauthtest.RISCStream{URL: srv, EventsRequested: risc.EventTypes(), Enabled: true}); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"tokens-revoked", "account-disabled", "token-revoked"} {
		ev := serverauthtest.RISCEvent{Type: typ, Sub: sub}
		if typ == "token-revoked" {
			code, _ := g.MintCode(serverauthtest.CodeRequest{Prompt: "consent"})
			res, err := e.Exchange(context.Background(), code)
			if err != nil {
				t.Fatal(err)
			}
			ev = serverauthtest.RISCEvent{Type: typ, RefreshToken: res.Token.RefreshToken}
		}
		if d := f.send(ev); d.Status != http.StatusAccepted {
			t.Errorf("%s without a store: %+v, want 202", typ, d)
		}
	}
	if calls != 3 {
		t.Errorf("OnEvent called %d times, want 3", calls)
	}
}
