package serverauth_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

func TestExchangeByOrigin(t *testing.T) {
	tests := []struct {
		name     string
		origin   serverauthtest.Origin
		cfg      func(*serverauth.Config)
		opts     []serverauth.ExchangeOption
		redirect string // CodeRequest.RedirectURI
		wantSent string // redirect_uri sent; "-" = absent
		wantAZP  func(*serverauthtest.Server) string
	}{
		{name: "iOS", origin: serverauthtest.OriginIOS, wantSent: "-", wantAZP: (*serverauthtest.Server).IOSClientID},
		{name: "Android", origin: serverauthtest.OriginAndroid, wantSent: "-", wantAZP: (*serverauthtest.Server).AndroidClientID},
		{name: "web popup, config", origin: serverauthtest.OriginWebPopup, cfg: func(c *serverauth.Config) { c.RedirectURL = "postmessage" }, wantSent: "postmessage", wantAZP: (*serverauthtest.Server).WebClientID},
		{name: "web popup, per call", origin: serverauthtest.OriginWebPopup, opts: []serverauth.ExchangeOption{serverauth.WithRedirectURL("postmessage")}, wantSent: "postmessage", wantAZP: (*serverauthtest.Server).WebClientID},
		{name: "web redirect", origin: serverauthtest.OriginWebRedirect, redirect: serverauthtest.DefaultRedirectURI, opts: []serverauth.ExchangeOption{serverauth.WithRedirectURL(serverauthtest.DefaultRedirectURI)}, wantSent: serverauthtest.DefaultRedirectURI, wantAZP: (*serverauthtest.Server).WebClientID},
		{name: "mobile code, per-call override of a postmessage config", origin: serverauthtest.OriginIOS, cfg: func(c *serverauth.Config) { c.RedirectURL = "postmessage" }, opts: []serverauth.ExchangeOption{serverauth.WithRedirectURL("")}, wantSent: "-", wantAZP: (*serverauthtest.Server).IOSClientID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mut []func(*serverauth.Config)
			if tt.cfg != nil {
				mut = append(mut, tt.cfg)
			}
			f := newFixture(t, serverauthtest.Options{}, mut...)
			code := f.mint(serverauthtest.CodeRequest{Origin: tt.origin, RedirectURI: tt.redirect, Scopes: []string{"openid", "email", "profile", "drive.appdata"}})
			res, err := f.e.Exchange(context.Background(), code, tt.opts...)
			if err != nil {
				t.Fatalf("Exchange = %v", err)
			}
			u := serverauthtest.DemoUser()
			if res.UserID != u.Sub || res.Profile.Email != u.Email || !res.Profile.EmailVerified || res.Profile.Name != u.Name {
				t.Errorf("Result = %v %+v, want DemoUser", res, res.Profile)
			}
			if got, want := res.Profile.AuthorizedParty, tt.wantAZP(f.g); got != want {
				t.Errorf("azp = %q, want %q", got, want)
			}
			wantScopes := []string{serverauth.ScopeDriveAppData, serverauth.ScopeEmail, serverauth.ScopeProfile, serverauth.ScopeOpenID}
			slices.Sort(wantScopes)
			if !slices.Equal(res.GrantedScopes, wantScopes) {
				t.Errorf("GrantedScopes = %q, want %q", res.GrantedScopes, wantScopes)
			}
			if !strings.HasPrefix(res.Token.AccessToken, "ya29.") || !strings.HasPrefix(res.Token.RefreshToken, "1//") || !res.RefreshTokenIssued {
				t.Errorf("Token has no Google-shaped access and refresh tokens")
			}
			if want := epoch.Add(serverauthtest.DefaultAccessTokenLifetime); !res.Token.Expiry.Equal(want) {
				t.Errorf("Expiry = %s, want %s (on the injected clock)", res.Token.Expiry, want)
			}
			req := f.lastTokenRequest()
			if got, ok := req.Form["redirect_uri"]; tt.wantSent == "-" && ok || tt.wantSent != "-" && (len(got) != 1 || got[0] != tt.wantSent) {
				t.Errorf("redirect_uri sent = %q (present %v), want %q", got, ok, tt.wantSent)
			}
			if _, ok := req.Form["code_verifier"]; ok {
				t.Error("code_verifier sent without WithCodeVerifier")
			}
			if req.Form.Get("client_id") != f.g.WebClientID() || req.Form.Get("client_secret") == "" || req.Header.Get("Authorization") != "" {
				t.Errorf("client credentials not sent once, in the body: form client_id %q, Authorization %q", req.Form.Get("client_id"), req.Header.Get("Authorization"))
			}
			if n := f.g.CodeExchangeCount(code); n != 1 {
				t.Errorf("code sent %d times, want 1", n)
			}
		})
	}
}

