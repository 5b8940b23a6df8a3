package serverauthtest_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/serverauth/serverauth/serverauthtest"
)

// otherProject registers a web client of another project and returns it.
func otherProject(f *fixture) serverauthtest.Client {
	c := serverauthtest.Client{
		ID:           "987654321098-0th3rpr0j3ctw3bc113nt00000000000.apps.googleusercontent.com",
		Secret:       "GOCSPX-0th3rS3cr3t",
		Type:         serverauthtest.ClientWeb,
		ProjectID:    "other-project-1",
		RedirectURIs: []string{"https://other.example/cb"},
	}
	f.srv.RegisterClient(c)
	return c
}

// TestTokenErrorCatalogue checks each row of the token-endpoint error catalogue the fake
// produces: status, error and error_description.
func TestTokenErrorCatalogue(t *testing.T) {
	tests := []struct {
		name string
		// form returns the request body; it may act on the fixture first.
		form       func(t *testing.T, f *fixture) url.Values
		opts       serverauthtest.Options
		wantStatus int
		wantError  string
		wantDesc   string
	}{
		{
			name:       "missing code",
			form:       func(t *testing.T, f *fixture) url.Values { return f.codeForm("") },
			wantStatus: 400, wantError: "invalid_request", wantDesc: "Missing required parameter: code",
		},
		{
			name: "missing grant_type",
			form: func(t *testing.T, f *fixture) url.Values {
				v := f.codeForm(f.mint(t, serverauthtest.CodeRequest{}))
				v.Del("grant_type")
				return v
			},
			wantStatus: 400, wantError: "unsupported_grant_type", wantDesc: "Invalid grant_type: ",
		},
		{
			name: "unsupported grant_type",
			form: func(t *testing.T, f *fixture) url.Values {
				v := f.webCreds()
				v.Set("grant_type", "password")
				return v
			},
			wantStatus: 400, wantError: "unsupported_grant_type", wantDesc: "Invalid grant_type: password",
		},
		{
			name: "no client id",
			form: func(t *testing.T, f *fixture) url.Values {
				v := f.codeForm(f.mint(t, serverauthtest.CodeRequest{}))
				v.Del("client_id")
				v.Del("client_secret")
				return v
			},
			wantStatus: 400, wantError: "invalid_request", wantDesc: "Could not determine client ID from request.",
		},
		{
			name: "unknown client",
			form: func(t *testing.T, f *fixture) url.Values {
				v := f.codeForm(f.mint(t, serverauthtest.CodeRequest{}))
				v.Set("client_id", "000000000000-nosuchclient.apps.googleusercontent.com")
				return v
			},
			wantStatus: 401, wantError: "invalid_client", wantDesc: "The OAuth client was not found.",
		},
		{
			name: "wrong secret",
			form: func(t *testing.T, f *fixture) url.Values {
				v := f.codeForm(f.mint(t, serverauthtest.CodeRequest{}))
				v.Set("client_secret", "GOCSPX-wrong")
				return v
			},
			wantStatus: 401, wantError: "invalid_client", wantDesc: "Unauthorized",
		},
		{
			name: "missing secret",
			form: func(t *testing.T, f *fixture) url.Values {
				v := f.codeForm(f.mint(t, serverauthtest.CodeRequest{}))
				v.Del("client_secret")
				return v
			},
			wantStatus: 400, wantError: "invalid_request", wantDesc: "client_secret is missing.",
		},
		{
			name: "web code of another project's client",
			form: func(t *testing.T, f *fixture) url.Values {
				c := otherProject(f)
				return f.codeForm(f.mint(t, serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebPopup, ClientID: c.ID}), "redirect_uri", "postmessage")
			},
			wantStatus: 401, wantError: "invalid_client", wantDesc: "Unauthorized",
		},
		{
			name: "iOS code exchanged by another project's client",
			form: func(t *testing.T, f *fixture) url.Values {
				c := otherProject(f)
				v := f.codeForm(f.mint(t, serverauthtest.CodeRequest{}))
				v.Set("client_id", c.ID)
				v.Set("client_secret", c.Secret)
				return v
			},
			wantStatus: 401, wantError: "invalid_client", wantDesc: "Unauthorized",
		},
		{
			name: "iOS code exchanged by the iOS client itself",
			form: func(t *testing.T, f *fixture) url.Values {
				return url.Values{"grant_type": {"authorization_code"}, "code": {f.mint(t, serverauthtest.CodeRequest{})}, "client_id": {f.srv.IOSClientID()}}
			},
			wantStatus: 401, wantError: "invalid_client", wantDesc: "Unauthorized",
		},
		{
			name: "double-encoded code",
			form: func(t *testing.T, f *fixture) url.Values {
				return f.codeForm(url.QueryEscape(f.mint(t, serverauthtest.CodeRequest{})))
			},
			wantStatus: 400, wantError: "invalid_grant", wantDesc: "Malformed auth code.",
		},
		{
			name:       "garbage code",
			form:       func(t *testing.T, f *fixture) url.Values { return f.codeForm("not a code") },
			wantStatus: 400, wantError: "invalid_grant", wantDesc: "Malformed auth code.",
		},
		{
			name:       "unknown code",
			form:       func(t *testing.T, f *fixture) url.Values { return f.codeForm("4/0AXnever-issued_code0123456789") },
			wantStatus: 400, wantError: "invalid_grant", wantDesc: "Bad Request",
		},
		{
			name: "reused code",
			form: func(t *testing.T, f *fixture) url.Values {
				code := f.mint(t, serverauthtest.CodeRequest{})
				f.mustExchange(t, code)
				return f.codeForm(code)
			},
			wantStatus: 400, wantError: "invalid_grant", wantDesc: "Bad Request",
		},
		{
			name: "expired code",
			form: func(t *testing.T, f *fixture) url.Values {
				code := f.mint(t, serverauthtest.CodeRequest{})
				f.clock.Advance(serverauthtest.DefaultCodeTTL)
				return f.codeForm(code)
			},
			wantStatus: 400, wantError: "invalid_grant", wantDesc: "Bad Request",
		},
		{
			name: "PKCE code without verifier",
			form: func(t *testing.T, f *fixture) url.Values {
				return f.codeForm(f.mint(t, serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebPopup, CodeChallenge: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}), "redirect_uri", "postmessage")
			},
			wantStatus: 400, wantError: "invalid_grant", wantDesc: "Missing code verifier.",
		},
		{
			name: "verifier for a non-PKCE code",
			form: func(t *testing.T, f *fixture) url.Values {
				return f.codeForm(f.mint(t, serverauthtest.CodeRequest{}), "code_verifier", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
			},
			wantStatus: 400, wantError: "invalid_grant", wantDesc: "code_verifier or verifier is not needed.",
		},
		{
			name: "wrong verifier",
			form: func(t *testing.T, f *fixture) url.Values {
				code := f.mint(t, serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebPopup, CodeChallenge: s256("right-verifier-0123456789012345678901234567"), CodeChallengeMethod: "S256"})
				return f.codeForm(code, "redirect_uri", "postmessage", "code_verifier", "wrong-verifier-0123456789012345678901234567")
			},
			wantStatus: 400, wantError: "invalid_grant", wantDesc: "Invalid code verifier.",
		},
		{
			name: "redirect_uri mismatch",
			form: func(t *testing.T, f *fixture) url.Values {
				return f.codeForm(f.mint(t, serverauthtest.CodeRequest{}), "redirect_uri", "https://app.example/cb")
			},
			wantStatus: 400, wantError: "redirect_uri_mismatch", wantDesc: "Bad Request",
		},
		{
			name: "duplicate parameter",
			form: func(t *testing.T, f *fixture) url.Values {
				v := f.codeForm(f.mint(t, serverauthtest.CodeRequest{}))
				v.Add("code", "4/0Asecond")
				return v
			},
			wantStatus: 400, wantError: "invalid_request", wantDesc: "Duplicate parameter: code",
		},
		{
			name: "missing refresh_token",
			form: func(t *testing.T, f *fixture) url.Values {
				v := f.webCreds()
				v.Set("grant_type", "refresh_token")
				return v
			},
			wantStatus: 400, wantError: "invalid_request", wantDesc: "Missing required parameter: refresh_token",
		},
		{
			name: "unknown refresh token",
			form: func(t *testing.T, f *fixture) url.Values {
				v := f.webCreds()
				v.Set("grant_type", "refresh_token")
				v.Set("refresh_token", "1//0gUnknownRefreshToken")
				return v
			},
			wantStatus: 400, wantError: "invalid_grant", wantDesc: "Token has been expired or revoked.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.opts)
			r := f.postForm(t, "/token", tt.form(t, f), nil)
			wantOAuthError(t, r, tt.wantStatus, tt.wantError, tt.wantDesc)
			if got := r.header.Get("Content-Type"); got != "application/json; charset=utf-8" {
				t.Errorf("Content-Type = %q, want %q", got, "application/json; charset=utf-8")
			}
		})
	}
}

