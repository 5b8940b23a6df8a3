package drive

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	drivev3 "google.golang.org/api/drive/v3"
	"google.golang.org/api/googleapi"
)

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
