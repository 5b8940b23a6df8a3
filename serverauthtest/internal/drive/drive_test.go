package drive

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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

func TestClientEndToEnd(t *testing.T) {
	e := newEnv(t)
	svc := e.service(t, tokAP)
	ctx := context.Background()

	created, err := svc.Files.Create(&drivev3.File{Name: "state.json", Parents: []string{"appDataFolder"}, MimeType: "application/json"}).
		Media(strings.NewReader(`{"v":1}`)).Context(ctx).Do()
	require.NoError(t, err, "Files.Create")
	id := created.Id
	assert.Equal(t, "drive#file", created.Kind, "Create().Kind")
	assert.Equal(t, "state.json", created.Name, "Create().Name")
	assert.Equal(t, "application/json", created.MimeType, "Create().MimeType")
	assert.Empty(t, created.Parents, "Create().Parents without fields=: v3 returns only default fields")

	folder, err := svc.Files.Get("appDataFolder").Fields("id", "name", "mimeType", "kind").Do()
	require.NoError(t, err, `Files.Get("appDataFolder")`)
	assert.Equal(t, "drive#file", folder.Kind)
	assert.Equal(t, "application/vnd.google-apps.folder", folder.MimeType)
	assert.Equal(t, "Application Data", folder.Name)
	assert.NotEqual(t, "appDataFolder", folder.Id, `Get("appDataFolder").Id = alias, want the real ID`)

	t.Run("list", func(t *testing.T) {
		list, err := svc.Files.List().Spaces("appDataFolder").Q("name = 'state.json' and 'appDataFolder' in parents").
			Fields("nextPageToken", "files(id,name,modifiedTime,parents)").Do()
		require.NoError(t, err, "Files.List")
		require.Len(t, list.Files, 1, "Files.List().Files")
		assert.Equal(t, id, list.Files[0].Id)
		assert.Equal(t, []string{folder.Id}, list.Files[0].Parents, "parents = real folder ID")
		assert.Equal(t, "2026-03-14T15:09:26.535Z", list.Files[0].ModifiedTime)
	})

	t.Run("get metadata", func(t *testing.T) {
		f, err := svc.Files.Get(id).Fields("*").Do()
		require.NoError(t, err, "Files.Get")
		sum := md5.Sum([]byte(`{"v":1}`))
		assert.Equal(t, int64(7), f.Size, "Size")
		assert.Equal(t, hex.EncodeToString(sum[:]), f.Md5Checksum, "Md5Checksum")
		assert.Equal(t, int64(1), f.Version, "Version")
		assert.Equal(t, []string{"appDataFolder"}, f.Spaces, "Spaces")
		assert.Equal(t, f.CreatedTime, f.ModifiedTime)
	})

	t.Run("download", func(t *testing.T) {
		res, err := svc.Files.Get(id).Download()
		require.NoError(t, err, "Files.Get().Download")
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		assert.Equal(t, `{"v":1}`, string(b), "Download body")
		assert.Equal(t, "application/json", res.Header.Get("Content-Type"))
	})

	t.Run("update content", func(t *testing.T) {
		e.clock.advance(time.Minute)
		f, err := svc.Files.Update(id, &drivev3.File{}).Media(strings.NewReader(`{"v":2}`)).Fields("version", "modifiedTime", "mimeType").Do()
		require.NoError(t, err, "Files.Update().Media")
		assert.Equal(t, int64(2), f.Version, "Version after content update")
		assert.Equal(t, "2026-03-14T15:10:26.535Z", f.ModifiedTime)
		assert.Equal(t, "application/json", f.MimeType, "an update keeps the MIME type")
		res, err := svc.Files.Get(id).Download()
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		assert.Equal(t, `{"v":2}`, string(b))
	})

	t.Run("update metadata", func(t *testing.T) {
		e.clock.advance(time.Minute)
		f, err := svc.Files.Update(id, &drivev3.File{Name: "state2.json", AppProperties: map[string]string{"k": "v"}, Description: "d"}).
			Fields("name", "version", "appProperties", "description").Do()
		require.NoError(t, err, "Files.Update")
		assert.Equal(t, "state2.json", f.Name)
		assert.Equal(t, int64(3), f.Version)
		assert.Equal(t, map[string]string{"k": "v"}, f.AppProperties)
		assert.Equal(t, "d", f.Description)
	})

	t.Run("resumable upload", func(t *testing.T) {
		big := bytes.Repeat([]byte("0123456789abcdef"), 40_000) // 640,000 bytes, three 256 KiB chunks
		f, err := svc.Files.Create(&drivev3.File{Name: "big.bin", Parents: []string{"appDataFolder"}}).
			Media(bytes.NewReader(big), googleapi.ChunkSize(256*1024), googleapi.ContentType("application/octet-stream")).
			Fields("id", "size", "md5Checksum").Do()
		require.NoError(t, err, "Files.Create (resumable)")
		sum := md5.Sum(big)
		assert.Equal(t, int64(len(big)), f.Size)
		assert.Equal(t, hex.EncodeToString(sum[:]), f.Md5Checksum)
		require.NoError(t, svc.Files.Delete(f.Id).Do())
	})

	t.Run("pages", func(t *testing.T) {
		for i := range 4 {
			_, err := svc.Files.Create(&drivev3.File{Name: fmt.Sprintf("p%d", i), Parents: []string{"appDataFolder"}}).Do()
			require.NoError(t, err)
		}
		var got []string
		err := svc.Files.List().Spaces("appDataFolder").Q("name contains 'p'").PageSize(3).OrderBy("name").
			Pages(ctx, func(l *drivev3.FileList) error {
				for _, f := range l.Files {
					got = append(got, f.Name)
				}
				return nil
			})
		require.NoError(t, err, "Files.List().Pages")
		assert.Equal(t, []string{"p0", "p1", "p2", "p3"}, got)
	})

	t.Run("delete", func(t *testing.T) {
		require.NoError(t, svc.Files.Delete(id).Do(), "Files.Delete")
		_, err := svc.Files.Get(id).Do()
		ge := asGoogleErr(t, err)
		assert.Equal(t, http.StatusNotFound, ge.Code)
		require.NotEmpty(t, ge.Errors)
		assert.Equal(t, "notFound", ge.Errors[0].Reason)
		assert.Equal(t, "File not found: "+id+".", ge.Message)
	})
}