// s256 returns the S256 code challenge of verifier.
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestTokenSuccessShape(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	code := f.mint(t, serverauthtest.CodeRequest{Scopes: []string{"openid", "email", "profile", "drive.appdata"}})
	if !strings.HasPrefix(code, "4/0A") || !strings.Contains(code, "/") {
		t.Errorf("MintCode() = %q, want a code starting 4/0A", code)
	}
	r := f.mustExchange(t, code)
	for name, want := range map[string]string{
		"Content-Type":  "application/json; charset=utf-8",
		"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate",
		"Pragma":        "no-cache",
	} {
		if got := r.header.Get(name); got != want {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
	if at := r.str("access_token"); !strings.HasPrefix(at, "ya29.a0") {
		t.Errorf("access_token = %q, want prefix ya29.a0", at)
	}
	if rt := r.str("refresh_token"); !strings.HasPrefix(rt, "1//0") {
		t.Errorf("refresh_token = %q, want prefix 1//0", rt)
	}
	if n, ok := r.json["expires_in"].(json.Number); !ok || n.String() != "3599" {
		t.Errorf("expires_in = %#v, want JSON number 3599", r.json["expires_in"])
	}
	if got := r.str("token_type"); got != "Bearer" {
		t.Errorf("token_type = %q, want Bearer", got)
	}
	if got := r.str("scope"); !sameSet(got, "openid", scopeEmail, scopeProfile, scopeAppData) {
		t.Errorf("scope = %q, want openid, userinfo.email, userinfo.profile, drive.appdata", got)
	}
	if _, ok := r.json["refresh_token_expires_in"]; ok {
		t.Errorf("refresh_token_expires_in present for a grant that is not time-based")
	}
	if r.str("id_token") == "" {
		t.Errorf("id_token missing")
	}
	if got := f.srv.CodeExchangeCount(code); got != 1 {
		t.Errorf("CodeExchangeCount() = %d, want 1", got)
	}
}

func TestRedirectURIRules(t *testing.T) {
	const absent = "<absent>"
	registered := serverauthtest.DefaultRedirectURI
	tests := []struct {
		origin          serverauthtest.Origin
		acceptPM        bool
		redirectURI     string
		wantOK          bool
		mintRedirectURI string
	}{
		{origin: serverauthtest.OriginIOS, redirectURI: absent, wantOK: true},
		{origin: serverauthtest.OriginIOS, redirectURI: "", wantOK: true},
		{origin: serverauthtest.OriginIOS, redirectURI: "postmessage", wantOK: false},
		{origin: serverauthtest.OriginIOS, redirectURI: "postmessage", acceptPM: true, wantOK: true},
		{origin: serverauthtest.OriginIOS, redirectURI: registered, acceptPM: true, wantOK: false},
		{origin: serverauthtest.OriginAndroid, redirectURI: absent, wantOK: true},
		{origin: serverauthtest.OriginAndroid, redirectURI: "", wantOK: true},
		{origin: serverauthtest.OriginAndroid, redirectURI: registered, wantOK: false},
		{origin: serverauthtest.OriginAndroid, redirectURI: "postmessage", acceptPM: true, wantOK: true},
		{origin: serverauthtest.OriginWebPopup, redirectURI: "postmessage", wantOK: true},
		{origin: serverauthtest.OriginWebPopup, redirectURI: absent, wantOK: false},
		{origin: serverauthtest.OriginWebPopup, redirectURI: "", wantOK: false},
		{origin: serverauthtest.OriginWebPopup, redirectURI: registered, wantOK: false},
		{origin: serverauthtest.OriginWebRedirect, mintRedirectURI: registered, redirectURI: registered, wantOK: true},
		{origin: serverauthtest.OriginWebRedirect, mintRedirectURI: registered, redirectURI: registered + "/", wantOK: false},
		{origin: serverauthtest.OriginWebRedirect, mintRedirectURI: registered, redirectURI: strings.ToUpper(registered), wantOK: false},
		{origin: serverauthtest.OriginWebRedirect, mintRedirectURI: registered, redirectURI: "postmessage", wantOK: false},
		{origin: serverauthtest.OriginWebRedirect, mintRedirectURI: registered, redirectURI: absent, wantOK: false},
	}
	for _, tt := range tests {
		name := string(tt.origin) + " " + tt.redirectURI
		if tt.acceptPM {
			name += " AcceptPostmessageForMobile"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, serverauthtest.Options{AcceptPostmessageForMobile: tt.acceptPM})
			code := f.mint(t, serverauthtest.CodeRequest{Origin: tt.origin, RedirectURI: tt.mintRedirectURI})
			form := f.codeForm(code)
			if tt.redirectURI != absent {
				form.Set("redirect_uri", tt.redirectURI)
			}
			r := f.postForm(t, "/token", form, nil)
			if tt.wantOK {
				if r.status != http.StatusOK {
					t.Errorf("exchange with redirect_uri %q = %d %s, want 200", tt.redirectURI, r.status, r.raw)
				}
				return
			}
			wantOAuthError(t, r, 400, "redirect_uri_mismatch", "Bad Request")
		})
	}
}

