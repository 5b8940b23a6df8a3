package serverauth_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// verifyCounting verifies tok and checks how many full verifications it
// took: 0 for a cache hit, 1 for a miss.
func (f *fixture) verifyCounting(tok string, wantFull int64, opts ...serverauth.VerifyOption) (*serverauth.Profile, error) {
	f.t.Helper()
	before, on := serverauth.FullVerifications(f.e)
	if !on {
		f.t.Fatal("the verification cache is off")
	}
	p, err := f.e.VerifyIDToken(context.Background(), tok, opts...)
	if after, _ := serverauth.FullVerifications(f.e); after-before != wantFull {
		f.t.Fatalf("VerifyIDToken made %d full verifications, want %d (%s)", after-before, wantFull,
			map[int64]string{0: "a cache hit", 1: "a miss"}[wantFull])
	}
	return p, err
}

// TestVerifyCacheHit: the same token verified again is a cache hit with
// the same profile, and a caller changing its Profile changes nothing for
// the next one.
func TestVerifyCacheHit(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	tok := f.sign(f.baseClaims().with("hd", `"example.com"`))
	first, err := f.verifyCounting(tok, 1)
	if err != nil {
		t.Fatal(err)
	}
	first.Email = "changed@example.com"
	for range 3 {
		p, err := f.verifyCounting(tok, 0)
		if err != nil {
			t.Fatalf("cached token = %v", err)
		}
		var c struct {
			HD string `json:"hd"`
		}
		if p.Email != "jane.doe.demo@gmail.com" || p.HostedDomain != "example.com" || p.Claims(&c) != nil || c.HD != "example.com" {
			t.Fatalf("cached profile = %+v (claims hd %q)", p, c.HD)
		}
	}
	// Another token of the same user is another entry.
	f.clock.Advance(time.Second)
	if _, err := f.verifyCounting(f.sign(f.baseClaims()), 1); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyCacheExpiry: a cached token is served from the cache only
// before its exp; from exp on, it is verified in full (accepted within the
// leeway, and not cached again), and refused from exp + leeway.
func TestVerifyCacheExpiry(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	tok := f.sign(f.baseClaims()) // exp = now + 1 h
	if _, err := f.verifyCounting(tok, 1); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour - time.Second)
	if _, err := f.verifyCounting(tok, 0); err != nil {
		t.Fatalf("1 s before exp = %v, want a cache hit", err)
	}
	f.clock.Advance(time.Second) // at exp
	if _, err := f.verifyCounting(tok, 1); err != nil {
		t.Fatalf("at exp, within the leeway = %v, want accepted after a full verification", err)
	}
	if _, err := f.verifyCounting(tok, 1); err != nil {
		t.Fatalf("again at exp = %v, want a full verification (not cached past exp)", err)
	}
	f.clock.Advance(serverauth.DefaultLeeway)
	_, err := f.verifyCounting(tok, 1)
	wantReason(t, err, serverauth.ReasonExpired)
}

