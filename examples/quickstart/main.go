// Command quickstart runs serverauth's whole flow in one process, with no
// network and no Google account: a fake Google, a backend serving
// SignInHandler on a loopback port, and a mobile app that signs in and
// posts its server auth code. The backend exchanges the code, keeps the
// refresh token in an encrypted file store, and later, while the user is
// offline, a fresh backend process refreshes the token and uses the user's
// Drive app data folder.
//
//	go run ./examples/quickstart
//
// With a real web client and a real code (from your app, or from the OAuth
// 2.0 Playground configured with your client), it runs against Google:
//
//	go run ./examples/quickstart -client-secrets client_secret.json -code '4/0A…'
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/filestore"
	"github.com/serverauth/serverauth/serverauthtest"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	dir := fs.String("dir", defaultDir(), "directory for the token store and its encryption key")
	secrets := fs.String("client-secrets", "", "the web client's client_secret.json, to run against real Google (needs -code)")
	code := fs.String("code", "", "a real one-time code for that client")
	redirect := fs.String("redirect-uri", "", `redirect_uri for a web code ("postmessage" for GIS popup codes); empty for iOS and Android codes`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	start := time.Now()
	keyPath, storePath := filepath.Join(*dir, "token.key"), filepath.Join(*dir, "tokens")
	keyring, keyNote, err := loadOrCreateKey(keyPath)
	if err != nil {
		return err
	}
	store, err := filestore.New(storePath)
	if err != nil {
		return err
	}
	if *secrets != "" || *code != "" {
		if *secrets == "" || *code == "" {
			return errors.New("-client-secrets and -code go together")
		}
		return realGoogle(ctx, out, *secrets, *code, *redirect, store, keyring)
	}

	// Google, played by the fake, on a clock we can move.
	clock := serverauthtest.NewClock(time.Now())
	google := serverauthtest.NewServer(serverauthtest.Options{Now: clock.Now})
	defer google.Close()
	cfg := google.Config()
	cfg.Now = clock.Now
	cfg.Scopes = []string{"email", "profile", "drive.appdata"}
	cfg.Store, cfg.Cipher = store, keyring

	// The backend: SignInHandler on a loopback port.
	backend, err := serverauth.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	signIn, err := backend.SignInHandler(serverauth.HandlerConfig{})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/signin", signIn)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	signinURL := "http://" + ln.Addr().String() + "/signin"

	fmt.Fprintf(out, "fake Google  %s (in-process)\n", google.URL)
	fmt.Fprintf(out, "backend      %s\n", signinURL)
	fmt.Fprintf(out, "token store  %s (files, AES-256-GCM encrypted)\n", storePath)
	fmt.Fprintf(out, "key          %s (%s; -dir moves both)\n\n", keyPath, keyNote)

	// 1. The iOS app signs the user in and posts its serverAuthCode.
	authCode, err := google.MintCode(serverauthtest.CodeRequest{
		Origin: serverauthtest.OriginIOS,
		Scopes: []string{"openid", "email", "profile", "drive.appdata"},
		Prompt: "consent",
	})
	if err != nil {
		return err
	}
	profile, err := postCode(ctx, signinURL, authCode)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "1. the iOS app posted its server auth code; the backend exchanged it")
	fmt.Fprintf(out, "   signed in  %s <%s>, email verified: %v\n", profile.Name, profile.Email, profile.EmailVerified)
	fmt.Fprintf(out, "   user ID    %s\n", profile.UserID)
	fmt.Fprintf(out, "   granted    %s\n", shortScopes(profile.Scopes))

	// 2. Two hours later the user is offline. A fresh backend process, with
	// nothing in memory, loads the stored refresh token and refreshes.
	clock.Advance(2 * time.Hour)
	worker, err := serverauth.New(cfg)
	if err != nil {
		return err
	}
	tok, err := worker.Token(ctx, profile.UserID)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "2. two hours later, offline: a fresh backend loaded the stored refresh token")
	fmt.Fprintf(out, "   refreshed  access token valid until %s (%d refresh call)\n", tok.Expiry.Format("15:04:05"), google.RefreshCount(profile.UserID))

	// 3. It keeps per-user state in the user's Drive app data folder.
	appData, err := worker.AppData(ctx, profile.UserID)
	if err != nil {
		return err
	}
	state, _ := json.Marshal(map[string]any{"last_sync": clock.Now().UTC().Format(time.RFC3339), "items": 3})
	f, err := appData.Write(ctx, "quickstart.json", "application/json", state)
	if err != nil {
		return err
	}
	back, err := appData.Read(ctx, "quickstart.json")
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "3. Drive app data folder")
	fmt.Fprintf(out, "   wrote      %s (%d bytes, file %s)\n", f.Name, len(state), f.Id)
	fmt.Fprintf(out, "   read back  %s\n", back)
	fmt.Fprintf(out, "\ndone in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// postCode plays the app: it posts the code as the iOS snippet in the README
// does, with X-Requested-With.
func postCode(ctx context.Context, url, code string) (*serverauth.PublicProfile, error) {
	body, _ := json.Marshal(map[string]string{"code": code})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Requested-With", "XMLHttpRequest")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("sign-in answered %s: %s", resp.Status, raw)
	}
	var p serverauth.PublicProfile
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// realGoogle exchanges a real code with a real client and shows the result.
func realGoogle(ctx context.Context, out io.Writer, secrets, code, redirect string, store serverauth.TokenStore, keyring *serverauth.Keyring) error {
	ex, err := serverauth.New(serverauth.Config{ClientSecretsFile: secrets, RedirectURL: redirect, Store: store, Cipher: keyring})
	if err != nil {
		return err
	}
	res, err := ex.Exchange(ctx, code)
	if err != nil && (res == nil || !errors.Is(err, serverauth.ErrScopeNotGranted) && !errors.Is(err, serverauth.ErrNoRefreshToken)) {
		return err
	}
	if err != nil {
		fmt.Fprintln(out, "note:", err)
	}
	fmt.Fprintf(out, "signed in  %s <%s>, user %s\n", res.Profile.Name, res.Profile.Email, res.UserID)
	fmt.Fprintf(out, "granted    %s\n", shortScopes(res.GrantedScopes))
	fmt.Fprintf(out, "refresh token issued: %v\n", res.RefreshTokenIssued)
	if ad, err := ex.AppData(ctx, res.UserID); err == nil {
		files, err := ad.List(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "Drive app data folder holds %d files\n", len(files))
	}
	return nil
}

// loadOrCreateKey reads the keyring kept beside the store, generating it on
// the first run. A real backend keeps its key in a secret manager or the
// environment, never beside the data.
func loadOrCreateKey(path string) (*serverauth.Keyring, string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, err := serverauth.GenerateKey(1)
		if err != nil {
			return nil, "", err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, "", err
		}
		if err := os.WriteFile(path, []byte(k.Encode()+"\n"), 0o600); err != nil {
			return nil, "", err
		}
		kr, err := serverauth.NewKeyring(k)
		return kr, "new key generated", err
	}
	if err != nil {
		return nil, "", err
	}
	kr, err := serverauth.ParseKeyring(strings.TrimSpace(string(data)))
	return kr, "key from an earlier run", err
}

func defaultDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "serverauth-quickstart")
	}
	return filepath.Join(os.TempDir(), "serverauth-quickstart")
}

func shortScopes(scopes []string) string {
	short := make([]string, len(scopes))
	for i, s := range scopes {
		s = strings.TrimPrefix(s, "https://www.googleapis.com/auth/")
		short[i] = strings.TrimPrefix(s, "userinfo.")
	}
	return strings.Join(short, ", ")
}
