package serverauth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// The callback of the web tests, registered with the fake.
const (
	appCallback      = "https://app.example/auth/callback"
	loopbackCallback = "http://127.0.0.1:8080/auth/callback"
)

// webFixture is a store fixture with a WebSignIn whose OnSignIn and OnError
// record what they are given.
type webFixture struct {
	*storeFixture
	ws *serverauth.WebSignIn

	mu       sync.Mutex
	signedIn []*serverauth.Result
	failed   []webFailure
}

type webFailure struct {
	res *serverauth.Result
	err error
}

// onErrorStatus is what the recording OnError answers.
const onErrorStatus = 499

func newWebFixture(t *testing.T, wcfg serverauth.WebSignInConfig, mutate ...func(*serverauth.Config)) *webFixture {
	t.Helper()
	f := newStoreFixture(t, serverauthtest.Options{RedirectURIs: []string{appCallback, loopbackCallback}}, append([]func(*serverauth.Config){withAuthURL}, mutate...)...)
	wf := &webFixture{storeFixture: f}
	if wcfg.RedirectURL == "" {
		wcfg.RedirectURL = appCallback
	}
	if wcfg.OnSignIn == nil {
		wcfg.OnSignIn = func(w http.ResponseWriter, r *http.Request, res *serverauth.Result) {
			wf.mu.Lock()
			wf.signedIn = append(wf.signedIn, res)
			wf.mu.Unlock()
		}
	}
	if wcfg.OnError == nil {
		wcfg.OnError = func(w http.ResponseWriter, r *http.Request, res *serverauth.Result, err error) {
			wf.mu.Lock()
			wf.failed = append(wf.failed, webFailure{res, err})
			wf.mu.Unlock()
			w.WriteHeader(onErrorStatus)
		}
	}
	ws, err := f.e.WebSignIn(wcfg)
	if err != nil {
		t.Fatalf("WebSignIn = %v", err)
	}
	wf.ws = ws
	return wf
}

// withAuthURL points the authorization endpoint at the fake too.
func withAuthURL(c *serverauth.Config) { c.Endpoints.AuthURL = authURLOf(c) }

// authURLOf is the fake's authorization endpoint, beside its token URL.
func authURLOf(c *serverauth.Config) string {
	return strings.TrimSuffix(c.Endpoints.TokenURL, "/token") + "/o/oauth2/v2/auth"
}

// start runs Start and returns the authorization URL and the state cookie.
func (wf *webFixture) start(opts ...serverauth.StartOption) (*url.URL, *http.Cookie) {
	wf.t.Helper()
	rec := httptest.NewRecorder()
	if err := wf.ws.Start(rec, httptest.NewRequest(http.MethodGet, "https://app.example/login", nil), opts...); err != nil {
		wf.t.Fatalf("Start = %v", err)
	}
	if rec.Code != http.StatusSeeOther {
		wf.t.Fatalf("Start answered %d, want 303", rec.Code)
	}
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		wf.t.Fatal(err)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		wf.t.Fatalf("Start set %d cookies, want 1", len(cookies))
	}
	return loc, cookies[0]
}

// authorize follows the authorization URL at the fake (which consents at
// once) and returns the callback URL it redirects to.
func (wf *webFixture) authorize(loc *url.URL) *url.URL {
	wf.t.Helper()
	c := wf.g.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(loc.String())
	if err != nil {
		wf.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		wf.t.Fatalf("authorization endpoint answered %d, want 302", resp.StatusCode)
	}
	cb, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		wf.t.Fatal(err)
	}
	return cb
}

