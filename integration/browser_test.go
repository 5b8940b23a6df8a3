package integration_test

// Browser tests: headless Chromium, driven by chromedp, clicks through the
// fake Google's account chooser and consent page (serverauthtest with
// Options.ConsentPage) and its Google Identity Services stand-in, against
// a small web app built on SignInHandler, WebSignIn and GISLoginHandler.
// They need a Chromium binary: without one they skip, unless CI or
// SERVERAUTH_TEST_BROWSER=1 is set, when they fail.

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// browserPath finds Chromium: SERVERAUTH_TEST_CHROMIUM, or a known name on
// PATH. Without one the test skips locally and fails in CI.
func browserPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SERVERAUTH_TEST_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	_, ci := os.LookupEnv("CI")
	if ci || os.Getenv("SERVERAUTH_TEST_BROWSER") == "1" {
		t.Fatal("no Chromium found (chromium, chromium-browser, google-chrome on PATH, or SERVERAUTH_TEST_CHROMIUM): the browser tests must run in CI; install it with apt-get install chromium")
	}
	t.Skip("no Chromium on PATH; set SERVERAUTH_TEST_BROWSER=1 to make this a failure")
	return ""
}

// Accounts of the fake's chooser (serverauthtest.DemoAccounts).
var (
	jane = serverauthtest.DemoAccounts()[0]
	john = serverauthtest.DemoAccounts()[1]
)

// webApp is the app under test, a fake Google and a browser.
type webApp struct {
	t      *testing.T
	url    string // the app, http://127.0.0.1:port
	fake   string // the fake Google, http://127.0.0.1:port
	google *serverauthtest.Google
	ex     *serverauth.Exchanger
	ctx    context.Context // the browser's first tab

	mu       sync.Mutex
	signedIn []signedIn
	failures []failure
}

type signedIn struct {
	via string // "popup", "redirect" or "gis"
	res *serverauth.Result
}

type failure struct {
	via string
	res *serverauth.Result
	err error
}

func newWebApp(t *testing.T) *webApp {
	t.Helper()
	chromium := browserPath(t)
	appLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &webApp{t: t, url: "http://" + appLn.Addr().String()}

	// The fake Google, with the pages a person clicks through, over plain
	// http on loopback (as cmd/fakegoogle serves it).
	a.google = serverauthtest.New(serverauthtest.Options{
		ConsentPage:  true,
		RedirectURIs: []string{a.url + "/auth/callback", a.url + "/login/gis"},
	})
	fake := httptest.NewServer(a.google)
	t.Cleanup(fake.Close)
	a.fake = fake.URL

	cfg := serverauth.Config{
		ClientID: a.google.WebClientID(), ClientSecret: a.google.WebClientSecret(),
		Endpoints: serverauthtest.EndpointsAt(a.fake),
		Scopes:    []string{"email", "profile", "drive.appdata"},
		Store:     serverauth.NewMemoryStore(),
	}
	cfg.Endpoints.AuthURL = a.fake + "/o/oauth2/v2/auth"
	if a.ex, err = serverauth.New(cfg); err != nil {
		t.Fatal(err)
	}
	a.serve(appLn)
	a.ctx = startBrowser(t, chromium)
	return a
}

// startBrowser starts headless Chromium for the test and returns the
// context of its first tab.
func startBrowser(t *testing.T, chromium string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // CI containers run as root
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-popup-blocking", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelBrowser(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	return ctx
}