func TestClientErrors(t *testing.T) {
	e := newEnv(t)
	owned := e.create(t, tokAP, "owned.json", "{}")["id"].(string)
	tests := []struct {
		name       string
		token      string
		call       func(*drivev3.Service) error
		wantCode   int
		wantReason string
	}{
		{"expired token", tokExpired, func(s *drivev3.Service) error { _, err := s.Files.Get(owned).Do(); return err }, 401, "authError"},
		{"no drive scope", tokNoScope, func(s *drivev3.Service) error { _, err := s.Files.Get(owned).Do(); return err }, 403, "insufficientPermissions"},
		{"other user", tokBP, func(s *drivev3.Service) error { _, err := s.Files.Get(owned).Do(); return err }, 404, "notFound"},
		{"other project", tokAQ, func(s *drivev3.Service) error { _, err := s.Files.Get(owned).Do(); return err }, 404, "notFound"},
		{"list without spaces", tokAP, func(s *drivev3.Service) error { _, err := s.Files.List().Do(); return err }, 403, "insufficientScopes"},
		{"bad q", tokAP, func(s *drivev3.Service) error {
			_, err := s.Files.List().Spaces("appDataFolder").Q("name = state.json").Do()
			return err
		}, 400, "invalid"},
		{"create without parents", tokAP, func(s *drivev3.Service) error {
			_, err := s.Files.Create(&drivev3.File{Name: "x"}).Media(strings.NewReader("x")).Do()
			return err
		}, 403, "insufficientPermissions"},
		{"v2 alias", tokAP, func(s *drivev3.Service) error { _, err := s.Files.Get("appfolder").Do(); return err }, 404, "notFound"},
		{"move out of app data", tokAP, func(s *drivev3.Service) error {
			_, err := s.Files.Update(owned, &drivev3.File{}).AddParents("root").RemoveParents("appDataFolder").Do()
			return err
		}, 403, "notSupportedForAppDataFolderFiles"},
		{"share", tokAP, func(s *drivev3.Service) error {
			_, err := s.Permissions.Create(owned, &drivev3.Permission{Type: "anyone", Role: "reader"}).Do()
			return err
		}, 403, "notSupportedForAppDataFolderFiles"},
		{"bad fields", tokAP, func(s *drivev3.Service) error { _, err := s.Files.Get(owned).Fields("nope").Do(); return err }, 400, "invalidParameter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(e.service(t, tt.token))
			require.Error(t, err)
			ge := asGoogleErr(t, err)
			assert.Equalf(t, tt.wantCode, ge.Code, "Code = %d, want %d (%s)", ge.Code, tt.wantCode, ge.Body)
			require.NotEmpty(t, ge.Errors, "Errors in %s", ge.Body)
			assert.Equalf(t, tt.wantReason, ge.Errors[0].Reason, "Errors[0].Reason = %q, want %q", ge.Errors[0].Reason, tt.wantReason)
		})
	}
}

func TestAuthErrors(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name           string
		authorization  string
		wantCode       int
		wantReason     string
		wantStatus     string
		wantWWW        string
		wantInfoReason string // ErrorInfo detail, "" for none
		wantLocation   string
	}{
		{"missing", "", 401, "required", "UNAUTHENTICATED", `Bearer realm="https://accounts.google.com/"`, "CREDENTIALS_MISSING", "Authorization"},
		{"expired", "Bearer " + tokExpired, 401, "authError", "UNAUTHENTICATED", `Bearer realm="https://accounts.google.com/", error="invalid_token"`, "", "Authorization"},
		{"not bearer", "Basic dXNlcjpwYXNz", 401, "authError", "UNAUTHENTICATED", `Bearer realm="https://accounts.google.com/", error="invalid_token"`, "", "Authorization"},
		{"no drive scope", "Bearer " + tokNoScope, 403, "insufficientPermissions", "PERMISSION_DENIED",
			`Bearer realm="https://accounts.google.com/", error="insufficient_scope", scope="https://www.googleapis.com/auth/drive https://www.googleapis.com/auth/drive.appdata"`,
			"ACCESS_TOKEN_SCOPE_INSUFFICIENT", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.authorization != "" {
				hdr = []string{"Authorization", tt.authorization}
			}
			r := e.do(t, "GET", "/drive/v3/files?spaces=appDataFolder", "", nil, hdr...)
			assert.Equalf(t, tt.wantCode, r.code, "GET files = %d, want %d", r.code, tt.wantCode)
			assert.Equal(t, "application/json; charset=UTF-8", r.header.Get("Content-Type"))
			assert.Equal(t, tt.wantWWW, r.header.Get("WWW-Authenticate"), "WWW-Authenticate")
			eo := errorOf(t, r)
			assert.EqualValues(t, tt.wantCode, eo["code"])
			assert.Equal(t, tt.wantStatus, eo["status"])
			item := eo["errors"].([]any)[0].(map[string]any)
			assert.Equal(t, tt.wantReason, item["reason"])
			assert.Equal(t, "global", item["domain"])
			if tt.wantLocation != "" {
				assert.Equal(t, tt.wantLocation, item["location"])
				assert.Equal(t, "header", item["locationType"])
			}
			if tt.wantInfoReason == "" {
				assert.NotContains(t, eo, "details")
				return
			}
			details := eo["details"].([]any)
			info := details[0].(map[string]any)
			assert.Equal(t, "type.googleapis.com/google.rpc.ErrorInfo", info["@type"])
			assert.Equal(t, tt.wantInfoReason, info["reason"])
			assert.Equal(t, "google.apps.drive.v3.DriveFiles.List", info["metadata"].(map[string]any)["method"])
		})
	}
}

