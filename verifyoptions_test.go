package serverauth_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// TestVerifyIDTokenOptions: each check a VerifyOption adds refuses what it
// must and accepts what it must.
func TestVerifyIDTokenOptions(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	now := f.clock.Now().Unix()
	at := func(d time.Duration) string { return fmt.Sprint(now + int64(d/time.Second)) }
	leeway := serverauth.DefaultLeeway
	const raw = "r4w-n0nce-kept-by-the-app-7Qx2"
	sum := sha256.Sum256([]byte(raw))
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	hexSum := hex.EncodeToString(sum[:])
	sub := serverauthtest.DemoUser().Sub
	tests := []struct {
		name   string
		claims claimSet
		opts   []serverauth.VerifyOption
		want   serverauth.Reason // "" = accepted
	}{
		{"no option, token with a nonce", f.baseClaims().plus("nonce", q("x")), nil, ""},
		{"nonce equal", f.baseClaims().plus("nonce", q(raw)), []serverauth.VerifyOption{serverauth.RequireNonce(raw)}, ""},
		{"nonce different", f.baseClaims().plus("nonce", q(raw+"x")), []serverauth.VerifyOption{serverauth.RequireNonce(raw)}, serverauth.ReasonNonce},
		{"nonce prefix", f.baseClaims().plus("nonce", q(raw[:10])), []serverauth.VerifyOption{serverauth.RequireNonce(raw)}, serverauth.ReasonNonce},
		{"nonce absent", f.baseClaims(), []serverauth.VerifyOption{serverauth.RequireNonce(raw)}, serverauth.ReasonNonce},
		{"empty expected nonce refuses a token without one", f.baseClaims(), []serverauth.VerifyOption{serverauth.RequireNonce("")}, serverauth.ReasonNonce},
		{"empty expected nonce refuses an empty claim", f.baseClaims().plus("nonce", `""`), []serverauth.VerifyOption{serverauth.RequireNonce("")}, serverauth.ReasonNonce},
		{"raw nonce is not compared as a hash", f.baseClaims().plus("nonce", q(hexSum)), []serverauth.VerifyOption{serverauth.RequireNonce(raw)}, serverauth.ReasonNonce},
		{"hashed nonce, lower-case hex", f.baseClaims().plus("nonce", q(hexSum)), []serverauth.VerifyOption{serverauth.RequireNonceSHA256(raw)}, ""},
		{"hashed nonce, upper-case hex", f.baseClaims().plus("nonce", q(strings.ToUpper(hexSum))), []serverauth.VerifyOption{serverauth.RequireNonceSHA256(raw)}, ""},
		{"hashed nonce, base64url", f.baseClaims().plus("nonce", q(base64.RawURLEncoding.EncodeToString(sum[:]))), []serverauth.VerifyOption{serverauth.RequireNonceSHA256(raw)}, ""},
		{"hashed nonce, padded base64url", f.baseClaims().plus("nonce", q(base64.URLEncoding.EncodeToString(sum[:]))), []serverauth.VerifyOption{serverauth.RequireNonceSHA256(raw)}, ""},
		{"hashed nonce, the raw value in the token", f.baseClaims().plus("nonce", q(raw)), []serverauth.VerifyOption{serverauth.RequireNonceSHA256(raw)}, serverauth.ReasonNonce},
		{"hashed nonce of another value", f.baseClaims().plus("nonce", q(hexSum)), []serverauth.VerifyOption{serverauth.RequireNonceSHA256(raw + "x")}, serverauth.ReasonNonce},
		{"hashed nonce, truncated hex", f.baseClaims().plus("nonce", q(hexSum[:62])), []serverauth.VerifyOption{serverauth.RequireNonceSHA256(raw)}, serverauth.ReasonNonce},
		{"hashed nonce, not hex", f.baseClaims().plus("nonce", q("zz"+hexSum[2:])), []serverauth.VerifyOption{serverauth.RequireNonceSHA256(raw)}, serverauth.ReasonNonce},
		{"hashed nonce absent", f.baseClaims(), []serverauth.VerifyOption{serverauth.RequireNonceSHA256(raw)}, serverauth.ReasonNonce},
		{"empty raw nonce", f.baseClaims().plus("nonce", q(hex.EncodeToString(func() []byte { s := sha256.Sum256(nil); return s[:] }()))), []serverauth.VerifyOption{serverauth.RequireNonceSHA256("")}, serverauth.ReasonNonce},
		{"subject equal", f.baseClaims(), []serverauth.VerifyOption{serverauth.RequireSubject(sub)}, ""},
		{"subject other", f.baseClaims(), []serverauth.VerifyOption{serverauth.RequireSubject("104242424242424242424")}, serverauth.ReasonSubjectMismatch},
		{"subject empty", f.baseClaims(), []serverauth.VerifyOption{serverauth.RequireSubject("")}, serverauth.ReasonSubjectMismatch},
		{"recent auth", f.baseClaims().plus("auth_time", at(-4*time.Minute)), []serverauth.VerifyOption{serverauth.RequireRecentAuth(5 * time.Minute)}, ""},
		{"auth older than max age, within leeway", f.baseClaims().plus("auth_time", at(-5*time.Minute-leeway)), []serverauth.VerifyOption{serverauth.RequireRecentAuth(5 * time.Minute)}, ""},
		{"auth older than max age plus leeway", f.baseClaims().plus("auth_time", at(-5*time.Minute-leeway-time.Second)), []serverauth.VerifyOption{serverauth.RequireRecentAuth(5 * time.Minute)}, serverauth.ReasonAuthTooOld},
		{"auth_time absent", f.baseClaims(), []serverauth.VerifyOption{serverauth.RequireRecentAuth(5 * time.Minute)}, serverauth.ReasonMissingClaim},
		{"auth_time absent, no option", f.baseClaims(), nil, ""},
		{"auth_time in the future", f.baseClaims().plus("auth_time", at(leeway+time.Second)), []serverauth.VerifyOption{serverauth.RequireRecentAuth(5 * time.Minute)}, serverauth.ReasonIssuedInFuture},
		{"auth_time null", f.baseClaims().plus("auth_time", "null"), nil, serverauth.ReasonMalformed},
		{"auth_time string", f.baseClaims().plus("auth_time", q(at(0))), []serverauth.VerifyOption{serverauth.RequireRecentAuth(5 * time.Minute)}, serverauth.ReasonMalformed},
		{"auth_time out of range", f.baseClaims().plus("auth_time", "1e300"), []serverauth.VerifyOption{serverauth.RequireRecentAuth(5 * time.Minute)}, serverauth.ReasonMalformed},
		{"max age zero", f.baseClaims().plus("auth_time", at(0)), []serverauth.VerifyOption{serverauth.RequireRecentAuth(0)}, serverauth.ReasonAuthTooOld},
		{"every check at once", f.baseClaims().plus("nonce", q(hexSum)).plus("auth_time", at(-time.Minute)), []serverauth.VerifyOption{serverauth.RequireNonceSHA256(raw), serverauth.RequireSubject(sub), serverauth.RequireRecentAuth(time.Hour)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := f.sign(tt.claims)
			p, err := f.e.VerifyIDToken(context.Background(), tok, tt.opts...)
			if tt.want == "" {
				if err != nil || p == nil {
					t.Fatalf("VerifyIDToken(%s) = %v, want accepted", tt.claims.json(), err)
				}
				return
			}
			if p != nil {
				t.Error("VerifyIDToken returned a profile with an error")
			}
			wantReason(t, err, tt.want)
			if strings.Contains(err.Error(), raw) || strings.Contains(err.Error(), hexSum) {
				t.Errorf("error %q shows the nonce", err)
			}
		})
	}
}