// serve starts the app: the page, SignInHandler, WebSignIn and
// GISLoginHandler, each recording what the backend got.
func (a *webApp) serve(ln net.Listener) {
	t := a.t
	record := func(via string) serverauth.SignInFunc {
		return func(w http.ResponseWriter, r *http.Request, res *serverauth.Result) {
			a.mu.Lock()
			a.signedIn = append(a.signedIn, signedIn{via, res})
			a.mu.Unlock()
			resultPage(w, http.StatusOK, "signed in "+res.Profile.Email)
		}
	}
	signIn, err := a.ex.SignInHandler(serverauth.HandlerConfig{AllowedOrigins: []string{a.url}, OnSignIn: func(w http.ResponseWriter, r *http.Request, res *serverauth.Result) {
		a.mu.Lock()
		a.signedIn = append(a.signedIn, signedIn{"popup", res})
		a.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "signed in "+res.Profile.Email)
	}})
	if err != nil {
		t.Fatal(err)
	}
	web, err := a.ex.WebSignIn(serverauth.WebSignInConfig{
		RedirectURL: a.url + "/auth/callback",
		OnSignIn:    record("redirect"),
		OnError: func(w http.ResponseWriter, r *http.Request, res *serverauth.Result, err error) {
			a.mu.Lock()
			a.failures = append(a.failures, failure{"redirect", res, err})
			a.mu.Unlock()
			resultPage(w, http.StatusForbidden, "failed")
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	gis, err := a.ex.GISLoginHandler(serverauth.GISLoginConfig{OnSignIn: record("gis"),
		OnError: func(w http.ResponseWriter, r *http.Request, res *serverauth.Result, err error) {
			a.mu.Lock()
			a.failures = append(a.failures, failure{"gis", res, err})
			a.mu.Unlock()
			resultPage(w, http.StatusForbidden, "failed")
		}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, strings.NewReplacer("CLIENT_ID", a.google.WebClientID(), "FAKE", a.fake, "APP", a.url).Replace(testPage))
	})
	mux.Handle("POST /signin", signIn)
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		if err := web.Start(w, r); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("GET /auth/callback", web.Callback)
	mux.Handle("POST /login/gis", gis)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// testPage is the app's page: the popup code client behind a button, the
// redirect flow behind a link, and the Sign in with Google button posting
// to login_uri, with the fake's GIS stand-in in place of Google's script.
const testPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>serverauth browser test</title>
<script src="FAKE/gsi/client"></script></head><body>
<button type="button" id="popup">Sign in with Google</button>
<a id="redirect" href="/login">Sign in with a redirect</a>
<div id="g_id_onload" data-client_id="CLIENT_ID" data-login_uri="APP/login/gis" data-auto_prompt="false"></div>
<div class="g_id_signin" id="gis"></div>
<p id="result"></p>
<script>
function result(text) { var p = document.getElementById("result"); p.textContent = text; p.setAttribute("data-done", "1"); }
document.getElementById("popup").addEventListener("click", function () {
  google.accounts.oauth2.initCodeClient({
    client_id: "CLIENT_ID",
    scope: "openid email profile https://www.googleapis.com/auth/drive.appdata",
    ux_mode: "popup",
    callback: function (r) {
      if (r.error) { result("error " + r.error); return; }
      fetch("/signin", {method: "POST", headers: {"Content-Type": "application/json", "X-Requested-With": "XMLHttpRequest"}, body: JSON.stringify({code: r.code})})
        .then(function (resp) { return resp.text().then(function (t) { result(resp.status + " " + t); }); });
    }
  }).requestCode();
});
</script></body></html>`

// resultPage is what the callback and login_uri answer the browser.
func resultPage(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<!doctype html><p id="result" data-done="1">%s</p>`, html.EscapeString(text))
}

// account is the chooser's button for an account: its text is the email.
func account(u serverauthtest.User) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//button[normalize-space(.)=%q]`, u.Email))
}

// scopeBox is the consent page's checkbox for a scope.
func scopeBox(scope string) chromedp.CSS {
	return chromedp.CSS(fmt.Sprintf(`input[type="checkbox"][name="scope"][value=%q]`, scope))
}

