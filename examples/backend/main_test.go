package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/examples/internal/maintest"
	"github.com/serverauth/serverauth/risc"
	"github.com/serverauth/serverauth/serverauthtest"
)

func TestBackend(t *testing.T) {
	google := serverauthtest.NewServer(serverauthtest.Options{})
	defer google.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "google.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: google.Certificate().Raw}), 0o600)
	key, _ := serverauth.GenerateKey(1)

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() {
		done <- run(ctx, []string{
			"-addr", "127.0.0.1:0", "-google", google.URL, "-google-ca", ca,
			"-store", "file:" + filepath.Join(dir, "tokens"), "-keys", key.Encode(),
		}, &logs, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("run = %v", err)
	}
	base := "http://" + addr

	post := func(path string, form url.Values, csrf bool) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if csrf {
			req.Header.Set("X-Requested-With", "XMLHttpRequest")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	code, _ := google.MintCode(serverauthtest.CodeRequest{Scopes: []string{"openid", "email", "drive.appdata"}})
	if status, body := post("/signin", url.Values{"code": {code}}, false); status != http.StatusForbidden {
		t.Fatalf("sign-in without X-Requested-With: %d %s", status, body)
	}
	status, body := post("/signin", url.Values{"code": {code}}, true)
	var p serverauth.PublicProfile
	if status != 200 || json.Unmarshal([]byte(body), &p) != nil || p.UserID != serverauthtest.DemoUser().Sub {
		t.Fatalf("sign-in: %d %s", status, body)
	}
	// Google's security events reach the receiver at -risc-path.
	if err := google.SetRISCStream(serverauthtest.RISCStream{URL: base + "/google/security-events", EventsRequested: risc.EventTypes(), Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if d, err := google.SendRISCEvent(ctx, serverauthtest.RISCEvent{Type: "sessions-revoked", Sub: p.UserID}); err != nil || d.Status != http.StatusAccepted {
		t.Fatalf("security event: %+v, %v", d, err)
	}
	if d, _ := google.SendRISCEvent(ctx, serverauthtest.RISCEvent{Type: "sessions-revoked", Sub: p.UserID, Forge: serverauthtest.RISCForgeWrongAudience}); d.Status != http.StatusBadRequest {
		t.Fatalf("forged security event: %+v, want 400", d)
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	idt := google.IDToken(serverauthtest.DemoUser(), google.IOSClientID())
	if status, body := post("/disconnect", url.Values{"id_token": {"forged"}}, true); status != http.StatusUnauthorized {
		t.Fatalf("disconnect with a bad ID token: %d %s", status, body)
	}
	if status, body := post("/disconnect", url.Values{"id_token": {idt}}, true); status != 200 || !strings.Contains(body, p.UserID) {
		t.Fatalf("disconnect: %d %s", status, body)
	}
	if n := google.RequestCount(serverauthtest.EndpointRevoke); n != 1 {
		t.Fatalf("revoke calls = %d, want 1", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if !strings.Contains(logs.String(), `"msg":"security event"`) {
		t.Errorf("the security event was not logged: %s", logs.String())
	}
	if strings.Contains(logs.String(), code) || !strings.Contains(logs.String(), "shutting down") {
		t.Errorf("logs: %s", logs.String())
	}
}

func TestGenerateKey(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-generate-key"}, &out, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := serverauth.ParseKeyring(strings.TrimSpace(out.String())); err != nil {
		t.Fatalf("generated key %q does not parse: %v", out.String(), err)
	}
}

// TestHelp checks that -help exits 0 and prints no secret from the
// environment.
func TestHelp(t *testing.T) {
	maintest.CheckHelp(t, main)
}
