package serverauthtest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/serverauth/serverauth/serverauthtest"
)

// control sends a JSON control request to the fake and decodes the answer.
func (f *fixture) control(t *testing.T, method, path, body string, header map[string]string) *response {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" || method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return f.do(t, req)
}

func TestControlClock(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	tok := f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{}))
	at := tok.str("access_token")
	if r := f.control(t, http.MethodGet, "/emulator/clock", "", nil); r.str("now") != start.Format(time.RFC3339Nano) || r.json["offset_seconds"] != json.Number("0") {
		t.Errorf("GET /emulator/clock = %s, want the start time and offset 0", r.raw)
	}
	r := f.control(t, http.MethodPost, "/emulator/clock", `{"advance_seconds": 3600}`, nil)
	if r.status != http.StatusOK || r.str("now") != start.Add(time.Hour).Format(time.RFC3339Nano) || r.json["offset_seconds"] != json.Number("3600") {
		t.Fatalf("POST /emulator/clock = %d %s, want an hour later", r.status, r.raw)
	}
	if got := f.srv.Now(); !got.Equal(start.Add(time.Hour)) {
		t.Errorf("Now() = %v, want %v", got, start.Add(time.Hour))
	}
	// The access token (3599 s) has expired by the moved clock.
	if r := f.get(t, "/v1/userinfo", func(req *http.Request) { req.Header.Set("Authorization", "Bearer "+at) }); r.status != http.StatusUnauthorized {
		t.Errorf("userinfo after an hour = %d, want 401", r.status)
	}
	if r := f.refresh(t, tok.str("refresh_token")); r.status != http.StatusOK {
		t.Errorf("refresh after an hour = %d %s, want 200", r.status, r.raw)
	}
	f.srv.AdvanceClock(-time.Hour)
	if got := f.srv.Now(); !got.Equal(start) {
		t.Errorf("Now() after AdvanceClock(-1h) = %v, want %v", got, start)
	}
	for _, body := range []string{`{"advance_seconds": "x"}`, `{"now": "2020-01-01T00:00:00Z"}`, `{"speed": 2}`} {
		if r := f.control(t, http.MethodPost, "/emulator/clock", body, nil); r.status != http.StatusBadRequest || r.str("error") != "invalid_request" {
			t.Errorf("POST /emulator/clock %s = %d %s, want 400 invalid_request", body, r.status, r.raw)
		}
	}
	if r := f.control(t, http.MethodDelete, "/emulator/clock", "", nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE /emulator/clock = %d, want 405", r.status)
	}
}