func TestErrorMessages(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name        string
		token       string
		wantMessage string
		wantItem    string
	}{
		{"missing", "", "Request is missing required authentication credential.", "Login Required."},
		{"invalid", tokExpired, "Invalid Credentials", "Invalid Credentials"},
		{"scope", tokNoScope, "Request had insufficient authentication scopes.", "Insufficient Permission"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eo := errorOf(t, e.do(t, "GET", "/drive/v3/files/x", tt.token, nil))
			assert.Contains(t, eo["message"], tt.wantMessage)
			assert.Equal(t, tt.wantItem, eo["errors"].([]any)[0].(map[string]any)["message"])
		})
	}
}

func TestNotFoundShape(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, "GET", "/drive/v3/files/1AbC?prettyPrint=false", tokAP, nil)
	assert.Equal(t, http.StatusNotFound, r.code)
	assert.JSONEq(t, `{"error":{"code":404,"message":"File not found: 1AbC.","errors":[{"message":"File not found: 1AbC.",
		"domain":"global","reason":"notFound","location":"fileId","locationType":"parameter"}],"status":"NOT_FOUND"}}`, string(r.body))
	assert.NotContains(t, string(r.body), "\n", "prettyPrint=false body is compact")

	pretty := e.do(t, "GET", "/drive/v3/files/1AbC", tokAP, nil)
	assert.Contains(t, string(pretty.body), "\n  \"error\": {", "default body is pretty-printed")
}

func TestDefaultFields(t *testing.T) {
	e := newEnv(t)
	f := e.create(t, tokAP, "a.json", `{"a":1}`, map[string]any{"appProperties": map[string]string{"k": "v"}})
	id := f["id"].(string)
	tests := []struct {
		name     string
		path     string
		wantKeys []string
		check    func(t *testing.T, m map[string]any)
	}{
		{"get default", "/drive/v3/files/" + id, []string{"kind", "id", "name", "mimeType"}, nil},
		{"get fields", "/drive/v3/files/" + id + "?fields=id,modifiedTime", []string{"id", "modifiedTime"}, nil},
		{"get path fields", "/drive/v3/files/" + id + "?fields=appProperties/k,size", []string{"appProperties", "size"}, func(t *testing.T, m map[string]any) {
			assert.Equal(t, map[string]any{"k": "v"}, m["appProperties"])
			assert.Equal(t, "7", m["size"], "size is a string")
		}},
		{"get star", "/drive/v3/files/" + id + "?fields=*", []string{
			"kind", "id", "name", "mimeType", "starred", "trashed", "explicitlyTrashed", "parents", "appProperties", "spaces",
			"version", "createdTime", "modifiedTime", "ownedByMe", "md5Checksum", "sha1Checksum", "sha256Checksum", "size", "quotaBytesUsed",
		}, func(t *testing.T, m map[string]any) {
			assert.Equal(t, "1", m["version"], "version is a string")
			assert.Equal(t, "2026-03-14T15:09:26.535Z", m["createdTime"])
		}},
		{"list default", "/drive/v3/files?spaces=appDataFolder", []string{"kind", "incompleteSearch", "files"}, func(t *testing.T, m map[string]any) {
			assert.Equal(t, "drive#fileList", m["kind"])
			assert.Equal(t, false, m["incompleteSearch"])
			file := m["files"].([]any)[0].(map[string]any)
			assert.ElementsMatch(t, []string{"kind", "id", "name", "mimeType"}, keys(file))
		}},
		{"list nested fields", "/drive/v3/files?spaces=appDataFolder&fields=nextPageToken,files(id,name,modifiedTime)", []string{"files"}, func(t *testing.T, m map[string]any) {
			file := m["files"].([]any)[0].(map[string]any)
			assert.ElementsMatch(t, []string{"id", "name", "modifiedTime"}, keys(file))
		}},
		{"list slash fields", "/drive/v3/files?spaces=appDataFolder&fields=files/id", []string{"files"}, func(t *testing.T, m map[string]any) {
			assert.ElementsMatch(t, []string{"id"}, keys(m["files"].([]any)[0].(map[string]any)))
		}},
		{"list star", "/drive/v3/files?spaces=appDataFolder&fields=*", []string{"kind", "incompleteSearch", "files"}, func(t *testing.T, m map[string]any) {
			assert.Contains(t, m["files"].([]any)[0].(map[string]any), "md5Checksum")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, "GET", tt.path, tokAP, nil)
			require.Equalf(t, http.StatusOK, r.code, "GET %s = %d, want 200: %s", tt.path, r.code, r.body)
			m := r.json(t)
			assert.ElementsMatchf(t, tt.wantKeys, keys(m), "GET %s members = %v, want %v", tt.path, keys(m), tt.wantKeys)
			if tt.check != nil {
				tt.check(t, m)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	e := newEnv(t)
	dir := e.create(t, tokAP, "dir", "", map[string]any{"mimeType": folderType})
	child := e.create(t, tokAP, "child", "x", map[string]any{"parents": []string{dir["id"].(string)}})
	keep := e.create(t, tokAP, "keep", "x")

	tests := []struct {
		name     string
		token    string
		id       string
		wantCode int
	}{
		{"other user", tokBP, keep["id"].(string), 404},
		{"folder itself", tokAP, "appDataFolder", 403},
		{"subfolder", tokAP, dir["id"].(string), 204},
		{"child went with it", tokAP, child["id"].(string), 404},
		{"again", tokAP, dir["id"].(string), 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, "DELETE", "/drive/v3/files/"+tt.id, tt.token, nil)
			assert.Equalf(t, tt.wantCode, r.code, "DELETE %s = %d, want %d: %s", tt.id, r.code, tt.wantCode, r.body)
			if tt.wantCode == 204 {
				assert.Empty(t, r.body, "204 body")
			}
		})
	}
	got := e.d.Files("user-a", "project-p")
	require.Len(t, got, 1)
	assert.Equal(t, "keep", got[0].Name)
}

func TestParents(t *testing.T) {
	tests := []struct {
		name        string
		opts        Options
		wantAlias   bool
		wantName    string
		wantFolderN string
	}{
		{"default: real ID", Options{}, false, "Application Data", "Application Data"},
		{"ReportParentsAsAlias", Options{ReportParentsAsAlias: true, AppDataFolderName: "appdata"}, true, "appdata", "appdata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.opts)
			f := e.create(t, tokAP, "s", "x")
			folder := e.do(t, "GET", "/drive/v3/files/appDataFolder?fields=*", tokAP, nil).json(t)
			realID := folder["id"].(string)
			assert.NotEqual(t, "appDataFolder", realID)
			assert.Equal(t, tt.wantFolderN, folder["name"])
			assert.Equal(t, folderType, folder["mimeType"])
			assert.NotContains(t, folder, "parents")
			want := realID
			if tt.wantAlias {
				want = "appDataFolder"
			}
			assert.Equalf(t, []any{want}, f["parents"], "create().parents = %v, want [%s]", f["parents"], want)
			// The real ID works wherever the alias does.
			byReal := e.do(t, "GET", "/drive/v3/files/"+realID+"?fields=id", tokAP, nil).json(t)
			assert.Equal(t, realID, byReal["id"])
			r := e.do(t, "GET", "/drive/v3/files?spaces=appDataFolder&q="+url.QueryEscape("'"+realID+"' in parents"), tokAP, nil)
			assert.Equal(t, []string{"s"}, names(t, r))
			assert.Equal(t, []string{realID}, e.d.Files("user-a", "project-p")[0].Parents, "File.Parents holds the real ID")
		})
	}
}