// TestVerifyCacheKeyRemoval: once Google's key set no longer has the key
// that signed a cached token, the token is refused; a key set that changed
// otherwise (a key added) makes the next use a full verification.
func TestVerifyCacheKeyRemoval(t *testing.T) {
	// Keys fresh for 10 minutes, so that they go stale within a token's hour.
	f := newFixture(t, serverauthtest.Options{JWKSMaxAge: 10 * time.Minute})
	old := f.g.SigningKeyID()
	tok := f.sign(f.baseClaims().with("exp", fmt.Sprint(f.clock.Now().Unix()+3600)))
	if _, err := f.verifyCounting(tok, 1); err != nil {
		t.Fatal(err)
	}
	// A key added: the next token of the new key refetches the set, whose
	// generation changes; the old token is verified in full once, then
	// cached again.
	f.g.RotateKey()
	if _, err := f.verifyCounting(f.sign(f.baseClaims()), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := f.verifyCounting(tok, 1); err != nil {
		t.Fatalf("old key still published = %v, want accepted", err)
	}
	if _, err := f.verifyCounting(tok, 0); err != nil {
		t.Fatalf("again = %v, want a cache hit", err)
	}
	// The old key retired: once the set is refetched, the cached token is
	// refused without a full verification.
	f.g.RetireKey(old)
	f.clock.Advance(15 * time.Minute) // the set is stale; tok still before its exp
	_, err := f.verifyCounting(tok, 0)
	wantReason(t, err, serverauth.ReasonUnknownKey)
}

// TestVerifyCacheAppliesEveryCallsOptions: a cached token meets each call's
// VerifyOptions afresh, whatever an earlier call asked.
func TestVerifyCacheAppliesEveryCallsOptions(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	authTime := f.clock.Now().Unix()
	tok := f.sign(f.baseClaims().with("nonce", `"n-0S6_WzA2Mj"`).with("auth_time", fmt.Sprint(authTime)))
	if _, err := f.verifyCounting(tok, 1); err != nil { // no options: cached
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opt  serverauth.VerifyOption
		want serverauth.Reason // "" for accepted
	}{
		{"right nonce", serverauth.RequireNonce("n-0S6_WzA2Mj"), ""},
		{"wrong nonce", serverauth.RequireNonce("another"), serverauth.ReasonNonce},
		{"hashed nonce that is not the claim's", serverauth.RequireNonceSHA256("n-0S6_WzA2Mj"), serverauth.ReasonNonce},
		{"right subject", serverauth.RequireSubject("109876543210987654321"), ""},
		{"another subject", serverauth.RequireSubject("100000000000000000001"), serverauth.ReasonSubjectMismatch},
		{"recent enough", serverauth.RequireRecentAuth(time.Hour), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.verifyCounting(tok, 0, tc.opt)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("= %v, want accepted", err)
				}
				return
			}
			wantReason(t, err, tc.want)
		})
	}
	// Time moves on: the same cached token is now too old an authentication.
	f.clock.Advance(30 * time.Minute)
	_, err := f.verifyCounting(tok, 0, serverauth.RequireRecentAuth(10*time.Minute))
	wantReason(t, err, serverauth.ReasonAuthTooOld)
	if _, err := f.verifyCounting(tok, 0); err != nil {
		t.Fatalf("without the option = %v, want accepted", err)
	}
}

// TestVerifyCacheNeverKeepsAFailure: a token refused for any reason,
// including a call's option, is verified in full every time.
func TestVerifyCacheNeverKeepsAFailure(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	good := f.sign(f.baseClaims().with("nonce", `"abc"`))
	for _, tc := range []struct {
		name string
		tok  string
		opts []serverauth.VerifyOption
		want serverauth.Reason
	}{
		{"another audience", f.sign(f.baseClaims().with("aud", `"someone-else.apps.googleusercontent.com"`)), nil, serverauth.ReasonAudience},
		{"tampered signature", good[:len(good)-4] + "AAAA", nil, serverauth.ReasonSignature},
		{"expired", f.sign(f.baseClaims().with("exp", fmt.Sprint(f.clock.Now().Unix()-3600))), nil, serverauth.ReasonExpired},
		{"nonce of the call", good, []serverauth.VerifyOption{serverauth.RequireNonce("xyz")}, serverauth.ReasonNonce},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 {
				_, err := f.verifyCounting(tc.tok, 1, tc.opts...)
				wantReason(t, err, tc.want)
			}
		})
	}
	// The good token, refused above only for the call's nonce, is verified
	// in full when first accepted.
	if _, err := f.verifyCounting(good, 1, serverauth.RequireNonce("abc")); err != nil {
		t.Fatal(err)
	}
	// Cached now, it does not vouch for a token one signature byte away.
	_, err := f.verifyCounting(good[:len(good)-4]+"AAAA", 1)
	wantReason(t, err, serverauth.ReasonSignature)
}

// TestVerifyCacheOff: a negative IDTokenCacheSize turns the cache off.
func TestVerifyCacheOff(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{}, func(c *serverauth.Config) { c.IDTokenCacheSize = -1 })
	if _, on := serverauth.FullVerifications(f.e); on {
		t.Fatal("IDTokenCacheSize -1: the verification cache is on")
	}
	tok := f.sign(f.baseClaims())
	for range 2 {
		if _, err := f.e.VerifyIDToken(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
}
