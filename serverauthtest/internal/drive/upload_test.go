package drive

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
