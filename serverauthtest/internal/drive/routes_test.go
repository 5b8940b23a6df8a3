package drive

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	drivev3 "google.golang.org/api/drive/v3"
)

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
