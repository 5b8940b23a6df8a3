package drive

import (
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