func TestPKCE(t *testing.T) {
	const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	tests := []struct {
		name      string
		challenge string
		method    string
		verifier  string
		wantDesc  string // "" means success
	}{
		{name: "S256 right verifier", challenge: s256(verifier), method: "S256", verifier: verifier},
		{name: "plain right verifier", challenge: verifier, method: "plain", verifier: verifier},
		{name: "default method is plain", challenge: verifier, verifier: verifier},
		{name: "S256 missing verifier", challenge: s256(verifier), method: "S256", wantDesc: "Missing code verifier."},
		{name: "S256 wrong verifier", challenge: s256(verifier), method: "S256", verifier: verifier + "x", wantDesc: "Invalid code verifier."},
		{name: "S256 challenge sent as verifier", challenge: s256(verifier), method: "S256", verifier: s256(verifier), wantDesc: "Invalid code verifier."},
		{name: "verifier not needed", verifier: verifier, wantDesc: "code_verifier or verifier is not needed."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, serverauthtest.Options{})
			code := f.mint(t, serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebPopup, CodeChallenge: tt.challenge, CodeChallengeMethod: tt.method})
			extra := []string{"redirect_uri", "postmessage"}
			if tt.verifier != "" {
				extra = append(extra, "code_verifier", tt.verifier)
			}
			r := f.exchange(t, code, extra...)
			if tt.wantDesc == "" {
				if r.status != http.StatusOK {
					t.Errorf("exchange = %d %s, want 200", r.status, r.raw)
				}
				return
			}
			wantOAuthError(t, r, 400, "invalid_grant", tt.wantDesc)
		})
	}
}

