package serverauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

type handlerCase struct {
	name        string
	method      string
	header      map[string]string
	contentType string
	body        func(f *storeFixture) string
	cfg         func(*serverauth.Config)
	hcfg        serverauth.HandlerConfig
	setup       func(f *storeFixture)
	wantStatus  int
	wantError   string
	// wantDescription is a word the error_description must name (the
	// field or header to fix), for the errors a newcomer hits.
	wantDescription string
	wantRetryAfter  string // the Retry-After header, when set
}

func TestSignInHandler(t *testing.T) {
	ios := func(f *storeFixture) string {
		return f.mint(serverauthtest.CodeRequest{Scopes: []string{"openid", "email", "profile", "drive.appdata"}})
	}
	popup := func(f *storeFixture) string {
		return f.mint(serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebPopup, Scopes: []string{"openid", "email", "profile", "drive.appdata"}})
	}
	other := serverauthtest.Client{ID: "999999999999-other.apps.googleusercontent.com", Secret: "GOCSPX-o", Type: serverauthtest.ClientWeb, ProjectID: "other"}
	tests := []handlerCase{
		{name: "form code", body: func(f *storeFixture) string { return formCode(ios(f)) }, wantStatus: 200},
		{name: "JSON code", contentType: "application/json", body: func(f *storeFixture) string { return fmt.Sprintf(`{"code":%q}`, ios(f)) }, wantStatus: 200},
		{name: "form with charset", contentType: "application/x-www-form-urlencoded; charset=utf-8", body: func(f *storeFixture) string { return formCode(ios(f)) }, wantStatus: 200},
		{name: "GET", method: http.MethodGet, body: func(*storeFixture) string { return "" }, wantStatus: 405, wantError: "invalid_request"},
		{name: "no X-Requested-With", header: map[string]string{"X-Requested-With": ""}, body: func(f *storeFixture) string { return formCode(ios(f)) }, wantStatus: 403, wantError: "access_denied"},
		{name: "custom CSRF header", hcfg: serverauth.HandlerConfig{CSRFHeader: "X-CSRF"}, body: func(f *storeFixture) string { return formCode(ios(f)) }, wantStatus: 403, wantError: "access_denied"},
		{name: "custom CSRF header present", hcfg: serverauth.HandlerConfig{CSRFHeader: "X-CSRF"}, header: map[string]string{"X-CSRF": "1"}, body: func(f *storeFixture) string { return formCode(ios(f)) }, wantStatus: 200},
		{name: "disallowed Origin", hcfg: serverauth.HandlerConfig{AllowedOrigins: []string{"https://app.example"}}, header: map[string]string{"Origin": "https://evil.example"}, body: func(f *storeFixture) string { return formCode(ios(f)) }, wantStatus: 403, wantError: "access_denied"},
		{name: "allowed Origin", hcfg: serverauth.HandlerConfig{AllowedOrigins: []string{"https://app.example"}}, header: map[string]string{"Origin": "https://app.example"}, body: func(f *storeFixture) string { return formCode(popup(f)) }, wantStatus: 200},
		{name: "huge body", body: func(*storeFixture) string { return "code=" + strings.Repeat("a", serverauth.MaxSignInBody) }, wantStatus: 413, wantError: "invalid_request"},
		{name: "malformed JSON", contentType: "application/json", body: func(*storeFixture) string { return `{"code":` }, wantStatus: 400, wantError: "invalid_request"},
		{name: "JSON array", contentType: "application/json", body: func(*storeFixture) string { return `["4/0A"]` }, wantStatus: 400, wantError: "invalid_request"},
		{name: "JSON code not a string", contentType: "application/json", body: func(*storeFixture) string { return `{"code":4}` }, wantStatus: 400, wantError: "invalid_request"},
		{name: "JSON duplicate name", contentType: "application/json", body: func(f *storeFixture) string { return fmt.Sprintf(`{"code":%q,"code":"x"}`, ios(f)) }, wantStatus: 400, wantError: "invalid_request"},
		{name: "JSON case-variant name", contentType: "application/json", body: func(f *storeFixture) string { return fmt.Sprintf(`{"Code":%q}`, ios(f)) }, wantStatus: 400, wantError: "invalid_request"},
		{name: "JSON trailing data", contentType: "application/json", body: func(f *storeFixture) string { return fmt.Sprintf(`{"code":%q} {}`, ios(f)) }, wantStatus: 400, wantError: "invalid_request"},
		{name: "unparsable content type", contentType: "application/json; =", body: func(f *storeFixture) string { return fmt.Sprintf(`{"code":%q}`, ios(f)) }, wantStatus: 415, wantError: "invalid_request"},
		{name: "JSON sent as a form", body: func(f *storeFixture) string { return fmt.Sprintf(`{"code":%q}`, ios(f)) }, wantStatus: 400, wantError: "invalid_request", wantDescription: "application/json"},
		{name: "CSRF value required and wrong", hcfg: serverauth.HandlerConfig{CSRFValue: "s3"}, body: func(f *storeFixture) string { return formCode(ios(f)) }, wantStatus: 403, wantError: "access_denied"},
		{name: "CSRF value required and right", hcfg: serverauth.HandlerConfig{CSRFValue: "XMLHttpRequest"}, body: func(f *storeFixture) string { return formCode(ios(f)) }, wantStatus: 200},
		{name: "cross-site fetch", header: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, body: func(f *storeFixture) string { return formCode(ios(f)) }, wantStatus: 403, wantError: "access_denied"},
		{name: "cross-site fetch from an allowed origin", hcfg: serverauth.HandlerConfig{AllowedOrigins: []string{"https://app.example"}}, header: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://app.example"}, body: func(f *storeFixture) string { return formCode(popup(f)) }, wantStatus: 200},
		{name: "same-site fetch", header: map[string]string{"Sec-Fetch-Site": "same-origin"}, body: func(f *storeFixture) string { return formCode(ios(f)) }, wantStatus: 200},
		{name: "unsupported content type", contentType: "text/plain", body: func(*storeFixture) string { return "4/0A" }, wantStatus: 415, wantError: "invalid_request"},
		{name: "empty code", body: func(*storeFixture) string { return "code=" }, wantStatus: 400, wantError: "invalid_request"},
		{name: "whitespace code", body: func(f *storeFixture) string { return formCode(" " + ios(f)) }, wantStatus: 400, wantError: "invalid_request"},
		{name: "code twice", body: func(f *storeFixture) string { return "code=a&code=b" }, wantStatus: 400, wantError: "invalid_request"},
		{name: "code and id_token", body: func(f *storeFixture) string { return "code=a&id_token=b" }, wantStatus: 400, wantError: "invalid_request"},
		{name: "reused code", body: func(f *storeFixture) string {
			code := ios(f)
			f.e.Exchange(t.Context(), code)
			f.clock.Advance(serverauthtest.DefaultCodeTTL / 2) // past the duplicate window
			return formCode(code)
		}, wantStatus: 401, wantError: "invalid_grant"},
		{name: "expired code", body: func(f *storeFixture) string {
			code := ios(f)
			f.clock.Advance(serverauthtest.DefaultCodeTTL + 1)
			return formCode(code)
		}, wantStatus: 401, wantError: "invalid_grant"},
		{name: "garbage code", body: func(*storeFixture) string { return formCode("4%2F0Agarbage") }, wantStatus: 401, wantError: "invalid_grant"},
		{name: "code of another client (invalid_client: a server or app misconfiguration)", setup: func(f *storeFixture) { f.g.RegisterClient(other) }, body: func(f *storeFixture) string {
			return formCode(f.mint(serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebPopup, ClientID: other.ID}))
		}, wantStatus: 500, wantError: "server_error"},
		{name: "wrong client secret is the server's fault", cfg: func(c *serverauth.Config) { c.ClientSecret = "GOCSPX-wrong" }, body: func(f *storeFixture) string { return formCode(ios(f)) }, wantStatus: 500, wantError: "server_error"},
		{name: "reused code is the user's to retry", setup: func(f *storeFixture) {}, body: func(f *storeFixture) string {
			code := ios(f)
			f.newReplica().Exchange(context.Background(), code) // spent by another replica
			return formCode(code)
		}, wantStatus: 401, wantError: "invalid_grant"},
		{name: "scope not granted", body: func(f *storeFixture) string {
			return formCode(f.mint(serverauthtest.CodeRequest{Scopes: []string{"openid", "email", "drive.appdata"}, GrantedScopes: []string{"openid", "email"}}))
		}, wantStatus: 403, wantError: "insufficient_scope"},
		{name: "Google throttling", setup: func(f *storeFixture) {
			f.g.FailNext(serverauthtest.EndpointToken, 1, serverauthtest.Fault{Kind: serverauthtest.FaultTooManyRequests, RetryAfter: 7 * time.Second})
		}, body: func(f *storeFixture) string { return formCode(ios(f)) }, wantStatus: 503, wantError: "temporarily_unavailable", wantRetryAfter: "7"},
		{name: "org_internal: an account outside the app's organisation", setup: func(f *storeFixture) {
			f.g.FailNext(serverauthtest.EndpointToken, 1, serverauthtest.Fault{Kind: serverauthtest.FaultOrgInternal})
		}, body: func(f *storeFixture) string { return formCode(ios(f)) }, wantStatus: 403, wantError: "access_denied"},
		{name: "admin_policy_enforced: the Workspace admin blocks the app", setup: func(f *storeFixture) {
			f.g.FailNext(serverauthtest.EndpointToken, 1, serverauthtest.Fault{Kind: serverauthtest.FaultAdminPolicyEnforced})
		}, body: func(f *storeFixture) string { return formCode(ios(f)) }, wantStatus: 403, wantError: "access_denied"},
		{name: "Google unavailable", cfg: func(c *serverauth.Config) { c.Endpoints.TokenURL = "https://127.0.0.1:1/token" }, body: func(f *storeFixture) string { return formCode(ios(f)) }, wantStatus: 502, wantError: "temporarily_unavailable"},
		{name: "server misconfigured (postmessage for a mobile code)", cfg: func(c *serverauth.Config) { c.RedirectURL = "postmessage" }, body: func(f *storeFixture) string { return formCode(ios(f)) }, wantStatus: 500, wantError: "server_error"},
		{name: "id_token of a stored user", setup: func(f *storeFixture) { f.signIn(serverauthtest.CodeRequest{}) }, body: func(f *storeFixture) string {
			return url.Values{"id_token": {f.g.IDToken(serverauthtest.DemoUser(), f.g.IOSClientID())}}.Encode()
		}, wantStatus: 200},
		{name: "id_token of an unknown user", body: func(f *storeFixture) string {
			return url.Values{"id_token": {f.g.IDToken(serverauthtest.DemoUser(), f.g.IOSClientID())}}.Encode()
		}, wantStatus: 403, wantError: "consent_required"},
		{name: "id_token of a revoked user", setup: func(f *storeFixture) {
			res := f.signIn(serverauthtest.CodeRequest{})
			f.g.RevokeUser(res.UserID)
			f.clock.Advance(2 * 3600e9)
			f.e.Token(t.Context(), res.UserID)
		}, body: func(f *storeFixture) string {
			return url.Values{"id_token": {f.g.IDToken(serverauthtest.DemoUser(), f.g.IOSClientID())}}.Encode()
		}, wantStatus: 403, wantError: "consent_required"},
		{name: "id_token of another audience", setup: func(f *storeFixture) { f.signIn(serverauthtest.CodeRequest{}) }, body: func(f *storeFixture) string {
			return url.Values{"id_token": {f.sign(f.baseClaims().with("aud", `"someone-else.apps.googleusercontent.com"`))}}.Encode()
		}, wantStatus: 401, wantError: "invalid_token"},
		{name: "id_token JSON", contentType: "application/json", setup: func(f *storeFixture) { f.signIn(serverauthtest.CodeRequest{}) }, body: func(f *storeFixture) string {
			return fmt.Sprintf(`{"id_token":%q}`, f.g.IDToken(serverauthtest.DemoUser(), f.g.AndroidClientID()))
		}, wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mut []func(*serverauth.Config)
			if tt.cfg != nil {
				mut = append(mut, tt.cfg)
			}
			f := newStoreFixture(t, serverauthtest.Options{}, mut...)
			if tt.setup != nil {
				tt.setup(f)
			}
			body := tt.body(f)
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req := httptest.NewRequest(method, "/signin", strings.NewReader(body))
			ct := tt.contentType
			if ct == "" {
				ct = "application/x-www-form-urlencoded"
			}
			req.Header.Set("Content-Type", ct)
			req.Header.Set("X-Requested-With", "XMLHttpRequest")
			for k, v := range tt.header {
				if v == "" {
					req.Header.Del(k)
				} else {
					req.Header.Set(k, v)
				}
			}
			rec := httptest.NewRecorder()
			signInHandler(t, f.e, tt.hcfg).ServeHTTP(rec, req)
			resp := rec.Result()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d (%s), want %d", resp.StatusCode, raw, tt.wantStatus)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			if tt.wantRetryAfter != "" && resp.Header.Get("Retry-After") != tt.wantRetryAfter {
				t.Errorf("Retry-After = %q, want %q", resp.Header.Get("Retry-After"), tt.wantRetryAfter)
			}
			if tt.wantStatus == 405 && resp.Header.Get("Allow") != "POST" {
				t.Errorf("Allow = %q, want POST", resp.Header.Get("Allow"))
			}
			for _, secret := range []string{f.cfg.ClientSecret, "ya29.", "1//", "4/0A", "eyJ"} {
				if strings.Contains(string(raw), secret) {
					t.Errorf("response %s contains a secret (%q)", raw, secret)
				}
			}
			if tt.wantError != "" {
				var e struct {
					Error            string `json:"error"`
					ErrorDescription string `json:"error_description"`
				}
				if json.Unmarshal(raw, &e) != nil || e.Error != tt.wantError {
					t.Errorf("body = %s, want error %q", raw, tt.wantError)
				}
				if !strings.Contains(e.ErrorDescription, tt.wantDescription) {
					t.Errorf("error_description = %q, want it to name %q", e.ErrorDescription, tt.wantDescription)
				}
				return
			}
			var p serverauth.PublicProfile
			if err := json.Unmarshal(raw, &p); err != nil || p.UserID != serverauthtest.DemoUser().Sub || p.Email != serverauthtest.DemoUser().Email || !p.EmailVerified || p.Scopes == nil {
				t.Errorf("profile = %s", raw)
			}
		})
	}
}