func TestListSpaces(t *testing.T) {
	tests := []struct {
		name       string
		opts       Options
		token      string
		query      string
		wantCode   int
		wantReason string
		wantMsg    string
	}{
		{"no spaces", Options{}, tokAP, "", 403, "insufficientScopes", "The granted scopes do not give access to all of the requested spaces."},
		{"drive space", Options{}, tokAP, "spaces=drive", 403, "insufficientScopes", ""},
		{"drive and app data", Options{}, tokAP, "spaces=drive,appDataFolder", 403, "insufficientScopes", ""},
		{"app data", Options{}, tokAP, "spaces=appDataFolder", 200, "", ""},
		{"bad space", Options{}, tokAP, "spaces=nope", 400, "invalid", ""},
		{"full scope, no spaces", Options{}, tokFull, "", 200, "", ""},
		{"full scope, app data", Options{}, tokFull, "spaces=appDataFolder", 200, "", ""},
		{"full scope, RequireAppDataScope", Options{RequireAppDataScope: true}, tokFull, "spaces=appDataFolder", 403, "insufficientScopes",
			"The granted scopes do not allow use of the Application Data folder."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.opts)
			r := e.do(t, "GET", "/drive/v3/files?"+tt.query, tt.token, nil)
			require.Equalf(t, tt.wantCode, r.code, "GET files?%s = %d, want %d: %s", tt.query, r.code, tt.wantCode, r.body)
			if tt.wantReason != "" {
				assert.Equal(t, tt.wantReason, reasonOf(t, r))
			}
			if tt.wantMsg != "" {
				assert.Equal(t, tt.wantMsg, errorOf(t, r)["message"])
			}
		})
	}
}

func TestAppFolderAlias(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		wantCode int
	}{
		{"default: unknown ID", Options{}, 404},
		{"AcceptV2AppFolderAlias", Options{AcceptV2AppFolderAlias: true}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.opts)
			requests := []struct {
				method, path string
				body         io.Reader
			}{
				{"GET", "/drive/v3/files/appfolder", nil},
				{"GET", "/drive/v3/files?spaces=appDataFolder&q=" + url.QueryEscape("'appfolder' in parents"), nil},
				{"POST", "/drive/v3/files", strings.NewReader(`{"name":"x","parents":["appfolder"]}`)},
			}
			for _, rq := range requests {
				r := e.do(t, rq.method, rq.path, tokAP, rq.body)
				assert.Equalf(t, tt.wantCode, r.code, "%s %s = %d, want %d: %s", rq.method, rq.path, r.code, tt.wantCode, r.body)
				if tt.wantCode == 404 {
					assert.Equal(t, "File not found: appfolder.", errorOf(t, r)["message"])
				}
			}
		})
	}
}

func TestIsolation(t *testing.T) {
	e := newEnv(t)
	f := e.create(t, tokAP, "mine", "secret")
	id := f["id"].(string)
	e.create(t, tokAQ, "q-file", "other project")
	tests := []struct {
		name      string
		token     string
		wantCode  int
		wantNames []string
	}{
		{"owner", tokAP, 200, []string{"mine"}},
		{"same user, other project", tokAQ, 404, []string{"q-file"}},
		{"other user, same project", tokBP, 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/drive/v3/files/" + id, "/drive/v3/files/" + id + "?alt=media"} {
				r := e.do(t, "GET", path, tt.token, nil)
				assert.Equalf(t, tt.wantCode, r.code, "GET %s = %d, want %d", path, r.code, tt.wantCode)
			}
			r := e.do(t, "PATCH", "/drive/v3/files/"+id, tt.token, strings.NewReader(`{"name":"stolen"}`), "Content-Type", "application/json")
			assert.Equalf(t, tt.wantCode, r.code, "PATCH = %d, want %d", r.code, tt.wantCode)
			list := e.do(t, "GET", "/drive/v3/files?spaces=appDataFolder", tt.token, nil)
			got := names(t, list)
			if tt.wantCode == 200 {
				tt.wantNames = []string{"stolen"}
			}
			assert.Equal(t, tt.wantNames, got, "list names")
		})
	}
	assert.Len(t, e.d.Files("user-a", "project-p"), 1)
	assert.Len(t, e.d.Files("user-a", "project-q"), 1)
	assert.Empty(t, e.d.Files("user-b", "project-p"))
}

