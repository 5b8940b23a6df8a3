package serverauthtest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/serverauth/serverauth/serverauthtest"
)

func TestRevoke(t *testing.T) {
	tests := []struct {
		name string
		// which token to revoke, and how
		token      func(access, refresh string) string
		inQuery    bool
		wantStatus int
	}{
		{name: "refresh token in body", token: func(a, r string) string { return r }, wantStatus: 200},
		{name: "access token in body", token: func(a, r string) string { return a }, wantStatus: 200},
		{name: "access token in query", token: func(a, r string) string { return a }, inQuery: true, wantStatus: 200},
		{name: "unknown token", token: func(a, r string) string { return "ya29.a0unknown" }, wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, serverauthtest.Options{})
			tok := f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{}))
			access, refresh := tok.str("access_token"), tok.str("refresh_token")
			value := tt.token(access, refresh)
			var r *response
			if tt.inQuery {
				r = f.postForm(t, "/revoke?token="+url.QueryEscape(value), url.Values{}, nil)
			} else {
				r = f.postForm(t, "/revoke", url.Values{"token": {value}}, nil)
			}
			if tt.wantStatus == 400 {
				wantOAuthError(t, r, 400, "invalid_token", "Token expired or revoked")
				return
			}
			if r.status != 200 || strings.TrimSpace(string(r.raw)) != "{}" {
				t.Fatalf("revoke = %d %s, want 200 {}", r.status, r.raw)
			}
			reqs := f.srv.Requests(serverauthtest.EndpointRevoke)
			if len(reqs) != 1 {
				t.Fatalf("Requests(EndpointRevoke) has %d requests, want 1", len(reqs))
			}
			if got := reqs[0].Form.Get("token") != ""; got == tt.inQuery {
				t.Errorf("recorded token in body = %v, want %v", got, !tt.inQuery)
			}
			if got := reqs[0].Query.Get("token") != ""; got != tt.inQuery {
				t.Errorf("recorded token in query = %v, want %v", got, tt.inQuery)
			}
			// The whole grant is gone.
			wantOAuthError(t, f.refresh(t, refresh), 400, "invalid_grant", "Token has been expired or revoked.")
			if r := f.get(t, "/v1/userinfo", bearer(access)); r.status != 401 {
				t.Errorf("userinfo after revoke = %d, want 401", r.status)
			}
			// Revoking again is an error at Google (RFC 7009 says 200).
			wantOAuthError(t, f.postForm(t, "/revoke", url.Values{"token": {value}}, nil), 400, "invalid_token", "Token expired or revoked")
			// The next consent returns a refresh token again.
			if r := f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{})); r.str("refresh_token") == "" {
				t.Errorf("exchange after revoke has no refresh_token")
			}
		})
	}

	t.Run("GET is 404", func(t *testing.T) {
		f := newFixture(t, serverauthtest.Options{})
		refresh := f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{})).str("refresh_token")
		if r := f.get(t, "/revoke?token="+url.QueryEscape(refresh), nil); r.status != 404 {
			t.Errorf("GET /revoke = %d, want 404", r.status)
		}
		if r := f.refresh(t, refresh); r.status != 200 {
			t.Errorf("refresh after GET /revoke = %d, want 200 (not revoked)", r.status)
		}
	})

	t.Run("legacy path and no client auth", func(t *testing.T) {
		f := newFixture(t, serverauthtest.Options{})
		refresh := f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{})).str("refresh_token")
		if r := f.postForm(t, "/o/oauth2/revoke", url.Values{"token": {refresh}}, nil); r.status != 200 {
			t.Errorf("POST /o/oauth2/revoke = %d %s, want 200", r.status, r.raw)
		}
	})
}