func TestControlUsers(t *testing.T) {
	sub := serverauthtest.DemoUser().Sub
	bearer := func(at string) func(*http.Request) {
		return func(req *http.Request) { req.Header.Set("Authorization", "Bearer "+at) }
	}
	t.Run("expire access tokens", func(t *testing.T) {
		f := newFixture(t, serverauthtest.Options{})
		tok := f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{}))
		other := f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{User: serverauthtest.DemoAccounts()[1]}))
		r := f.control(t, http.MethodPost, "/emulator/users/"+sub+"/expire-access-tokens", "", nil)
		if r.status != http.StatusOK || r.json["expired"] != json.Number("1") || r.str("sub") != sub {
			t.Fatalf("expire-access-tokens = %d %s, want 1 expired", r.status, r.raw)
		}
		if r := f.get(t, "/v1/userinfo", bearer(tok.str("access_token"))); r.status != http.StatusUnauthorized {
			t.Errorf("userinfo with the expired token = %d, want 401", r.status)
		}
		if r := f.get(t, "/v1/userinfo", bearer(other.str("access_token"))); r.status != http.StatusOK {
			t.Errorf("userinfo with another user's token = %d, want 200", r.status)
		}
		if r := f.refresh(t, tok.str("refresh_token")); r.status != http.StatusOK {
			t.Errorf("refresh after expiry = %d %s, want 200 (the grant lives)", r.status, r.raw)
		}
		if n := f.srv.ExpireAccessTokens(sub); n != 1 {
			t.Errorf("ExpireAccessTokens = %d, want 1 (the refreshed token)", n)
		}
	})
	t.Run("revoke", func(t *testing.T) {
		f := newFixture(t, serverauthtest.Options{})
		tok := f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{}))
		if r := f.control(t, http.MethodPost, "/emulator/users/"+sub+"/revoke", "{}", nil); r.status != http.StatusOK {
			t.Fatalf("revoke = %d %s", r.status, r.raw)
		}
		wantOAuthError(t, f.refresh(t, tok.str("refresh_token")), http.StatusBadRequest, "invalid_grant", "Token has been expired or revoked.")
	})
	t.Run("require reauth and delete", func(t *testing.T) {
		f := newFixture(t, serverauthtest.Options{})
		rt := f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{})).str("refresh_token")
		f.control(t, http.MethodPost, "/emulator/users/"+sub+"/require-reauth", `{"on": true}`, nil)
		if r := f.refresh(t, rt); r.str("error_subtype") != "invalid_rapt" {
			t.Errorf("refresh with reauth required = %s, want invalid_rapt", r.raw)
		}
		f.control(t, http.MethodPost, "/emulator/users/"+sub+"/require-reauth", `{"on": false}`, nil)
		if r := f.refresh(t, rt); r.status != http.StatusOK {
			t.Errorf("refresh with reauth off = %d %s", r.status, r.raw)
		}
		f.control(t, http.MethodPost, "/emulator/users/"+sub+"/delete", "", nil)
		wantOAuthError(t, f.refresh(t, rt), http.StatusBadRequest, "invalid_grant", "The account has been deleted")
	})
	t.Run("bad requests", func(t *testing.T) {
		f := newFixture(t, serverauthtest.Options{})
		for _, tt := range []struct {
			method, path, body string
			status             int
		}{
			{http.MethodPost, "/emulator/users/" + sub + "/explode", "", http.StatusNotFound},
			{http.MethodPost, "/emulator/users/" + sub, "", http.StatusNotFound},
			{http.MethodPost, "/emulator/users/jane/revoke", "", http.StatusBadRequest},
			{http.MethodGet, "/emulator/users/" + sub + "/revoke", "", http.StatusMethodNotAllowed},
			{http.MethodPost, "/emulator/users/" + sub + "/revoke", `{"on": true}`, http.StatusBadRequest},
			{http.MethodPost, "/emulator/users/" + sub + "/revoke", `{"all": true}`, http.StatusBadRequest},
		} {
			if r := f.control(t, tt.method, tt.path, tt.body, nil); r.status != tt.status {
				t.Errorf("%s %s %s = %d %s, want %d", tt.method, tt.path, tt.body, r.status, r.raw, tt.status)
			}
		}
	})
}

func TestControlSettings(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	r := f.control(t, http.MethodGet, "/emulator/settings", "", nil)
	if r.json["rotate_refresh_tokens"] != false || r.json["access_token_lifetime_seconds"] != json.Number("3599") {
		t.Errorf("GET /emulator/settings = %s, want the defaults", r.raw)
	}
	r = f.control(t, http.MethodPost, "/emulator/settings", `{"rotate_refresh_tokens": true, "access_token_lifetime_seconds": 60}`, nil)
	if r.status != http.StatusOK || r.json["rotate_refresh_tokens"] != true || r.json["access_token_lifetime_seconds"] != json.Number("60") {
		t.Fatalf("POST /emulator/settings = %d %s", r.status, r.raw)
	}
	tok := f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{}))
	if tok.json["expires_in"] != json.Number("60") {
		t.Errorf("expires_in = %v, want 60", tok.json["expires_in"])
	}
	rt := tok.str("refresh_token")
	next := f.refresh(t, rt)
	if next.str("refresh_token") == "" || next.str("refresh_token") == rt || next.json["expires_in"] != json.Number("60") {
		t.Errorf("refresh with rotation = %s, want a new refresh token and expires_in 60", next.raw)
	}
	wantOAuthError(t, f.refresh(t, rt), http.StatusBadRequest, "invalid_grant", "Token has been expired or revoked.")

	// Only the fields given change; 0 restores the configured lifetime.
	r = f.control(t, http.MethodPost, "/emulator/settings", `{"access_token_lifetime_seconds": 0}`, nil)
	if r.json["rotate_refresh_tokens"] != true || r.json["access_token_lifetime_seconds"] != json.Number("3599") {
		t.Errorf("POST lifetime 0 = %s, want rotation still on and 3599", r.raw)
	}
	f.srv.SetRotateRefreshTokens(false)
	if r := f.refresh(t, next.str("refresh_token")); r.str("refresh_token") != "" {
		t.Errorf("refresh with rotation off returned a refresh token: %s", r.raw)
	}
	f.srv.SetAccessTokenLifetime(10 * time.Second)
	if r := f.refresh(t, next.str("refresh_token")); r.json["expires_in"] != json.Number("10") {
		t.Errorf("expires_in after SetAccessTokenLifetime(10s) = %v", r.json["expires_in"])
	}
	for _, body := range []string{`{"access_token_lifetime_seconds": -1}`, `{"rotate_refresh_tokens": "yes"}`, `{"lifetime": 1}`} {
		if r := f.control(t, http.MethodPost, "/emulator/settings", body, nil); r.status != http.StatusBadRequest {
			t.Errorf("POST /emulator/settings %s = %d, want 400", body, r.status)
		}
	}
}