func TestClientAuthentication(t *testing.T) {
	const oddSecret = "GOCSPX-a+b/c:d%e f"
	tests := []struct {
		name       string
		edit       func(f *fixture, form url.Values, req *http.Request)
		wantStatus int
		wantError  string
		wantDesc   string
	}{
		{name: "secret in body", edit: func(f *fixture, form url.Values, req *http.Request) {}, wantStatus: 200},
		{
			name: "basic, URL-encoded per RFC 6749 §2.3.1",
			edit: func(f *fixture, form url.Values, req *http.Request) {
				form.Del("client_id")
				form.Del("client_secret")
				req.SetBasicAuth(url.QueryEscape(f.srv.WebClientID()), url.QueryEscape(f.srv.WebClientSecret()))
			},
			wantStatus: 200,
		},
		{
			name: "basic with client_id also in body",
			edit: func(f *fixture, form url.Values, req *http.Request) {
				form.Del("client_secret")
				req.SetBasicAuth(url.QueryEscape(f.srv.WebClientID()), url.QueryEscape(f.srv.WebClientSecret()))
			},
			wantStatus: 200,
		},
		{
			name: "basic and secret in body",
			edit: func(f *fixture, form url.Values, req *http.Request) {
				req.SetBasicAuth(url.QueryEscape(f.srv.WebClientID()), url.QueryEscape(f.srv.WebClientSecret()))
			},
			wantStatus: 400, wantError: "invalid_request", wantDesc: "Multiple client authentication methods used.",
		},
		{
			name: "basic with a different client_id in body",
			edit: func(f *fixture, form url.Values, req *http.Request) {
				form.Del("client_secret")
				form.Set("client_id", f.srv.IOSClientID())
				req.SetBasicAuth(url.QueryEscape(f.srv.WebClientID()), url.QueryEscape(f.srv.WebClientSecret()))
			},
			wantStatus: 400, wantError: "invalid_request", wantDesc: "Multiple client authentication methods used.",
		},
		{
			name: "basic wrong secret",
			edit: func(f *fixture, form url.Values, req *http.Request) {
				form.Del("client_id")
				form.Del("client_secret")
				req.SetBasicAuth(url.QueryEscape(f.srv.WebClientID()), "GOCSPX-wrong")
			},
			wantStatus: 401, wantError: "invalid_client", wantDesc: "Unauthorized",
		},
		{
			name: "basic unknown client",
			edit: func(f *fixture, form url.Values, req *http.Request) {
				form.Del("client_id")
				form.Del("client_secret")
				req.SetBasicAuth("nobody.apps.googleusercontent.com", "x")
			},
			wantStatus: 401, wantError: "invalid_client", wantDesc: "The OAuth client was not found.",
		},
		{
			name: "malformed Authorization header",
			edit: func(f *fixture, form url.Values, req *http.Request) {
				form.Del("client_id")
				form.Del("client_secret")
				req.Header.Set("Authorization", "Basic !!!")
			},
			wantStatus: 401, wantError: "invalid_client", wantDesc: "Unauthorized",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, serverauthtest.Options{})
			form := f.codeForm(f.mint(t, serverauthtest.CodeRequest{}))
			r := f.postForm(t, "/token", form, func(req *http.Request) { tt.edit(f, form, req) })
			if tt.wantStatus == 200 {
				if r.status != 200 {
					t.Errorf("exchange = %d %s, want 200", r.status, r.raw)
				}
				return
			}
			wantOAuthError(t, r, tt.wantStatus, tt.wantError, tt.wantDesc)
		})
	}

	t.Run("basic credentials are URL-decoded", func(t *testing.T) {
		f := newFixture(t, serverauthtest.Options{})
		c := serverauthtest.Client{ID: "555555555555-odd+id.apps.googleusercontent.com", Secret: oddSecret, Type: serverauthtest.ClientWeb}
		f.srv.RegisterClient(c)
		tests := []struct {
			name       string
			id, secret string
			wantStatus int
		}{
			{name: "escaped", id: url.QueryEscape(c.ID), secret: url.QueryEscape(oddSecret), wantStatus: 200},
			{name: "raw", id: c.ID, secret: oddSecret, wantStatus: 401},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				code := f.mint(t, serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebPopup, ClientID: c.ID})
				form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"postmessage"}}
				r := f.postForm(t, "/token", form, func(req *http.Request) { req.SetBasicAuth(tt.id, tt.secret) })
				if r.status != tt.wantStatus {
					t.Errorf("exchange with Basic(%q, %q) = %d %s, want %d", tt.id, tt.secret, r.status, r.raw, tt.wantStatus)
				}
			})
		}
	})
}

