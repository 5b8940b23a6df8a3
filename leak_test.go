package serverauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/api/googleapi"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// leakScanner collects everything the library lets out (logs, error
// strings, handler responses, printed values) and the secrets it must not
// contain.
type leakScanner struct {
	mu      sync.Mutex
	logs    bytes.Buffer
	texts   []string
	secrets map[string]string // secret → what it is
}

func (s *leakScanner) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.Write(p)
}

func (s *leakScanner) plant(what string, secrets ...string) {
	for _, v := range secrets {
		if v != "" {
			s.secrets[v] = what
		}
	}
}

func (s *leakScanner) out(what string, vals ...any) {
	for _, v := range vals {
		if v == nil {
			continue
		}
		if err, ok := v.(error); ok {
			// Every error in the tree: callers reach them with errors.As.
			var walk func(error)
			walk = func(err error) {
				if err == nil {
					return
				}
				s.texts = append(s.texts, what+": "+err.Error(), fmt.Sprintf("%v %+v", err, err))
				switch u := err.(type) {
				case interface{ Unwrap() error }:
					walk(u.Unwrap())
				case interface{ Unwrap() []error }:
					for _, e := range u.Unwrap() {
						walk(e)
					}
				}
			}
			walk(err)
			continue
		}
		s.texts = append(s.texts, fmt.Sprintf("%s: %v | %+v | %#v | %s", what, v, v, v, v))
	}
}

// credentialShape matches Google credentials anywhere in text.
var credentialShape = regexp.MustCompile(`ya29\.[\w-]{6}|1//[\w-]{6}|4/0A[\w-]{6}|eyJ[\w-]{6,}\.eyJ|GOCSPX-[\w-]{6}`)

func (s *leakScanner) check(t *testing.T) {
	t.Helper()
	all := append([]string{s.logs.String()}, s.texts...)
	for _, text := range all {
		for secret, what := range s.secrets {
			if strings.Contains(text, secret) {
				t.Errorf("%s leaked in: %.300s", what, text)
			}
		}
		if m := credentialShape.FindString(text); m != "" {
			t.Errorf("credential-shaped %q in: %.300s", m, text)
		}
	}
	if s.logs.Len() == 0 {
		t.Error("nothing was logged: the scan saw no logs")
	}
	t.Logf("scanned %d texts and %d bytes of logs for %d planted secrets", len(s.texts), s.logs.Len(), len(s.secrets))
}

// driveEchoServer answers Drive as an echoing proxy might: every request
// fails with a googleapi-style JSON error whose message, error item and
// X-Echo header reflect the request, Authorization header, uploaded media
// and body included (GETs with 503, retried first; the rest with 400). Only name
// lookups succeed, with one file (none for names starting "new"), so that
// each AppData method reaches the Drive request it exists for.
func driveEchoServer(t *testing.T) *httptest.Server {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		if q := r.URL.Query().Get("q"); r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/files") && strings.Contains(q, "name = ") {
			if strings.Contains(q, "name = 'new") {
				io.WriteString(w, `{"files":[]}`)
			} else {
				io.WriteString(w, `{"files":[{"id":"file-1","name":"x.json"}]}`)
			}
			return
		}
		status := http.StatusBadRequest
		if r.Method == http.MethodGet {
			status = http.StatusServiceUnavailable
		}
		// The uploaded media first (the last part of a multipart body), then
		// the rest: truncation alone must not be what hides the content.
		media := body
		if i := bytes.LastIndex(media, []byte("\r\n\r\n")); i >= 0 {
			media = media[i+4:]
			if j := bytes.Index(media, []byte("\r\n--")); j >= 0 {
				media = media[:j]
			}
		}
		echo := fmt.Sprintf("media=%s auth=%s %s %s body=%s", media, r.Header.Get("Authorization"), r.Method, r.URL, body)
		w.Header().Set("X-Echo", r.Header.Get("Authorization"))
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
			"code": status, "message": echo,
			"errors": []map[string]string{{"domain": "global", "reason": "badRequest", "message": echo}},
		}})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// echoServer answers every request with a page echoing the request, as a
