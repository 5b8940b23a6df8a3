package serverauth_test

// The Go code blocks of README.md, kept compiling (and, where they can run
// without Google or a database, running) as Examples. TestReadmeCode fails
// when a README block is not found here verbatim, or, for the block that
// needs a database driver, in integration/readme_test.go.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/risc"
	"github.com/serverauth/serverauth/serverauthtest"
)

// README: "A minimal backend".
func newBackend(cfg serverauth.Config) (http.Handler, error) {
	exchanger, err := serverauth.New(cfg)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()

	// The app posts its one-time code here (with X-Requested-With). The
	// handler answers other methods with its own JSON 405.
	signIn, err := exchanger.SignInHandler(serverauth.HandlerConfig{
		OnSignIn: func(w http.ResponseWriter, r *http.Request, res *serverauth.Result) {
			// Start your own session for res.UserID here (a cookie, your own token, ...).
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(res.PublicProfile())
		},
	})
	if err != nil {
		return nil, err
	}
	mux.Handle("/signin", signIn)

	// Later, with or without the user: their Drive app data, as them.
	mux.HandleFunc("GET /state", func(w http.ResponseWriter, r *http.Request) {
		userID := r.URL.Query().Get("user") // in your app: from your session
		appData, err := exchanger.AppData(r.Context(), userID)
		if err != nil {
			appDataError(w, err)
			return
		}
		state, err := appData.Read(r.Context(), "state.json")
		if errors.Is(err, serverauth.ErrFileNotFound) {
			state, err = []byte("{}"), nil
		}
		if err != nil {
			appDataError(w, err) // Read and Write fail the same ways
			return
		}
		w.Write(state)
	})
	return mux, nil
}

// appDataError answers a failed AppData call by what the caller can do.
func appDataError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, serverauth.ErrReauthRequired), errors.Is(err, serverauth.ErrScopeNotGranted),
		errors.Is(err, serverauth.ErrNoRefreshToken), errors.Is(err, serverauth.ErrNotFound):
		http.Error(w, "sign in again", http.StatusForbidden)
	case serverauth.ClassOf(err).Temporary():
		http.Error(w, "try again later", http.StatusServiceUnavailable)
	default: // ErrDecrypt (a wrong key), a failing store, a misconfiguration
		http.Error(w, "server error", http.StatusInternalServerError)
	}
}

// The README's minimal backend, run against the fake Google.
func Example_backend() {
	google := serverauthtest.NewServer(serverauthtest.Options{})
	defer google.Close()
	cfg := google.Config()
	cfg.Scopes = []string{"email", "drive.appdata"}
	cfg.Store = serverauth.NewMemoryStore()
	backend, err := newBackend(cfg)
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(backend)
	defer srv.Close()

	code, _ := google.MintCode(serverauthtest.CodeRequest{Scopes: []string{"openid", "email", "drive.appdata"}})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/signin", strings.NewReader(url.Values{"code": {code}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Requested-With", "XMLHttpRequest")
	resp, _ := http.DefaultClient.Do(req)
	var profile serverauth.PublicProfile
	json.NewDecoder(resp.Body).Decode(&profile)
	resp.Body.Close()
	fmt.Println("signed in:", profile.Email)

	resp, _ = http.Get(srv.URL + "/state?user=" + profile.UserID)
	var state map[string]any
	json.NewDecoder(resp.Body).Decode(&state)
	resp.Body.Close()
	fmt.Println("state:", resp.Status, state)
	// Output:
	// signed in: jane.doe.demo@gmail.com
	// state: 200 OK map[]
}

// README: "ID tokens bound to a nonce".
func nonceSignIn(exchanger *serverauth.Exchanger) (http.Handler, error) {
	signIn, err := exchanger.SignInHandler(serverauth.HandlerConfig{
		VerifyOptions: func(r *http.Request) []serverauth.VerifyOption {
			return []serverauth.VerifyOption{serverauth.RequireNonceSHA256(sessionNonce(r))}
		},
	})
	return signIn, err
}

// sessionNonce stands for the app's session lookup: the raw nonce the
// backend handed out to this session.
func sessionNonce(r *http.Request) string {
	c, err := r.Cookie("demo_session_nonce")
	if err != nil {
		return ""
	}
	return c.Value
}

