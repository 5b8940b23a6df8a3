package drive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	drivev3 "google.golang.org/api/drive/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
)

// Scopes of the stub grants besides Drive's.
const (
	scopeOpenID = "openid"
	scopeEmail  = "https://www.googleapis.com/auth/userinfo.email"
)

// Bearer tokens the stub lookup knows.
const (
	tokAP      = "ya29.user-a-project-p"
	tokAQ      = "ya29.user-a-project-q"
	tokBP      = "ya29.user-b-project-p"
	tokNoScope = "ya29.user-a-no-drive-scope"
	tokFull    = "ya29.user-a-full-drive"
	tokExpired = "ya29.expired"
)

var testStart = time.Date(2026, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

// stubLookup maps the fixed test tokens to grants.
func stubLookup(tok string) (Grant, bool) {
	grants := map[string]Grant{
		tokAP:      {Sub: "user-a", Project: "project-p", Scopes: []string{scopeOpenID, scopeEmail, scopeAppData}},
		tokAQ:      {Sub: "user-a", Project: "project-q", Scopes: []string{scopeAppData}},
		tokBP:      {Sub: "user-b", Project: "project-p", Scopes: []string{scopeAppData}},
		tokNoScope: {Sub: "user-a", Project: "project-p", Scopes: []string{scopeOpenID, scopeEmail}},
		tokFull:    {Sub: "user-a", Project: "project-p", Scopes: []string{scopeFull}},
	}
	g, ok := grants[tok] // tokExpired is unknown, as the fake reports an expired token
	return g, ok
}

// testClock is a settable clock for the emulator.
type testClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is an emulator served on loopback.
type env struct {
	d     *Emulator
	srv   *httptest.Server
	clock *testClock
}

// newEnv serves an emulator with opts, at most one (none: the defaults).
func newEnv(t *testing.T, opts ...Options) *env {
	t.Helper()
	clock := &testClock{t: testStart}
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	d := New(clock.now, stubLookup, o)
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	return &env{d: d, srv: srv, clock: clock}
}

// bearerTransport adds a bearer token to every request.
type bearerTransport struct{ token string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// service returns a real Drive v3 client for token.
func (e *env) service(t *testing.T, token string) *drivev3.Service {
	t.Helper()
	c := &http.Client{Transport: bearerTransport{token}}
	svc, err := drivev3.NewService(context.Background(), option.WithHTTPClient(c), option.WithEndpoint(e.srv.URL+"/drive/v3/"))
	require.NoError(t, err, "drive.NewService")
	return svc
}

// response is a raw response.
type response struct {
	code   int
	header http.Header
	body   []byte
}

// json decodes the body as an object.
func (r *response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body %s", r.body)
	return m
}

// do sends a raw request; token "" sends no Authorization header.
func (e *env) do(t *testing.T, method, path, token string, body io.Reader, header ...string) *response {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return &response{code: res.StatusCode, header: res.Header, body: b}
}

// multipartBody builds a multipart/related upload body.
func multipartBody(t *testing.T, meta any, media []byte, mediaType string) (io.Reader, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mb, err := json.Marshal(meta)
	require.NoError(t, err)
	p, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/json; charset=UTF-8"}})
	require.NoError(t, err)
	p.Write(mb)
	p, err = mw.CreatePart(textproto.MIMEHeader{"Content-Type": {mediaType}})
	require.NoError(t, err)
	p.Write(media)
	require.NoError(t, mw.Close())
	return &buf, "multipart/related; boundary=" + mw.Boundary()
}

// create uploads a file into token's app data folder and returns its full
// resource.
func (e *env) create(t *testing.T, token, name, content string, extra ...map[string]any) map[string]any {
	t.Helper()
	meta := map[string]any{"name": name, "parents": []string{"appDataFolder"}}
	for _, x := range extra {
		for k, v := range x {
			meta[k] = v
		}
	}
	body, ct := multipartBody(t, meta, []byte(content), "application/json")
	r := e.do(t, "POST", "/upload/drive/v3/files?uploadType=multipart&fields=*", token, body, "Content-Type", ct)
	require.Equal(t, http.StatusOK, r.code, "create %q: %s", name, r.body)
	return r.json(t)
}

// errorOf returns the error object of a Google-API-style error body.
func errorOf(t *testing.T, r *response) map[string]any {
	t.Helper()
	m := r.json(t)
	e, ok := m["error"].(map[string]any)
	require.True(t, ok, "error body %s", r.body)
	return e
}

// reasonOf returns errors[0].reason of an error body.
func reasonOf(t *testing.T, r *response) string {
	t.Helper()
	e := errorOf(t, r)
	items, _ := e["errors"].([]any)
	require.NotEmpty(t, items, "errors[] in %s", r.body)
	return items[0].(map[string]any)["reason"].(string)
}

// names returns the names in a list response.
func names(t *testing.T, r *response) []string {
	t.Helper()
	var out []string
	for _, f := range r.json(t)["files"].([]any) {
		out = append(out, f.(map[string]any)["name"].(string))
	}
	return out
}

// keys returns the member names of m.
func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// asGoogleErr unwraps err to a *googleapi.Error.
func asGoogleErr(t *testing.T, err error) *googleapi.Error {
	t.Helper()
	var ge *googleapi.Error
	require.True(t, errors.As(err, &ge), "error %v is not a *googleapi.Error", err)
	return ge
}