func TestCodeSingleUseAndTTL(t *testing.T) {
	tests := []struct {
		name    string
		opts    serverauthtest.Options
		advance time.Duration
		wantOK  bool
	}{
		{name: "just before default TTL", advance: serverauthtest.DefaultCodeTTL - time.Second, wantOK: true},
		{name: "at default TTL", advance: serverauthtest.DefaultCodeTTL, wantOK: false},
		{name: "custom TTL", opts: serverauthtest.Options{CodeTTL: time.Minute}, advance: time.Minute, wantOK: false},
		{name: "within custom TTL", opts: serverauthtest.Options{CodeTTL: time.Minute}, advance: 59 * time.Second, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.opts)
			code := f.mint(t, serverauthtest.CodeRequest{})
			f.clock.Advance(tt.advance)
			r := f.exchange(t, code)
			if got := r.status == 200; got != tt.wantOK {
				t.Fatalf("exchange after %v = %d %s, want success %v", tt.advance, r.status, r.raw, tt.wantOK)
			}
		})
	}

	t.Run("second exchange", func(t *testing.T) {
		f := newFixture(t, serverauthtest.Options{})
		code := f.mint(t, serverauthtest.CodeRequest{})
		first := f.mustExchange(t, code)
		wantOAuthError(t, f.exchange(t, code), 400, "invalid_grant", "Bad Request")
		if got := f.srv.CodeExchangeCount(code); got != 2 {
			t.Errorf("CodeExchangeCount() = %d, want 2", got)
		}
		// Without RevokeOnCodeReuse the first tokens survive.
		if r := f.refresh(t, first.str("refresh_token")); r.status != 200 {
			t.Errorf("refresh after reuse = %d %s, want 200", r.status, r.raw)
		}
	})

	t.Run("failed exchange does not consume the code", func(t *testing.T) {
		f := newFixture(t, serverauthtest.Options{})
		code := f.mint(t, serverauthtest.CodeRequest{})
		wantOAuthError(t, f.exchange(t, code, "redirect_uri", "postmessage"), 400, "redirect_uri_mismatch", "Bad Request")
		f.mustExchange(t, code)
	})

	t.Run("RevokeOnCodeReuse", func(t *testing.T) {
		f := newFixture(t, serverauthtest.Options{RevokeOnCodeReuse: true})
		code := f.mint(t, serverauthtest.CodeRequest{})
		first := f.mustExchange(t, code)
		refreshed := f.refresh(t, first.str("refresh_token")).str("access_token")
		wantOAuthError(t, f.exchange(t, code), 400, "invalid_grant", "Bad Request")
		wantOAuthError(t, f.refresh(t, first.str("refresh_token")), 400, "invalid_grant", "Token has been expired or revoked.")
		for _, at := range []string{first.str("access_token"), refreshed} {
			if r := f.get(t, "/v1/userinfo", bearer(at)); r.status != 401 {
				t.Errorf("userinfo with an access token based on the code = %d, want 401", r.status)
			}
		}
		// Tokens of another code live on.
		other := f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{}))
		if r := f.get(t, "/v1/userinfo", bearer(other.str("access_token"))); r.status != 200 {
			t.Errorf("userinfo with another code's token = %d, want 200", r.status)
		}
	})
}