// callback serves the callback URL with the cookies given.
func (wf *webFixture) callback(cb *url.URL, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	wf.t.Helper()
	req := httptest.NewRequest(http.MethodGet, cb.String(), nil)
	for _, c := range cookies {
		if c != nil {
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	rec := httptest.NewRecorder()
	wf.ws.Callback(rec, req)
	return rec
}

// lastFailure returns the error OnError got last.
func (wf *webFixture) lastFailure() webFailure {
	wf.t.Helper()
	wf.mu.Lock()
	defer wf.mu.Unlock()
	if len(wf.failed) == 0 {
		wf.t.Fatal("OnError was not called")
	}
	return wf.failed[len(wf.failed)-1]
}

// withQuery returns u with the query parameters set (a nil value deletes).
func withQuery(u *url.URL, kv ...string) *url.URL {
	c := *u
	q := c.Query()
	for i := 0; i < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	c.RawQuery = q.Encode()
	return &c
}

const driveFile = "https://www.googleapis.com/auth/drive.file"

func TestWebSignInStart(t *testing.T) {
	for _, tt := range []struct {
		name, redirect, cookie string
		secure                 bool
	}{
		{"https", appCallback, "__Host-serverauth-signin", true},
		{"loopback http", loopbackCallback, "serverauth-signin", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wf := newWebFixture(t, serverauth.WebSignInConfig{RedirectURL: tt.redirect})
			loc, ck := wf.start(serverauth.StartLoginHint("jane.doe.demo@gmail.com"))
			q := loc.Query()
			want := map[string]string{
				"response_type": "code", "client_id": wf.g.WebClientID(), "redirect_uri": tt.redirect,
				"access_type": "offline", "include_granted_scopes": "true", "code_challenge_method": "S256",
				"login_hint": "jane.doe.demo@gmail.com",
			}
			for k, v := range want {
				if q.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, q.Get(k), v)
				}
			}
			if q.Has("prompt") {
				t.Errorf("prompt = %q, want none for a user not known to be without a refresh token", q.Get("prompt"))
			}
			scopes := strings.Fields(q.Get("scope"))
			for _, s := range []string{"openid", serverauth.ScopeEmail, serverauth.ScopeProfile, serverauth.ScopeDriveAppData} {
				if !slices.Contains(scopes, s) {
					t.Errorf("scope %q lacks %s", q.Get("scope"), s)
				}
			}
			for _, k := range []string{"state", "nonce", "code_challenge"} {
				if len(q.Get(k)) < 43 {
					t.Errorf("%s = %q, want at least 256 bits", k, q.Get(k))
				}
			}
			if ck.Name != tt.cookie || ck.Secure != tt.secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" || ck.MaxAge != 600 {
				t.Errorf("cookie = %+v, want %s, Secure %t, HttpOnly, SameSite=Lax, Path=/, no Domain, Max-Age 600", ck, tt.cookie, tt.secure)
			}
			raw, err := base64.RawURLEncoding.DecodeString(ck.Value)
			if err != nil {
				t.Fatalf("cookie value is not base64url: %v", err)
			}
			for _, k := range []string{"state", "nonce"} {
				if strings.Contains(string(raw), q.Get(k)) || strings.Contains(ck.Value, q.Get(k)) {
					t.Errorf("the cookie shows the %s in the clear", k)
				}
			}
			// A second start makes new values.
			loc2, _ := wf.start()
			if loc2.Query().Get("state") == q.Get("state") || loc2.Query().Get("nonce") == q.Get("nonce") || loc2.Query().Get("code_challenge") == q.Get("code_challenge") {
				t.Error("two starts share a state, nonce or challenge")
			}
		})
	}
}

func TestWebSignInRoundTrip(t *testing.T) {
	wf := newWebFixture(t, serverauth.WebSignInConfig{})
	loc, ck := wf.start()
	cb := wf.authorize(loc)
	rec := wf.callback(cb, ck)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/" {
		t.Fatalf("callback = %d Location %q, want 303 to /", rec.Code, rec.Header().Get("Location"))
	}
	if len(wf.signedIn) != 1 || wf.signedIn[0].UserID != serverauthtest.DemoUser().Sub || !wf.signedIn[0].RefreshTokenIssued {
		t.Fatalf("OnSignIn got %v, want the demo user with a refresh token", wf.signedIn)
	}
	if got := wf.signedIn[0].Profile; got.Email != serverauthtest.DemoUser().Email || !got.EmailVerified {
		t.Errorf("profile = %+v", got)
	}
	form := wf.lastTokenRequest().Form
	if form.Get("redirect_uri") != appCallback || len(form.Get("code_verifier")) < 43 {
		t.Errorf("exchange sent redirect_uri %q and a verifier of %d bytes, want %q and the verifier", form.Get("redirect_uri"), len(form.Get("code_verifier")), appCallback)
	}
	cleared := rec.Result().Cookies()
	if len(cleared) != 1 || cleared[0].Name != ck.Name || cleared[0].MaxAge >= 0 {
		t.Errorf("callback cookies = %v, want %s cleared", cleared, ck.Name)
	}
	for _, h := range []string{"Cache-Control", "Referrer-Policy"} {
		if rec.Header().Get(h) == "" {
			t.Errorf("callback has no %s", h)
		}
	}
	rec2, err := wf.store.Get(context.Background(), serverauthtest.DemoUser().Sub)
	if err != nil || len(rec2.RefreshToken) == 0 {
		t.Fatalf("store = %v, %v; want the grant with its refresh token", rec2, err)
	}
}

