package serverauth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

const newSecret = "GOCSPX-n3wS3cr3tR0t4t3dAb9zQ"

// TestClientSecretRotation walks a rotation: the new secret is deployed
// before Google knows it, refreshes fall back to the previous one once each
// and say so; code exchanges never fall back; once Google takes the new
// secret, the log says the previous one is no longer needed.
func TestClientSecretRotation(t *testing.T) {
	var log syncBuffer
	f := newStoreFixture(t, serverauthtest.Options{}, withLog(&log))
	ctx := context.Background()
	res := f.signIn(serverauthtest.CodeRequest{}) // under the old secret
	oldSecret := f.g.WebClientSecret()
	rotated := f.newReplica(withLog(&log), func(c *serverauth.Config) {
		c.ClientSecret, c.PreviousClientSecret = newSecret, oldSecret
	})

	f.clock.Advance(2 * time.Hour)
	f.g.ResetCounts()
	if _, err := rotated.Token(ctx, res.UserID); err != nil {
		t.Fatalf("Token during the rotation = %v, want the previous secret to work", err)
	}
	reqs := f.g.Requests(serverauthtest.EndpointToken)
	if len(reqs) != 2 || reqs[0].Form.Get("client_secret") != newSecret || reqs[1].Form.Get("client_secret") != oldSecret {
		t.Fatalf("token requests = %d, want the current secret, then once the previous", len(reqs))
	}
	if st := rotated.Stats(); st.PreviousSecretUses != 1 {
		t.Errorf("PreviousSecretUses = %d, want 1", st.PreviousSecretUses)
	}
	if !hasLog(t, &log, "WARN", "client secret in use: Config.PreviousClientSecret") {
		t.Errorf("no Warn saying the previous secret is in use:\n%s", log.String())
	}

	// A code is sent once, with the current secret only.
	code := f.mint(serverauthtest.CodeRequest{Prompt: "consent"})
	_, err := rotated.Exchange(ctx, code)
	var te *serverauth.TokenError
	if !errors.As(err, &te) || te.Code != "invalid_client" || !strings.Contains(te.Hint, "never retried with PreviousClientSecret") {
		t.Fatalf("Exchange with a secret Google does not know yet = %v", err)
	}
	if n := f.g.CodeExchangeCount(code); n != 1 {
		t.Errorf("code sent %d times, want 1", n)
	}

	// Google now has the new secret only.
	f.g.RegisterClient(serverauthtest.Client{ID: f.g.WebClientID(), Secret: newSecret, Type: serverauthtest.ClientWeb, RedirectURIs: f.g.RedirectURIs()})
	f.clock.Advance(2 * time.Hour)
	f.g.ResetCounts()
	if _, err := rotated.Token(ctx, res.UserID); err != nil {
		t.Fatal(err)
	}
	if n := f.g.RequestCount(serverauthtest.EndpointToken); n != 1 {
		t.Errorf("%d token requests with the new secret active, want 1", n)
	}
	if st := rotated.Stats(); st.PreviousSecretUses != 1 {
		t.Errorf("PreviousSecretUses = %d, want still 1", st.PreviousSecretUses)
	}
	if !hasLog(t, &log, "INFO", "client secret in use: Config.ClientSecret") {
		t.Errorf("no Info saying the current secret is in use:\n%s", log.String())
	}

	// Both refused: one more try, then the error says so.
	wrong := f.newReplica(func(c *serverauth.Config) { c.ClientSecret, c.PreviousClientSecret = "GOCSPX-wrong1", "GOCSPX-wrong2" })
	f.clock.Advance(2 * time.Hour)
	f.g.ResetCounts()
	_, err = wrong.Token(ctx, res.UserID)
	if !errors.As(err, &te) || te.Code != "invalid_client" || !strings.Contains(te.Hint, "refused both") {
		t.Fatalf("Token with two wrong secrets = %v", err)
	}
	if n := f.g.RequestCount(serverauthtest.EndpointToken); n != 2 {
		t.Errorf("%d token requests with two wrong secrets, want 2", n)
	}
	for _, s := range []string{newSecret, oldSecret, "GOCSPX-wrong1", "GOCSPX-wrong2"} {
		if strings.Contains(log.String(), s) || strings.Contains(err.Error(), s) {
			t.Errorf("log or error shows secret %q", s)
		}
	}
}

// TestRevokeNeedsNoClientSecret: revocation sends no client credentials,
// so a rotation, even a botched one, cannot keep a user from being
// disconnected.
func TestRevokeNeedsNoClientSecret(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	ctx := context.Background()
	res := f.signIn(serverauthtest.CodeRequest{})
	wrong := f.newReplica(func(c *serverauth.Config) {
		c.ClientSecret, c.PreviousClientSecret = "GOCSPX-wrong1", f.g.WebClientSecret()
	})
	if err := wrong.Revoke(ctx, res.UserID); err != nil {
		t.Fatalf("Revoke with a wrong current secret = %v", err)
	}
	for _, r := range f.g.Requests(serverauthtest.EndpointRevoke) {
		if r.Form.Has("client_secret") || r.Form.Has("client_id") || r.Header.Get("Authorization") != "" {
			t.Errorf("revoke request carried client credentials: %v", r.Form)
		}
	}
	if _, err := f.store.Get(ctx, res.UserID); !errors.Is(err, serverauth.ErrNotFound) {
		t.Errorf("record after Revoke: %v, want deleted", err)
	}
}

func TestPreviousClientSecretConfig(t *testing.T) {
	for _, prev := range []string{"s3cret", " old "} {
		_, err := serverauth.New(serverauth.Config{ClientID: "id", ClientSecret: "s3cret", PreviousClientSecret: prev})
		var ce *serverauth.ConfigError
		if !errors.As(err, &ce) || ce.Field != "PreviousClientSecret" {
			t.Errorf("New(PreviousClientSecret %q) = %v, want a ConfigError naming PreviousClientSecret", prev, err)
		}
	}
	cfg := serverauth.Config{ClientID: "id", ClientSecret: "s3cret", PreviousClientSecret: "0ldS3cretValue"}
	if _, err := serverauth.New(cfg); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%#v", cfg)} {
		if strings.Contains(s, "0ldS3cretValue") {
			t.Errorf("Config prints its previous secret: %s", s)
		}
	}
}

// hasLog reports whether a log line of level contains msg.
func hasLog(t *testing.T, log *syncBuffer, level, msg string) bool {
	t.Helper()
	for _, r := range log.records(t) {
		if r.Level == level && strings.Contains(r.Msg, msg) {
			return true
		}
	}
	return false
}