// bearer returns a request editor adding an Authorization: Bearer header.
func bearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func TestRefreshTokenOnlyOnFirstConsent(t *testing.T) {
	other := serverauthtest.User{Sub: "100000000000000000001", Email: "other@gmail.com", EmailVerified: true}
	steps := []struct {
		name  string
		req   serverauthtest.CodeRequest
		want  bool // refresh_token present
		extra []string
	}{
		{name: "first iOS consent", req: serverauthtest.CodeRequest{}, want: true},
		{name: "second iOS sign-in", req: serverauthtest.CodeRequest{}, want: false},
		{name: "prompt=consent", req: serverauthtest.CodeRequest{Prompt: "consent"}, want: true},
		{name: "prompt=select_account consent", req: serverauthtest.CodeRequest{Prompt: "select_account consent"}, want: true},
		{name: "third iOS sign-in", req: serverauthtest.CodeRequest{}, want: false},
		{name: "first Android consent", req: serverauthtest.CodeRequest{Origin: serverauthtest.OriginAndroid}, want: true},
		{name: "another user", req: serverauthtest.CodeRequest{User: other}, want: true},
		{name: "web online access, first consent", req: serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebPopup, OnlineAccess: true, Prompt: "consent"}, want: false, extra: []string{"redirect_uri", "postmessage"}},
		{name: "web offline after online", req: serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebPopup}, want: false, extra: []string{"redirect_uri", "postmessage"}},
		{name: "web offline forced", req: serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebPopup, Prompt: "consent"}, want: true, extra: []string{"redirect_uri", "postmessage"}},
	}
	f := newFixture(t, serverauthtest.Options{})
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := f.mustExchange(t, f.mint(t, s.req), s.extra...)
			if got := r.str("refresh_token") != ""; got != s.want {
				t.Errorf("refresh_token present = %v, want %v", got, s.want)
			}
		})
	}

	t.Run("after RevokeUser consent is asked again", func(t *testing.T) {
		f.srv.RevokeUser(serverauthtest.DemoUser().Sub)
		r := f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{}))
		if r.str("refresh_token") == "" {
			t.Errorf("refresh_token missing after RevokeUser")
		}
	})
}

func TestScopes(t *testing.T) {
	tests := []struct {
		name      string
		scopes    []string
		granted   []string
		wantScope []string
		wantID    bool
	}{
		{name: "default", wantScope: []string{"openid", scopeEmail, scopeProfile}, wantID: true},
		{name: "aliases and short names", scopes: []string{"openid", "email", "profile", "drive.appdata"}, wantScope: []string{"openid", scopeEmail, scopeProfile, scopeAppData}, wantID: true},
		{name: "full names", scopes: []string{scopeEmail, scopeAppData}, wantScope: []string{scopeEmail, scopeAppData}, wantID: true},
		{name: "duplicates collapse", scopes: []string{"email", scopeEmail, "openid"}, wantScope: []string{scopeEmail, "openid"}, wantID: true},
		{name: "granular consent drops drive", scopes: []string{"openid", "email", "drive.appdata"}, granted: []string{"openid", "email"}, wantScope: []string{"openid", scopeEmail}, wantID: true},
		{name: "only drive granted", scopes: []string{"openid", "drive.appdata"}, granted: []string{"drive.appdata"}, wantScope: []string{scopeAppData}, wantID: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, serverauthtest.Options{})
			r := f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{Scopes: tt.scopes, GrantedScopes: tt.granted}))
			if got := r.str("scope"); !sameSet(got, tt.wantScope...) {
				t.Errorf("scope = %q, want the set %q", got, tt.wantScope)
			}
			if got := r.str("id_token") != ""; got != tt.wantID {
				t.Errorf("id_token present = %v, want %v", got, tt.wantID)
			}
		})
	}

	t.Run("order varies", func(t *testing.T) {
		f := newFixture(t, serverauthtest.Options{})
		seen := map[string]bool{}
		for range 20 {
			r := f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{Scopes: []string{"openid", "email", "profile", "drive.appdata"}}))
			seen[r.str("scope")] = true
		}
		if len(seen) < 2 {
			t.Errorf("20 exchanges gave %d scope orders, want several", len(seen))
		}
	})

	t.Run("granted must be a subset", func(t *testing.T) {
		f := newFixture(t, serverauthtest.Options{})
		if _, err := f.srv.MintCode(serverauthtest.CodeRequest{Scopes: []string{"openid"}, GrantedScopes: []string{"drive.appdata"}}); err == nil {
			t.Errorf("MintCode(granted beyond requested) = nil error, want an error")
		}
	})
}