// TestWebSignInCallbackRefuses: every check of the callback refuses, with
// its own error, what it must; none of the state failures reaches Google.
func TestWebSignInCallbackRefuses(t *testing.T) {
	type setup struct {
		wf  *webFixture
		loc *url.URL        // the started sign-in's authorization URL
		ck  *http.Cookie    // its cookie
		cb  func() *url.URL // the callback Google would send (authorizes once)
	}
	tests := []struct {
		name      string
		call      func(s setup) *httptest.ResponseRecorder
		check     func(t *testing.T, err error)
		reachesGo bool // the exchange is attempted
	}{
		{name: "missing cookie", call: func(s setup) *httptest.ResponseRecorder { return s.wf.callback(s.cb()) },
			check: wantState(serverauth.StateMissing)},
		{name: "tampered cookie", call: func(s setup) *httptest.ResponseRecorder {
			v := []byte(s.ck.Value)
			v[len(v)/2] ^= 'A' ^ 'B'
			if v[len(v)/2] == s.ck.Value[len(v)/2] {
				v[len(v)/2] = 'x'
			}
			return s.wf.callback(s.cb(), &http.Cookie{Name: s.ck.Name, Value: string(v)})
		}, check: wantState(serverauth.StateInvalid)},
		{name: "truncated cookie", call: func(s setup) *httptest.ResponseRecorder {
			return s.wf.callback(s.cb(), &http.Cookie{Name: s.ck.Name, Value: s.ck.Value[:len(s.ck.Value)-4]})
		}, check: wantState(serverauth.StateInvalid)},
		{name: "cookie not base64", call: func(s setup) *httptest.ResponseRecorder {
			return s.wf.callback(s.cb(), &http.Cookie{Name: s.ck.Name, Value: "!!!"})
		}, check: wantState(serverauth.StateInvalid)},
		{name: "cookie of another deployment's key", call: func(s setup) *httptest.ResponseRecorder {
			kr, _ := testKeyring(s.wf.t, 1)
			other := newWebFixture(s.wf.t, serverauth.WebSignInConfig{}, func(c *serverauth.Config) { c.Cipher = kr })
			_, ck := other.start()
			return s.wf.callback(s.cb(), ck)
		}, check: wantState(serverauth.StateInvalid)},
		{name: "wrong state", call: func(s setup) *httptest.ResponseRecorder {
			return s.wf.callback(withQuery(s.cb(), "state", "forged-"+s.loc.Query().Get("state")[7:]), s.ck)
		}, check: wantState(serverauth.StateMismatch)},
		{name: "no state", call: func(s setup) *httptest.ResponseRecorder {
			cb := s.cb()
			q := cb.Query()
			q.Del("state")
			cb.RawQuery = q.Encode()
			return s.wf.callback(cb, s.ck)
		}, check: wantState(serverauth.StateMismatch)},
		{name: "state twice", call: func(s setup) *httptest.ResponseRecorder {
			cb := s.cb()
			cb.RawQuery += "&state=" + url.QueryEscape(s.loc.Query().Get("state"))
			return s.wf.callback(cb, s.ck)
		}, check: wantState(serverauth.StateMismatch)},
		{name: "expired", call: func(s setup) *httptest.ResponseRecorder {
			cb := s.cb()
			s.wf.clock.Advance(serverauth.DefaultSignInStateTTL)
			return s.wf.callback(cb, s.ck)
		}, check: wantState(serverauth.StateExpired)},
		{name: "access_denied", call: func(s setup) *httptest.ResponseRecorder {
			return s.wf.callback(withQuery(mustParse(appCallback), "error", "access_denied", "state", s.loc.Query().Get("state")), s.ck)
		}, check: func(t *testing.T, err error) {
			var ae *serverauth.AuthorizationError
			if !errors.Is(err, serverauth.ErrAccessDenied) || !errors.As(err, &ae) || ae.Code != "access_denied" {
				t.Fatalf("error = %v, want an AuthorizationError access_denied (ErrAccessDenied)", err)
			}
		}},
		{name: "another error from Google", call: func(s setup) *httptest.ResponseRecorder {
			return s.wf.callback(withQuery(mustParse(appCallback), "error", "admin_policy_enforced", "error_description", "blocked", "state", s.loc.Query().Get("state")), s.ck)
		}, check: func(t *testing.T, err error) {
			var ae *serverauth.AuthorizationError
			if errors.Is(err, serverauth.ErrAccessDenied) || !errors.As(err, &ae) || ae.Code != "admin_policy_enforced" || ae.Description != "blocked" {
				t.Fatalf("error = %v, want an AuthorizationError admin_policy_enforced", err)
			}
		}},
		{name: "error with a wrong state", call: func(s setup) *httptest.ResponseRecorder {
			return s.wf.callback(withQuery(mustParse(appCallback), "error", "access_denied", "state", "forged"), s.ck)
		}, check: wantState(serverauth.StateMismatch)},
		{name: "no code", call: func(s setup) *httptest.ResponseRecorder {
			return s.wf.callback(withQuery(mustParse(appCallback), "state", s.loc.Query().Get("state")), s.ck)
		}, check: func(t *testing.T, err error) {
			if !errors.Is(err, serverauth.ErrInvalidCode) {
				t.Fatalf("error = %v, want ErrInvalidCode", err)
			}
		}},
		{name: "code injection: a code minted for another session", call: func(s setup) *httptest.ResponseRecorder {
			// The attacker's own sign-in (their browser, their PKCE and
			// nonce) yields a code they plant in the victim's callback.
			attacker, _ := s.wf.start()
			code := s.wf.authorize(attacker).Query().Get("code")
			return s.wf.callback(withQuery(s.cb(), "code", code), s.ck)
		}, reachesGo: true, check: func(t *testing.T, err error) {
			var te *serverauth.TokenError
			if !errors.Is(err, serverauth.ErrInvalidGrant) || !errors.As(err, &te) {
				t.Fatalf("error = %v, want a TokenError invalid_grant (the verifier does not match)", err)
			}
		}},
		{name: "code injection: a code without PKCE", call: func(s setup) *httptest.ResponseRecorder {
			code := s.wf.mint(serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebRedirect, RedirectURI: appCallback, Nonce: s.loc.Query().Get("nonce")})
			return s.wf.callback(withQuery(s.cb(), "code", code), s.ck)
		}, reachesGo: true, check: func(t *testing.T, err error) {
			if !errors.Is(err, serverauth.ErrInvalidGrant) {
				t.Fatalf("error = %v, want invalid_grant (a verifier sent for a code without a challenge)", err)
			}
		}},
		{name: "POST", call: func(s setup) *httptest.ResponseRecorder {
			req := httptest.NewRequest(http.MethodPost, s.cb().String(), nil)
			req.AddCookie(s.ck)
			rec := httptest.NewRecorder()
			s.wf.ws.Callback(rec, req)
			return rec
		}, check: func(t *testing.T, err error) {
			if err == nil || errors.Is(err, serverauth.ErrInvalidState) {
				t.Fatalf("error = %v, want the method refused", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wf := newWebFixture(t, serverauth.WebSignInConfig{})
			loc, ck := wf.start()
			var cb *url.URL
			s := setup{wf: wf, loc: loc, ck: ck, cb: func() *url.URL {
				if cb == nil {
					cb = wf.authorize(loc)
				}
				return cb
			}}
			wf.g.ResetCounts()
			rec := tt.call(s)
			if rec.Code != onErrorStatus {
				t.Fatalf("callback status = %d, want OnError's", rec.Code)
			}
			if len(wf.signedIn) != 0 {
				t.Fatalf("OnSignIn called with %v", wf.signedIn)
			}
			tt.check(t, wf.lastFailure().err)
			if n := wf.g.RequestCount(serverauthtest.EndpointToken); (n > 0) != tt.reachesGo {
				t.Errorf("token requests = %d, want any: %t", n, tt.reachesGo)
			}
			if _, err := wf.store.Get(context.Background(), serverauthtest.DemoUser().Sub); !errors.Is(err, serverauth.ErrNotFound) {
				t.Errorf("store.Get = %v, want nothing saved", err)
			}
		})
	}
}

func wantState(want serverauth.StateReason) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var se *serverauth.StateError
		if !errors.Is(err, serverauth.ErrInvalidState) || !errors.As(err, &se) || se.Reason != want {
			t.Fatalf("error = %v, want a StateError %q", err, want)
		}
	}
}

