package drive

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