func TestExchangeErrors(t *testing.T) {
	other := serverauthtest.Client{ID: "999999999999-otherproject.apps.googleusercontent.com", Secret: "GOCSPX-other", Type: serverauthtest.ClientWeb, ProjectID: "other-project"}
	tests := []struct {
		name      string
		req       serverauthtest.CodeRequest
		opts      []serverauth.ExchangeOption
		cfg       func(*serverauth.Config)
		wantIs    error
		wantCode  string
		wantClass serverauth.ErrorClass
		wantHint  string
	}{
		{name: "popup code without postmessage", req: serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebPopup},
			wantCode: "redirect_uri_mismatch", wantClass: serverauth.ClassMisconfigured, wantHint: "postmessage"},
		{name: "mobile code with a redirect", req: serverauthtest.CodeRequest{Origin: serverauthtest.OriginIOS}, opts: []serverauth.ExchangeOption{serverauth.WithRedirectURL("https://app.example/cb")},
			wantCode: "redirect_uri_mismatch", wantClass: serverauth.ClassMisconfigured, wantHint: `"https://app.example/cb"`},
		{name: "PKCE code without verifier", req: serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebPopup, CodeChallenge: challenge("v3rifier-0123456789-0123456789-0123456789-01"), CodeChallengeMethod: "S256"}, opts: []serverauth.ExchangeOption{serverauth.WithRedirectURL("postmessage")},
			wantIs: serverauth.ErrInvalidGrant, wantCode: "invalid_grant", wantClass: serverauth.ClassRejected, wantHint: "WithCodeVerifier"},
		{name: "verifier for a mobile code", req: serverauthtest.CodeRequest{Origin: serverauthtest.OriginAndroid}, opts: []serverauth.ExchangeOption{serverauth.WithCodeVerifier("v3rifier-0123456789-0123456789-0123456789-01")},
			wantIs: serverauth.ErrInvalidGrant, wantCode: "invalid_grant", wantHint: "drop WithCodeVerifier"},
		{name: "wrong secret", req: serverauthtest.CodeRequest{}, cfg: func(c *serverauth.Config) { c.ClientSecret = "GOCSPX-wrong" },
			wantCode: "invalid_client", wantClass: serverauth.ClassMisconfigured, wantHint: "client ID or secret"},
		{name: "code of another project's client", req: serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebPopup, ClientID: other.ID}, opts: []serverauth.ExchangeOption{serverauth.WithRedirectURL("postmessage")},
			wantCode: "invalid_client", wantClass: serverauth.ClassMisconfigured},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mut []func(*serverauth.Config)
			if tt.cfg != nil {
				mut = append(mut, tt.cfg)
			}
			f := newFixture(t, serverauthtest.Options{}, mut...)
			f.g.RegisterClient(other)
			code := f.mint(tt.req)
			res, err := f.e.Exchange(context.Background(), code, tt.opts...)
			if res != nil {
				t.Errorf("Exchange returned a Result with %v", err)
			}
			var te *serverauth.TokenError
			if !errors.As(err, &te) {
				t.Fatalf("Exchange = %v, want *TokenError", err)
			}
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) {
				t.Errorf("errors.As(%v, *oauth2.RetrieveError) = false", err)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantIs)
			}
			if te.Code != tt.wantCode || (tt.wantClass != 0 && te.Class != tt.wantClass) || !strings.Contains(te.Error(), tt.wantHint) {
				t.Errorf("TokenError = %q (code %s, class %s), want code %s class %s hint %q", te, te.Code, te.Class, tt.wantCode, tt.wantClass, tt.wantHint)
			}
			secret := f.cfg.ClientSecret
			for _, leak := range []string{code, secret, strings.Replace(code, "/", "%2F", 1)} {
				if strings.Contains(err.Error(), leak) || strings.Contains(re.Error(), leak) {
					t.Errorf("error %q leaks a secret", err)
				}
			}
			if n := f.g.CodeExchangeCount(code); n != 1 {
				t.Errorf("code sent %d times, want exactly 1 (no auth-style probing, no blind retry)", n)
			}
		})
	}
}

func challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestExchangePKCE(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	verifier := oauth2.GenerateVerifier()
	code := f.mint(serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebRedirect, RedirectURI: serverauthtest.DefaultRedirectURI, CodeChallenge: challenge(verifier), CodeChallengeMethod: "S256", Nonce: "n-0S6_WzA2Mj"})
	_, err := f.e.Exchange(context.Background(), code, serverauth.WithRedirectURL(serverauthtest.DefaultRedirectURI), serverauth.WithCodeVerifier(verifier), serverauth.WithNonce("n-0S6_WzA2Mj"))
	if err != nil {
		t.Fatalf("Exchange(PKCE, nonce) = %v", err)
	}
	if got := f.lastTokenRequest().Form.Get("code_verifier"); got != verifier {
		t.Errorf("code_verifier sent = %q, want the verifier", got)
	}
}

func TestExchangeNonceMismatch(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	code := f.mint(serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebPopup, Nonce: "session-A"})
	_, err := f.e.Exchange(context.Background(), code, serverauth.WithRedirectURL("postmessage"), serverauth.WithNonce("session-B"))
	wantReason(t, err, serverauth.ReasonNonce)
}

func TestExchangeRejectsBadCodesLocally(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	for _, code := range []string{"", " 4/0Abc", "4/0Abc\n", "4/0A" + strings.Repeat("x", serverauth.MaxCodeSize)} {
		if _, err := f.e.Exchange(context.Background(), code); !errors.Is(err, serverauth.ErrInvalidCode) {
			t.Errorf("Exchange(%q) = %v, want ErrInvalidCode", code, err)
		}
	}
	if n := f.g.RequestCount(serverauthtest.EndpointToken); n != 0 {
		t.Errorf("token endpoint called %d times for codes refused locally", n)
	}
}

func TestExchangeDuplicateCodeReachesGoogleOnce(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	code := f.mint(serverauthtest.CodeRequest{})
	var wg sync.WaitGroup
	results := make([]*serverauth.Result, 20)
	errs := make([]error, 20)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = f.e.Exchange(context.Background(), code)
		}()
	}
	wg.Wait()
	for i := range results {
		if errs[i] != nil || results[i].UserID != serverauthtest.DemoUser().Sub || results[i].Token.AccessToken != results[0].Token.AccessToken {
			t.Fatalf("concurrent duplicate %d = %v, %v; want the first exchange's result", i, results[i], errs[i])
		}
	}
	if results[0] == results[1] || results[0].Token == results[1].Token {
		t.Error("duplicates share mutable Results")
	}
	// A later post of the spent code within the window is refused locally:
	// a spent code is not a bearer credential for its result.
	f.clock.Advance(time.Minute)
	if again, err := f.e.Exchange(context.Background(), code); again != nil || !errors.Is(err, serverauth.ErrInvalidGrant) {
		t.Fatalf("spent code posted again = %v, %v; want ErrInvalidGrant and no result", again, err)
	}
	if n := f.g.CodeExchangeCount(code); n != 1 {
		t.Fatalf("code reached Google %d times, want 1", n)
	}
	// After the window the code goes to Google, which says it is spent.
	f.clock.Advance(2 * time.Minute)
	_, err := f.e.Exchange(context.Background(), code)
	var te *serverauth.TokenError
	if !errors.Is(err, serverauth.ErrInvalidGrant) || !errors.As(err, &te) || te.Code != "invalid_grant" {
		t.Fatalf("reuse after the window = %v, want Google's invalid_grant", err)
	}
	if n := f.g.CodeExchangeCount(code); n != 2 {
		t.Fatalf("code reached Google %d times, want 2 (the window is over)", n)
	}
}