func TestPagination(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		e.clock.advance(time.Second)
		e.create(t, tokAP, fmt.Sprintf("f%d", i), "x")
	}
	var got []string
	token := ""
	pages := 0
	for {
		path := "/drive/v3/files?spaces=appDataFolder&pageSize=2&orderBy=createdTime+desc"
		if token != "" {
			path += "&pageToken=" + url.QueryEscape(token)
		}
		r := e.do(t, "GET", path, tokAP, nil)
		require.Equal(t, 200, r.code, "%s", r.body)
		got = append(got, names(t, r)...)
		pages++
		m := r.json(t)
		next, _ := m["nextPageToken"].(string)
		if next == "" {
			break
		}
		token = next
	}
	assert.Equal(t, []string{"f4", "f3", "f2", "f1", "f0"}, got)
	assert.Equal(t, 3, pages)

	bad := []struct {
		name, query, wantLocation string
	}{
		{"pageSize too large", "pageSize=1001", "pageSize"},
		{"pageSize zero", "pageSize=0", "pageSize"},
		{"bad pageToken", "pageToken=garbage", "pageToken"},
		{"bad orderBy", "orderBy=size", "orderBy"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, "GET", "/drive/v3/files?spaces=appDataFolder&"+tt.query, tokAP, nil)
			assert.Equal(t, 400, r.code, "%s", r.body)
			item := errorOf(t, r)["errors"].([]any)[0].(map[string]any)
			assert.Equal(t, tt.wantLocation, item["location"])
		})
	}
}

func TestQuery(t *testing.T) {
	e := newEnv(t)
	e.create(t, tokAP, "state.json", "{}", map[string]any{"appProperties": map[string]string{"kind": "state"}})
	e.clock.advance(time.Hour)
	e.create(t, tokAP, "HelloWorld.txt", "hi", map[string]any{"mimeType": "text/plain"})
	dir := e.create(t, tokAP, "dir", "", map[string]any{"mimeType": folderType})
	e.create(t, tokAP, "it's.json", "{}", map[string]any{"parents": []string{dir["id"].(string)}})

	tests := []struct {
		name       string
		q          string
		wantNames  []string
		wantCode   int
		wantReason string
	}{
		{"empty", "", []string{"state.json", "HelloWorld.txt", "dir", "it's.json"}, 200, ""},
		{"name =", "name = 'state.json'", []string{"state.json"}, 200, ""},
		{"name !=", "name != 'state.json' and mimeType != 'application/vnd.google-apps.folder'", []string{"HelloWorld.txt", "it's.json"}, 200, ""},
		{"escaped quote", `name = 'it\'s.json'`, []string{"it's.json"}, 200, ""},
		{"contains prefix", "name contains 'hello'", []string{"HelloWorld.txt"}, 200, ""},
		{"contains is not substring", "name contains 'World'", nil, 200, ""},
		{"contains word", "name contains 'json'", []string{"state.json", "it's.json"}, 200, ""},
		{"alias in parents", "'appDataFolder' in parents", []string{"state.json", "HelloWorld.txt", "dir"}, 200, ""},
		{"subfolder in parents", "'" + dir["id"].(string) + "' in parents", []string{"it's.json"}, 200, ""},
		{"mimeType", "mimeType = 'text/plain'", []string{"HelloWorld.txt"}, 200, ""},
		{"trashed = false", "trashed = false and name = 'dir'", []string{"dir"}, 200, ""},
		{"trashed = true", "trashed = true", nil, 200, ""},
		{"or, not, parens", "(name = 'dir' or name = 'state.json') and not mimeType = 'application/vnd.google-apps.folder'", []string{"state.json"}, 200, ""},
		{"AND upper case", "name = 'dir' AND trashed = false", []string{"dir"}, 200, ""},
		{"modifiedTime", "modifiedTime > '2026-03-14T16:00:00Z'", []string{"HelloWorld.txt", "dir", "it's.json"}, 200, ""},
		{"appProperties has", "appProperties has { key='kind' and value='state' }", []string{"state.json"}, 200, ""},
		{"unquoted value", "name = state.json", nil, 400, "invalid"},
		{"unknown field", "size > 3", nil, 400, "invalid"},
		{"unterminated", "name = 'x", nil, 400, "invalid"},
		{"dangling and", "name = 'x' and", nil, 400, "invalid"},
		{"trailing garbage", "name = 'x' 'y'", nil, 400, "invalid"},
		{"unknown parent", "'nope' in parents", nil, 404, "notFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, "GET", "/drive/v3/files?spaces=appDataFolder&q="+url.QueryEscape(tt.q), tokAP, nil)
			require.Equalf(t, tt.wantCode, r.code, "list q=%q = %d, want %d: %s", tt.q, r.code, tt.wantCode, r.body)
			if tt.wantCode != 200 {
				assert.Equal(t, tt.wantReason, reasonOf(t, r))
				if tt.wantReason == "invalid" {
					assert.Equal(t, "q", errorOf(t, r)["errors"].([]any)[0].(map[string]any)["location"])
				}
				return
			}
			assert.Equalf(t, tt.wantNames, names(t, r), "list q=%q names", tt.q)
		})
	}
}