func TestRefreshGrant(t *testing.T) {
	appScopes := []string{"openid", "email", "profile", "drive.appdata"}
	type tokens struct{ access, refresh string }
	obtain := func(t *testing.T, f *fixture, req serverauthtest.CodeRequest) tokens {
		t.Helper()
		r := f.mustExchange(t, f.mint(t, req))
		return tokens{r.str("access_token"), r.str("refresh_token")}
	}
	tests := []struct {
		name string
		opts serverauthtest.Options
		// act runs between the exchange and the refresh and returns the
		// refresh request's extra fields.
		act        func(t *testing.T, f *fixture, tk tokens) url.Values
		wantStatus int
		wantError  string
		wantDesc   string
		wantRT     bool
		wantScope  []string
	}{
		{
			name:       "success",
			act:        func(t *testing.T, f *fixture, tk tokens) url.Values { return nil },
			wantStatus: 200, wantScope: []string{"openid", scopeEmail, scopeProfile, scopeAppData},
		},
		{
			name: "narrower scope",
			act: func(t *testing.T, f *fixture, tk tokens) url.Values {
				return url.Values{"scope": {"drive.appdata"}}
			},
			wantStatus: 200, wantScope: []string{scopeAppData},
		},
		{
			name: "scope beyond the grant",
			act: func(t *testing.T, f *fixture, tk tokens) url.Values {
				return url.Values{"scope": {"drive.file"}}
			},
			wantStatus: 400, wantError: "invalid_scope", wantDesc: "Some requested scopes were invalid. {invalid=[https://www.googleapis.com/auth/drive.file]}",
		},
		{
			name:       "rotation",
			opts:       serverauthtest.Options{RotateRefreshTokens: true},
			act:        func(t *testing.T, f *fixture, tk tokens) url.Values { return nil },
			wantStatus: 200, wantRT: true, wantScope: []string{"openid", scopeEmail, scopeProfile, scopeAppData},
		},
		{
			name: "revoked by the user",
			act: func(t *testing.T, f *fixture, tk tokens) url.Values {
				f.srv.RevokeUser(serverauthtest.DemoUser().Sub)
				return nil
			},
			wantStatus: 400, wantError: "invalid_grant", wantDesc: "Token has been expired or revoked.",
		},
		{
			name: "revoked at the revocation endpoint",
			act: func(t *testing.T, f *fixture, tk tokens) url.Values {
				f.postForm(t, "/revoke", url.Values{"token": {tk.refresh}}, nil)
				return nil
			},
			wantStatus: 400, wantError: "invalid_grant", wantDesc: "Token has been expired or revoked.",
		},
		{
			name: "other client",
			act: func(t *testing.T, f *fixture, tk tokens) url.Values {
				c := otherProject(f)
				return url.Values{"client_id": {c.ID}, "client_secret": {c.Secret}}
			},
			wantStatus: 401, wantError: "unauthorized_client", wantDesc: "Unauthorized",
		},
		{
			name: "reauth required",
			act: func(t *testing.T, f *fixture, tk tokens) url.Values {
				f.srv.RequireReauth(serverauthtest.DemoUser().Sub, true)
				return nil
			},
			wantStatus: 400, wantError: "invalid_grant", wantDesc: "reauth related error (invalid_rapt)",
		},
		{
			name: "reauth lifted",
			act: func(t *testing.T, f *fixture, tk tokens) url.Values {
				f.srv.RequireReauth(serverauthtest.DemoUser().Sub, true)
				f.srv.RequireReauth(serverauthtest.DemoUser().Sub, false)
				return nil
			},
			wantStatus: 200, wantScope: []string{"openid", scopeEmail, scopeProfile, scopeAppData},
		},
		{
			name: "account deleted",
			act: func(t *testing.T, f *fixture, tk tokens) url.Values {
				f.srv.DeleteAccount(serverauthtest.DemoUser().Sub)
				return nil
			},
			wantStatus: 400, wantError: "invalid_grant", wantDesc: "The account has been deleted",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.opts)
			tk := obtain(t, f, serverauthtest.CodeRequest{Scopes: appScopes})
			extra := tt.act(t, f, tk)
			form := f.webCreds()
			form.Set("grant_type", "refresh_token")
			form.Set("refresh_token", tk.refresh)
			for k, v := range extra {
				form[k] = v
			}
			r := f.postForm(t, "/token", form, nil)
			if got := f.srv.RefreshCount(serverauthtest.DemoUser().Sub); got != 1 {
				t.Errorf("RefreshCount() = %d, want 1", got)
			}
			if tt.wantStatus != 200 {
				wantOAuthError(t, r, tt.wantStatus, tt.wantError, tt.wantDesc)
				if tt.wantDesc == "reauth related error (invalid_rapt)" && r.str("error_subtype") != "invalid_rapt" {
					t.Errorf("error_subtype = %q, want invalid_rapt", r.str("error_subtype"))
				}
				return
			}
			if r.status != 200 {
				t.Fatalf("refresh = %d %s, want 200", r.status, r.raw)
			}
			if got := r.str("refresh_token") != ""; got != tt.wantRT {
				t.Errorf("refresh_token present = %v, want %v", got, tt.wantRT)
			}
			if got := r.str("scope"); !sameSet(got, tt.wantScope...) {
				t.Errorf("scope = %q, want the set %q", got, tt.wantScope)
			}
			if got := r.str("id_token") != ""; got != wantsID(tt.wantScope) {
				t.Errorf("id_token present = %v, want %v", got, !got)
			}
			if idt := r.str("id_token"); idt != "" {
				if _, ok := f.verifyJWT(t, idt).claims["nonce"]; ok {
					t.Errorf("refresh ID token has a nonce")
				}
			}
			if tt.wantRT {
				wantOAuthError(t, f.refresh(t, tk.refresh), 400, "invalid_grant", "Token has been expired or revoked.")
				if r2 := f.refresh(t, r.str("refresh_token")); r2.status != 200 {
					t.Errorf("refresh with the rotated token = %d %s, want 200", r2.status, r2.raw)
				}
			}
		})
	}
}

