package serverauth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// gisPost is a login_uri POST as Google Identity Services sends it.
type gisPost struct {
	method      string
	contentType string
	body        string
	cookie      string // g_csrf_token cookie; "" for none
	emptyCookie bool   // send the cookie with an empty value
}

func (p gisPost) serve(t *testing.T, h http.Handler) *httptest.ResponseRecorder {
	t.Helper()
	method := p.method
	if method == "" {
		method = http.MethodPost
	}
	req := httptest.NewRequest(method, "https://app.example/login/gis", strings.NewReader(p.body))
	ct := p.contentType
	if ct == "" {
		ct = "application/x-www-form-urlencoded"
	}
	req.Header.Set("Content-Type", ct)
	// GIS posts from Google's origin.
	req.Header.Set("Origin", "https://accounts.google.com")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if p.cookie != "" || p.emptyCookie {
		req.AddCookie(&http.Cookie{Name: "g_csrf_token", Value: p.cookie})
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func gisForm(credential, csrf string) string {
	v := url.Values{}
	if credential != "" {
		v.Set("credential", credential)
	}
	if csrf != "" {
		v.Set("g_csrf_token", csrf)
	}
	return v.Encode()
}

func TestGISLoginHandler(t *testing.T) {
	const csrf = "7c1f0e9a2b4d6c8e"
	webToken := func(f *storeFixture) string { return f.g.IDToken(serverauthtest.DemoUser(), f.g.WebClientID()) }
	tests := []struct {
		name       string
		post       func(f *storeFixture) gisPost
		cfg        serverauth.GISLoginConfig
		unknown    bool // the user has no stored grant
		wantStatus int
		wantErr    func(t *testing.T, err error)
	}{
		{name: "signs in", post: func(f *storeFixture) gisPost { return gisPost{body: gisForm(webToken(f), csrf), cookie: csrf} }, wantStatus: http.StatusSeeOther},
		{name: "no cookie", post: func(f *storeFixture) gisPost { return gisPost{body: gisForm(webToken(f), csrf)} }, wantStatus: onErrorStatus, wantErr: wantIs(serverauth.ErrCSRF)},
		{name: "no body field", post: func(f *storeFixture) gisPost { return gisPost{body: gisForm(webToken(f), ""), cookie: csrf} }, wantStatus: onErrorStatus, wantErr: wantIs(serverauth.ErrCSRF)},
		{name: "cookie and field differ", post: func(f *storeFixture) gisPost {
			return gisPost{body: gisForm(webToken(f), csrf), cookie: csrf + "0"}
		}, wantStatus: onErrorStatus, wantErr: wantIs(serverauth.ErrCSRF)},
		{name: "cookie a prefix of the field", post: func(f *storeFixture) gisPost {
			return gisPost{body: gisForm(webToken(f), csrf), cookie: csrf[:8]}
		}, wantStatus: onErrorStatus, wantErr: wantIs(serverauth.ErrCSRF)},
		{name: "cookie and field both empty", post: func(f *storeFixture) gisPost {
			return gisPost{body: "credential=" + url.QueryEscape(webToken(f)) + "&g_csrf_token=", emptyCookie: true}
		}, wantStatus: onErrorStatus, wantErr: wantIs(serverauth.ErrCSRF)},
		{name: "field twice", post: func(f *storeFixture) gisPost {
			return gisPost{body: gisForm(webToken(f), csrf) + "&g_csrf_token=x", cookie: csrf}
		}, wantStatus: 400},
		{name: "credential twice", post: func(f *storeFixture) gisPost {
			return gisPost{body: gisForm(webToken(f), csrf) + "&credential=x", cookie: csrf}
		}, wantStatus: 400},
		{name: "no credential", post: func(f *storeFixture) gisPost { return gisPost{body: gisForm("", csrf), cookie: csrf} }, wantStatus: 400},
		{name: "GET", post: func(f *storeFixture) gisPost { return gisPost{method: http.MethodGet, cookie: csrf} }, wantStatus: 405},
		{name: "JSON", post: func(f *storeFixture) gisPost {
			return gisPost{contentType: "application/json", body: `{"credential":"x","g_csrf_token":"` + csrf + `"}`, cookie: csrf}
		}, wantStatus: 415},
		{name: "huge body", post: func(f *storeFixture) gisPost {
			return gisPost{body: "credential=" + strings.Repeat("a", serverauth.MaxSignInBody), cookie: csrf}
		}, wantStatus: 413},
		{name: "forged credential", post: func(f *storeFixture) gisPost {
			return gisPost{body: gisForm(f.sign(f.baseClaims().with("aud", `"someone-else"`)), csrf), cookie: csrf}
		}, wantStatus: onErrorStatus, wantErr: func(t *testing.T, err error) { wantReason(t, err, serverauth.ReasonAudience) }},
		{name: "nonce checked", cfg: serverauth.GISLoginConfig{VerifyOptions: func(r *http.Request) []serverauth.VerifyOption {
			return []serverauth.VerifyOption{serverauth.RequireNonce("the session's nonce")}
		}}, post: func(f *storeFixture) gisPost {
			return gisPost{body: gisForm(f.sign(f.baseClaims().plus("nonce", `"another nonce"`)), csrf), cookie: csrf}
		}, wantStatus: onErrorStatus, wantErr: func(t *testing.T, err error) { wantReason(t, err, serverauth.ReasonNonce) }},
		{name: "nonce matches", cfg: serverauth.GISLoginConfig{VerifyOptions: func(r *http.Request) []serverauth.VerifyOption {
			return []serverauth.VerifyOption{serverauth.RequireNonce("the session's nonce")}
		}}, post: func(f *storeFixture) gisPost {
			return gisPost{body: gisForm(f.sign(f.baseClaims().plus("nonce", `"the session's nonce"`)), csrf), cookie: csrf}
		}, wantStatus: http.StatusSeeOther},
		{name: "a user without a grant", unknown: true, post: func(f *storeFixture) gisPost { return gisPost{body: gisForm(webToken(f), csrf), cookie: csrf} },
			wantStatus: onErrorStatus, wantErr: wantIs(serverauth.ErrNoRefreshToken)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newStoreFixture(t, serverauthtest.Options{})
			if !tt.unknown {
				f.signIn(serverauthtest.CodeRequest{})
			}
			var (
				signedIn *serverauth.Result
				gotRes   *serverauth.Result
				gotErr   error
			)
			cfg := tt.cfg
			cfg.OnSignIn = func(w http.ResponseWriter, r *http.Request, res *serverauth.Result) { signedIn = res }
			cfg.OnError = func(w http.ResponseWriter, r *http.Request, res *serverauth.Result, err error) {
				gotRes, gotErr = res, err
				w.WriteHeader(onErrorStatus)
			}
			h, err := f.e.GISLoginHandler(cfg)
			if err != nil {
				t.Fatal(err)
			}
			rec := tt.post(f).serve(t, h)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d (%s), want %d", rec.Code, rec.Body, tt.wantStatus)
			}
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", rec.Header().Get("Cache-Control"))
			}
			if tt.wantStatus == http.StatusSeeOther {
				if signedIn == nil || signedIn.UserID != serverauthtest.DemoUser().Sub || rec.Header().Get("Location") != "/" {
					t.Fatalf("OnSignIn got %v, Location %q", signedIn, rec.Header().Get("Location"))
				}
				return
			}
			if signedIn != nil {
				t.Fatalf("OnSignIn called with %v", signedIn)
			}
			if tt.wantErr != nil {
				tt.wantErr(t, gotErr)
			}
			if tt.unknown && (gotRes == nil || gotRes.UserID != serverauthtest.DemoUser().Sub) {
				t.Errorf("OnError got Result %v, want the verified user", gotRes)
			}
		})
	}
}

