package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/examples/internal/maintest"
	"github.com/serverauth/serverauth/examples/internal/setup"
	"github.com/serverauth/serverauth/serverauthtest"
)

func TestWorker(t *testing.T) {
	clock := serverauthtest.NewClock(time.Now())
	google := serverauthtest.NewServer(serverauthtest.Options{Now: clock.Now})
	defer google.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "google.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: google.Certificate().Raw}), 0o600)
	key, _ := serverauth.GenerateKey(1)
	storeURL := "file:" + filepath.Join(dir, "tokens")

	// Sign in 20 users as the backend would; revoke one at Google, let one
	// grant no Drive scope, and let two grant access for a limited time
	// only (3 and 30 days).
	ctx := context.Background()
	store, closeStore, err := setup.OpenStore(ctx, storeURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg := google.Config()
	cfg.Store, cfg.Cipher = store, mustKeyring(t, key)
	ex, err := serverauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		scopes := []string{"openid", "email", "drive.appdata"}
		if i == 7 {
			scopes = scopes[:2]
		}
		var ttl time.Duration
		switch i {
		case 11:
			ttl = 3 * 24 * time.Hour
		case 12:
			ttl = 30 * 24 * time.Hour
		}
		code, _ := google.MintCode(serverauthtest.CodeRequest{User: serverauthtest.User{Sub: fmt.Sprintf("%021d", i), Email: fmt.Sprintf("u%d@example.com", i)}, Scopes: scopes, RefreshTokenTTL: ttl})
		if _, err := ex.Exchange(ctx, code); err != nil {
			t.Fatal(err)
		}
	}
	closeStore()
	google.RevokeUser(fmt.Sprintf("%021d", 3))
	clock.Advance(2 * time.Hour) // every token expired: the worker must refresh

	var out, progress bytes.Buffer
	args := []string{"-google", google.URL, "-google-ca", ca, "-store", storeURL, "-keys", key.Encode(), "-scopes", "email", "-concurrency", "4"}
	if err := run(ctx, args, &out, &progress); err != nil {
		t.Fatalf("run = %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"needs consent  000000000000000000003: grant revoked",
		"needs consent  000000000000000000007: drive.appdata not granted",
		"20 users: 18 ok, 2 need consent, 0 failed",
		"expiring       000000000000000000011: ends ",
		"have the user sign in again with access_type=offline and prompt=consent for https://www.googleapis.com/auth/drive.appdata",
		"the user granted access for a limited time",
		"1 grants end within 168h0m0s; by status: active 19 revoked 1",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "000000000000000000012: ends") {
		t.Errorf("the 30-day grant is reported as ending within a week:\n%s", out.String())
	}
	if !strings.Contains(progress.String(), "20 users processed") {
		t.Errorf("progress: %q", progress.String())
	}
	if n := google.RefreshCount(fmt.Sprintf("%021d", 0)); n != 1 {
		t.Errorf("user 0 refreshed %d times, want 1", n)
	}
}

func mustKeyring(t *testing.T, k serverauth.Key) *serverauth.Keyring {
	kr, err := serverauth.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// TestHelp checks that -help exits 0 and prints no secret from the
// environment.
func TestHelp(t *testing.T) {
	maintest.CheckHelp(t, main)
}