func mustParse(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// TestWebSignInForgedCallbackKeepsThePendingSignIn: a callback with a wrong
// state (a forged link) does not use up the browser's pending sign-in.
func TestWebSignInForgedCallbackKeepsThePendingSignIn(t *testing.T) {
	wf := newWebFixture(t, serverauth.WebSignInConfig{})
	loc, ck := wf.start()
	cb := wf.authorize(loc)
	if rec := wf.callback(withQuery(cb, "state", "forged"), ck); rec.Code != onErrorStatus || len(rec.Result().Cookies()) != 0 {
		t.Fatalf("forged callback = %d, cookies %v; want refused, the cookie untouched", rec.Code, rec.Result().Cookies())
	}
	if rec := wf.callback(cb, ck); rec.Code != http.StatusSeeOther || len(wf.signedIn) != 1 {
		t.Fatalf("genuine callback after a forged one = %d, signed in %d", rec.Code, len(wf.signedIn))
	}
}

// TestWebSignInCallbackIsOneShot: the same callback again fails, with the
// browser's cleared cookie or with a copy of the old one.
func TestWebSignInCallbackIsOneShot(t *testing.T) {
	wf := newWebFixture(t, serverauth.WebSignInConfig{})
	loc, ck := wf.start()
	cb := wf.authorize(loc)
	if rec := wf.callback(cb, ck); rec.Code != http.StatusSeeOther {
		t.Fatalf("callback = %d, want 303", rec.Code)
	}
	// The browser dropped the cookie.
	if rec := wf.callback(cb); rec.Code != onErrorStatus {
		t.Fatalf("replay without the cookie = %d, want refused", rec.Code)
	}
	wantState(serverauth.StateMissing)(t, wf.lastFailure().err)
	// An attacker replays the request with a copy of the cookie.
	if rec := wf.callback(cb, ck); rec.Code != onErrorStatus {
		t.Fatalf("replay with a copied cookie = %d, want refused", rec.Code)
	}
	if err := wf.lastFailure().err; !errors.Is(err, serverauth.ErrInvalidGrant) {
		t.Fatalf("replay with a copied cookie: error %v, want ErrInvalidGrant (the code was redeemed)", err)
	}
	if len(wf.signedIn) != 1 {
		t.Fatalf("signed in %d times, want 1", len(wf.signedIn))
	}
}

// memStateStore is a caller-supplied state store keyed by a session cookie.
type memStateStore struct {
	mu sync.Mutex
	m  map[string]*serverauth.PendingSignIn // guards by session
}

func (s *memStateStore) Save(w http.ResponseWriter, r *http.Request, p *serverauth.PendingSignIn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[sessionOf(r)] = p
	return nil
}

func (s *memStateStore) Load(r *http.Request) (*serverauth.PendingSignIn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[sessionOf(r)], nil
}

func (s *memStateStore) Delete(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, sessionOf(r))
	return nil
}

