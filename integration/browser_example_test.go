package integration_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// startExampleWeb builds and runs examples/web (`go run ./examples/web`,
// its in-process fake Google with the consent pages) on a free port and
// returns the URL it prints.
func startExampleWeb(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "web")
	build := exec.Command("go", "build", "-o", bin, "./web")
	build.Dir = filepath.Join("..", "examples")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/web: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			t.Errorf("examples/web exited with %v", err)
		}
	})
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if u, ok := strings.CutPrefix(lines.Text(), "open         "); ok {
			go func() { // keep draining its output
				for lines.Scan() {
				}
			}()
			return strings.TrimSuffix(u, "/")
		}
	}
	t.Fatalf("examples/web printed no URL to open (%v)", lines.Err())
	return ""
}

// TestBrowserExampleWebPopupJohnThenGISButtonSamUntickDriveThenAllowDrive
// clicks through examples/web as a person would: "Sign in with Google"
// (the popup code client), John, Continue: his profile with a visit counted
// in Drive; Sign out; the Sign in with Google button (login_uri), Sam, who
// has no grant and is sent through the redirect flow: Sam, drive.appdata
// unticked, Continue: signed in without Drive; "Allow Drive access"
// (incremental authorization), Sam, Continue: the visit counted in Drive.
func TestBrowserExampleWebPopupJohnThenGISButtonSamUntickDriveThenAllowDrive(t *testing.T) {
	ctx := startBrowser(t, browserPath(t))
	app := startExampleWeb(t)
	sam := serverauthtest.DemoAccounts()[2]
	text := func(sel chromedp.CSS) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return s
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(app+"/")); err != nil {
		t.Fatal(err)
	}
	popup := openPopup(t, ctx, `#signin-popup`)
	if err := click(popup, clickOn(account(john)), clickOn(chromedp.CSS(`#continue`))); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#visits`))); err != nil {
		t.Fatalf("John's profile: %v", err)
	}
	if u, v := text(`#user`), text(`#visits`); !strings.Contains(u, john.Email) || !strings.HasSuffix(v, ": 1") {
		t.Fatalf("John's profile shows %q, %q", u, v)
	}

	if err := chromedp.Do(ctx, clickOn(chromedp.CSS(`#signout`)), chromedp.WaitVisible(chromedp.CSS(`.g_id_signin button`))); err != nil {
		t.Fatal(err)
	}
	popup = openPopup(t, ctx, `.g_id_signin button`)
	if err := click(popup, clickOn(account(sam))); err != nil {
		t.Fatal(err)
	}
	// No grant yet: the login_uri sends Sam's browser through the redirect
	// flow, for her account.
	if err := click(ctx, clickOn(account(sam)), clickOn(scopeBox(serverauth.ScopeDriveAppData)), clickOn(chromedp.CSS(`#continue`))); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#need-drive`))); err != nil {
		t.Fatalf("Sam's profile without Drive: %v", err)
	}
	if u := text(`#user`); !strings.Contains(u, sam.Email) {
		t.Fatalf("profile shows %q, want Sam", u)
	}

	if err := click(ctx, clickOn(chromedp.CSS(`#grant-drive`)), clickOn(account(sam)), clickOn(chromedp.CSS(`#continue`))); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#visits`))); err != nil {
		t.Fatalf("Sam's profile after allowing Drive: %v", err)
	}
	if u, v := text(`#user`), text(`#visits`); !strings.Contains(u, sam.Email) || !strings.HasSuffix(v, ": 1") {
		t.Fatalf("Sam's profile shows %q, %q", u, v)
	}
}
