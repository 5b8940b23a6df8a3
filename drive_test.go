package serverauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/googleapi"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

func TestAppDataAgainstFakeDrive(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	ctx := context.Background()
	ad, err := f.e.AppData(ctx, res.UserID)
	if err != nil {
		t.Fatalf("AppData = %v", err)
	}
	folder, err := ad.Folder(ctx)
	if err != nil || folder.Id == "" || folder.Id == serverauth.AppDataFolder || folder.MimeType != "application/vnd.google-apps.folder" {
		t.Fatalf("Folder = %+v, %v; want the folder's real ID", folder, err)
	}
	legacy, err := ad.File(ctx, "appfolder")
	if err != nil || legacy.Id != folder.Id {
		t.Fatalf(`File("appfolder") = %+v, %v; want the folder`, legacy, err)
	}
	if _, err := ad.Read(ctx, "state.json"); !errors.Is(err, serverauth.ErrFileNotFound) {
		t.Fatalf("Read(missing) = %v, want ErrFileNotFound", err)
	}
	if _, err := ad.Write(ctx, "state.json", "application/json", []byte(`{"v":1}`)); err != nil {
		t.Fatalf("Write(create) = %v", err)
	}
	f.clock.Advance(time.Second)
	w, err := ad.Write(ctx, "state.json", "application/json", []byte(`{"v":2}`))
	if err != nil {
		t.Fatalf("Write(update) = %v", err)
	}
	got, err := ad.Read(ctx, "state.json")
	if err != nil || string(got) != `{"v":2}` {
		t.Fatalf("Read = %q, %v", got, err)
	}
	files := f.g.DriveFiles(res.UserID)
	if len(files) != 1 || files[0].Name != "state.json" || files[0].ID != w.Id {
		t.Fatalf("fake Drive holds %+v, want one state.json (an upsert, not a duplicate)", files)
	}
	g1, created, err := ad.GetOrCreate(ctx, "other.txt", "text/plain")
	if err != nil || !created {
		t.Fatalf("GetOrCreate(new) = %v, %v, %v", g1, created, err)
	}
	g2, created, err := ad.GetOrCreate(ctx, "other.txt", "text/plain")
	if err != nil || created || g2.Id != g1.Id {
		t.Fatalf("GetOrCreate(existing) = %v, %v, %v; want the same file", g2, created, err)
	}
	list, err := ad.List(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "state.json" {
		t.Fatalf("List = %v, %v", list, err)
	}
	// Every listing asked for the app data space (Drive refuses otherwise).
	for _, r := range f.g.Requests(serverauthtest.EndpointDrive) {
		if r.Method == "GET" && r.Path == "/drive/v3/files" && r.Query.Get("spaces") != "appDataFolder" {
			t.Errorf("list without spaces=appDataFolder: %v", r.Query)
		}
	}
	if err := ad.Delete(ctx, "state.json"); err != nil {
		t.Fatal(err)
	}
	if err := ad.Delete(ctx, "state.json"); err != nil {
		t.Fatalf("second Delete = %v, want nil", err)
	}
	if n := len(f.g.DriveFiles(res.UserID)); n != 1 {
		t.Fatalf("files after Delete = %d, want 1", n)
	}
}

func TestAppDataNeedsScopeBeforeAnyCall(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{}, func(c *serverauth.Config) { c.Scopes = []string{"email"} })
	res := f.signIn(serverauthtest.CodeRequest{Scopes: []string{"openid", "email"}})
	if _, err := f.e.AppData(context.Background(), res.UserID); !errors.Is(err, serverauth.ErrScopeNotGranted) {
		t.Fatalf("AppData without drive.appdata = %v, want ErrScopeNotGranted", err)
	}
	if _, err := f.e.Drive(context.Background(), res.UserID); !errors.Is(err, serverauth.ErrScopeNotGranted) {
		t.Fatalf("Drive without a Drive scope = %v, want ErrScopeNotGranted", err)
	}
	if n := f.g.RequestCount(serverauthtest.EndpointDrive); n != 0 {
		t.Fatalf("Drive called %d times", n)
	}
}