func TestTokenInfo(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	u := serverauthtest.DemoUser()
	u.HostedDomain = "example.com"
	tok := f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{User: u, Scopes: []string{"openid", "email", "drive.appdata"}}))

	t.Run("id_token", func(t *testing.T) {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			t.Run(method, func(t *testing.T) {
				var r *response
				if method == http.MethodGet {
					r = f.get(t, "/tokeninfo?id_token="+tok.str("id_token"), nil)
				} else {
					r = f.postForm(t, "/oauth2/v3/tokeninfo", url.Values{"id_token": {tok.str("id_token")}}, nil)
				}
				if r.status != 200 {
					t.Fatalf("tokeninfo = %d %s, want 200", r.status, r.raw)
				}
				for name, v := range r.json {
					if _, ok := v.(string); !ok {
						t.Errorf("tokeninfo %s = %#v, want a string", name, v)
					}
				}
				want := map[string]string{
					"iss": "https://accounts.google.com", "aud": f.srv.WebClientID(), "azp": f.srv.IOSClientID(), "sub": u.Sub,
					"email": u.Email, "email_verified": "true", "hd": "example.com",
					"iat": strconv.FormatInt(start.Unix(), 10), "exp": strconv.FormatInt(start.Add(time.Hour).Unix(), 10),
					"alg": "RS256", "kid": f.srv.SigningKeyID(), "typ": "JWT",
				}
				for name, w := range want {
					if got := r.str(name); got != w {
						t.Errorf("tokeninfo %s = %q, want %q", name, got, w)
					}
				}
			})
		}
	})

	t.Run("access_token", func(t *testing.T) {
		f.clock.Advance(99 * time.Second)
		defer f.clock.Advance(-99 * time.Second)
		r := f.get(t, "/tokeninfo?access_token="+url.QueryEscape(tok.str("access_token")), nil)
		if r.status != 200 {
			t.Fatalf("tokeninfo = %d %s, want 200", r.status, r.raw)
		}
		want := map[string]string{
			"azp": f.srv.WebClientID(), "aud": f.srv.WebClientID(), "sub": u.Sub,
			"exp": strconv.FormatInt(start.Add(3599*time.Second).Unix(), 10), "expires_in": "3500",
			"email": u.Email, "email_verified": "true", "access_type": "offline",
		}
		if len(r.json) != len(want)+1 {
			t.Errorf("tokeninfo members = %v, want %d", r.json, len(want)+1)
		}
		for name, w := range want {
			if got := r.str(name); got != w {
				t.Errorf("tokeninfo %s = %q, want %q", name, got, w)
			}
		}
		if got := r.str("scope"); !sameSet(got, "openid", scopeEmail, scopeAppData) {
			t.Errorf("tokeninfo scope = %q", got)
		}
	})

	tests := []struct {
		name  string
		query string
	}{
		{name: "garbage id_token", query: "id_token=abc"},
		{name: "unknown access_token", query: "access_token=ya29.a0nothing"},
		{name: "id_token signed by an unpublished key", query: "id_token=" + f.srv.SignUnpublished([]byte(`{"alg":"RS256","kid":"`+f.srv.SigningKeyID()+`","typ":"JWT"}`), []byte(`{"sub":"1","exp":9999999999}`))},
		{name: "expired id_token", query: "id_token=" + f.srv.Sign([]byte(`{"alg":"RS256","kid":"`+f.srv.SigningKeyID()+`","typ":"JWT"}`), []byte(`{"sub":"1","exp":`+strconv.FormatInt(start.Unix(), 10)+`}`))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantOAuthError(t, f.get(t, "/tokeninfo?"+tt.query, nil), 400, "invalid_token", "Invalid Value")
		})
	}
}

func TestUserInfo(t *testing.T) {
	u := serverauthtest.User{
		Sub: "123456789012345678901", Email: "ada@example.com", EmailVerified: true, Name: "Ada Lovelace",
		GivenName: "Ada", FamilyName: "Lovelace", Picture: "https://lh3.googleusercontent.com/a/ada", Locale: "en-GB", HostedDomain: "example.com",
	}
	tests := []struct {
		name   string
		scopes []string
		want   map[string]any
	}{
		{
			name: "email and profile", scopes: []string{"openid", "email", "profile"},
			want: map[string]any{"sub": u.Sub, "name": u.Name, "given_name": u.GivenName, "family_name": u.FamilyName, "picture": u.Picture,
				"email": u.Email, "email_verified": true, "hd": u.HostedDomain, "locale": u.Locale},
		},
		{name: "email only", scopes: []string{"openid", "email"}, want: map[string]any{"sub": u.Sub, "email": u.Email, "email_verified": true, "hd": u.HostedDomain}},
		{name: "openid only", scopes: []string{"openid"}, want: map[string]any{"sub": u.Sub}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, serverauthtest.Options{})
			at := f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{User: u, Scopes: tt.scopes})).str("access_token")
			for _, path := range []string{"/v1/userinfo", "/oauth2/v3/userinfo"} {
				r := f.get(t, path, bearer(at))
				var got map[string]any
				if err := json.Unmarshal(r.raw, &got); err != nil || r.status != 200 {
					t.Fatalf("GET %s = %d %s, want 200 JSON", path, r.status, r.raw)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("GET %s = %v, want %v", path, got, tt.want)
				}
			}
		})
	}

	t.Run("bad token", func(t *testing.T) {
		f := newFixture(t, serverauthtest.Options{})
		tests := []struct {
			name          string
			edit          func(*http.Request)
			wantChallenge string
		}{
			{name: "unknown", edit: bearer("ya29.a0nope"), wantChallenge: `Bearer realm="https://accounts.google.com/", error="invalid_token"`},
			{name: "none", wantChallenge: `Bearer realm="https://accounts.google.com/"`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := f.get(t, "/v1/userinfo", tt.edit)
				wantOAuthError(t, r, 401, "invalid_request", "Invalid Credentials")
				if got := r.header.Get("WWW-Authenticate"); got != tt.wantChallenge {
					t.Errorf("WWW-Authenticate = %q, want %q", got, tt.wantChallenge)
				}
			})
		}
	})
}

