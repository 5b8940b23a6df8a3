package filestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/storetest"
)

func newTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := New(filepath.Join(t.TempDir(), "tokens"))
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.TestTokenStore(t, func(t *testing.T) serverauth.TokenStore {
		return newTestStore(t)
	})
}

func TestLayout(t *testing.T) {
	s := newTestStore(t)
	ctx := t.Context()
	rec := &serverauth.Record{UserID: "../../etc/passwd", RefreshToken: []byte("sealed"), Status: serverauth.StatusActive}
	if err := s.Put(ctx, rec); err != nil {
		t.Fatalf("Put = %v", err)
	}
	entries, err := os.ReadDir(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	// sha256("../../etc/passwd")
	want := []string{"3754d6cb3a38e1185e5b382d5f3ef3f118af75bf4bf0254d1fdb8437f51423e0.json", "lock"}
	if !slices.Equal(names, want) {
		t.Errorf("directory holds %q, want %q", names, want)
	}
	if runtime.GOOS == "windows" {
		return
	}
	for _, tt := range []struct {
		name string
		want os.FileMode
	}{
		{".", 0o700 | os.ModeDir},
		{want[0], 0o600},
		{"lock", 0o600},
	} {
		fi, err := os.Stat(filepath.Join(s.Dir(), tt.name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode(); got != tt.want {
			t.Errorf("mode of %s = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestNewRemovesTempFiles(t *testing.T) {
	s := newTestStore(t)
	stale := filepath.Join(s.Dir(), tempPrefix+"123")
	if err := os.WriteFile(stale, []byte("half a record"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(s.Dir()); err != nil {
		t.Fatalf("New = %v", err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after New, stat of a stale temporary file = %v, want ErrNotExist", err)
	}
}

func TestBadFiles(t *testing.T) {
	const user = "user"
	secret := "c2VjcmV0LXRva2VuLWJ5dGVz" // base64 of the token below
	valid := fmt.Sprintf(`{"format":1,"user_id":%q,"version":1,"refresh_token":%q}`, user, secret)
	tests := []struct {
		name     string
		contents string
		wantErr  string
	}{
		{"truncated", valid[:len(valid)-10], "JSON syntax error"},
		{"future format", strings.Replace(valid, `"format":1`, `"format":2`, 1), "format 2"},
		{"another user", strings.Replace(valid, `"user_id":"user"`, `"user_id":"other"`, 1), "another user"},
		{"version zero", strings.Replace(valid, `"version":1`, `"version":0`, 1), "version"},
		{"wrong type", strings.Replace(valid, `"version":1`, `"version":"1"`, 1), "unexpected JSON value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestStore(t)
			if err := os.WriteFile(filepath.Join(s.Dir(), fileName(user)), []byte(tt.contents), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := s.Get(t.Context(), user)
			if err == nil || errors.Is(err, serverauth.ErrNotFound) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Get = %v, want an error about %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "secret") {
				t.Errorf("Get error %q quotes the token", err)
			}
			if !strings.HasPrefix(err.Error(), "filestore: ") {
				t.Errorf("Get error %q lacks the package prefix", err)
			}
			// A damaged record is never silently overwritten.
			if err := s.Put(t.Context(), &serverauth.Record{UserID: user}); err == nil {
				t.Errorf("Put over a damaged record = nil, want an error")
			}
		})
	}
}

func TestInvalidInput(t *testing.T) {
	s := newTestStore(t)
	ctx := t.Context()
	if err := s.Put(ctx, &serverauth.Record{UserID: "u"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
	}{
		{"empty user ID", func() error { return s.Put(ctx, &serverauth.Record{}) }},
		{"user ID not UTF-8", func() error { return s.Put(ctx, &serverauth.Record{UserID: "\xff"}) }},
		{"scope not UTF-8", func() error { return s.Put(ctx, &serverauth.Record{UserID: "v", Scopes: []string{"\xfe"}}) }},
		{"empty owner", func() error { _, err := s.Lease(ctx, "u", "", time.Now(), time.Minute); return err }},
		{"zero ttl", func() error { _, err := s.Lease(ctx, "u", "a", time.Now(), 0); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || !strings.HasPrefix(err.Error(), "filestore: ") {
				t.Errorf("error = %v, want a filestore error", err)
			}
		})
	}
}

// The multi-process test: the test binary runs itself as child processes
// that update the same users through their own Stores on one directory.
const (
	childDirEnv = "SERVERAUTH_FILESTORE_CHILD_DIR"
	childIDEnv  = "SERVERAUTH_FILESTORE_CHILD_ID"

	procs      = 4
	iterations = 20
)

var sharedUsers = []string{"alice", "bob", "carol"}

func TestMultiProcess(t *testing.T) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		runChild(t, dir, os.Getenv(childIDEnv))
		return
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	s := newTestStore(t)
	ctx := t.Context()
	for _, u := range append(sharedUsers, "leased") {
		if err := s.Put(ctx, &serverauth.Record{UserID: u, Status: serverauth.StatusActive}); err != nil {
			t.Fatal(err)
		}
	}

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range procs {
		cmd := exec.CommandContext(ctx, exe, "-test.run=^TestMultiProcess$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), childDirEnv+"="+s.Dir(), childIDEnv+"="+strconv.Itoa(i))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if err := cmd.Wait(); err != nil {
				t.Errorf("child %d: %v\n%s", i, err, out.Bytes())
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	for _, u := range sharedUsers {
		rec, err := s.Get(ctx, u)
		if err != nil {
			t.Fatalf("Get(%q) = %v", u, err)
		}
		if want := int64(1 + procs*iterations); rec.Version != want {
			t.Errorf("Get(%q).Version = %d, want %d", u, rec.Version, want)
		}
		var want []string
		for p := range procs {
			for i := range iterations {
				want = append(want, fmt.Sprintf("p%d-%02d", p, i))
			}
		}
		if got := slices.Sorted(slices.Values(rec.Scopes)); !slices.Equal(got, want) {
			t.Errorf("Get(%q).Scopes has %d entries, want %d: lost or repeated updates", u, len(got), len(want))
		}
	}
	rec, err := s.Get(ctx, "leased")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Scopes) != 1 || rec.Version != 2 {
		t.Errorf("leased: scopes %q at version %d, want one leader's mark at version 2", rec.Scopes, rec.Version)
	}
}

// runChild is a child process's part of TestMultiProcess: it races for one
// lease, marking the record if it won, and then adds its scopes to every
// shared user with read-modify-write.
func runChild(t *testing.T, dir, id string) {
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	won, err := s.Lease(ctx, "leased", "proc-"+id, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if won {
		if err := addScope(ctx, s, "leased", "leader-"+id); err != nil {
			t.Fatal(err)
		}
	}
	for i := range iterations {
		for _, u := range sharedUsers {
			if err := addScope(ctx, s, u, fmt.Sprintf("p%s-%02d", id, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func addScope(ctx context.Context, s *Store, user, scope string) error {
	for {
		rec, err := s.Get(ctx, user)
		if err != nil {
			return err
		}
		rec.Scopes = append(rec.Scopes, scope)
		err = s.Put(ctx, rec)
		if !errors.Is(err, serverauth.ErrVersionConflict) {
			return err
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	full, err := encodeRecord(&fileRecord{
		Format: format, UserID: "109876543210987654321", Version: 7,
		RefreshToken: []byte{0, 1, 2, 0xff}, AccessToken: []byte("access"),
		Expiry:             time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC),
		RefreshTokenExpiry: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Scopes:             []string{"openid", "email"}, ClientID: "c.apps.googleusercontent.com",
		Status: "revoked", Created: time.Unix(0, 0).UTC(), Updated: time.Unix(1, 2).UTC(),
		Lease: &fileLease{Owner: "replica-1", Expires: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(full)
	f.Add([]byte(`{"format":1,"user_id":"u","version":1}`))
	f.Add([]byte(`{"format":1,"user_id":"u","version":1,"expiry":"2025-01-01T00:00:00+05:30","scopes":[]}`))
	f.Add([]byte(`{"format":1,"user_id":"u","version":1,"lease":{"owner":"a"}}`))
	f.Add([]byte(`{"format":2}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := decodeRecord(data)
		if err != nil {
			return
		}
		enc, err := encodeRecord(fr)
		if err != nil {
			t.Fatalf("encodeRecord of a decoded record = %v", err)
		}
		again, err := decodeRecord(enc)
		if err != nil {
			t.Fatalf("decodeRecord(encodeRecord(r)) = %v\n%s", err, enc)
		}
		if d := fileRecordDiff(again, fr); d != "" {
			t.Fatalf("decodeRecord(encodeRecord(r)) differs from r: %s", d)
		}
	})
}

func fileRecordDiff(a, b *fileRecord) string {
	var d []string
	if a.Format != b.Format || a.UserID != b.UserID || a.Version != b.Version ||
		a.ClientID != b.ClientID || a.Status != b.Status {
		d = append(d, fmt.Sprintf("scalars %d %q %d %q %q vs %d %q %d %q %q",
			a.Format, a.UserID, a.Version, a.ClientID, a.Status, b.Format, b.UserID, b.Version, b.ClientID, b.Status))
	}
	if !bytes.Equal(a.RefreshToken, b.RefreshToken) || !bytes.Equal(a.AccessToken, b.AccessToken) {
		d = append(d, "tokens")
	}
	if !slices.Equal(a.Scopes, b.Scopes) {
		d = append(d, fmt.Sprintf("scopes %q vs %q", a.Scopes, b.Scopes))
	}
	for i, p := range [][2]time.Time{{a.Expiry, b.Expiry}, {a.RefreshTokenExpiry, b.RefreshTokenExpiry}, {a.Created, b.Created}, {a.Updated, b.Updated}} {
		if !p[0].Equal(p[1]) || p[0].IsZero() != p[1].IsZero() {
			d = append(d, fmt.Sprintf("time %d: %v vs %v", i, p[0], p[1]))
		}
	}
	if (a.Lease == nil) != (b.Lease == nil) || a.Lease != nil && (a.Lease.Owner != b.Lease.Owner || !a.Lease.Expires.Equal(b.Lease.Expires)) {
		d = append(d, fmt.Sprintf("lease %+v vs %+v", a.Lease, b.Lease))
	}
	return strings.Join(d, "; ")
}