func TestCreate(t *testing.T) {
	tests := []struct {
		name       string
		token      string
		method     string
		path       string
		body       func(t *testing.T) (io.Reader, string)
		wantCode   int
		wantReason string
		check      func(t *testing.T, m map[string]any)
	}{
		{"metadata only", tokAP, "POST", "/drive/v3/files?fields=name,mimeType,size,parents", func(*testing.T) (io.Reader, string) {
			return strings.NewReader(`{"parents":["appDataFolder"]}`), "application/json"
		}, 200, "", func(t *testing.T, m map[string]any) {
			assert.Equal(t, "Untitled", m["name"])
			assert.Equal(t, "application/octet-stream", m["mimeType"])
			assert.Equal(t, "0", m["size"])
		}},
		{"multipart, type from media", tokAP, "POST", "/upload/drive/v3/files?uploadType=multipart&fields=mimeType", func(t *testing.T) (io.Reader, string) {
			return multipartBody(t, map[string]any{"name": "n", "parents": []string{"appDataFolder"}}, []byte("hi"), "text/plain; charset=utf-8")
		}, 200, "", func(t *testing.T, m map[string]any) {
			assert.Equal(t, "text/plain", m["mimeType"])
		}},
		{"media only lands outside app data", tokAP, "POST", "/upload/drive/v3/files?uploadType=media", func(*testing.T) (io.Reader, string) {
			return strings.NewReader("hi"), "text/plain"
		}, 403, "insufficientPermissions", nil},
		{"media only with full scope", tokFull, "POST", "/upload/drive/v3/files?uploadType=media", func(*testing.T) (io.Reader, string) {
			return strings.NewReader("hi"), "text/plain"
		}, 501, "notImplemented", nil},
		{"root parent", tokAP, "POST", "/drive/v3/files", func(*testing.T) (io.Reader, string) {
			return strings.NewReader(`{"name":"x","parents":["root"]}`), "application/json"
		}, 403, "insufficientPermissions", nil},
		{"unknown parent", tokAP, "POST", "/drive/v3/files", func(*testing.T) (io.Reader, string) {
			return strings.NewReader(`{"name":"x","parents":["1nope"]}`), "application/json"
		}, 404, "notFound", nil},
		{"two parents", tokAP, "POST", "/drive/v3/files", func(*testing.T) (io.Reader, string) {
			return strings.NewReader(`{"name":"x","parents":["appDataFolder","root"]}`), "application/json"
		}, 403, "cannotAddParent", nil},
		{"bad JSON", tokAP, "POST", "/drive/v3/files", func(*testing.T) (io.Reader, string) {
			return strings.NewReader(`{"name":`), "application/json"
		}, 400, "parseError", nil},
		{"property too long", tokAP, "POST", "/drive/v3/files", func(*testing.T) (io.Reader, string) {
			return strings.NewReader(`{"parents":["appDataFolder"],"appProperties":{"k":"` + strings.Repeat("v", 124) + `"}}`), "application/json"
		}, 400, "invalid", nil},
		{"no uploadType", tokAP, "POST", "/upload/drive/v3/files", func(*testing.T) (io.Reader, string) {
			return strings.NewReader("x"), "text/plain"
		}, 400, "badRequest", nil},
		{"multipart without boundary", tokAP, "POST", "/upload/drive/v3/files?uploadType=multipart", func(*testing.T) (io.Reader, string) {
			return strings.NewReader("x"), "application/json"
		}, 400, "badContent", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			body, ct := tt.body(t)
			r := e.do(t, tt.method, tt.path, tt.token, body, "Content-Type", ct)
			require.Equalf(t, tt.wantCode, r.code, "%s %s = %d, want %d: %s", tt.method, tt.path, r.code, tt.wantCode, r.body)
			if tt.wantReason != "" {
				assert.Equal(t, tt.wantReason, reasonOf(t, r))
			}
			if tt.check != nil {
				tt.check(t, r.json(t))
			}
		})
	}
}