func TestDiscovery(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	r := f.get(t, "/.well-known/openid-configuration", nil)
	if r.status != 200 {
		t.Fatalf("discovery = %d, want 200", r.status)
	}
	e := f.srv.Endpoints()
	want := map[string]string{
		"issuer":                 "https://accounts.google.com",
		"authorization_endpoint": f.srv.URL + "/o/oauth2/v2/auth",
		"token_endpoint":         e.TokenURL,
		"userinfo_endpoint":      f.srv.UserInfoURL(),
		"revocation_endpoint":    e.RevokeURL,
		"jwks_uri":               e.JWKSURL,
		"tokeninfo_endpoint":     f.srv.URL + serverauthtest.TokenInfoPath,
		"pem_certs_uri":          f.srv.URL + "/oauth2/v1/certs",
		"drive_base_url":         f.srv.URL + "/drive/v3/",
	}
	for name, w := range want {
		if got := r.str(name); got != w {
			t.Errorf("discovery %s = %q, want %q", name, got, w)
		}
	}
	var doc struct {
		Auth  []string `json:"token_endpoint_auth_methods_supported"`
		PKCE  []string `json:"code_challenge_methods_supported"`
		Algs  []string `json:"id_token_signing_alg_values_supported"`
		Grant []string `json:"grant_types_supported"`
		Resp  []string `json:"response_types_supported"`
	}
	if err := json.Unmarshal(r.raw, &doc); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(doc.Auth, []string{"client_secret_post", "client_secret_basic"}) ||
		!reflect.DeepEqual(doc.PKCE, []string{"plain", "S256"}) || !reflect.DeepEqual(doc.Algs, []string{"RS256"}) ||
		!reflect.DeepEqual(doc.Grant, []string{"authorization_code", "refresh_token"}) || !reflect.DeepEqual(doc.Resp, []string{"code"}) {
		t.Errorf("discovery = %+v, want Google's values for what the fake implements", doc)
	}
	// Every advertised URL is served: no member ending in _endpoint, _uri
	// or _url names a path the fake answers with 404.
	for name, v := range r.json {
		u, ok := v.(string)
		if !ok || name == "issuer" || !(strings.HasSuffix(name, "_endpoint") || strings.HasSuffix(name, "_uri") || strings.HasSuffix(name, "_url")) {
			continue
		}
		if !strings.HasPrefix(u, f.srv.URL+"/") {
			t.Errorf("discovery %s = %q, not on the server", name, u)
			continue
		}
		path := strings.TrimPrefix(u, f.srv.URL)
		var r *response
		switch name {
		case "revocation_endpoint": // GET answers Google's 404 page
			r = f.postForm(t, path, url.Values{}, nil)
		case "drive_base_url":
			r = f.get(t, path+"files?spaces=appDataFolder", nil)
		default:
			r = f.get(t, path, nil)
		}
		if r.status == http.StatusNotFound {
			t.Errorf("discovery %s: %s = 404", name, u)
		}
	}
}