func TestDriveRefreshesOnceOn401(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	ctx := context.Background()
	// Google's clock runs 70 minutes on; this replica's clock lags 50
	// minutes behind it, so it holds the stored token for fresh while Google
	// has expired it: Drive answers 401.
	f.clock.Advance(70 * time.Minute)
	lagging := f.newReplica(func(c *serverauth.Config) {
		c.Now = func() time.Time { return f.clock.Now().Add(-50 * time.Minute) }
	})
	ad, err := lagging.AppData(ctx, res.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ad.Write(ctx, "a.txt", "text/plain", []byte("payload")); err != nil {
		t.Fatalf("Write with a token Google expired = %v, want success after one refresh", err)
	}
	if n := f.g.RefreshCount(res.UserID); n != 1 {
		t.Fatalf("refreshes = %d, want 1", n)
	}
	files := f.g.DriveFiles(res.UserID)
	if len(files) != 1 || string(files[0].Content) != "payload" {
		t.Fatalf("Drive holds %+v, want a.txt with its content (the upload body was replayed)", files)
	}
}

func TestDriveService(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	svc, err := f.e.Drive(context.Background(), res.UserID)
	if err != nil {
		t.Fatal(err)
	}
	l, err := svc.Files.List().Spaces("appDataFolder").Do()
	if err != nil || len(l.Files) != 0 {
		t.Fatalf("Files.List = %v, %v", l, err)
	}
}

// driveAnswering is a replica of f whose Drive is h.
func (f *storeFixture) driveAnswering(h http.HandlerFunc) *serverauth.Exchanger {
	f.t.Helper()
	srv := httptest.NewTLSServer(h)
	f.t.Cleanup(srv.Close)
	return f.newReplica(func(c *serverauth.Config) {
		c.Endpoints = serverauthtest.EndpointsAt(f.g.URL)
		c.Endpoints.DriveURL = srv.URL + "/drive/v3/"
	})
}

func TestAppDataErrorsAreScrubbedAndBounded(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	ctx := context.Background()
	// A long 404 that echoes the token in its message, its 20 error items,
	// its body and a header.
	e := f.driveAnswering(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		msg := "no file for " + auth + strings.Repeat(" padding", 200)
		var items []map[string]string
		for range 20 {
			items = append(items, map[string]string{"reason": "notFound", "message": msg})
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Echo", auth+strings.Repeat("x", 500))
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": 404, "message": msg, "errors": items}})
	})
	ad, err := e.AppData(ctx, res.UserID)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := e.Token(ctx, res.UserID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ad.File(ctx, "file-1")
	var ge *googleapi.Error
	if !errors.Is(err, serverauth.ErrFileNotFound) || !errors.As(err, &ge) || ge.Code != http.StatusNotFound {
		t.Fatalf("File(echoing 404) = %v, want ErrFileNotFound and a *googleapi.Error with Code 404", err)
	}
	const cut = len("…(truncated)")
	texts := []string{err.Error(), fmt.Sprintf("%+v", err), ge.Body, ge.Message, fmt.Sprint(ge.Header)}
	for _, it := range ge.Errors {
		texts = append(texts, it.Reason, it.Message)
	}
	for _, s := range texts {
		if strings.Contains(s, tok.AccessToken) {
			t.Errorf("the access token leaked in %.200q", s)
		}
	}
	if len(ge.Body) > 512+cut || len(ge.Message) > 200+cut || len(ge.Header.Get("X-Echo")) > 200+cut || len(ge.Errors) > 8 {
		t.Errorf("googleapi.Error kept Body %d, Message %d, X-Echo %d bytes and %d items; want at most 512, 200, 200 and 8",
			len(ge.Body), len(ge.Message), len(ge.Header.Get("X-Echo")), len(ge.Errors))
	}
	if len(err.Error()) > 4096 {
		t.Errorf("len(Error()) = %d, want it bounded", len(err.Error()))
	}
}

func TestDriveServiceDropsHugeErrorAnswers(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	e := f.driveAnswering(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, strings.Repeat("x", 100<<10)+r.Header.Get("Authorization"))
	})
	svc, err := e.Drive(context.Background(), res.UserID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.Files.List().Spaces(serverauth.AppDataFolder).Do()
	var ge *googleapi.Error
	if !errors.As(err, &ge) || ge.Code != http.StatusBadRequest || len(ge.Body) > 1024 || strings.Contains(ge.Body, "ya29.") {
		t.Fatalf("Files.List(100 KiB echoing answer) = %.300v, want a 400 with the body replaced", err)
	}
}

func TestAppDataKeepsReauthRequired(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	ctx := context.Background()
	ad, err := f.e.AppData(ctx, res.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ad.Write(ctx, "a.txt", "text/plain", []byte("payload")); err != nil {
		t.Fatal(err)
	}
	// Drive refuses the revoked token; the one refresh finds the grant dead.
	f.g.RevokeUser(serverauthtest.DemoUser().Sub)
	if _, err := ad.Read(ctx, "a.txt"); !errors.Is(err, serverauth.ErrReauthRequired) {
		t.Fatalf("Read after the grant was revoked = %v, want ErrReauthRequired", err)
	}
}