func TestUpdate(t *testing.T) {
	e := newEnv(t)
	dir := e.create(t, tokAP, "dir", "", map[string]any{"mimeType": folderType})
	dirID := dir["id"].(string)
	f := e.create(t, tokAP, "f", "one", map[string]any{"appProperties": map[string]string{"a": "1", "b": "2"}})
	id := f["id"].(string)
	folderID := f["parents"].([]any)[0].(string)

	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		ct         string
		wantCode   int
		wantReason string
		check      func(t *testing.T, m map[string]any)
	}{
		{"rename", "PATCH", "/drive/v3/files/" + id + "?fields=name,version,modifiedTime", `{"name":"g"}`, "application/json", 200, "", func(t *testing.T, m map[string]any) {
			assert.Equal(t, "g", m["name"])
			assert.Equal(t, "2", m["version"])
			assert.Equal(t, "2026-03-14T15:14:26.535Z", m["modifiedTime"])
		}},
		{"appProperties merge and delete", "PATCH", "/drive/v3/files/" + id + "?fields=appProperties", `{"appProperties":{"a":null,"c":"3"}}`, "application/json", 200, "", func(t *testing.T, m map[string]any) {
			assert.Equal(t, map[string]any{"b": "2", "c": "3"}, m["appProperties"])
		}},
		{"content by media", "PATCH", "/upload/drive/v3/files/" + id + "?uploadType=media&fields=size,version,mimeType", "three", "text/plain", 200, "", func(t *testing.T, m map[string]any) {
			assert.Equal(t, "5", m["size"])
			assert.Equal(t, "4", m["version"])
			assert.Equal(t, "application/json", m["mimeType"], "a content update keeps the MIME type")
		}},
		{"set modifiedTime", "PATCH", "/drive/v3/files/" + id + "?fields=modifiedTime", `{"modifiedTime":"2020-01-02T03:04:05.678Z"}`, "application/json", 200, "", func(t *testing.T, m map[string]any) {
			assert.Equal(t, "2020-01-02T03:04:05.678Z", m["modifiedTime"])
		}},
		{"move into subfolder", "PATCH", "/drive/v3/files/" + id + "?fields=parents&addParents=" + dirID + "&removeParents=appDataFolder", "{}", "application/json", 200, "", func(t *testing.T, m map[string]any) {
			assert.Equal(t, []any{dirID}, m["parents"])
		}},
		{"move back by real ID", "PATCH", "/drive/v3/files/" + id + "?fields=parents&addParents=" + folderID + "&removeParents=" + dirID, "{}", "application/json", 200, "", func(t *testing.T, m map[string]any) {
			assert.Equal(t, []any{folderID}, m["parents"])
		}},
		{"move to root", "PATCH", "/drive/v3/files/" + id + "?addParents=root&removeParents=appDataFolder", "{}", "application/json", 403, "notSupportedForAppDataFolderFiles", nil},
		{"remove only parent", "PATCH", "/drive/v3/files/" + id + "?removeParents=appDataFolder", "{}", "application/json", 403, "notSupportedForAppDataFolderFiles", nil},
		{"second parent", "PATCH", "/drive/v3/files/" + id + "?addParents=" + dirID, "{}", "application/json", 403, "cannotAddParent", nil},
		{"folder into itself", "PATCH", "/drive/v3/files/" + dirID + "?addParents=" + dirID + "&removeParents=appDataFolder", "{}", "application/json", 400, "badRequest", nil},
		{"parents in body", "PATCH", "/drive/v3/files/" + id, `{"parents":["appDataFolder"]}`, "application/json", 403, "fieldNotWritable", nil},
		{"the folder itself", "PATCH", "/drive/v3/files/appDataFolder", `{"name":"x"}`, "application/json", 403, "insufficientFilePermissions", nil},
		{"unknown file", "PATCH", "/drive/v3/files/1nope", `{"name":"x"}`, "application/json", 404, "notFound", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.clock.advance(5 * time.Minute)
			r := e.do(t, tt.method, tt.path, tokAP, strings.NewReader(tt.body), "Content-Type", tt.ct)
			require.Equalf(t, tt.wantCode, r.code, "%s %s = %d, want %d: %s", tt.method, tt.path, r.code, tt.wantCode, r.body)
			if tt.wantReason != "" {
				assert.Equal(t, tt.wantReason, reasonOf(t, r))
			}
			if tt.check != nil {
				tt.check(t, r.json(t))
			}
		})
	}
	got := e.d.Files("user-a", "project-p")
	require.Len(t, got, 2)
	assert.Equal(t, "three", string(got[1].Content))
	assert.Equal(t, int64(7), got[1].Version, "1 at creation plus six successful updates")
}

func TestDownload(t *testing.T) {
	e := newEnv(t)
	f := e.create(t, tokAP, "blob", "0123456789")
	id := f["id"].(string)
	tests := []struct {
		name       string
		path       string
		header     []string
		wantCode   int
		wantBody   string
		wantReason string
	}{
		{"whole", "/drive/v3/files/" + id + "?alt=media", nil, 200, "0123456789", ""},
		{"range", "/drive/v3/files/" + id + "?alt=media", []string{"Range", "bytes=2-4"}, 206, "234", ""},
		{"folder", "/drive/v3/files/appDataFolder?alt=media", nil, 403, "", "fileNotDownloadable"},
		{"bad alt", "/drive/v3/files/" + id + "?alt=proto", nil, 400, "", "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, "GET", tt.path, tokAP, nil, tt.header...)
			require.Equalf(t, tt.wantCode, r.code, "GET %s = %d, want %d: %s", tt.path, r.code, tt.wantCode, r.body)
			if tt.wantReason != "" {
				assert.Equal(t, tt.wantReason, reasonOf(t, r))
				return
			}
			assert.Equal(t, tt.wantBody, string(r.body))
			assert.Equal(t, "application/json", r.header.Get("Content-Type"))
		})
	}
}

func TestResumableRaw(t *testing.T) {
	e := newEnv(t)
	start := e.do(t, "POST", "/upload/drive/v3/files?uploadType=resumable&fields=name,size", tokAP,
		strings.NewReader(`{"name":"r.bin","parents":["appDataFolder"]}`),
		"Content-Type", "application/json", "X-Upload-Content-Type", "application/octet-stream")
	require.Equal(t, 200, start.code, "%s", start.body)
	loc := start.header.Get("Location")
	require.NotEmpty(t, loc)
	u, err := url.Parse(loc)
	require.NoError(t, err)
	session := u.RequestURI()

	steps := []struct {
		name      string
		method    string
		body      string
		header    []string
		wantCode  int
		wantRange string
	}{
		{"status before data", "PUT", "", []string{"Content-Range", "bytes */*"}, 308, ""},
		{"first chunk", "PUT", "abc", []string{"Content-Range", "bytes 0-2/*"}, 308, "bytes=0-2"},
		{"no-308 mode", "POST", "def", []string{"Content-Range", "bytes 3-5/*", "X-GUploader-No-308", "yes"}, 200, "bytes=0-5"},
		{"gap", "PUT", "zz", []string{"Content-Range", "bytes 9-10/*"}, 400, ""},
		{"last chunk", "PUT", "gh", []string{"Content-Range", "bytes 6-7/8"}, 200, ""},
		{"session gone", "PUT", "", []string{"Content-Range", "bytes */8"}, 404, ""},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := e.do(t, s.method, session, "", strings.NewReader(s.body), s.header...)
			require.Equalf(t, s.wantCode, r.code, "%s session = %d, want %d: %s", s.method, r.code, s.wantCode, r.body)
			assert.Equal(t, s.wantRange, r.header.Get("Range"))
		})
	}
	got := e.d.Files("user-a", "project-p")
	require.Len(t, got, 1)
	assert.Equal(t, "abcdefgh", string(got[0].Content))
	assert.Equal(t, "application/octet-stream", got[0].MimeType)

	t.Run("bad metadata fails at start", func(t *testing.T) {
		r := e.do(t, "POST", "/upload/drive/v3/files?uploadType=resumable", tokAP, strings.NewReader(`{"name":"x"}`), "Content-Type", "application/json")
		assert.Equal(t, 403, r.code, "%s", r.body)
	})
	t.Run("cancel", func(t *testing.T) {
		r := e.do(t, "POST", "/upload/drive/v3/files?uploadType=resumable", tokAP, strings.NewReader(`{"parents":["appDataFolder"]}`), "Content-Type", "application/json")
		require.Equal(t, 200, r.code)
		u, _ := url.Parse(r.header.Get("Location"))
		assert.Equal(t, 499, e.do(t, "DELETE", u.RequestURI(), "", nil).code)
		assert.Equal(t, 404, e.do(t, "PUT", u.RequestURI(), "", strings.NewReader("x")).code)
	})
}