// result waits for the result paragraph in ctx's tab and returns its text.
func (a *webApp) result(ctx context.Context) string {
	a.t.Helper()
	if err := chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS(`#result[data-done="1"]`))); err != nil {
		a.t.Fatalf("waiting for the result: %v", err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#result`)))
	if err != nil {
		a.t.Fatalf("reading the result: %v", err)
	}
	return text
}

// popup clicks sel in the app's tab and returns the window it opens.
func (a *webApp) popup(sel chromedp.CSS) context.Context {
	a.t.Helper()
	return openPopup(a.t, a.ctx, sel)
}

// openPopup clicks sel in ctx's tab and returns the window it opens. Do
// not query the window after it closes itself: a closed tab answers
// nothing until the context ends.
func openPopup(t *testing.T, ctx context.Context, sel chromedp.CSS) context.Context {
	t.Helper()
	opened := chromedp.WaitNewTarget(ctx, func(info *target.Info) bool { return info.Type == "page" && info.OpenerID != "" })
	if err := chromedp.Do(ctx, clickOn(sel)); err != nil {
		t.Fatalf("clicking %s: %v", sel, err)
	}
	select {
	case id := <-opened:
		pctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(id))
		t.Cleanup(cancel)
		return pctx
	case <-ctx.Done():
		t.Fatalf("no popup opened after clicking %s", sel)
		return nil
	}
}

// clickOn waits for sel to be visible and clicks it.
func clickOn[S chromedp.Selectable](sel S) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(chromedp.WaitVisible(sel), chromedp.Click(sel))
}

// click runs the clicks in ctx's tab. A window that closes itself after
// the last click (a popup answering its opener) is not an error.
func click(ctx context.Context, clicks ...chromedp.Action[chromedp.Void]) error {
	err := chromedp.Do(ctx, clicks...)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func (a *webApp) lastFailure() failure {
	a.t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.failures) != 1 {
		a.t.Fatalf("OnError called %d times (%v), want once", len(a.failures), a.failures)
	}
	return a.failures[0]
}

func (a *webApp) onlySignIn(via string) *serverauth.Result {
	a.t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.signedIn) != 1 || a.signedIn[0].via != via || len(a.failures) != 0 {
		a.t.Fatalf("sign-ins %v, failures %v; want one %s sign-in", a.signedIn, a.failures, via)
	}
	return a.signedIn[0].res
}

// TestBrowserRedirectChooseJohnUntickDriveContinue: the redirect link, John
// in the chooser, drive.appdata unticked on the consent page, Continue: the
// backend gets John, verified, and a ScopeError naming drive.appdata.
func TestBrowserRedirectChooseJohnUntickDriveContinue(t *testing.T) {
	a := newWebApp(t)
	drive := scopeBox(serverauth.ScopeDriveAppData)
	err := chromedp.Do(a.ctx,
		chromedp.Navigate(a.url+"/"),
		clickOn(chromedp.CSS(`#redirect`)),
		clickOn(account(john)),
		chromedp.WaitVisible(drive),
	)
	if err != nil {
		t.Fatal(err)
	}
	ticked, err := chromedp.Run(a.ctx, chromedp.JavascriptAttribute[bool](drive, "checked"))
	if err != nil || !ticked {
		t.Fatalf("drive.appdata ticked by default: %v, %v; want true", ticked, err)
	}
	if err := click(a.ctx, clickOn(drive), clickOn(chromedp.CSS(`#continue`))); err != nil {
		t.Fatal(err)
	}
	if got := a.result(a.ctx); got != "failed" {
		t.Fatalf("callback page = %q, want the OnError page", got)
	}
	f := a.lastFailure()
	var se *serverauth.ScopeError
	if !errors.As(f.err, &se) || len(se.Missing) != 1 || se.Missing[0] != serverauth.ScopeDriveAppData {
		t.Fatalf("OnError error = %v, want a ScopeError for drive.appdata", f.err)
	}
	if f.res == nil || f.res.UserID != john.Sub || f.res.Profile.Email != john.Email || !f.res.Profile.EmailVerified {
		t.Fatalf("OnError Result = %v, want John, verified", f.res)
	}
	if reqs := a.google.Requests(serverauthtest.EndpointToken); len(reqs) != 1 || reqs[0].Form.Get("code_verifier") == "" || reqs[0].Form.Get("redirect_uri") != a.url+"/auth/callback" {
		t.Fatalf("token requests %v: want one exchange with the verifier and the callback URL", reqs)
	}
}