func TestControlCounts(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	code := f.mint(t, serverauthtest.CodeRequest{})
	rt := f.mustExchange(t, code).str("refresh_token")
	f.refresh(t, rt)
	f.refresh(t, rt)
	f.srv.FailNext(serverauthtest.EndpointJWKS, 1, serverauthtest.Fault{Kind: serverauthtest.FaultServerError})
	f.get(t, "/oauth2/v3/certs", nil)

	r := f.control(t, http.MethodGet, "/emulator/counts", "", nil)
	var c serverauthtest.EmulatorCounts
	if err := json.Unmarshal(r.raw, &c); err != nil {
		t.Fatalf("GET /emulator/counts = %s: %v", r.raw, err)
	}
	sub := serverauthtest.DemoUser().Sub
	if c.Requests[serverauthtest.EndpointToken] != 3 || c.Requests[serverauthtest.EndpointJWKS] != 1 || c.Refreshes[sub] != 2 ||
		c.Faults[serverauthtest.EndpointJWKS] != 1 || c.Requests[serverauthtest.EndpointEmulator] != 1 {
		t.Errorf("counts = %+v, want 3 token requests, 1 JWKS, 2 refreshes of %s, 1 JWKS fault, this request", c, sub)
	}
	if _, ok := c.Requests[serverauthtest.EndpointGSI]; !ok {
		t.Errorf("counts = %+v, want every endpoint listed", c)
	}
	if r := f.control(t, http.MethodPost, "/emulator/counts", `{"code": "`+code+`"}`, nil); r.json["code_exchanges"] != json.Number("1") {
		t.Errorf("POST /emulator/counts {code} = %s, want 1", r.raw)
	}
	if r := f.control(t, http.MethodPost, "/emulator/counts", `{}`, nil); r.status != http.StatusBadRequest {
		t.Errorf("POST /emulator/counts {} = %d, want 400", r.status)
	}
	r = f.control(t, http.MethodDelete, "/emulator/counts", "", nil)
	c = serverauthtest.EmulatorCounts{}
	if err := json.Unmarshal(r.raw, &c); err != nil || c.Requests[serverauthtest.EndpointToken] != 0 || len(c.Refreshes) != 0 || c.Faults[serverauthtest.EndpointJWKS] != 0 {
		t.Errorf("DELETE /emulator/counts = %s, want zeroes", r.raw)
	}
	if n := f.srv.CodeExchangeCount(code); n != 0 {
		t.Errorf("CodeExchangeCount after DELETE = %d, want 0", n)
	}
}

func TestControlTimeLimitedGrant(t *testing.T) {
	// POST /emulator/codes mints time-limited grants.
	f := newFixture(t, serverauthtest.Options{})
	r := f.control(t, http.MethodPost, "/emulator/codes", `{"origin": "android", "refresh_token_expires_in": 600}`, nil)
	tok := f.mustExchange(t, r.str("code"))
	if tok.json["refresh_token_expires_in"] != json.Number("600") {
		t.Fatalf("exchange = %s, want refresh_token_expires_in 600", tok.raw)
	}
	f.control(t, http.MethodPost, "/emulator/clock", `{"advance_seconds": 600}`, nil)
	wantOAuthError(t, f.refresh(t, tok.str("refresh_token")), http.StatusBadRequest, "invalid_grant", "Token has been expired or revoked.")
}