// TestExchangeFailuresKeptOnlyWhileConcurrent: duplicates of a failing
// exchange that arrive while it runs share its error; once it is done,
// nothing of it is kept (junk codes must not fill the window and push
// successes out), so a later post goes to Google again.
func TestExchangeFailuresKeptOnlyWhileConcurrent(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	code := f.mint(serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebPopup})
	f.g.FailNext(serverauthtest.EndpointToken, 1, serverauthtest.Fault{Kind: serverauthtest.FaultStall, Stall: 300 * time.Millisecond})
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.e.Exchange(context.Background(), code); err == nil {
				t.Error("popup code without postmessage succeeded")
			}
		}()
	}
	wg.Wait()
	if n := f.g.FaultCount(serverauthtest.EndpointToken); n != 1 {
		t.Fatalf("concurrent posts of a failing code sent it %d times, want 1", n)
	}
	if _, err := f.e.Exchange(context.Background(), code); err == nil {
		t.Fatal("popup code without postmessage succeeded")
	}
	if n := f.g.CodeExchangeCount(code); n != 1 {
		t.Fatalf("a later post reached Google %d times, want 1 (failures are not retained)", n)
	}
}

// TestExchangeRetryBinding: the first result goes to a later retry only
// with the first caller's binding.
func TestExchangeRetryBinding(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	code := f.mint(serverauthtest.CodeRequest{})
	first, err := f.e.Exchange(context.Background(), code, serverauth.WithRetryBinding("session-1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		opts []serverauth.ExchangeOption
	}{
		{"no binding", nil},
		{"another binding", []serverauth.ExchangeOption{serverauth.WithRetryBinding("session-2")}},
	} {
		if res, err := f.e.Exchange(context.Background(), code, tt.opts...); res != nil || !errors.Is(err, serverauth.ErrInvalidGrant) {
			t.Errorf("retry with %s = %v, %v; want ErrInvalidGrant and no result", tt.name, res, err)
		}
	}
	again, err := f.e.Exchange(context.Background(), code, serverauth.WithRetryBinding("session-1"))
	if err != nil || again.UserID != first.UserID || again.Token.AccessToken != first.Token.AccessToken {
		t.Fatalf("retry with the first binding = %v, %v; want the first result", again, err)
	}
	if n := f.g.CodeExchangeCount(code); n != 1 {
		t.Fatalf("code reached Google %d times, want 1", n)
	}
}

func TestExchangeCallerGivesUpCodeNotWasted(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	code := f.mint(serverauthtest.CodeRequest{})
	// The client disconnected before the backend got to the exchange: the
	// exchange still completes, so the code is not wasted.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := f.e.Exchange(ctx, code, serverauth.WithRetryBinding("install-1"))
	if err != nil || res.UserID != serverauthtest.DemoUser().Sub {
		t.Fatalf("Exchange(cancelled ctx) = %v, %v; want the completed exchange", res, err)
	}
	// The client's retry, bound to the same session, gets the same result.
	again, err := f.e.Exchange(context.Background(), code, serverauth.WithRetryBinding("install-1"))
	if err != nil || again.Token.AccessToken != res.Token.AccessToken {
		t.Fatalf("retry = %v, %v", again, err)
	}
	if n := f.g.CodeExchangeCount(code); n != 1 {
		t.Fatalf("code sent %d times, want 1", n)
	}
}

func TestExchangeDuplicateCallerGivesUp(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	code := f.mint(serverauthtest.CodeRequest{})
	f.g.FailNext(serverauthtest.EndpointToken, 1, serverauthtest.Fault{Kind: serverauthtest.FaultStall, Stall: 10 * time.Second})
	first := make(chan error, 1)
	go func() { _, err := f.e.Exchange(context.Background(), code); first <- err }()
	if err := f.g.WaitFaultCount(context.Background(), serverauthtest.EndpointToken, 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.e.Exchange(ctx, code); !errors.Is(err, context.Canceled) {
		t.Fatalf("duplicate with a cancelled ctx = %v, want context.Canceled while the first is in flight", err)
	}
	f.g.ClearFaults() // ends the stall: the first exchange fails, having sent the code once
	if err := <-first; err == nil {
		t.Fatal("stalled exchange succeeded")
	}
	if n := sentWithCode(f.g, code); n != 1 {
		t.Fatalf("code sent %d times, want 1", n)
	}
}

func TestExchangeScopeNotGranted(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{}, func(c *serverauth.Config) { c.Scopes = []string{"email", "drive.appdata"} })
	code := f.mint(serverauthtest.CodeRequest{Scopes: []string{"openid", "email", "drive.appdata"}, GrantedScopes: []string{"openid", "email"}})
	res, err := f.e.Exchange(context.Background(), code)
	var se *serverauth.ScopeError
	if !errors.Is(err, serverauth.ErrScopeNotGranted) || !errors.As(err, &se) || !slices.Equal(se.Missing, []string{serverauth.ScopeDriveAppData}) {
		t.Fatalf("Exchange = %v, want ScopeError naming drive.appdata", err)
	}
	if res == nil || res.UserID != serverauthtest.DemoUser().Sub || res.Token.AccessToken == "" {
		t.Fatalf("Result beside ErrScopeNotGranted = %v, want a usable result", res)
	}
}

func TestExchangeMobileAZPVariants(t *testing.T) {
	for _, azp := range []serverauthtest.AZP{serverauthtest.AZPPresenter, serverauthtest.AZPServer, serverauthtest.AZPNone} {
		t.Run(fmt.Sprint(azp), func(t *testing.T) {
			f := newFixture(t, serverauthtest.Options{MobileAZP: azp})
			if _, err := f.e.Exchange(context.Background(), f.mint(serverauthtest.CodeRequest{})); err != nil {
				t.Fatalf("Exchange with MobileAZP %d = %v", azp, err)
			}
		})
	}
}

func TestExchangeBareIssuer(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{Issuer: "accounts.google.com"})
	if _, err := f.e.Exchange(context.Background(), f.mint(serverauthtest.CodeRequest{})); err != nil {
		t.Fatalf("Exchange with bare issuer = %v", err)
	}
}

