package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/serverauth/serverauth/examples/internal/maintest"
	"github.com/serverauth/serverauth/serverauthtest"
)

// syncBuffer is an output run writes to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startExample runs the example as `go run ./examples/web -auto-consent`
// does, on a free port, until the test ends.
func startExample(t *testing.T, args ...string) (*running, *http.Client, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	started := make(chan *running, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), out, func(r *running) { started <- r })
	}()
	var r *running
	select {
	case r = <-started:
	case err := <-done:
		t.Fatalf("run = %v\n%s", err, out)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run = %v", err)
		}
	})
	jar, _ := cookiejar.New(nil)
	return r, &http.Client{Jar: jar}, out
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func wantIn(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, body)
		}
	}
}

// TestHomePage: the page a developer opens, its script and the URL printed.
func TestHomePage(t *testing.T) {
	r, c, out := startExample(t, "-auto-consent")
	wantIn(t, "output", out.String(), "open         "+r.URL+"/", "fake Google  http://127.0.0.1:")
	resp, body := get(t, c, r.URL+"/")
	// The login_uri post may redirect to the fake's sign-in page, which
	// form-action must allow (a browser test found this).
	if csp := resp.Header.Get("Content-Security-Policy"); resp.StatusCode != 200 || !strings.Contains(csp, "script-src 'self' http://127.0.0.1:") || !strings.Contains(csp, "form-action 'self' http://127.0.0.1:") {
		t.Fatalf("GET / = %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	wantIn(t, "home page", body, `id="signin-popup"`, ">Sign in with Google</button>", `href="/login"`, `data-login_uri="`+r.URL+`/login/gis"`,
		`src="http://127.0.0.1:`, `/gsi/client"`, `data-client-id="`+r.Google.WebClientID()+`"`)
	_, js := get(t, c, r.URL+"/app.js")
	wantIn(t, "app.js", js, "google.accounts.oauth2.initCodeClient", `ux_mode: "popup"`, `"X-Requested-With": "XMLHttpRequest"`, "drive.appdata")
	// The GIS stand-in the page loads is there.
	gsi := strings.SplitN(strings.SplitN(body, `<script src="`, 2)[1], `"`, 2)[0]
	resp, script := get(t, c, gsi)
	if resp.StatusCode != 200 || !strings.Contains(script, "initCodeClient") {
		t.Fatalf("GET %s = %d", gsi, resp.StatusCode)
	}
	if resp, _ := get(t, c, strings.Replace(gsi, "/gsi/client", "/emulator/clock", 1)); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the fake's controls answered %d to the browser, want 404", resp.StatusCode)
	}
}

// TestRedirectSignInShowsProfileAndDrive: the redirect link, through the
// fake, to the profile page with the user's Drive app data.
func TestRedirectSignInShowsProfileAndDrive(t *testing.T) {
	r, c, _ := startExample(t, "-auto-consent")
	resp, body := get(t, c, r.URL+"/login")
	if resp.Request.URL.Path != "/profile" {
		t.Fatalf("the sign-in ended at %s (%d):\n%s", resp.Request.URL, resp.StatusCode, body)
	}
	u := serverauthtest.DemoUser()
	wantIn(t, "profile", body, u.Name, u.Email, u.Sub, "Visits counted in your Drive app data: 1", "visits.json")
	_, body = get(t, c, r.URL+"/profile")
	wantIn(t, "profile again", body, "Visits counted in your Drive app data: 2")
	if files := r.Google.DriveFiles(u.Sub); len(files) != 1 {
		t.Errorf("Drive holds %d files for the user, want 1", len(files))
	}
	// Sign out ends the session.
	resp, err := c.PostForm(r.URL+"/logout", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp, _ := get(t, c, r.URL+"/profile"); resp.Request.URL.Path != "/" {
		t.Errorf("after sign-out /profile ended at %s, want /", resp.Request.URL)
	}
}

// TestPopupCodeSignIn: what app.js posts after the popup, and Drive
// unticked in the popup.
func TestPopupCodeSignIn(t *testing.T) {
	r, c, _ := startExample(t, "-auto-consent")
	post := func(req serverauthtest.CodeRequest) *http.Response {
		req.Origin = serverauthtest.OriginWebPopup
		req.Scopes = []string{"openid", "email", "profile", "drive.appdata"}
		code, err := r.Google.MintCode(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(map[string]string{"code": code})
		hreq, _ := http.NewRequest(http.MethodPost, r.URL+"/signin", bytes.NewReader(body))
		hreq.Header.Set("Content-Type", "application/json")
		hreq.Header.Set("X-Requested-With", "XMLHttpRequest")
		hreq.Header.Set("Origin", r.URL)
		resp, err := c.Do(hreq)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	john := serverauthtest.DemoAccounts()[1]
	if resp := post(serverauthtest.CodeRequest{User: john, GrantedScopes: []string{"openid", "email", "profile"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("popup code with Drive unticked: %d, want 403", resp.StatusCode)
	}
	if resp := post(serverauthtest.CodeRequest{User: john, Prompt: "consent"}); resp.StatusCode != 200 {
		t.Fatalf("popup code: %d, want 200", resp.StatusCode)
	}
	_, body := get(t, c, r.URL+"/profile")
	wantIn(t, "profile", body, john.Name, john.Email, "Visits counted in your Drive app data: 1")
}

// TestGISButtonSignIn: the login_uri post of the Sign in with Google
// button; a user without a grant goes through the redirect flow first.
func TestGISButtonSignIn(t *testing.T) {
	r, c, _ := startExample(t, "-auto-consent")
	u := serverauthtest.DemoUser()
	post := func() *http.Response {
		base, _ := url.Parse(r.URL)
		c.Jar.SetCookies(base, []*http.Cookie{{Name: "g_csrf_token", Value: "c5rf", Path: "/"}})
		resp, err := c.PostForm(r.URL+"/login/gis", url.Values{"credential": {r.Google.GISCredential(u, r.Google.WebClientID(), "")}, "g_csrf_token": {"c5rf"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// No grant yet: the button's sign-in detours through Google's consent.
	before := r.Google.RequestCount(serverauthtest.EndpointAuth)
	if resp := post(); resp.Request.URL.Path != "/profile" || r.Google.RequestCount(serverauthtest.EndpointAuth) != before+1 {
		t.Fatalf("first GIS sign-in ended at %s after %d authorization requests, want /profile after 1", resp.Request.URL, r.Google.RequestCount(serverauthtest.EndpointAuth)-before)
	}
	_, body := get(t, c, r.URL+"/profile")
	wantIn(t, "profile", body, u.Name, "Visits counted in your Drive app data: 2")
	// With the grant stored, the next one signs in at once.
	before = r.Google.RequestCount(serverauthtest.EndpointAuth)
	if resp := post(); resp.Request.URL.Path != "/profile" || r.Google.RequestCount(serverauthtest.EndpointAuth) != before {
		t.Fatalf("second GIS sign-in ended at %s, with %d authorization requests; want /profile at once", resp.Request.URL, r.Google.RequestCount(serverauthtest.EndpointAuth)-before)
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{{"-addr", "0.0.0.0:0"}, {"-addr", "nonsense"}, {"-no-such-flag"}} {
		if err := run(context.Background(), args, io.Discard, nil); err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}

// TestHelp checks that -help exits 0.
func TestHelp(t *testing.T) {
	maintest.CheckHelp(t, main)
}
