package serverauth_test

import (
	"context"
	"errors"
	"testing"
	"time"

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