func TestEmulatorCORS(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	preflight := map[string]string{"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
	with := func(h map[string]string, origin string) map[string]string {
		out := map[string]string{"Origin": origin}
		for k, v := range h {
			out[k] = v
		}
		return out
	}
	for _, origin := range []string{"http://localhost:3000", "http://127.0.0.1:5173", "https://[::1]:8443", "http://127.0.0.2"} {
		t.Run("loopback "+origin, func(t *testing.T) {
			r := f.control(t, http.MethodOptions, "/emulator/codes", "", with(preflight, origin))
			if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != origin ||
				!strings.Contains(r.header.Get("Access-Control-Allow-Methods"), "POST") ||
				!strings.EqualFold(r.header.Get("Access-Control-Allow-Headers"), "Content-Type") {
				t.Errorf("preflight = %d %v, want 204 allowing %s, POST and Content-Type", r.status, r.header, origin)
			}
			r = f.control(t, http.MethodPost, "/emulator/codes", `{}`, map[string]string{"Origin": origin})
			if r.status != http.StatusOK || r.header.Get("Access-Control-Allow-Origin") != origin || r.header.Get("Vary") != "Origin" {
				t.Errorf("POST = %d %v, want 200 with Access-Control-Allow-Origin %s and Vary: Origin", r.status, r.header, origin)
			}
		})
	}
	for _, origin := range []string{"https://evil.example", "null", "http://localhost.evil.example", "http://127.0.0.1.nip.io", "file://", "http://user@localhost", "http://localhost:3000/page"} {
		t.Run("refused "+origin, func(t *testing.T) {
			r := f.control(t, http.MethodOptions, "/emulator/codes", "", with(preflight, origin))
			if r.status != http.StatusForbidden || r.header.Get("Access-Control-Allow-Origin") != "" || r.header.Get("Access-Control-Allow-Methods") != "" {
				t.Errorf("preflight = %d %v, want 403 without CORS headers", r.status, r.header)
			}
			r = f.control(t, http.MethodGet, "/emulator/faults", "", map[string]string{"Origin": origin})
			if r.header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("GET = %v, want no Access-Control-Allow-Origin", r.header)
			}
		})
	}
	t.Run("other paths", func(t *testing.T) {
		r := f.control(t, http.MethodOptions, "/token", "", with(preflight, "http://localhost:3000"))
		if r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight of /token = %d %v, want no CORS (Google's token endpoint has none)", r.status, r.header)
		}
	})
	t.Run("no Origin", func(t *testing.T) {
		if r := f.control(t, http.MethodGet, "/emulator/clock", "", nil); r.status != http.StatusOK || r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("GET without Origin = %d %v", r.status, r.header)
		}
	})
}

func TestSelfIssuer(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{SelfIssuer: true})
	if got := f.srv.Issuer(); got != f.srv.URL {
		t.Errorf("Issuer() = %q, want the server's URL %q", got, f.srv.URL)
	}
	if r := f.get(t, "/.well-known/openid-configuration", nil); r.str("issuer") != f.srv.URL {
		t.Errorf("discovery issuer = %q, want %q (the URL it is fetched from)", r.str("issuer"), f.srv.URL)
	}
	j := f.verifyJWT(t, f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{})).str("id_token"))
	if j.claims["iss"] != f.srv.URL {
		t.Errorf("ID token iss = %v, want %q", j.claims["iss"], f.srv.URL)
	}
	if j := f.verifyJWT(t, f.srv.IDToken(serverauthtest.User{}, "")); j.claims["iss"] != f.srv.URL {
		t.Errorf("IDToken iss = %v, want %q", j.claims["iss"], f.srv.URL)
	}

	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "SelfIssuer") {
			t.Errorf("New(SelfIssuer) recovered %v, want a panic naming SelfIssuer", r)
		}
	}()
	serverauthtest.New(serverauthtest.Options{SelfIssuer: true})
}