func sessionOf(r *http.Request) string {
	c, err := r.Cookie("session")
	if err != nil {
		return ""
	}
	return c.Value
}

// TestWebSignInStateStore: a caller's store takes the place of the cookie;
// knowing the pending sign-in, the test mints the codes an attacker could
// not: one with the right PKCE challenge and the wrong nonce, one with a
// scope unticked.
func TestWebSignInStateStore(t *testing.T) {
	store := &memStateStore{m: map[string]*serverauth.PendingSignIn{}}
	wf := newWebFixture(t, serverauth.WebSignInConfig{StateStore: store})
	session := &http.Cookie{Name: "session", Value: "s1"}
	start := func() *serverauth.PendingSignIn {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "https://app.example/login", nil)
		req.AddCookie(session)
		if err := wf.ws.Start(rec, req); err != nil {
			t.Fatal(err)
		}
		if len(rec.Result().Cookies()) != 0 {
			t.Fatalf("Start set cookies %v with a StateStore", rec.Result().Cookies())
		}
		return store.m["s1"]
	}
	callback := func(p *serverauth.PendingSignIn, req serverauthtest.CodeRequest) *httptest.ResponseRecorder {
		req.Origin, req.RedirectURI, req.CodeChallengeMethod = serverauthtest.OriginWebRedirect, appCallback, "S256"
		req.CodeChallenge = challenge(p.CodeVerifier)
		req.Scopes = []string{"openid", "email", "profile", "drive.appdata"}
		return wf.callback(withQuery(mustParse(appCallback), "code", wf.mint(req), "state", p.State), session)
	}

	p := start()
	if p == nil || p.Expiry != wf.clock.Now().Add(serverauth.DefaultSignInStateTTL) || len(p.Scopes) == 0 {
		t.Fatalf("saved %v", p)
	}
	if s := p.String(); strings.Contains(s, p.CodeVerifier) || strings.Contains(s, p.Nonce) || strings.Contains(s, p.State) {
		t.Errorf("PendingSignIn.String() = %s shows a secret", s)
	}
	// First consent, drive.appdata unticked: a verified user and a ScopeError.
	rec := callback(p, serverauthtest.CodeRequest{Nonce: p.Nonce, GrantedScopes: []string{"openid", "email", "profile"}})
	if rec.Code != onErrorStatus {
		t.Fatalf("drive.appdata unticked: status %d, signed in %v", rec.Code, wf.signedIn)
	}
	fail := wf.lastFailure()
	var se *serverauth.ScopeError
	if !errors.As(fail.err, &se) || !slices.Equal(se.Missing, []string{serverauth.ScopeDriveAppData}) || fail.res == nil || fail.res.UserID != serverauthtest.DemoUser().Sub {
		t.Fatalf("drive.appdata unticked: OnError got %v, %v; want the verified user and a ScopeError", fail.res, fail.err)
	}

	p = start()
	if rec := callback(p, serverauthtest.CodeRequest{Nonce: "another session's nonce"}); rec.Code != onErrorStatus {
		t.Fatalf("nonce mismatch: status %d", rec.Code)
	}
	wantReason(t, wf.lastFailure().err, serverauth.ReasonNonce)
	if store.m["s1"] != nil {
		t.Error("the pending sign-in was not deleted after use")
	}

	p = start()
	if rec := callback(p, serverauthtest.CodeRequest{}); rec.Code != onErrorStatus {
		t.Fatalf("code without a nonce: status %d", rec.Code)
	}
	wantReason(t, wf.lastFailure().err, serverauth.ReasonNonce)

	// A store that lost a field is refused, not trusted.
	p = start()
	p.Nonce = ""
	if rec := callback(p, serverauthtest.CodeRequest{}); rec.Code != onErrorStatus {
		t.Fatalf("pending sign-in without a nonce: status %d", rec.Code)
	}
	wantState(serverauth.StateInvalid)(t, wf.lastFailure().err)

	p = start()
	if rec := callback(p, serverauthtest.CodeRequest{Nonce: p.Nonce}); rec.Code != http.StatusSeeOther || len(wf.signedIn) != 1 {
		t.Fatalf("genuine callback: status %d, signed in %d", rec.Code, len(wf.signedIn))
	}
}