func wantsID(scopes []string) bool {
	for _, s := range scopes {
		if s == "openid" || s == scopeEmail || s == scopeProfile {
			return true
		}
	}
	return false
}

func TestTimeBasedGrant(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	ttl := 24 * time.Hour
	r := f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{RefreshTokenTTL: ttl}))
	if n, ok := r.json["refresh_token_expires_in"].(json.Number); !ok || n.String() != "86400" {
		t.Errorf("refresh_token_expires_in = %#v, want 86400", r.json["refresh_token_expires_in"])
	}
	rt := r.str("refresh_token")
	f.clock.Advance(ttl - time.Hour)
	r2 := f.refresh(t, rt)
	if n, ok := r2.json["refresh_token_expires_in"].(json.Number); !ok || n.String() != "3600" {
		t.Errorf("refresh: refresh_token_expires_in = %#v, want 3600", r2.json["refresh_token_expires_in"])
	}
	f.clock.Advance(time.Hour)
	wantOAuthError(t, f.refresh(t, rt), 400, "invalid_grant", "Token has been expired or revoked.")
}

func TestAccessTokenExpiry(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	at := f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{})).str("access_token")
	f.clock.Advance(serverauthtest.DefaultAccessTokenLifetime - time.Second)
	if r := f.get(t, "/v1/userinfo", bearer(at)); r.status != 200 {
		t.Errorf("userinfo 1 s before expiry = %d, want 200", r.status)
	}
	f.clock.Advance(time.Second)
	if r := f.get(t, "/v1/userinfo", bearer(at)); r.status != 401 {
		t.Errorf("userinfo at expiry = %d, want 401", r.status)
	}
	if r := f.get(t, "/tokeninfo?access_token="+url.QueryEscape(at), nil); r.status != 400 {
		t.Errorf("tokeninfo at expiry = %d, want 400", r.status)
	}
}

func TestLegacyTokenPaths(t *testing.T) {
	for _, path := range []string{"/token", "/o/oauth2/token", "/oauth2/v4/token"} {
		t.Run(path, func(t *testing.T) {
			f := newFixture(t, serverauthtest.Options{})
			r := f.postForm(t, path, f.codeForm(f.mint(t, serverauthtest.CodeRequest{})), nil)
			if r.status != 200 {
				t.Errorf("POST %s = %d %s, want 200", path, r.status, r.raw)
			}
			if got := f.srv.RequestCount(serverauthtest.EndpointToken); got != 1 {
				t.Errorf("RequestCount(EndpointToken) = %d, want 1", got)
			}
		})
	}
	t.Run("GET", func(t *testing.T) {
		f := newFixture(t, serverauthtest.Options{})
		if r := f.get(t, "/token", nil); r.status != http.StatusMethodNotAllowed {
			t.Errorf("GET /token = %d, want 405", r.status)
		}
	})
}

func TestLiveRefreshTokens(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{RotateRefreshTokens: true})
	sub := serverauthtest.DemoUser().Sub
	live := func(want int, when string) {
		t.Helper()
		if got := f.srv.LiveRefreshTokens(sub); got != want {
			t.Errorf("%s: LiveRefreshTokens = %d, want %d", when, got, want)
		}
	}
	live(0, "before any consent")
	rt := f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{})).str("refresh_token")
	live(1, "after the first consent")
	next := f.refresh(t, rt).str("refresh_token")
	if next == "" || next == rt {
		t.Fatalf("rotation gave %q", next)
	}
	live(1, "after a rotation (the old token died)")
	f.srv.RevokeUser(sub)
	live(0, "after RevokeUser")
	f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{RefreshTokenTTL: time.Hour}))
	live(1, "after consenting again, for an hour")
	f.clock.Advance(time.Hour)
	live(0, "after the time-limited grant ended")
	f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{Prompt: "consent"}))
	live(1, "after prompt=consent")
	f.srv.DeleteAccount(sub)
	live(0, "after DeleteAccount")
}