func TestEmulatorCodes(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantField string // "" means success
		check     func(t *testing.T, f *fixture, tok *response)
	}{
		{
			name: "defaults are DemoUser on iOS",
			body: `{}`,
			check: func(t *testing.T, f *fixture, tok *response) {
				j := f.verifyJWT(t, tok.str("id_token"))
				if j.claims["sub"] != serverauthtest.DemoUser().Sub || j.claims["azp"] != f.srv.IOSClientID() || j.claims["email"] != serverauthtest.DemoUser().Email {
					t.Errorf("claims = %v, want DemoUser via iOS", j.claims)
				}
			},
		},
		{
			name: "custom user, scope and origin",
			body: `{"sub":"111111111111111111111","email":"bob@example.org","email_verified":false,"name":"Bob","hd":"example.org",
				"scope":"openid email drive.appdata","granted_scope":"openid email","origin":"web-popup","nonce":"n-1"}`,
			check: func(t *testing.T, f *fixture, tok *response) {},
		},
		{name: "bad origin", body: `{"origin":"desktop"}`, wantField: "origin"},
		{name: "bad sub", body: `{"sub":"abc"}`, wantField: "sub"},
		{name: "unknown field", body: `{"subject":"1"}`, wantField: "subject"},
		{name: "bad access_type", body: `{"access_type":"sometimes"}`, wantField: "access_type"},
		{name: "redirect for popup", body: `{"origin":"web-popup","redirect_uri":"http://127.0.0.1/callback"}`, wantField: "redirect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, serverauthtest.Options{})
			req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/emulator/codes", bytes.NewBufferString(tt.body))
			req.Header.Set("Content-Type", "application/json")
			r := f.do(t, req)
			if tt.wantField != "" {
				if r.status != 400 || r.str("error") != "invalid_request" || !strings.Contains(r.str("error_description"), tt.wantField) {
					t.Errorf("POST /emulator/codes %s = %d %s, want 400 naming %q", tt.body, r.status, r.raw, tt.wantField)
				}
				return
			}
			code := r.str("code")
			if r.status != 200 || !strings.HasPrefix(code, "4/0A") {
				t.Fatalf("POST /emulator/codes = %d %s, want 200 with a code", r.status, r.raw)
			}
			var origin struct{ Origin string }
			json.Unmarshal([]byte(tt.body), &origin)
			extra := []string{}
			if origin.Origin == "web-popup" {
				extra = []string{"redirect_uri", "postmessage"}
			}
			tok := f.mustExchange(t, code, extra...)
			tt.check(t, f, tok)
		})
	}

	t.Run("custom user claims", func(t *testing.T) {
		f := newFixture(t, serverauthtest.Options{})
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/emulator/codes", strings.NewReader(
			`{"sub":"111111111111111111111","email":"bob@example.org","email_verified":false,"hd":"example.org","scope":"openid email drive.appdata","granted_scope":"openid email","origin":"web-popup","nonce":"n-1"}`))
		code := f.do(t, req).str("code")
		tok := f.mustExchange(t, code, "redirect_uri", "postmessage")
		if got := tok.str("scope"); !sameSet(got, "openid", scopeEmail) {
			t.Errorf("scope = %q, want openid and email", got)
		}
		j := f.verifyJWT(t, tok.str("id_token"))
		want := map[string]any{"sub": "111111111111111111111", "email": "bob@example.org", "email_verified": false, "hd": "example.org", "nonce": "n-1", "azp": f.srv.WebClientID()}
		for k, v := range want {
			if j.claims[k] != v {
				t.Errorf("claim %s = %#v, want %#v", k, j.claims[k], v)
			}
		}
	})

	t.Run("GET", func(t *testing.T) {
		f := newFixture(t, serverauthtest.Options{})
		if r := f.get(t, "/emulator/codes", nil); r.status != http.StatusMethodNotAllowed {
			t.Errorf("GET /emulator/codes = %d, want 405", r.status)
		}
	})
}