// The README's nonce check, run against the fake Google: the app's ID
// token carries the SHA-256 of the raw nonce its session holds.
func Example_nonce() {
	google := serverauthtest.NewServer(serverauthtest.Options{})
	defer google.Close()
	cfg := google.Config()
	cfg.Store = serverauth.NewMemoryStore()
	exchanger, err := serverauth.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	signIn, err := nonceSignIn(exchanger)
	if err != nil {
		log.Fatal(err)
	}
	raw := "bd2f1c0a8e7d4b6f9a3c5e7d9b1f3a5c"
	sum := sha256.Sum256([]byte(raw))
	// An earlier sign-in stored the user's grant; its ID token carries the
	// hashed nonce, as a Credential Manager token would.
	code, _ := google.MintCode(serverauthtest.CodeRequest{Origin: serverauthtest.OriginAndroid, Nonce: hex.EncodeToString(sum[:])})
	res, err := exchanger.Exchange(context.Background(), code)
	if err != nil {
		log.Fatal(err)
	}
	idToken := res.Token.Extra("id_token").(string)
	for _, session := range []string{raw, "another session's nonce"} {
		req := httptest.NewRequest(http.MethodPost, "/signin", strings.NewReader(url.Values{"id_token": {idToken}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Requested-With", "XMLHttpRequest")
		req.AddCookie(&http.Cookie{Name: "demo_session_nonce", Value: session})
		rec := httptest.NewRecorder()
		signIn.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// 200
	// 401
}

// README: "Web sign-in without JavaScript: the redirect flow".
func newWebSignIn(exchanger *serverauth.Exchanger, mux *http.ServeMux, redirectURL string) error {
	web, err := exchanger.WebSignIn(serverauth.WebSignInConfig{
		RedirectURL: redirectURL, // "https://app.example.com/auth/callback", registered for the web client
		OnSignIn: func(w http.ResponseWriter, r *http.Request, res *serverauth.Result) {
			startSession(w, res.UserID) // your session cookie; then a redirect to "/"
		},
		OnError: func(w http.ResponseWriter, r *http.Request, res *serverauth.Result, err error) {
			if errors.Is(err, serverauth.ErrScopeNotGranted) {
				startSession(w, res.UserID) // signed in, but Drive was unticked
				http.Redirect(w, r, "/why-drive", http.StatusSeeOther)
				return
			}
			http.Error(w, "Sign-in failed. Try again.", http.StatusForbidden)
		},
	})
	if err != nil {
		return err
	}
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		if err := web.Start(w, r); err != nil {
			http.Error(w, "sign-in unavailable", http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("GET /auth/callback", web.Callback)
	// Later, for the signed-in user: ask again for what they unticked. The
	// stored grant keeps its refresh token.
	mux.HandleFunc("GET /grant-drive", func(w http.ResponseWriter, r *http.Request) {
		err := web.Start(w, r, serverauth.StartForUser(sessionUser(r)), serverauth.StartReturnTo("/"))
		if err != nil {
			http.Error(w, "sign-in unavailable", http.StatusInternalServerError)
		}
	})
	// README: the GIS login_uri block.
	gis, err := exchanger.GISLoginHandler(serverauth.GISLoginConfig{
		WebSignIn: web,
		OnSignIn: func(w http.ResponseWriter, r *http.Request, res *serverauth.Result) {
			startSession(w, res.UserID)
		},
	})
	if err != nil {
		return err
	}
	mux.Handle("POST /login/gis", gis) // data-login_uri="https://app.example.com/login/gis"
	return nil
}

// startSession and sessionUser stand for the app's own sessions. (A bare
// user ID in a cookie is no session: use a signed or server-side one.)
func startSession(w http.ResponseWriter, userID string) {
	http.SetCookie(w, &http.Cookie{Name: "demo_session", Value: userID, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func sessionUser(r *http.Request) string {
	c, err := r.Cookie("demo_session")
	if err != nil {
		return ""
	}
	return c.Value
}

// The README's redirect flow, run against the fake Google by a client
// that follows redirects and keeps cookies, as a browser does.
func Example_webSignIn() {
	mux := http.NewServeMux()
	app := httptest.NewServer(mux)
	defer app.Close()
	google := serverauthtest.NewServer(serverauthtest.Options{RedirectURIs: []string{app.URL + "/auth/callback"}})
	defer google.Close()
	cfg := google.Config()
	cfg.Endpoints.AuthURL = google.URL + "/o/oauth2/v2/auth"
	cfg.Scopes = []string{"email", "drive.appdata"}
	cfg.Store = serverauth.NewMemoryStore()
	exchanger, err := serverauth.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	if err := newWebSignIn(exchanger, mux, app.URL+"/auth/callback"); err != nil {
		log.Fatal(err)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		appData, err := exchanger.AppData(r.Context(), sessionUser(r))
		if err != nil {
			appDataError(w, err)
			return
		}
		files, _ := appData.List(r.Context())
		fmt.Fprintf(w, "signed in as %s; %d app data files", sessionUser(r), len(files))
	})

	browser := google.Client() // trusts the fake's certificate
	browser.Jar, _ = cookiejar.New(nil)
	resp, err := browser.Get(app.URL + "/login")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Request.URL.Path, resp.StatusCode)
	fmt.Println(string(body))
	// Output:
	// / 200
	// signed in as 109876543210987654321; 0 app data files
}

// README: "Encryption keys and rotation". Compiled, not run.
func ExampleKeyring_rotation() {
	ctx := context.Background()
	// 1. Generate a key (once), keep key.Encode() in your secret manager.
	key, err := serverauth.GenerateKey(2)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(key.Encode())
	// 2. Deploy with the new key first and the old one after it:
	//    SERVERAUTH_TOKEN_KEYS="2:new…,1:old…"
	keyring, err := serverauth.ParseKeyring(os.Getenv("SERVERAUTH_TOKEN_KEYS"))
	if err != nil {
		log.Fatal(err)
	}
	// 3. Move every record to the new key, then drop key 1.
	exchanger, err := serverauth.New(serverauth.Config{ClientSecretsFile: "client_secret.json", Store: serverauth.NewMemoryStore(), Cipher: keyring})
	if err != nil {
		log.Fatal(err)
	}
	report, err := exchanger.Rekey(ctx)
	fmt.Println("re-encrypted", report.Rewritten, "records; undecryptable:", report.Undecryptable, err)
}

// README: "Testing your own backend".
func Example_testing() {
	google := serverauthtest.NewServer(serverauthtest.Options{})
	defer google.Close()
	exchanger, err := serverauth.New(google.Config())
	if err != nil {
		log.Fatal(err)
	}
	code, err := google.MintCode(serverauthtest.CodeRequest{Origin: serverauthtest.OriginIOS})
	if err != nil {
		log.Fatal(err)
	}
	res, err := exchanger.Exchange(context.Background(), code)
	if err != nil {
		log.Fatal(err) // a nil Result: never read res before checking err
	}
	fmt.Println(res.Profile.Email, google.CodeExchangeCount(code))

	// Google fails: the exchange reports a typed, temporary error.
	google.FailNext(serverauthtest.EndpointToken, 1, serverauthtest.Fault{Kind: serverauthtest.FaultUnavailable})
	code, _ = google.MintCode(serverauthtest.CodeRequest{})
	_, err = exchanger.Exchange(context.Background(), code)
	var tokenErr *serverauth.TokenError
	fmt.Println(errors.As(err, &tokenErr), tokenErr.Class.Temporary())
	// Output:
	// jane.doe.demo@gmail.com 1
	// true true
}

// TestReadmeCode checks that each Go block of README.md stands in this file
// or in integration/readme_test.go (whitespace aside), so that the README's
// code compiles.
// README: "Cross-Account Protection".
func mountSecurityEvents(exchanger *serverauth.Exchanger, mux *http.ServeMux, endSessions func(context.Context, string) error) {
	receiver, err := risc.NewReceiver(risc.Config{
		Exchanger: exchanger, // its store, clock, HTTP client and client IDs
		OnEvent: func(ctx context.Context, ev *risc.Event) error {
			switch ev.Type {
			case risc.TypeSessionsRevoked, risc.TypeTokensRevoked:
				return endSessions(ctx, ev.Subject) // your own
			case risc.TypeAccountDisabled:
				if ev.Reason == risc.ReasonHijacking {
					return endSessions(ctx, ev.Subject)
				}
			}
			return nil // an error makes Google redeliver the event
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux.Handle("POST /google/security-events", receiver)
}

func TestReadmeCode(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile("readme_test.go")
	if err != nil {
		t.Fatal(err)
	}
	// The integration module is not part of the root module's zip: without it
	// (a test run from the module cache), its block cannot be checked.
	integration, err := os.ReadFile(filepath.Join("integration", "readme_test.go"))
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("integration/readme_test.go is missing: not a checkout of the repository")
	}
	if err != nil {
		t.Fatal(err)
	}
	norm := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	here := norm(string(self)) + " " + norm(string(integration))
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	if len(blocks) == 0 {
		t.Fatal("README.md has no Go blocks")
	}
	for _, b := range blocks {
		if !strings.Contains(here, norm(b[1])) {
			t.Errorf("README Go block not kept compiling in readme_test.go or integration/readme_test.go:\n%s", b[1])
		}
	}
}