// broken proxy might: the library must scrub it.
func echoServer(t *testing.T, status int) *httptest.Server {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<html>error for %s %s %s auth=%s</html>", r.URL, body, r.Header.Get("Authorization"), r.URL.RawQuery)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestNoSecretLeaks(t *testing.T) {
	scan := &leakScanner{secrets: map[string]string{}}
	logger := slog.New(slog.NewJSONHandler(scan, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := newStoreFixture(t, serverauthtest.Options{}, func(c *serverauth.Config) { c.Logger = logger })
	ctx := context.Background()
	scan.plant("client secret", f.cfg.ClientSecret)
	keyring, keys := testKeyring(t, 9)
	scan.plant("keyring key", keys[0].Encode()[2:])
	scan.out("printed", f.cfg, &f.cfg, f.e, keyring, keys[0])
	mint := func(req serverauthtest.CodeRequest) string {
		code := f.mint(req)
		scan.plant("code", code, url.QueryEscape(code))
		return code
	}
	keep := func(res *serverauth.Result) {
		if res != nil && res.Token != nil {
			idt, _ := res.Token.Extra("id_token").(string)
			scan.plant("token", res.Token.AccessToken, res.Token.RefreshToken, idt)
		}
	}

	// Exchange: success, duplicate, reuse, wrong redirect, scope not granted.
	code := mint(serverauthtest.CodeRequest{Scopes: []string{"openid", "email", "drive.appdata"}})
	res, err := f.e.Exchange(ctx, code)
	keep(res)
	scan.out("exchange", res, err)
	res2, err := f.e.Exchange(ctx, code)
	scan.out("duplicate", res2, err)
	f.clock.Advance(5 * time.Minute)
	_, err = f.e.Exchange(ctx, code)
	scan.out("reuse", err)
	_, err = f.e.Exchange(ctx, mint(serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebPopup}))
	scan.out("redirect mismatch", err)
	r3, err := f.e.Exchange(ctx, mint(serverauthtest.CodeRequest{Scopes: []string{"openid", "email", "drive.appdata"}, GrantedScopes: []string{"openid", "email"}, Prompt: "consent"}))
	keep(r3)
	scan.out("scope not granted", r3, err)
	_, err = f.e.Exchange(ctx, " "+code)
	scan.out("bad code", err)

	// A wrong secret, and endpoints that echo the request back.
	wrong := f.newReplica(func(c *serverauth.Config) { c.ClientSecret = "GOCSPX-wrong-but-still-secret" })
	scan.plant("wrong client secret", "GOCSPX-wrong-but-still-secret")
	_, err = wrong.Exchange(ctx, mint(serverauthtest.CodeRequest{}))
	scan.out("wrong secret", err)
	echo := echoServer(t, http.StatusBadGateway)
	echoing := f.newReplica(func(c *serverauth.Config) {
		c.Endpoints.TokenURL, c.Endpoints.RevokeURL, c.HTTPClient = echo.URL+"/token", echo.URL+"/revoke", echo.Client()
		c.Logger = logger
	})
	_, err = echoing.Exchange(ctx, mint(serverauthtest.CodeRequest{}))
	scan.out("echoing exchange", err)

	// ID tokens.
	idt := f.g.IDToken(serverauthtest.DemoUser(), f.g.IOSClientID())
	scan.plant("ID token", idt)
	p, err := f.e.VerifyIDToken(ctx, idt)
	scan.out("verify", p, err)
	bad := f.sign(f.baseClaims().with("aud", `"other"`))
	scan.plant("ID token", bad)
	_, err = f.e.VerifyIDToken(ctx, bad)
	scan.out("verify bad", err)

	// Offline: refresh, echoing refresh, Drive, revoke, dead grant.
	f.clock.Advance(2 * time.Hour)
	tok, err := f.e.Token(ctx, res.UserID)
	if err == nil {
		scan.plant("refreshed token", tok.AccessToken)
	}
	scan.out("token", err)
	rec, _ := f.store.Get(ctx, res.UserID)
	scan.out("record", rec)
	f.clock.Advance(2 * time.Hour)
	_, err = echoing.Token(ctx, res.UserID)
	scan.out("echoing refresh", err)
	// Drive needs a user whose record still holds drive.appdata (the
	// scope-not-granted exchange above replaced the demo user's).
	du := f.signIn(serverauthtest.CodeRequest{User: serverauthtest.User{Sub: "77", Email: "drive@example.com"}})
	keep(du)
	ad, err := f.e.AppData(ctx, du.UserID)
	if err != nil {
		t.Fatalf("AppData = %v", err)
	}
	scan.out("appdata", err)
	_, err = ad.Write(ctx, "x.json", "application/json", []byte("{}"))
	scan.out("drive write", err)
	_, err = ad.Read(ctx, "missing.json")
	scan.out("drive read", err)

	// Drive through an echoing endpoint: every AppData method and a call
	// on the Drive service fail with answers that reflect the request.
	drv := driveEchoServer(t)
	echoDrive := f.newReplica(func(c *serverauth.Config) {
		c.Endpoints = serverauthtest.EndpointsAt(f.g.URL)
		c.Endpoints.DriveURL = drv.URL + "/drive/v3/"
		c.Logger = logger
	})
	content := []byte(`{"note":"appdata-content-7f3a9c"}`)
	scan.plant("file content", string(content), "appdata-content-7f3a9c")
	driveOut := func(what string, err error) {
		t.Helper()
		var ge *googleapi.Error
		if !errors.As(err, &ge) || ge.Code < 400 {
			t.Errorf("%s = %v, want a *googleapi.Error from the echoing Drive", what, err)
			return
		}
		scan.out(what, err)
		scan.out(what+" googleapi.Error", ge.Body, ge.Message, ge.Errors, ge.Header, ge.Details, ge)
	}
	ead, err := echoDrive.AppData(ctx, du.UserID)
	if err != nil {
		t.Fatalf("AppData on the echoing Drive = %v", err)
	}
	if tok, err := echoDrive.Token(ctx, du.UserID); err == nil {
		scan.plant("drive token", tok.AccessToken)
	}
	_, err = ead.File(ctx, "file-1")
	driveOut("echoing drive file", err)
	_, err = ead.Folder(ctx)
	driveOut("echoing drive folder", err)
	_, err = ead.List(ctx)
	driveOut("echoing drive list", err)
	_, err = ead.Read(ctx, "x.json")
	driveOut("echoing drive read", err)
	_, err = ead.Write(ctx, "x.json", "application/json", content)
	driveOut("echoing drive write (update)", err)
	_, err = ead.Write(ctx, "new.json", "application/json", content)
	driveOut("echoing drive write (create)", err)
	_, _, err = ead.GetOrCreate(ctx, "new.txt", "text/plain")
	driveOut("echoing drive get-or-create", err)
	err = ead.Delete(ctx, "x.json")
	driveOut("echoing drive delete", err)
	svc, err := echoDrive.Drive(ctx, du.UserID)
	if err != nil {
		t.Fatalf("Drive on the echoing Drive = %v", err)
	}
	_, err = svc.Files.List().Spaces(serverauth.AppDataFolder).Context(ctx).Do()
	driveOut("echoing drive service list", err)

	err = echoing.Revoke(ctx, res.UserID)
	scan.out("echoing revoke", err)
	err = f.e.Revoke(ctx, res.UserID)
	scan.out("revoke", err)
	other := f.signIn(serverauthtest.CodeRequest{User: serverauthtest.User{Sub: "42", Email: "x@example.com"}})
	keep(other)
	f.g.RevokeUser("42")
	f.clock.Advance(2 * time.Hour)
	_, err = f.e.Token(ctx, "42")
	scan.out("dead grant", err)
	_, err = f.e.Token(ctx, "42")
	scan.out("dead grant again", err)

	// The handler, success and failures; its responses count as output.
	h := signInHandler(t, f.e, serverauth.HandlerConfig{})
	for _, body := range []string{
		"code=" + url.QueryEscape(mint(serverauthtest.CodeRequest{Scopes: []string{"openid", "email", "drive.appdata"}})),
		"code=" + url.QueryEscape(code), // reused
		"id_token=" + url.QueryEscape(bad),
		"code=" + url.QueryEscape(mint(serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebPopup})),
	} {
		req := httptest.NewRequest(http.MethodPost, "/signin", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Requested-With", "XMLHttpRequest")
		rw := httptest.NewRecorder()
		h.ServeHTTP(rw, req)
		scan.out("handler response", rw.Body.String())
	}
	// The redirect flow and the GIS login_uri handler: responses, the
	// pending sign-in and every error they hand to OnError.
	web := f.newReplica(withAuthURL)
	var webErrs []error
	ws, err := web.WebSignIn(serverauth.WebSignInConfig{RedirectURL: serverauthtest.DefaultRedirectURI,
		OnError: func(w http.ResponseWriter, r *http.Request, res *serverauth.Result, err error) {
			webErrs = append(webErrs, err)
		}})
	if err != nil {
		t.Fatal(err)
	}
	wf := &webFixture{storeFixture: f, ws: ws}
	webRound := func(what string, edit func(cb *url.URL) *url.URL, opts ...serverauth.StartOption) {
		loc, ck := wf.start(opts...)
		scan.plant("state", loc.Query().Get("state"))
		scan.plant("nonce", loc.Query().Get("nonce"))
		scan.plant("state cookie", ck.Value)
		cb := wf.authorize(loc)
		scan.plant("code", cb.Query().Get("code"), url.QueryEscape(cb.Query().Get("code")))
		rw := wf.callback(edit(cb), ck)
		scan.out(what+" response", rw.Body.String(), rw.Header().Get("Location"))
	}
	webRound("web sign-in", func(cb *url.URL) *url.URL { return cb })
	webRound("web another user", func(cb *url.URL) *url.URL { return cb }, serverauth.StartForUser("42"))
	webRound("web forged state", func(cb *url.URL) *url.URL { return withQuery(cb, "state", "forged") })
	webRound("web denied", func(cb *url.URL) *url.URL {
		return withQuery(cb, "code", "", "error", "access_denied", "error_description", "4/0Aecho-"+cb.Query().Get("code"))
	})
	loc, ck := wf.start()
	attacker, _ := wf.start()
	injected := wf.authorize(attacker).Query().Get("code")
	scan.plant("code", injected)
	rw := wf.callback(withQuery(wf.authorize(loc), "code", injected), ck)
	scan.out("web injected code", rw.Body.String())
	store := &memStateStore{m: map[string]*serverauth.PendingSignIn{}}
	ws2, _ := web.WebSignIn(serverauth.WebSignInConfig{RedirectURL: serverauthtest.DefaultRedirectURI, StateStore: store})
	ws2.Start(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/login", nil))
	pending := store.m[""]
	scan.plant("pending sign-in", pending.CodeVerifier, pending.Nonce, pending.State)
	scan.out("pending sign-in", pending)
	for _, err := range webErrs {
		scan.out("web error", err)
	}
	if len(webErrs) < 4 {
		t.Errorf("OnError saw %d errors, want the forged, denied, other-user and injected ones", len(webErrs))
	}
	gis, _ := web.GISLoginHandler(serverauth.GISLoginConfig{WebSignIn: ws})
	for _, post := range []gisPost{{body: gisForm(idt, "c"), cookie: "c"}, {body: gisForm(idt, "c"), cookie: "d"}, {body: gisForm(bad, "c"), cookie: "c"}} {
		rw := post.serve(t, gis)
		scan.out("GIS response", rw.Body.String(), rw.Header().Get("Location"))
	}

	scan.out("save error", &serverauth.SaveError{UserID: "u", Result: res, Err: errors.New("store down")})
	scan.check(t)
}