func TestAuthEndpoint(t *testing.T) {
	const verifier = "a-verifier-of-at-least-forty-three-characters-0123"
	f := newFixture(t, serverauthtest.Options{})
	authURL := func(edit func(url.Values)) string {
		v := url.Values{
			"client_id":     {f.srv.WebClientID()},
			"redirect_uri":  {serverauthtest.DefaultRedirectURI},
			"response_type": {"code"},
			"scope":         {"openid email drive.appdata"},
			"state":         {"st-42"},
		}
		if edit != nil {
			edit(v)
		}
		return "/o/oauth2/v2/auth?" + v.Encode()
	}

	t.Run("consent and redirect", func(t *testing.T) {
		r := f.get(t, authURL(func(v url.Values) {
			v.Set("access_type", "offline")
			v.Set("code_challenge", s256(verifier))
			v.Set("code_challenge_method", "S256")
			v.Set("nonce", "nonce-7")
		}), nil)
		if r.status != http.StatusFound {
			t.Fatalf("auth = %d %s, want 302", r.status, r.raw)
		}
		loc, err := url.Parse(r.header.Get("Location"))
		if err != nil || !strings.HasPrefix(loc.String(), serverauthtest.DefaultRedirectURI+"?") {
			t.Fatalf("Location = %q, want the redirect URI", r.header.Get("Location"))
		}
		q := loc.Query()
		if q.Get("state") != "st-42" || q.Get("authuser") != "0" || q.Get("prompt") != "consent" || !sameSet(q.Get("scope"), "openid", scopeEmail, scopeAppData) {
			t.Errorf("redirect query = %v, want state, authuser=0, prompt=consent and normalised scope", q)
		}
		tok := f.exchange(t, q.Get("code"), "redirect_uri", serverauthtest.DefaultRedirectURI)
		wantOAuthError(t, tok, 400, "invalid_grant", "Missing code verifier.")
		tok = f.mustExchange(t, q.Get("code"), "redirect_uri", serverauthtest.DefaultRedirectURI, "code_verifier", verifier)
		if tok.str("refresh_token") == "" {
			t.Errorf("offline first consent has no refresh_token")
		}
		j := f.verifyJWT(t, tok.str("id_token"))
		if j.claims["nonce"] != "nonce-7" || j.claims["sub"] != serverauthtest.DemoUser().Sub || j.claims["azp"] != f.srv.WebClientID() {
			t.Errorf("claims = %v, want DemoUser, nonce-7, azp web", j.claims)
		}
	})

	t.Run("second consent", func(t *testing.T) {
		tests := []struct {
			name       string
			edit       func(url.Values)
			wantPrompt string
			wantRT     bool
		}{
			{name: "online by default", wantPrompt: "none", wantRT: false},
			{name: "offline no prompt", edit: func(v url.Values) { v.Set("access_type", "offline") }, wantPrompt: "none", wantRT: false},
			{name: "offline prompt=consent", edit: func(v url.Values) { v.Set("access_type", "offline"); v.Set("prompt", "consent") }, wantPrompt: "consent", wantRT: true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := f.get(t, authURL(tt.edit), nil)
				loc, _ := url.Parse(r.header.Get("Location"))
				if got := loc.Query().Get("prompt"); got != tt.wantPrompt {
					t.Errorf("prompt = %q, want %q", got, tt.wantPrompt)
				}
				tok := f.mustExchange(t, loc.Query().Get("code"), "redirect_uri", serverauthtest.DefaultRedirectURI)
				if got := tok.str("refresh_token") != ""; got != tt.wantRT {
					t.Errorf("refresh_token present = %v, want %v", got, tt.wantRT)
				}
			})
		}
	})

	t.Run("login_hint", func(t *testing.T) {
		r := f.get(t, authURL(func(v url.Values) { v.Set("login_hint", "carol@corp.example") }), nil)
		loc, _ := url.Parse(r.header.Get("Location"))
		j := f.verifyJWT(t, f.mustExchange(t, loc.Query().Get("code"), "redirect_uri", serverauthtest.DefaultRedirectURI).str("id_token"))
		sub, _ := j.claims["sub"].(string)
		if j.claims["email"] != "carol@corp.example" || j.claims["hd"] != "corp.example" || len(sub) != 21 || sub == serverauthtest.DemoUser().Sub {
			t.Errorf("claims = %v, want carol with her own 21-digit sub and hd", j.claims)
		}
	})

	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			name       string
			edit       func(url.Values)
			wantStatus int
			wantText   string // in the page or the redirect's error
		}{
			{name: "unknown client", edit: func(v url.Values) { v.Set("client_id", "nobody") }, wantStatus: 401, wantText: "invalid_client"},
			{name: "unregistered redirect", edit: func(v url.Values) { v.Set("redirect_uri", "https://evil.example/cb") }, wantStatus: 400, wantText: "redirect_uri_mismatch"},
			{name: "bad response_type", edit: func(v url.Values) { v.Set("response_type", "token") }, wantStatus: 302, wantText: "unsupported_response_type"},
			{name: "no scope", edit: func(v url.Values) { v.Del("scope") }, wantStatus: 302, wantText: "invalid_request"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := f.get(t, authURL(tt.edit), nil)
				if r.status != tt.wantStatus {
					t.Fatalf("auth = %d, want %d", r.status, tt.wantStatus)
				}
				text := string(r.raw)
				if r.status == 302 {
					loc, _ := url.Parse(r.header.Get("Location"))
					text = loc.Query().Get("error")
					if loc.Query().Get("state") != "st-42" {
						t.Errorf("error redirect lost state: %s", loc)
					}
				}
				if !strings.Contains(text, tt.wantText) {
					t.Errorf("auth error = %q, want it to mention %q", text, tt.wantText)
				}
			})
		}
	})
}