func wantIs(target error) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, target) {
			t.Fatalf("error = %v, want %v", err, target)
		}
	}
}

// TestGISLoginHandlerSendsNewUsersThroughWebSignIn: a verified user without
// a grant is sent to Google for their account, and once they consent the
// grant is stored and they are signed in.
func TestGISLoginHandlerSendsNewUsersThroughWebSignIn(t *testing.T) {
	wf := newWebFixture(t, serverauth.WebSignInConfig{})
	h, err := wf.e.GISLoginHandler(serverauth.GISLoginConfig{WebSignIn: wf.ws, StartOptions: func(r *http.Request, res *serverauth.Result) []serverauth.StartOption {
		return []serverauth.StartOption{serverauth.StartReturnTo("/welcome?user=" + res.UserID)}
	}})
	if err != nil {
		t.Fatal(err)
	}
	user := serverauthtest.DemoUser()
	rec := gisPost{body: gisForm(wf.g.IDToken(user, wf.g.WebClientID()), "c"), cookie: "c"}.serve(t, h)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("status = %d (%s), want 303 to Google", rec.Code, rec.Body)
	}
	loc, _ := url.Parse(rec.Header().Get("Location"))
	if q := loc.Query(); q.Get("login_hint") != user.Sub || q.Get("prompt") != "consent" || q.Get("redirect_uri") != appCallback {
		t.Fatalf("sent to %s: want the user's account, consent and the callback", loc)
	}
	ck := rec.Result().Cookies()[0]
	if rec := wf.callback(wf.authorize(loc), ck); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/welcome?user="+user.Sub || len(wf.signedIn) != 1 || !wf.signedIn[0].RefreshTokenIssued {
		t.Fatalf("callback = %d, signed in %v", rec.Code, wf.signedIn)
	}
	if stored, err := wf.store.Get(context.Background(), user.Sub); err != nil || len(stored.RefreshToken) == 0 {
		t.Fatalf("stored %v, %v; want the grant", stored, err)
	}
	// Signed in with a grant, the next GIS sign-in needs no detour.
	if rec := (gisPost{body: gisForm(wf.g.IDToken(user, wf.g.WebClientID()), "c"), cookie: "c"}).serve(t, h); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/" {
		t.Fatalf("second GIS sign-in = %d to %q, want 303 to /", rec.Code, rec.Header().Get("Location"))
	}
}

// TestGISLoginHandlerDefaultPages: without OnError, failures are HTML with
// the status of their class.
func TestGISLoginHandlerDefaultPages(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	h, err := f.e.GISLoginHandler(serverauth.GISLoginConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tok := f.g.IDToken(serverauthtest.DemoUser(), f.g.WebClientID())
	for _, c := range []struct {
		post gisPost
		want int
	}{
		{gisPost{body: gisForm(tok, "a"), cookie: "b"}, 403},
		{gisPost{body: gisForm(tok, "a"), cookie: "a"}, 403}, // no grant stored: consent_required
		{gisPost{body: gisForm("x.y.z", "a"), cookie: "a"}, 401},
	} {
		rec := c.post.serve(t, h)
		if rec.Code != c.want || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") || strings.Contains(rec.Body.String(), tok) {
			t.Errorf("status %d %s, want %d HTML without the token", rec.Code, rec.Header().Get("Content-Type"), c.want)
		}
	}
}