func TestExchangeResponseShapes(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		ct, body string
		check    func(t *testing.T, res *serverauth.Result, err error)
	}{
		{"identity scope without id_token", 200, "application/json", `{"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer","scope":"openid email"}`,
			func(t *testing.T, res *serverauth.Result, err error) { wantReason(t, err, serverauth.ReasonAbsent) }},
		{"no identity scope at all", 200, "application/json", `{"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer","refresh_token":"1//r","scope":"https://www.googleapis.com/auth/drive.appdata"}`,
			func(t *testing.T, res *serverauth.Result, err error) {
				if !errors.Is(err, serverauth.ErrInvalidIDToken) || res != nil {
					t.Fatalf("= %v, %v; want ErrInvalidIDToken (absent) and no Result: no identity, no tokens", res, err)
				}
				wantReason(t, err, serverauth.ReasonAbsent)
			}},
		{"truncated JSON", 200, "application/json", `{"access_token":"ya29.x","exp`,
			func(t *testing.T, res *serverauth.Result, err error) {
				var te *serverauth.TokenError
				if !errors.As(err, &te) || te.Class != serverauth.ClassTransient {
					t.Fatalf("= %v, want a transient TokenError", err)
				}
			}},
		{"HTML 502", 502, "text/html", `<html>That’s an error.</html>`,
			func(t *testing.T, res *serverauth.Result, err error) {
				var te *serverauth.TokenError
				if !errors.As(err, &te) || te.Class != serverauth.ClassTransient || te.StatusCode != 502 || !strings.Contains(te.Hint, "sign in again") {
					t.Fatalf("= %v, want a transient TokenError telling to sign in again", err)
				}
			}},
		{"200 with error field", 200, "application/json", `{"error":"invalid_grant","error_description":"Bad Request"}`,
			func(t *testing.T, res *serverauth.Result, err error) {
				if !errors.Is(err, serverauth.ErrInvalidGrant) {
					t.Fatalf("= %v, want ErrInvalidGrant", err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := serverauth.New(stubToken(t, tt.status, tt.ct, tt.body))
			if err != nil {
				t.Fatal(err)
			}
			res, err := e.Exchange(context.Background(), "4/0Astub")
			tt.check(t, res, err)
		})
	}
}

// TestExchangeAgainstFakeProperty exchanges random consents and checks that
// what the library reports is what the fake was told: user, granted scopes,
// refresh token on first consent or forced consent only.
func TestExchangeAgainstFakeProperty(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	rng := rand.New(rand.NewPCG(1, 2))
	optional := []string{"profile", "drive.appdata", "drive.file"}
	consented := map[string]bool{} // user|presenter
	for i := 0; i < 60; i++ {
		u := serverauthtest.User{Sub: fmt.Sprintf("1000000000000000000%02d", rng.IntN(5)), Email: fmt.Sprintf("u%d@example.com", i), EmailVerified: rng.IntN(2) == 0}
		origin := []serverauthtest.Origin{serverauthtest.OriginIOS, serverauthtest.OriginAndroid, serverauthtest.OriginWebPopup}[rng.IntN(3)]
		requested := []string{"openid", "email"}
		var granted []string
		for _, s := range optional {
			if rng.IntN(2) == 0 {
				requested = append(requested, s)
				if rng.IntN(3) > 0 {
					granted = append(granted, s)
				}
			}
		}
		prompt := ""
		if rng.IntN(4) == 0 {
			prompt = "consent"
		}
		code := f.mint(serverauthtest.CodeRequest{User: u, Origin: origin, Scopes: requested, GrantedScopes: append([]string{"openid", "email"}, granted...), Prompt: prompt})
		var opts []serverauth.ExchangeOption
		if origin == serverauthtest.OriginWebPopup {
			opts = append(opts, serverauth.WithRedirectURL("postmessage"))
		}
		res, err := f.e.Exchange(context.Background(), code, opts...)
		if err != nil {
			t.Fatalf("case %d: Exchange = %v", i, err)
		}
		want := []string{serverauth.ScopeOpenID, serverauth.ScopeEmail}
		for _, s := range granted {
			want = append(want, serverauth.NormalizeScope(s))
		}
		slices.Sort(want)
		key := u.Sub + "|" + string(origin)
		wantRT := !consented[key] || prompt == "consent"
		consented[key] = true
		if res.UserID != u.Sub || res.Profile.Email != u.Email || res.Profile.EmailVerified != u.EmailVerified ||
			!slices.Equal(res.GrantedScopes, want) || res.RefreshTokenIssued != wantRT {
			t.Fatalf("case %d (%s, prompt %q): got user %s scopes %q refresh %v; want %s %q %v",
				i, origin, prompt, res.UserID, res.GrantedScopes, res.RefreshTokenIssued, u.Sub, want, wantRT)
		}
	}
}
