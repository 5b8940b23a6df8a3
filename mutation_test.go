package serverauth_test

// Tests that notice when a rule is removed: each was written for a rule
// that mutation testing found unguarded (remove the rule, watch the test
// fail). See CONTRIBUTING.md.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// TestExchangeAtHashMismatchRefused: a token endpoint (or something in
// between) that hands over another access token than the one the ID token
// was issued with is caught by at_hash.
func TestExchangeAtHashMismatchRefused(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	swap := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, _ := http.NewRequest(http.MethodPost, f.cfg.Endpoints.TokenURL, bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := f.g.Client().Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		var v map[string]any
		json.NewDecoder(resp.Body).Decode(&v)
		v["access_token"] = "ya29.swapped-on-the-way"
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		json.NewEncoder(w).Encode(v)
	}))
	defer swap.Close()
	e := f.newExchanger(func(c *serverauth.Config) { c.Endpoints.TokenURL = swap.URL + "/token" })
	res, err := e.Exchange(context.Background(), f.mint(serverauthtest.CodeRequest{}))
	if res != nil {
		t.Fatalf("Exchange with a swapped access token returned a Result")
	}
	wantReason(t, err, serverauth.ReasonAccessTokenHash)
}

// TestExchangeNonceAbsentRefused: when the caller expects a nonce, an ID
// token without one is refused, not waved through.
func TestExchangeNonceAbsentRefused(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	code := f.mint(serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebPopup})
	_, err := f.e.Exchange(context.Background(), code, serverauth.WithRedirectURL("postmessage"), serverauth.WithNonce("session-A"))
	wantReason(t, err, serverauth.ReasonNonce)
}

// TestExchangeNeverTakesRedirectURIsFromClientSecrets: with RedirectURL
// empty, no redirect_uri is sent even though client_secret.json lists some
// (google.ConfigFromJSON's redirect_uri_mismatch trap for mobile codes).
func TestExchangeNeverTakesRedirectURIsFromClientSecrets(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	if !strings.Contains(string(f.g.ClientSecretJSON()), "redirect_uris") {
		t.Fatal("the fake's client_secret.json lists no redirect_uris; the test proves nothing")
	}
	e := f.newExchanger(func(c *serverauth.Config) {
		c.ClientID, c.ClientSecret, c.ClientSecretsJSON = "", "", f.g.ClientSecretJSON()
	})
	if _, err := e.Exchange(context.Background(), f.mint(serverauthtest.CodeRequest{Origin: serverauthtest.OriginIOS})); err != nil {
		t.Fatalf("Exchange = %v", err)
	}
	if got, ok := f.lastTokenRequest().Form["redirect_uri"]; ok {
		t.Fatalf("redirect_uri sent = %q, want none", got)
	}
}

// TestResultLogValueHasNoTokens: slog output of a Result, at every level of
// nesting a handler might use, holds neither token.
func TestResultLogValueHasNoTokens(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	res, err := f.e.Exchange(context.Background(), f.mint(serverauthtest.CodeRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		slog.New(h).Info("signed in", "result", res, slog.Group("g", "r", res))
	}
	for _, secret := range []string{res.Token.AccessToken, res.Token.RefreshToken} {
		if secret == "" || strings.Contains(buf.String(), secret) {
			t.Fatalf("slog output %s holds a token (or the Result has none)", buf.String())
		}
	}
}

// TestDuplicateKeyCoversRedirectVerifierNonce: two posts of one code that
// differ only in redirect URI, code verifier or nonce are different
// requests to Google and never share a result, even with the same retry
// binding.
func TestDuplicateKeyCoversRedirectVerifierNonce(t *testing.T) {
	for _, tt := range []struct {
		name string
		opt  serverauth.ExchangeOption
	}{
		{"redirect URI", serverauth.WithRedirectURL("postmessage")},
		{"code verifier", serverauth.WithCodeVerifier("v-0123456789012345678901234567890123456789012")},
		{"nonce", serverauth.WithNonce("n-1")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, serverauthtest.Options{})
			code := f.mint(serverauthtest.CodeRequest{})
			bound := serverauth.WithRetryBinding("b")
			if _, err := f.e.Exchange(context.Background(), code, bound); err != nil {
				t.Fatal(err)
			}
			res, err := f.e.Exchange(context.Background(), code, bound, tt.opt)
			if res != nil || err == nil {
				t.Fatalf("a post differing in its %s got the first result", tt.name)
			}
			if n := f.g.CodeExchangeCount(code); n != 2 {
				t.Fatalf("code reached Google %d times, want 2 (a different request)", n)
			}
		})
	}
}

// TestDeadGrantNeverRefreshed: once a grant is marked revoked or
// reauth_required, no replica sends its refresh token to Google again.
func TestDeadGrantNeverRefreshed(t *testing.T) {
	for _, tt := range []struct {
		name string
		kill func(g *serverauthtest.Server, sub string)
	}{
		{"revoked", func(g *serverauthtest.Server, sub string) { g.RevokeUser(sub) }},
		{"reauth required", func(g *serverauthtest.Server, sub string) { g.RequireReauth(sub, true) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newStoreFixture(t, serverauthtest.Options{})
			res := f.signIn(serverauthtest.CodeRequest{})
			tt.kill(f.g, res.UserID)
			f.clock.Advance(2 * time.Hour)
			if _, err := f.e.Token(context.Background(), res.UserID); !errors.Is(err, serverauth.ErrReauthRequired) {
				t.Fatalf("Token = %v, want ErrReauthRequired", err)
			}
			f.clock.Advance(time.Minute) // past the dead grant's retention in memory
			for _, e := range []*serverauth.Exchanger{f.e, f.newReplica()} {
				if _, err := e.Token(context.Background(), res.UserID); !errors.Is(err, serverauth.ErrReauthRequired) {
					t.Fatalf("Token on a dead grant = %v, want ErrReauthRequired", err)
				}
			}
			if n := f.g.RefreshCount(res.UserID); n != 1 {
				t.Fatalf("refresh requests = %d, want 1 (the one that found it dead)", n)
			}
		})
	}
}