func TestSignInHandlerNoRefreshTokenResetsConsent(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	f.signIn(serverauthtest.CodeRequest{}) // consented earlier, elsewhere
	fresh := f.newReplica(func(c *serverauth.Config) { c.Store = serverauth.NewMemoryStore(); c.Cipher = nil })
	post := func(code string) *http.Response {
		req := httptest.NewRequest(http.MethodPost, "/signin", strings.NewReader(formCode(code)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Requested-With", "XMLHttpRequest")
		rec := httptest.NewRecorder()
		signInHandler(t, fresh, serverauth.HandlerConfig{ResetConsent: true}).ServeHTTP(rec, req)
		return rec.Result()
	}
	scopes := []string{"openid", "email", "drive.appdata"}
	if resp := post(f.mint(serverauthtest.CodeRequest{Scopes: scopes})); resp.StatusCode != 403 {
		t.Fatalf("sign-in without a refresh token: status %d, want 403 consent_required", resp.StatusCode)
	}
	// The handler reset the grant, so the user's next sign-in brings one.
	if resp := post(f.mint(serverauthtest.CodeRequest{Scopes: scopes})); resp.StatusCode != 200 {
		t.Fatalf("next sign-in: status %d, want 200", resp.StatusCode)
	}
}

func TestSignInHandlerCallsOnSignIn(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	var got *serverauth.Result
	h := signInHandler(t, f.e, serverauth.HandlerConfig{OnSignIn: func(w http.ResponseWriter, r *http.Request, res *serverauth.Result) {
		got = res
		w.WriteHeader(http.StatusNoContent)
	}})
	req := httptest.NewRequest(http.MethodPost, "/signin", strings.NewReader(formCode(f.mint(serverauthtest.CodeRequest{Scopes: []string{"openid", "email", "drive.appdata"}}))))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Requested-With", "XMLHttpRequest")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent || got == nil || got.UserID != serverauthtest.DemoUser().Sub || got.Token == nil {
		t.Fatalf("onSignIn got %v, status %d", got, rec.Code)
	}
}

// TestSignInHandlerRefusesCSRFHeadersThatProveNothing: a header a browser
// sends by itself or lets any page send is no CSRF defence.
func TestSignInHandlerRefusesCSRFHeadersThatProveNothing(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	for _, name := range []string{"Content-Type", "accept", "Accept-Language", "Content-Language", "Origin", "Cookie", "Referer", "Host", "Sec-Fetch-Site", "Proxy-Authorization", "Bad Header"} {
		_, err := f.e.SignInHandler(serverauth.HandlerConfig{CSRFHeader: name})
		var ce *serverauth.ConfigError
		if !errors.As(err, &ce) || ce.Field != "HandlerConfig.CSRFHeader" {
			t.Errorf("SignInHandler(CSRFHeader %q) = %v, want a ConfigError for HandlerConfig.CSRFHeader", name, err)
		}
	}
	for _, name := range []string{"X-Requested-With", "X-CSRF-Token"} {
		if _, err := f.e.SignInHandler(serverauth.HandlerConfig{CSRFHeader: name}); err != nil {
			t.Errorf("SignInHandler(CSRFHeader %q) = %v, want nil", name, err)
		}
	}
}

// TestSignInHandlerNoRefreshTokenDoesNotRevokeByDefault: a sign-in that
// brings no refresh token for a user the store does not know gets 403
// consent_required, and nothing is revoked at Google (the grant may serve
// other backends on the same OAuth client).
func TestSignInHandlerNoRefreshTokenDoesNotRevokeByDefault(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	f.signIn(serverauthtest.CodeRequest{}) // consented earlier, elsewhere
	fresh := f.newReplica(func(c *serverauth.Config) { c.Store = serverauth.NewMemoryStore(); c.Cipher = nil })
	req := httptest.NewRequest(http.MethodPost, "/signin", strings.NewReader(formCode(f.mint(serverauthtest.CodeRequest{Scopes: []string{"openid", "email", "drive.appdata"}}))))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Requested-With", "XMLHttpRequest")
	rec := httptest.NewRecorder()
	signInHandler(t, fresh, serverauth.HandlerConfig{}).ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "consent_required") {
		t.Fatalf("sign-in without a refresh token = %d %s, want 403 consent_required", rec.Code, rec.Body)
	}
	if n := f.g.RequestCount(serverauthtest.EndpointRevoke); n != 0 {
		t.Fatalf("revocation requests = %d, want 0: the handler must not end the grant on its own", n)
	}
}