// TestSignInWithIDTokenNonce: the ID-token sign-in takes the same options,
// and a refused nonce signs nobody in.
func TestSignInWithIDTokenNonce(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	f.signIn(serverauthtest.CodeRequest{})
	raw := "android-credential-manager-raw-nonce"
	sum := sha256.Sum256([]byte(raw))
	tok := f.sign(f.baseClaims().plus("nonce", fmt.Sprintf("%q", hex.EncodeToString(sum[:]))))
	res, err := f.e.SignInWithIDToken(context.Background(), tok, serverauth.RequireNonceSHA256(raw))
	if err != nil || res.UserID != serverauthtest.DemoUser().Sub {
		t.Fatalf("SignInWithIDToken(matching nonce) = %v, %v", res, err)
	}
	res, err = f.e.SignInWithIDToken(context.Background(), tok, serverauth.RequireNonceSHA256("another"))
	if res != nil {
		t.Errorf("SignInWithIDToken(other nonce) returned a Result %v", res)
	}
	wantReason(t, err, serverauth.ReasonNonce)
}

// TestSignInWithIDTokenNoGrantNamesTheUser: a verified user without a
// stored grant comes back beside ErrNoRefreshToken, so the app can send
// exactly them through the code flow.
func TestSignInWithIDTokenNoGrantNamesTheUser(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res, err := f.e.SignInWithIDToken(context.Background(), f.g.IDToken(serverauthtest.DemoUser(), f.g.IOSClientID()))
	if !errors.Is(err, serverauth.ErrNoRefreshToken) {
		t.Fatalf("SignInWithIDToken(unknown user) error = %v, want ErrNoRefreshToken", err)
	}
	if res == nil || res.UserID != serverauthtest.DemoUser().Sub || res.Profile == nil || res.Token != nil {
		t.Fatalf("SignInWithIDToken(unknown user) Result = %v, want the verified user without tokens", res)
	}
}