// TestWebSignInIncrementalAuthorization: a signed-in user asks for one more
// scope; Google returns no refresh token for it, and the stored grant keeps
// its refresh token and gains the scope.
func TestWebSignInIncrementalAuthorization(t *testing.T) {
	wf := newWebFixture(t, serverauth.WebSignInConfig{})
	user := serverauthtest.DemoUser()
	loc, ck := wf.start()
	wf.callback(wf.authorize(loc), ck)
	before, err := wf.store.Get(context.Background(), user.Sub)
	if err != nil || len(before.RefreshToken) == 0 {
		t.Fatalf("first sign-in stored %v, %v", before, err)
	}

	loc, ck = wf.start(serverauth.StartForUser(user.Sub), serverauth.StartScopes("drive.file"))
	q := loc.Query()
	if q.Has("prompt") || q.Get("include_granted_scopes") != "true" || q.Get("login_hint") != user.Sub || !strings.Contains(q.Get("scope"), driveFile) {
		t.Fatalf("incremental request %v: want no prompt (a refresh token is stored), include_granted_scopes, the hint and drive.file", q)
	}
	rec := wf.callback(wf.authorize(loc), ck)
	if rec.Code != http.StatusSeeOther || len(wf.signedIn) != 2 {
		t.Fatalf("incremental callback = %d, signed in %d, failure %v", rec.Code, len(wf.signedIn), wf.lastFailure().err)
	}
	res := wf.signedIn[1]
	if res.RefreshTokenIssued {
		t.Fatal("the fake issued a refresh token on an incremental grant; the test needs one without")
	}
	after, err := wf.store.Get(context.Background(), user.Sub)
	if err != nil || string(after.RefreshToken) == "" || !slices.Contains(after.Scopes, driveFile) || !slices.Contains(after.Scopes, serverauth.ScopeDriveAppData) {
		t.Fatalf("after the incremental grant the store holds %v, %v; want the refresh token kept and both scopes", after, err)
	}
	// The kept refresh token still works.
	wf.clock.Advance(2 * time.Hour)
	if _, err := wf.e.Token(context.Background(), user.Sub); err != nil {
		t.Fatalf("Token after the incremental grant = %v", err)
	}
	if n := wf.g.RefreshCount(user.Sub); n != 1 {
		t.Errorf("refreshes = %d, want 1", n)
	}
}

// TestWebSignInForUserPromptsConsentOnlyWithoutARefreshToken: prompt=consent
// is sent when the store holds no usable refresh token for the user, and
// the code must be that user's.
func TestWebSignInForUserPromptsConsentOnlyWithoutARefreshToken(t *testing.T) {
	wf := newWebFixture(t, serverauth.WebSignInConfig{})
	user := serverauthtest.DemoUser()
	loc, _ := wf.start(serverauth.StartForUser(user.Sub))
	if loc.Query().Get("prompt") != "consent" || loc.Query().Get("login_hint") != user.Sub {
		t.Fatalf("unknown user: prompt %q login_hint %q, want consent and the sub", loc.Query().Get("prompt"), loc.Query().Get("login_hint"))
	}
	res := wf.signIn(serverauthtest.CodeRequest{})
	loc, _ = wf.start(serverauth.StartForUser(user.Sub), serverauth.StartPrompt("select_account"))
	if loc.Query().Get("prompt") != "select_account" {
		t.Fatalf("user with a refresh token: prompt %q, want only select_account", loc.Query().Get("prompt"))
	}
	wf.g.RevokeUser(res.UserID)
	wf.clock.Advance(2 * time.Hour)
	wf.e.Token(context.Background(), res.UserID) // finds the grant dead
	loc, _ = wf.start(serverauth.StartForUser(user.Sub))
	if loc.Query().Get("prompt") != "consent" {
		t.Fatalf("user with a dead grant: prompt %q, want consent", loc.Query().Get("prompt"))
	}

	// Another account's code in a StartForUser callback is refused.
	other := serverauthtest.DemoUser()
	other.Sub, other.Email = "104242424242424242424", "other.demo@gmail.com"
	loc, ck := wf.start(serverauth.StartForUser(other.Sub), serverauth.StartLoginHint(user.Email))
	if rec := wf.callback(wf.authorize(loc), ck); rec.Code != onErrorStatus {
		t.Fatalf("another account's code: status %d, want refused", rec.Code)
	}
	wantReason(t, wf.lastFailure().err, serverauth.ReasonSubjectMismatch)
}

