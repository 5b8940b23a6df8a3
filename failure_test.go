package serverauth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// Google failing in every way the fake can: the exchange, refresh and key
// fetch under faults. The tests that cut the network or a real store away
// (a TCP proxy, PostgreSQL, Redis) are in integration/failure_test.go, a
// module of its own.

// sentWithCode counts the token requests that carried code.
func sentWithCode(g *serverauthtest.Server, code string) int {
	n := 0
	for _, r := range g.Requests(serverauthtest.EndpointToken) {
		if r.Form.Get("code") == code {
			n++
		}
	}
	return n
}

func TestExchangeUnderFaults(t *testing.T) {
	tests := []struct {
		kind      serverauthtest.FaultKind
		wantClass serverauth.ErrorClass // 0: the exchange succeeds
	}{
		{serverauthtest.FaultServerError, serverauth.ClassTransient},
		{serverauthtest.FaultUnavailable, serverauth.ClassTransient},
		{serverauthtest.FaultBadGatewayHTML, serverauth.ClassTransient},
		{serverauthtest.FaultThrottleHTML, serverauth.ClassRateLimited},
		{serverauthtest.FaultTooManyRequests, serverauth.ClassRateLimited},
		{serverauthtest.FaultGoogleAPIError, serverauth.ClassMisconfigured},
		{serverauthtest.FaultReset, serverauth.ClassTransient},
		{serverauthtest.FaultResetAfter, serverauth.ClassTransient},
		{serverauthtest.FaultStall, serverauth.ClassTransient},
		{serverauthtest.FaultTruncated, serverauth.ClassTransient},
		{serverauthtest.FaultMalformedJSON, serverauth.ClassTransient},
		{serverauthtest.FaultWrongContentType, 0}, // a JSON body with a text/html type is still read
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			f := newFixture(t, serverauthtest.Options{}, func(c *serverauth.Config) {
				hc := *c.HTTPClient
				hc.Timeout = 2 * time.Second // ends a stall
				c.HTTPClient = &hc
			})
			code := f.mint(serverauthtest.CodeRequest{})
			f.g.FailNext(serverauthtest.EndpointToken, 1, serverauthtest.Fault{Kind: tt.kind, Stall: 10 * time.Second})
			res, err := f.e.Exchange(context.Background(), code)
			if n := sentWithCode(f.g, code); n != 1 {
				t.Fatalf("the code reached Google %d times, want exactly 1 (no retry of an exchange that was sent)", n)
			}
			if tt.wantClass == 0 {
				if err != nil || res.UserID == "" {
					t.Fatalf("Exchange = %v, %v; want success", res, err)
				}
				return
			}
			var te *serverauth.TokenError
			if !errors.As(err, &te) || te.Class != tt.wantClass {
				t.Fatalf("Exchange = %v, want a TokenError of class %s", err, tt.wantClass)
			}
			if strings.Contains(err.Error(), code) {
				t.Errorf("error leaks the code: %v", err)
			}
			if tt.kind == serverauthtest.FaultTooManyRequests && te.RetryAfter != time.Second {
				t.Errorf("RetryAfter = %s, want 1s", te.RetryAfter)
			}
		})
	}
}

func TestRefreshSurvivesTransientFaults(t *testing.T) {
	for _, kind := range []serverauthtest.FaultKind{
		serverauthtest.FaultUnavailable, serverauthtest.FaultBadGatewayHTML, serverauthtest.FaultThrottleHTML,
		serverauthtest.FaultTooManyRequests, serverauthtest.FaultReset, serverauthtest.FaultResetAfter,
		serverauthtest.FaultTruncated, serverauthtest.FaultMalformedJSON,
	} {
		t.Run(kind.String(), func(t *testing.T) {
			f := newStoreFixture(t, serverauthtest.Options{})
			res := f.signIn(serverauthtest.CodeRequest{})
			f.clock.Advance(2 * time.Hour)
			f.g.FailNext(serverauthtest.EndpointToken, 2, serverauthtest.Fault{Kind: kind})
			tok, err := f.e.Token(context.Background(), res.UserID)
			if err != nil {
				t.Fatalf("Token through two %s faults = %v, want success within the retry budget", kind, err)
			}
			if n := f.g.FaultCount(serverauthtest.EndpointToken); n != 2 {
				t.Fatalf("faults injected = %d, want 2", n)
			}
			rec, _ := f.store.Get(context.Background(), res.UserID)
			if rec.Status != serverauth.StatusActive || len(rec.RefreshToken) == 0 || !rec.Expiry.Equal(tok.Expiry) {
				t.Fatalf("record after the faults = %v, want the refresh token intact and the new token saved", rec)
			}
		})
	}
}

func TestRefreshGivesUpWithinBudget(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	f.clock.Advance(2 * time.Hour)
	f.g.FailFraction(serverauthtest.EndpointToken, 1, serverauthtest.Fault{Kind: serverauthtest.FaultUnavailable})
	_, err := f.e.Token(context.Background(), res.UserID)
	var te *serverauth.TokenError
	if !errors.As(err, &te) || !te.Class.Temporary() {
		t.Fatalf("Token with the endpoint down = %v, want a temporary TokenError", err)
	}
	if n := f.g.FaultCount(serverauthtest.EndpointToken); n != 4 {
		t.Fatalf("attempts = %d, want the policy's 4", n)
	}
	f.g.ClearFaults()
	f.clock.Advance(time.Minute) // past the per-user backoff
	if _, err := f.e.Token(context.Background(), res.UserID); err != nil {
		t.Fatalf("Token once Google is back = %v", err)
	}
}

func TestVerifyDuringJWKSOutage(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	ctx := context.Background()
	if _, err := f.e.VerifyIDToken(ctx, f.g.IDToken(serverauthtest.DemoUser(), f.g.IOSClientID())); err != nil {
		t.Fatal(err)
	}
	f.g.FailFraction(serverauthtest.EndpointJWKS, 1, serverauthtest.Fault{Kind: serverauthtest.FaultUnavailable})
	f.clock.Advance(serverauthtest.DefaultJWKSMaxAge + time.Hour) // the key set is stale
	for i := 0; i < 10; i++ {
		f.clock.Advance(time.Minute)
		if _, err := f.e.VerifyIDToken(ctx, f.g.IDToken(serverauthtest.DemoUser(), f.g.IOSClientID())); err != nil {
			t.Fatalf("VerifyIDToken during a JWKS outage = %v, want the last good keys used", err)
		}
	}
	if f.g.FaultCount(serverauthtest.EndpointJWKS) == 0 {
		t.Fatal("the outage was never noticed")
	}
}