// TestBrowserPopupSignInChooseJaneContinue: the "Sign in with Google"
// button opens the GIS code client's popup; Jane in the chooser, Continue
// with every scope ticked; the page posts the code to SignInHandler, which
// exchanges it with redirect_uri=postmessage.
func TestBrowserPopupSignInChooseJaneContinue(t *testing.T) {
	a := newWebApp(t)
	if err := chromedp.Do(a.ctx, chromedp.Navigate(a.url+"/")); err != nil {
		t.Fatal(err)
	}
	popup := a.popup(`#popup`)
	if err := click(popup, clickOn(account(jane)), clickOn(chromedp.CSS(`#continue`))); err != nil {
		t.Fatal(err)
	}
	if got := a.result(a.ctx); got != "200 signed in "+jane.Email {
		t.Fatalf("page result = %q, want 200 signed in %s", got, jane.Email)
	}
	res := a.onlySignIn("popup")
	if res.UserID != jane.Sub || !res.RefreshTokenIssued {
		t.Fatalf("signed in %v, want Jane with a refresh token", res)
	}
	if reqs := a.google.Requests(serverauthtest.EndpointToken); len(reqs) != 1 || reqs[0].Form.Get("redirect_uri") != serverauth.PostMessage {
		t.Fatalf("token requests %v: want one exchange with redirect_uri=postmessage", reqs)
	}
}

// TestBrowserRedirectChooseJaneCancel: the redirect link, Jane in the
// chooser, Cancel on the consent page: the callback reports
// ErrAccessDenied and nothing is exchanged. The chooser has a Cancel
// button with the same id, so the selector names the consent form: while
// the chooser is still on screen, a bare #cancel matches its button, which
// is gone by the time the click lands.
func TestBrowserRedirectChooseJaneCancel(t *testing.T) {
	a := newWebApp(t)
	if err := chromedp.Do(a.ctx, chromedp.Navigate(a.url+"/login")); err != nil {
		t.Fatal(err)
	}
	if err := click(a.ctx, clickOn(account(jane)), clickOn(chromedp.CSS(`#consent #cancel`))); err != nil {
		t.Fatal(err)
	}
	if got := a.result(a.ctx); got != "failed" {
		t.Fatalf("callback page = %q, want the OnError page", got)
	}
	var ae *serverauth.AuthorizationError
	if f := a.lastFailure(); !errors.Is(f.err, serverauth.ErrAccessDenied) || !errors.As(f.err, &ae) || f.res != nil {
		t.Fatalf("OnError got %v, %v; want access_denied and no user", f.res, f.err)
	}
	if n := a.google.RequestCount(serverauthtest.EndpointToken); n != 0 {
		t.Fatalf("token requests = %d, want none after Cancel", n)
	}
}

// TestBrowserGISButtonChooseJane: the Sign in with Google button (rendered
// by google.accounts.id) opens the chooser; Jane; the stand-in posts her ID
// token to login_uri with the g_csrf_token cookie and field, and
// GISLoginHandler signs her in with the grant she gave earlier.
func TestBrowserGISButtonChooseJane(t *testing.T) {
	a := newWebApp(t)
	// Jane granted offline access earlier (the popup code flow, say).
	code, err := a.google.MintCode(serverauthtest.CodeRequest{User: jane, Origin: serverauthtest.OriginWebPopup, Scopes: []string{"openid", "email", "profile", "drive.appdata"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.ex.Exchange(context.Background(), code, serverauth.WithRedirectURL(serverauth.PostMessage)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(a.ctx, chromedp.Navigate(a.url+"/")); err != nil {
		t.Fatal(err)
	}
	popup := a.popup(`#gis button`)
	if err := click(popup, clickOn(account(jane))); err != nil {
		t.Fatal(err)
	}
	if got := a.result(a.ctx); got != "signed in "+jane.Email {
		t.Fatalf("login_uri page = %q, want signed in %s", got, jane.Email)
	}
	res := a.onlySignIn("gis")
	if res.UserID != jane.Sub || res.Token != nil || len(res.GrantedScopes) == 0 {
		t.Fatalf("signed in %v, want Jane by ID token with her stored scopes", res)
	}
}