// TestSignInHandlerServesAppsAndBrowsers: one handler takes mobile server
// auth codes and GIS popup codes; each request's redirect_uri follows who
// sent it, unless the configuration or the ExchangeOptions hook says
// otherwise.
func TestSignInHandlerServesAppsAndBrowsers(t *testing.T) {
	const site = "https://app.example"
	verifier := "v3rifier-0123456789-0123456789-0123456789-01"
	tests := []struct {
		name       string
		cfg        func(*serverauth.Config)
		hcfg       serverauth.HandlerConfig
		req        serverauthtest.CodeRequest
		header     map[string]string
		wantStatus int
		wantSent   string // redirect_uri the exchange sent; "-" = absent
	}{
		{name: "popup code from an allowed origin", hcfg: serverauth.HandlerConfig{AllowedOrigins: []string{site}},
			req: serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebPopup}, header: map[string]string{"Origin": site, "Sec-Fetch-Site": "cross-site"},
			wantStatus: 200, wantSent: serverauth.PostMessage},
		{name: "popup code from the same origin, no allow-list", req: serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebPopup},
			header: map[string]string{"Origin": site, "Sec-Fetch-Site": "same-origin"}, wantStatus: 200, wantSent: serverauth.PostMessage},
		{name: "iOS code, no Origin", hcfg: serverauth.HandlerConfig{AllowedOrigins: []string{site}},
			req: serverauthtest.CodeRequest{Origin: serverauthtest.OriginIOS}, wantStatus: 200, wantSent: "-"},
		{name: "Android code, no Origin", hcfg: serverauth.HandlerConfig{AllowedOrigins: []string{site}},
			req: serverauthtest.CodeRequest{Origin: serverauthtest.OriginAndroid}, wantStatus: 200, wantSent: "-"},
		{name: "popup code without Origin is exchanged as an app's", req: serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebPopup},
			wantStatus: 500, wantSent: "-"},
		{name: "Config.RedirectURL wins over the Origin", cfg: func(c *serverauth.Config) { c.RedirectURL = serverauthtest.DefaultRedirectURI },
			req:    serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebRedirect, RedirectURI: serverauthtest.DefaultRedirectURI},
			header: map[string]string{"Origin": site}, wantStatus: 200, wantSent: serverauthtest.DefaultRedirectURI},
		{name: "Config.RedirectURL postmessage is used for apps too", cfg: func(c *serverauth.Config) { c.RedirectURL = serverauth.PostMessage },
			req: serverauthtest.CodeRequest{Origin: serverauthtest.OriginIOS}, wantStatus: 500, wantSent: serverauth.PostMessage},
		{name: "hook overrides the browser default", hcfg: serverauth.HandlerConfig{ExchangeOptions: func(*http.Request) []serverauth.ExchangeOption {
			return []serverauth.ExchangeOption{serverauth.WithRedirectURL(serverauthtest.DefaultRedirectURI), serverauth.WithCodeVerifier(verifier)}
		}}, req: serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebRedirect, RedirectURI: serverauthtest.DefaultRedirectURI, CodeChallenge: challenge(verifier), CodeChallengeMethod: "S256"},
			header: map[string]string{"Origin": site}, wantStatus: 200, wantSent: serverauthtest.DefaultRedirectURI},
		{name: "hook overrides the app default", hcfg: serverauth.HandlerConfig{ExchangeOptions: func(*http.Request) []serverauth.ExchangeOption {
			return []serverauth.ExchangeOption{serverauth.WithRedirectURL(serverauth.PostMessage)}
		}}, req: serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebPopup}, wantStatus: 200, wantSent: serverauth.PostMessage},
		{name: "hook with no options keeps the default", hcfg: serverauth.HandlerConfig{ExchangeOptions: func(*http.Request) []serverauth.ExchangeOption { return nil }},
			req: serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebPopup}, header: map[string]string{"Origin": site}, wantStatus: 200, wantSent: serverauth.PostMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mut []func(*serverauth.Config)
			if tt.cfg != nil {
				mut = append(mut, tt.cfg)
			}
			f := newStoreFixture(t, serverauthtest.Options{}, mut...)
			tt.req.Scopes = []string{"openid", "email", "profile", "drive.appdata"}
			req := httptest.NewRequest(http.MethodPost, "/signin", strings.NewReader(formCode(f.mint(tt.req))))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Requested-With", "XMLHttpRequest")
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			signInHandler(t, f.e, tt.hcfg).ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d (%s), want %d", rec.Code, rec.Body, tt.wantStatus)
			}
			form := f.lastTokenRequest().Form
			sent := "-"
			if v, ok := form["redirect_uri"]; ok {
				sent = v[0]
			}
			if sent != tt.wantSent {
				t.Errorf("redirect_uri sent = %q, want %q", sent, tt.wantSent)
			}
		})
	}
}

// TestSignInHandlerOneHandlerForBoth: the same handler value signs in an
// iOS user and then a browser user, one after the other.
func TestSignInHandlerOneHandlerForBoth(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	h := signInHandler(t, f.e, serverauth.HandlerConfig{AllowedOrigins: []string{"https://app.example"}})
	scopes := []string{"openid", "email", "profile", "drive.appdata"}
	web := serverauthtest.DemoUser()
	web.Sub, web.Email = "104242424242424242424", "web.user.demo@gmail.com"
	for _, c := range []struct {
		origin string
		req    serverauthtest.CodeRequest
	}{
		{"", serverauthtest.CodeRequest{Origin: serverauthtest.OriginIOS, Scopes: scopes}},
		{"https://app.example", serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebPopup, Scopes: scopes, User: web}},
	} {
		req := httptest.NewRequest(http.MethodPost, "/signin", strings.NewReader(formCode(f.mint(c.req))))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Requested-With", "XMLHttpRequest")
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("%s sign-in: status %d (%s), want 200", c.req.Origin, rec.Code, rec.Body)
		}
	}
}