// TestWebSignInAsksForConsentAgain: a user who consented before, whose
// refresh token this store does not hold, is sent back to Google once with
// prompt=consent for their account, and the second callback stores one.
func TestWebSignInAsksForConsentAgain(t *testing.T) {
	wf := newWebFixture(t, serverauth.WebSignInConfig{})
	user := serverauthtest.DemoUser()
	wf.newReplica(func(c *serverauth.Config) { c.Store = serverauth.NewMemoryStore(); c.Cipher = nil }).
		Exchange(context.Background(), wf.mint(serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebPopup, Scopes: []string{"openid", "email", "profile", "drive.appdata"}}), serverauth.WithRedirectURL(serverauth.PostMessage)) // consented elsewhere

	loc, ck := wf.start(serverauth.StartReturnTo("/drive"))
	rec := wf.callback(wf.authorize(loc), ck)
	if rec.Code != http.StatusSeeOther || len(wf.signedIn) != 0 {
		t.Fatalf("first callback = %d, signed in %d; want a redirect back to Google", rec.Code, len(wf.signedIn))
	}
	again, _ := url.Parse(rec.Header().Get("Location"))
	if q := again.Query(); !strings.HasSuffix(again.Path, "/auth") || q.Get("prompt") != "consent" || q.Get("login_hint") != user.Sub {
		t.Fatalf("second authorization request %s: want prompt=consent for %s", again, user.Sub)
	}
	cookies := rec.Result().Cookies()
	ck2 := cookies[len(cookies)-1]
	rec = wf.callback(wf.authorize(again), ck2)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/drive" || len(wf.signedIn) != 1 || !wf.signedIn[0].RefreshTokenIssued {
		t.Fatalf("second callback = %d to %q, signed in %v (%v); want the user with a refresh token, sent to /drive", rec.Code, rec.Header().Get("Location"), wf.signedIn, wf.failed)
	}

	// When even consent brings none, the user is told, not looped.
	wf2 := newWebFixture(t, serverauth.WebSignInConfig{})
	loc, ck = wf2.start(serverauth.StartForUser(user.Sub))
	cb := wf2.authorize(withQuery(loc, "access_type", "online")) // Google would issue none
	if rec := wf2.callback(cb, ck); rec.Code != onErrorStatus || !errors.Is(wf2.lastFailure().err, serverauth.ErrNoRefreshToken) {
		t.Fatalf("consent without a refresh token = %d; want OnError with ErrNoRefreshToken", rec.Code)
	}
}

func TestWebSignInReturnTo(t *testing.T) {
	wf := newWebFixture(t, serverauth.WebSignInConfig{})
	loc, ck := wf.start(serverauth.StartReturnTo("/drive?tab=2"))
	if rec := wf.callback(wf.authorize(loc), ck); rec.Header().Get("Location") != "/drive?tab=2" {
		t.Fatalf("Location = %q, want /drive?tab=2", rec.Header().Get("Location"))
	}
	for _, bad := range []string{"https://evil.example/", "//evil.example", "/\\evil.example", "evil", "javascript:alert(1)", "/a\nb", " /a"} {
		rec := httptest.NewRecorder()
		err := wf.ws.Start(rec, httptest.NewRequest(http.MethodGet, "/login", nil), serverauth.StartReturnTo(bad))
		if err == nil || rec.Code != 200 || len(rec.Header()) != 0 {
			t.Errorf("Start(StartReturnTo(%q)) = %v, wrote %d %v; want an error and nothing written", bad, err, rec.Code, rec.Header())
		}
	}
}

// TestWebSignInOnSignInAnswers: an OnSignIn that writes its own answer is
// not followed by the redirect.
func TestWebSignInOnSignInAnswers(t *testing.T) {
	wf := newWebFixture(t, serverauth.WebSignInConfig{OnSignIn: func(w http.ResponseWriter, r *http.Request, res *serverauth.Result) {
		http.Redirect(w, r, "/welcome", http.StatusFound)
	}})
	loc, ck := wf.start()
	if rec := wf.callback(wf.authorize(loc), ck); rec.Code != http.StatusFound || rec.Header().Get("Location") != "/welcome" {
		t.Fatalf("callback = %d %q, want OnSignIn's 302 /welcome", rec.Code, rec.Header().Get("Location"))
	}
}

// TestWebSignInDefaultErrorPage: without OnError, failures are HTML pages
// whose status follows the error, with nothing secret in them.
func TestWebSignInDefaultErrorPage(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{RedirectURIs: []string{appCallback}}, withAuthURL)
	ws, err := f.e.WebSignIn(serverauth.WebSignInConfig{RedirectURL: appCallback})
	if err != nil {
		t.Fatal(err)
	}
	wf := &webFixture{storeFixture: f, ws: ws}
	loc, ck := wf.start()
	state := loc.Query().Get("state")
	for _, c := range []struct {
		name    string
		cb      *url.URL
		cookies []*http.Cookie
		status  int
	}{
		{"no cookie", withQuery(mustParse(appCallback), "code", "4/0Acode", "state", state), nil, 400},
		{"cancelled", withQuery(mustParse(appCallback), "error", "access_denied", "state", state), []*http.Cookie{ck}, 403},
	} {
		rec := wf.callback(c.cb, c.cookies...)
		if rec.Code != c.status || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d %s, want %d HTML", c.name, rec.Code, rec.Header().Get("Content-Type"), c.status)
		}
		if strings.Contains(rec.Body.String(), "4/0A") || strings.Contains(rec.Body.String(), state) {
			t.Errorf("%s: the page shows the code or state: %s", c.name, rec.Body)
		}
	}
	loc, ck = wf.start()
	attacker, _ := wf.start()
	code := wf.authorize(attacker).Query().Get("code")
	if rec := wf.callback(withQuery(wf.authorize(loc), "code", code), ck); rec.Code != 401 || strings.Contains(rec.Body.String(), code) {
		t.Errorf("injected code: %d %s, want 401 without the code", rec.Code, rec.Body)
	}
}