func TestRouting(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name       string
		method     string
		path       string
		wantCode   int
		wantReason string
		wantAllow  string
	}{
		{"unknown path", "GET", "/drive/v3/nope", 404, "notFound", ""},
		{"unknown version", "GET", "/drive/v2/files", 404, "notFound", ""},
		{"PUT files", "PUT", "/drive/v3/files", 405, "httpMethodNotAllowed", "GET, POST"},
		{"POST file", "POST", "/drive/v3/files/abc", 405, "httpMethodNotAllowed", "DELETE, GET, PATCH"},
		{"GET upload", "GET", "/upload/drive/v3/files", 405, "httpMethodNotAllowed", "POST"},
		{"copy", "POST", "/drive/v3/files/abc/copy", 501, "notImplemented", ""},
		{"about", "GET", "/drive/v3/about", 501, "notImplemented", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, tt.method, tt.path, tokAP, nil)
			require.Equalf(t, tt.wantCode, r.code, "%s %s = %d, want %d", tt.method, tt.path, r.code, tt.wantCode)
			assert.Equal(t, tt.wantReason, reasonOf(t, r))
			assert.Equal(t, tt.wantAllow, r.header.Get("Allow"))
			assert.Equal(t, "application/json; charset=UTF-8", r.header.Get("Content-Type"))
		})
	}
}

func TestFieldsParser(t *testing.T) {
	obj := object{
		{"kind", "drive#fileList"},
		{"files", []object{{{"id", "1"}, {"name", "a"}, {"appProperties", object{{"k", "v"}, {"x", "y"}}}}}},
		{"nextPageToken", "t"},
	}
	tests := []struct {
		name   string
		fields string
		want   string // JSON, "" for a parse error
	}{
		{"flat", "kind,nextPageToken", `{"kind":"drive#fileList","nextPageToken":"t"}`},
		{"nested", "files(id,name)", `{"files":[{"id":"1","name":"a"}]}`},
		{"path", "files/appProperties/k", `{"files":[{"appProperties":{"k":"v"}}]}`},
		{"merge", "files(id),files(name)", `{"files":[{"id":"1","name":"a"}]}`},
		{"whole wins", "files(id),files", `{"files":[{"id":"1","name":"a","appProperties":{"k":"v","x":"y"}}]}`},
		{"star", "*", `{"kind":"drive#fileList","files":[{"id":"1","name":"a","appProperties":{"k":"v","x":"y"}}],"nextPageToken":"t"}`},
		{"nested star", "files(*)", `{"files":[{"id":"1","name":"a","appProperties":{"k":"v","x":"y"}}]}`},
		{"spaces", " kind , files( id ) ", `{"kind":"drive#fileList","files":[{"id":"1"}]}`},
		{"unclosed", "files(id", ""},
		{"empty item", "kind,,id", ""},
		{"trailing slash", "files/", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := parseFields(tt.fields)
			if tt.want == "" {
				assert.Falsef(t, ok, "parseFields(%q) ok = true, want false", tt.fields)
				return
			}
			require.Truef(t, ok, "parseFields(%q) ok = false, want true", tt.fields)
			b, err := json.Marshal(m.apply(obj))
			require.NoError(t, err)
			assert.JSONEqf(t, tt.want, string(b), "apply(%q) = %s, want %s", tt.fields, b, tt.want)
		})
	}
}

func TestFilesDeepCopy(t *testing.T) {
	e := newEnv(t)
	e.create(t, tokAP, "one", "1", map[string]any{"appProperties": map[string]string{"k": "v"}})
	e.create(t, tokAP, "two", "2")
	got := e.d.Files("user-a", "project-p")
	require.Len(t, got, 2)
	assert.Equal(t, []string{"one", "two"}, []string{got[0].Name, got[1].Name}, "files() in creation order")
	got[0].Content[0] = 'X'
	got[0].AppProperties["k"] = "changed"
	got[0].Parents[0] = "changed"
	again := e.d.Files("user-a", "project-p")
	assert.Equal(t, "1", string(again[0].Content))
	assert.Equal(t, "v", again[0].AppProperties["k"])
	assert.NotEqual(t, "changed", again[0].Parents[0])
	assert.Nil(t, e.d.Files("nobody", "project-p"))
}

func TestConcurrent(t *testing.T) {
	e := newEnv(t)
	svc := e.service(t, tokAP)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			f, err := svc.Files.Create(&drivev3.File{Name: fmt.Sprintf("c%d", i), Parents: []string{"appDataFolder"}}).
				Media(strings.NewReader("x")).Do()
			if err == nil {
				_, err = svc.Files.List().Spaces("appDataFolder").Q("name = '" + f.Name + "'").Do()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	assert.Len(t, e.d.Files("user-a", "project-p"), 20)
	folders := map[string]bool{}
	for _, f := range e.d.Files("user-a", "project-p") {
		folders[f.Parents[0]] = true
	}
	assert.Len(t, folders, 1, "one app data folder")
}
