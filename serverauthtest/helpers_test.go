package serverauthtest_test

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/serverauth/serverauth/serverauthtest"
)

// start is the fixed time every test's clock starts at.
var start = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// fixture is a fake Google on a test clock.
type fixture struct {
	srv   *serverauthtest.Server
	clock *serverauthtest.Clock
}

// newFixture starts a fake Google with opts on a clock at start.
func newFixture(t *testing.T, opts serverauthtest.Options) *fixture {
	t.Helper()
	clock := serverauthtest.NewClock(start)
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	srv := serverauthtest.NewServer(opts)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, clock: clock}
}

// response is a decoded HTTP response.
type response struct {
	status int
	header http.Header
	raw    []byte
	json   map[string]any // nil when the body is not a JSON object
}

// str returns the JSON member name as a string ("" when absent or not a string).
func (r *response) str(name string) string {
	s, _ := r.json[name].(string)
	return s
}

// do sends req with the fake's client and decodes the answer.
func (f *fixture) do(t *testing.T, req *http.Request) *response {
	t.Helper()
	client := *f.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", req.URL, err)
	}
	r := &response{status: res.StatusCode, header: res.Header, raw: raw}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&r.json) != nil {
		r.json = nil
	}
	return r
}

// postForm POSTs form to path; edit, if not nil, changes the request (and
// may change form) before the form is encoded.
func (f *fixture) postForm(t *testing.T, path string, form url.Values, edit func(*http.Request)) *response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if edit != nil {
		edit(req)
	}
	body := form.Encode()
	req.Body = io.NopCloser(strings.NewReader(body))
	req.ContentLength = int64(len(body))
	return f.do(t, req)
}

// get GETs path; edit, if not nil, changes the request first.
func (f *fixture) get(t *testing.T, path string, edit func(*http.Request)) *response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(req)
	}
	return f.do(t, req)
}

// mint mints a code or fails the test.
func (f *fixture) mint(t *testing.T, req serverauthtest.CodeRequest) string {
	t.Helper()
	code, err := f.srv.MintCode(req)
	if err != nil {
		t.Fatalf("MintCode(%+v) = %v", req, err)
	}
	return code
}

// webCreds returns the web client's credentials as form fields.
func (f *fixture) webCreds() url.Values {
	return url.Values{"client_id": {f.srv.WebClientID()}, "client_secret": {f.srv.WebClientSecret()}}
}

// codeForm returns an authorization_code form for code with the web
// client's credentials and extra fields.
func (f *fixture) codeForm(code string, extra ...string) url.Values {
	v := f.webCreds()
	v.Set("grant_type", "authorization_code")
	v.Set("code", code)
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v
}

// exchange exchanges code with the web client's credentials in the body.
func (f *fixture) exchange(t *testing.T, code string, extra ...string) *response {
	t.Helper()
	return f.postForm(t, "/token", f.codeForm(code, extra...), nil)
}

// mustExchange exchanges code and fails the test unless it succeeds.
func (f *fixture) mustExchange(t *testing.T, code string, extra ...string) *response {
	t.Helper()
	r := f.exchange(t, code, extra...)
	if r.status != http.StatusOK {
		t.Fatalf("exchange = %d %s, want 200", r.status, r.raw)
	}
	return r
}

// refresh refreshes rt with the web client's credentials.
func (f *fixture) refresh(t *testing.T, rt string, extra ...string) *response {
	t.Helper()
	v := f.webCreds()
	v.Set("grant_type", "refresh_token")
	v.Set("refresh_token", rt)
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return f.postForm(t, "/token", v, nil)
}

// wantOAuthError checks an OAuth error response.
func wantOAuthError(t *testing.T, r *response, status int, code, desc string) {
	t.Helper()
	if r.status != status || r.str("error") != code || r.str("error_description") != desc {
		t.Errorf("response = %d %q %q, want %d %q %q (body %s)", r.status, r.str("error"), r.str("error_description"), status, code, desc, r.raw)
	}
}

// jwt is a decoded, verified JWT.
type jwt struct {
	rawHeader string
	header    map[string]any
	claims    map[string]any
	rawClaims []byte
}

// verifyJWT checks tok's RS256 signature against the fake's JWKS, fetched
// over HTTP, and decodes it.
func (f *fixture) verifyJWT(t *testing.T, tok string) *jwt {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("JWT has %d parts, want 3", len(parts))
	}
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("segment %q: %v", s, err)
		}
		return b
	}
	h, p, sig := dec(parts[0]), dec(parts[1]), dec(parts[2])
	j := &jwt{rawHeader: string(h), rawClaims: p}
	for _, x := range []struct {
		b []byte
		m *map[string]any
	}{{h, &j.header}, {p, &j.claims}} {
		d := json.NewDecoder(bytes.NewReader(x.b))
		d.UseNumber()
		if err := d.Decode(x.m); err != nil {
			t.Fatalf("decoding %s: %v", x.b, err)
		}
	}
	kid, _ := j.header["kid"].(string)
	key, ok := f.jwks(t)[kid]
	if !ok {
		t.Fatalf("kid %q not in JWKS", kid)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("rsa.VerifyPKCS1v15 = %v, want nil", err)
	}
	return j
}

// jwks fetches the JWKS and returns its keys by kid.
func (f *fixture) jwks(t *testing.T) map[string]*rsa.PublicKey {
	t.Helper()
	r := f.get(t, "/oauth2/v3/certs", nil)
	var set struct {
		Keys []struct{ Kid, Kty, Alg, Use, N, E string }
	}
	if err := json.Unmarshal(r.raw, &set); err != nil {
		t.Fatalf("JWKS %s: %v", r.raw, err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, k := range set.Keys {
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil {
			t.Fatalf("JWK %+v: bad n or e", k)
		}
		keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	return keys
}

// scopeSet splits a scope string into a set.
func scopeSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, f := range strings.Fields(s) {
		m[f] = true
	}
	return m
}

// sameSet reports whether the space-separated scope string s holds exactly want.
func sameSet(s string, want ...string) bool {
	got := scopeSet(s)
	if len(got) != len(want) || len(strings.Fields(s)) != len(want) {
		return false
	}
	for _, w := range want {
		if !got[w] {
			return false
		}
	}
	return true
}

const (
	scopeEmail   = "https://www.googleapis.com/auth/userinfo.email"
	scopeProfile = "https://www.googleapis.com/auth/userinfo.profile"
	scopeAppData = "https://www.googleapis.com/auth/drive.appdata"
)
