package drive

import (
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