func TestRequestsAndCounts(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	code := f.mint(t, serverauthtest.CodeRequest{})
	f.clock.Advance(time.Second)
	f.mustExchange(t, code)
	f.get(t, "/oauth2/v3/certs", nil)
	reqs := f.srv.Requests(serverauthtest.EndpointToken)
	if len(reqs) != 1 {
		t.Fatalf("Requests(EndpointToken) = %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != "/token" || r.Form.Get("code") != code || r.Form.Get("client_secret") != f.srv.WebClientSecret() ||
		!r.Time.Equal(start.Add(time.Second)) || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		t.Errorf("Requests(EndpointToken)[0] = %+v", r)
	}
	r.Form.Set("code", "changed")
	if got := f.srv.Requests(serverauthtest.EndpointToken)[0].Form.Get("code"); got != code {
		t.Errorf("Requests returned a shared map: code = %q after change, want %q", got, code)
	}
	if got := f.srv.RequestCount(serverauthtest.EndpointJWKS); got != 1 {
		t.Errorf("RequestCount(EndpointJWKS) = %d, want 1", got)
	}
	f.srv.ResetCounts()
	if got, got2 := f.srv.RequestCount(serverauthtest.EndpointToken), f.srv.CodeExchangeCount(code); got != 0 || got2 != 0 {
		t.Errorf("after ResetCounts: RequestCount = %d, CodeExchangeCount = %d, want 0, 0", got, got2)
	}
}

func TestServerHelpers(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	cfg := f.srv.Config()
	if cfg.ClientID != serverauthtest.DefaultWebClientID || cfg.ClientSecret != serverauthtest.DefaultWebClientSecret ||
		!reflect.DeepEqual(cfg.AllowedClientIDs, []string{serverauthtest.DefaultIOSClientID, serverauthtest.DefaultAndroidClientID}) ||
		cfg.Endpoints != f.srv.Endpoints() || cfg.HTTPClient == nil || cfg.Now == nil || !cfg.Now().Equal(start) {
		t.Errorf("Config() = %+v", cfg)
	}
	var cs struct {
		Web struct {
			ClientID     string   `json:"client_id"`
			ClientSecret string   `json:"client_secret"`
			TokenURI     string   `json:"token_uri"`
			RedirectURIs []string `json:"redirect_uris"`
			ProjectID    string   `json:"project_id"`
		}
	}
	if err := json.Unmarshal(f.srv.ClientSecretJSON(), &cs); err != nil {
		t.Fatal(err)
	}
	if cs.Web.ClientID != f.srv.WebClientID() || cs.Web.ClientSecret != f.srv.WebClientSecret() || cs.Web.TokenURI != f.srv.URL+"/token" ||
		!reflect.DeepEqual(cs.Web.RedirectURIs, []string{serverauthtest.DefaultRedirectURI}) || cs.Web.ProjectID != serverauthtest.DefaultProjectID {
		t.Errorf("ClientSecretJSON() = %+v", cs)
	}
	if !strings.HasPrefix(f.srv.URL, "https://127.0.0.1:") {
		t.Errorf("URL = %q, want https on loopback", f.srv.URL)
	}
	if _, err := http.Get(f.srv.URL + "/oauth2/v3/certs"); err == nil {
		t.Errorf("http.Get with the default client succeeded, want a certificate error")
	}
}

func TestClock(t *testing.T) {
	c := serverauthtest.NewClock(start)
	tests := []struct {
		name string
		act  func()
		want time.Time
	}{
		{name: "start", act: func() {}, want: start},
		{name: "advance", act: func() { c.Advance(time.Hour) }, want: start.Add(time.Hour)},
		{name: "back", act: func() { c.Advance(-time.Minute) }, want: start.Add(59 * time.Minute)},
		{name: "set", act: func() { c.Set(start.Add(-time.Hour)) }, want: start.Add(-time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.act()
			if got := c.Now(); !got.Equal(tt.want) {
				t.Errorf("Now() = %v, want %v", got, tt.want)
			}
		})
	}
}