// TestSignInHandlerVerifyOptions: the handler passes each request's
// VerifyOptions to the ID-token sign-in.
func TestSignInHandlerVerifyOptions(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	f.signIn(serverauthtest.CodeRequest{})
	raw := "ios-googlesignin-raw-nonce-0123"
	sum := sha256.Sum256([]byte(raw))
	tok := f.sign(f.baseClaims().plus("nonce", fmt.Sprintf("%q", hex.EncodeToString(sum[:]))))
	h := signInHandler(t, f.e, serverauth.HandlerConfig{VerifyOptions: func(r *http.Request) []serverauth.VerifyOption {
		// In an app: the raw nonce kept in the session that asked for it.
		return []serverauth.VerifyOption{serverauth.RequireNonceSHA256(r.Header.Get("X-Session-Nonce"))}
	}})
	for _, c := range []struct {
		nonce string
		want  int
	}{{raw, 200}, {"another", 401}, {"", 401}} {
		req := httptest.NewRequest(http.MethodPost, "/signin", strings.NewReader(url.Values{"id_token": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Requested-With", "XMLHttpRequest")
		req.Header.Set("X-Session-Nonce", c.nonce)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("session nonce %q: status %d (%s), want %d", c.nonce, rec.Code, rec.Body, c.want)
		}
	}
}

// TestExchangeWithExpectedSubject: a code of another account than the
// signed-in user's is refused, and nothing of it is stored.
func TestExchangeWithExpectedSubject(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	jane := serverauthtest.DemoUser()
	mallory := serverauthtest.DemoUser()
	mallory.Sub, mallory.Email = "104242424242424242424", "mallory.demo@gmail.com"
	scopes := []string{"openid", "email", "drive.appdata"}

	res, err := f.e.Exchange(context.Background(), f.mint(serverauthtest.CodeRequest{User: jane, Scopes: scopes}), serverauth.WithExpectedSubject(jane.Sub))
	if err != nil || res.UserID != jane.Sub {
		t.Fatalf("Exchange(own code) = %v, %v", res, err)
	}
	for _, expect := range []string{jane.Sub, ""} {
		res, err = f.e.Exchange(context.Background(), f.mint(serverauthtest.CodeRequest{User: mallory, Scopes: scopes}), serverauth.WithExpectedSubject(expect))
		if res != nil {
			t.Errorf("Exchange(another account's code, expecting %q) returned a Result", expect)
		}
		wantReason(t, err, serverauth.ReasonSubjectMismatch)
	}
	if _, err := f.store.Get(context.Background(), mallory.Sub); !errors.Is(err, serverauth.ErrNotFound) {
		t.Errorf("store.Get(other account) = %v, want ErrNotFound: a refused code must not be saved", err)
	}
}

// TestExchangeExpectedSubjectIsPartOfTheDuplicateKey: the same code posted
// again with another expectation does not get the first result.
func TestExchangeExpectedSubjectIsPartOfTheDuplicateKey(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	code := f.mint(serverauthtest.CodeRequest{Scopes: []string{"openid", "email", "drive.appdata"}})
	if _, err := f.e.Exchange(context.Background(), code, serverauth.WithRetryBinding("b")); err != nil {
		t.Fatal(err)
	}
	res, err := f.e.Exchange(context.Background(), code, serverauth.WithRetryBinding("b"), serverauth.WithExpectedSubject("104242424242424242424"))
	if res != nil || err == nil {
		t.Fatalf("re-posted code with another expected subject = %v, %v; want an error", res, err)
	}
}