func TestWebSignInConfigErrors(t *testing.T) {
	tests := []struct {
		name   string
		cfg    func(*serverauth.Config)
		wcfg   serverauth.WebSignInConfig
		field  string
		noAuth bool // leave Endpoints.AuthURL to Google
	}{
		{name: "no redirect URL", field: "WebSignInConfig.RedirectURL"},
		{name: "relative redirect URL", wcfg: serverauth.WebSignInConfig{RedirectURL: "/auth/callback"}, field: "WebSignInConfig.RedirectURL"},
		{name: "http redirect URL", wcfg: serverauth.WebSignInConfig{RedirectURL: "http://app.example/auth/callback"}, field: "WebSignInConfig.RedirectURL"},
		{name: "redirect URL with a fragment", wcfg: serverauth.WebSignInConfig{RedirectURL: appCallback + "#x"}, field: "WebSignInConfig.RedirectURL"},
		{name: "redirect URL with an empty fragment", wcfg: serverauth.WebSignInConfig{RedirectURL: appCallback + "#"}, field: "WebSignInConfig.RedirectURL"},
		{name: "negative TTL", wcfg: serverauth.WebSignInConfig{RedirectURL: appCallback, StateTTL: -time.Second}, field: "WebSignInConfig.StateTTL"},
		{name: "TTL over an hour", wcfg: serverauth.WebSignInConfig{RedirectURL: appCallback, StateTTL: serverauth.MaxSignInStateTTL + time.Second}, field: "WebSignInConfig.StateTTL"},
		{name: "emulator token URL, Google's authorization URL", wcfg: serverauth.WebSignInConfig{RedirectURL: appCallback}, noAuth: true, field: "Endpoints.AuthURL"},
		{name: "persistent store, plaintext tokens", cfg: func(c *serverauth.Config) {
			c.Store, c.Cipher, c.InsecurePlaintextTokens = &countingStore{TokenStore: serverauth.NewMemoryStore()}, nil, true
		}, wcfg: serverauth.WebSignInConfig{RedirectURL: appCallback}, field: "Config.Cipher"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mut := []func(*serverauth.Config){}
			if tt.noAuth {
				mut = append(mut, func(c *serverauth.Config) { c.Endpoints.AuthURL = serverauth.GoogleAuthURL })
			}
			if tt.cfg != nil {
				mut = append(mut, tt.cfg)
			}
			f := newStoreFixture(t, serverauthtest.Options{}, mut...)
			_, err := f.e.WebSignIn(tt.wcfg)
			var ce *serverauth.ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("WebSignIn = %v, want a ConfigError for %s", err, tt.field)
			}
		})
	}
	// A StateStore needs no cipher.
	f := newStoreFixture(t, serverauthtest.Options{}, withAuthURL, func(c *serverauth.Config) {
		c.Store, c.Cipher, c.InsecurePlaintextTokens = &countingStore{TokenStore: serverauth.NewMemoryStore()}, nil, true
	})
	if _, err := f.e.WebSignIn(serverauth.WebSignInConfig{RedirectURL: appCallback, StateStore: &memStateStore{}}); err != nil {
		t.Fatalf("WebSignIn(StateStore, plaintext tokens) = %v", err)
	}
}

// TestWebSignInKeyRotation: a cookie sealed before a key rotation opens
// after it (the old key is still in the keyring), and one sealed by a
// dropped key does not.
func TestWebSignInKeyRotation(t *testing.T) {
	_, keys := testKeyring(t, 1, 2)
	old, _ := serverauth.NewKeyring(keys[0])
	rotated, _ := serverauth.NewKeyring(keys[1], keys[0])
	dropped, _ := serverauth.NewKeyring(keys[1])
	before := newWebFixture(t, serverauth.WebSignInConfig{}, func(c *serverauth.Config) { c.Cipher = old })
	loc, ck := before.start()
	cb := before.authorize(loc)
	for _, c := range []struct {
		kr   *serverauth.Keyring
		want int
	}{{dropped, onErrorStatus}, {rotated, http.StatusSeeOther}} {
		ws, err := before.newReplica(func(cfg *serverauth.Config) { cfg.Cipher = c.kr }).WebSignIn(serverauth.WebSignInConfig{RedirectURL: appCallback,
			OnError: func(w http.ResponseWriter, r *http.Request, res *serverauth.Result, err error) {
				w.WriteHeader(onErrorStatus)
			}})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodGet, cb.String(), nil)
		req.AddCookie(ck)
		rec := httptest.NewRecorder()
		ws.Callback(rec, req)
		if rec.Code != c.want {
			t.Errorf("keyring %v: callback %d, want %d", c.kr, rec.Code, c.want)
		}
	}
}
