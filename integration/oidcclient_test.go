package integration

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/serverauth/serverauth/serverauthtest"
)

// A third-party OpenID Connect client, github.com/coreos/go-oidc, runs
// against cmd/fakegoogle -tls as a separate process, as a developer of
// another stack would: discovery (go-oidc refuses an issuer that differs
// from the URL it fetched), the authorization-code flow with PKCE and a
// nonce, through the consent page or with -auto-consent, the exchange,
// ID-token verification by go-oidc's verifier against the fake's JWKS, and
// userinfo, trusting only the certificate the fake printed.

const oidcRedirectURI = "http://127.0.0.1/oidc-callback"

// fakeGoogleProcess is a running cmd/fakegoogle.
type fakeGoogleProcess struct {
	base     string
	certPath string
	client   *http.Client // trusts the printed certificate only
}

// buildFakeGoogle builds cmd/fakegoogle into dir and returns its path.
func buildFakeGoogle(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "fakegoogle")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/serverauth/serverauth/cmd/fakegoogle").CombinedOutput()
	if err != nil {
		t.Fatalf("go build cmd/fakegoogle: %v\n%s", err, out)
	}
	return bin
}

// startFakeGoogle runs bin with args on a free loopback port and reads its
// banner; the process is stopped with SIGINT when the test ends.
func startFakeGoogle(t *testing.T, bin string, args ...string) *fakeGoogleProcess {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0", "-redirect-uri", oidcRedirectURI}, args...)...)
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
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("fakegoogle exited with %v", err)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Error("fakegoogle did not stop on SIGINT")
		}
	})
	p := &fakeGoogleProcess{}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(30 * time.Second)
	for p.base == "" || p.certPath == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("fakegoogle exited before printing its URL and certificate")
			}
			if v, ok := strings.CutPrefix(line, "fakegoogle: serving a fake Google at "); ok {
				p.base = v
			}
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "certificate:"); ok {
				p.certPath = strings.TrimSpace(v)
			}
		case <-timeout:
			t.Fatal("fakegoogle printed no URL and certificate within 30 s")
		}
	}
	go func() {
		for range lines { // keep the pipe drained
		}
	}()
	pemBytes, err := os.ReadFile(p.certPath)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("%s holds no certificate", p.certPath)
	}
	p.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return p
}

func TestThirdPartyOIDCClient(t *testing.T) {
	bin := buildFakeGoogle(t, t.TempDir())

	t.Run("auto-consent", func(t *testing.T) {
		fg := startFakeGoogle(t, bin, "-tls", "-auto-consent")
		runOIDCFlow(t, fg, serverauthtest.DemoUser().Email, func(t *testing.T, browser *http.Client, authURL string) *url.URL {
			return follow(t, browser, authURL)
		})
	})
	t.Run("consent page", func(t *testing.T) {
		fg := startFakeGoogle(t, bin, "-tls")
		runOIDCFlow(t, fg, serverauthtest.DemoAccounts()[1].Email, func(t *testing.T, browser *http.Client, authURL string) *url.URL {
			// The chooser: choose the second account.
			chooser := fetch(t, browser, http.MethodGet, authURL, nil)
			account := serverauthtest.DemoAccounts()[1].Email
			form := pageForm(t, chooser, `name="account" value="`+account+`"`)
			form.Set("account", account)
			consent := fetch(t, browser, http.MethodPost, fg.base+"/signin/oauth/consent", form)
			// The consent page: Continue with everything ticked.
			form = pageForm(t, consent, `value="continue"`)
			form.Set("action", "continue")
			return followPost(t, browser, fg.base+"/signin/oauth/approve", form)
		})
	})
	t.Run("Google's issuer is refused", func(t *testing.T) {
		// Why -issuer self exists: a generic client checks the issuer.
		fg := startFakeGoogle(t, bin, "-tls", "-issuer", "google")
		_, err := oidc.NewProvider(oidc.ClientContext(context.Background(), fg.client), fg.base)
		var mismatch *oidc.IssuerMismatchError
		if !errors.As(err, &mismatch) || mismatch.Discovered != serverauthtest.DefaultIssuer {
			t.Errorf("NewProvider with the Google issuer = %v, want an IssuerMismatchError naming %s", err, serverauthtest.DefaultIssuer)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		fg := startFakeGoogle(t, bin, "-tls")
		if _, err := oidc.NewProvider(context.Background(), fg.base); err == nil {
			t.Error("NewProvider without the printed certificate succeeded")
		}
	})
}

// runOIDCFlow runs go-oidc's discovery, the code flow (authorize plays the
// browser and returns the redirect to the callback), the exchange, the
// verification and userinfo, for the account with wantEmail.
func runOIDCFlow(t *testing.T, fg *fakeGoogleProcess, wantEmail string, authorize func(*testing.T, *http.Client, string) *url.URL) {
	t.Helper()
	ctx := oidc.ClientContext(context.Background(), fg.client)
	provider, err := oidc.NewProvider(ctx, fg.base)
	if err != nil {
		t.Fatalf("oidc.NewProvider(%s) = %v", fg.base, err)
	}
	cfg := oauth2.Config{
		ClientID:     serverauthtest.DefaultWebClientID,
		ClientSecret: serverauthtest.DefaultWebClientSecret,
		Endpoint:     provider.Endpoint(),
		RedirectURL:  oidcRedirectURI,
		Scopes:       []string{oidc.ScopeOpenID, "email", "profile"},
	}
	state, nonce, verifier := oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier), oauth2.AccessTypeOffline)
	if !strings.HasPrefix(authURL, fg.base+"/o/oauth2/v2/auth?") {
		t.Fatalf("authorization URL %s is not the fake's", authURL)
	}

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Transport: fg.client.Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cb := authorize(t, browser, authURL)
	q := cb.Query()
	if got := cb.Scheme + "://" + cb.Host + cb.Path; got != oidcRedirectURI || q.Get("state") != state || q.Get("code") == "" {
		t.Fatalf("callback = %s, want %s with the state and a code", cb, oidcRedirectURI)
	}

	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange = %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: serverauthtest.DefaultWebClientID}).Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("go-oidc Verify = %v", err)
	}
	if idt.Issuer != fg.base || idt.Nonce != nonce {
		t.Errorf("ID token iss %q nonce %q, want %q and the request's nonce", idt.Issuer, idt.Nonce, fg.base)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
	}
	if err := idt.Claims(&claims); err != nil || claims.Email != wantEmail || !claims.EmailVerified {
		t.Errorf("ID token claims = %+v, %v, want the verified email %s", claims, err, wantEmail)
	}
	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil || info.Subject != idt.Subject || info.Email != claims.Email {
		t.Errorf("UserInfo = %+v, %v, want the ID token's subject and email", info, err)
	}
	if tok.RefreshToken == "" {
		t.Error("no refresh token for access_type=offline on first consent")
	}
	// The verifier checks the audience: the same token for another client fails.
	if _, err := provider.Verifier(&oidc.Config{ClientID: "someone-else.apps.googleusercontent.com"}).Verify(ctx, rawID); err == nil {
		t.Error("go-oidc accepted the ID token for another client")
	}
}

// follow sends a GET of u and returns the redirect it answers.
func follow(t *testing.T, c *http.Client, u string) *url.URL {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	return redirectOf(t, res)
}

// followPost posts form to u and returns the redirect it answers.
func followPost(t *testing.T, c *http.Client, u string, form url.Values) *url.URL {
	t.Helper()
	res, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	return redirectOf(t, res)
}

func redirectOf(t *testing.T, res *http.Response) *url.URL {
	t.Helper()
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	loc, err := res.Location()
	if res.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("answer = %d %s, want a redirect", res.StatusCode, body)
	}
	return loc
}

// fetch sends a request and returns the 200 page's body.
func fetch(t *testing.T, c *http.Client, method, u string, form url.Values) string {
	t.Helper()
	var res *http.Response
	var err error
	if method == http.MethodPost {
		res, err = c.PostForm(u, form)
	} else {
		res, err = c.Get(u)
	}
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s %s = %d %s, want 200", method, u, res.StatusCode, body)
	}
	return string(body)
}

// pageForm returns the hidden fields and ticked checkboxes of the form on
// page that holds marker.
func pageForm(t *testing.T, page, marker string) url.Values {
	t.Helper()
	for _, m := range regexp.MustCompile(`(?s)<form\b[^>]*>(.*?)</form>`).FindAllStringSubmatch(page, -1) {
		if !strings.Contains(m[1], marker) {
			continue
		}
		v := url.Values{}
		for _, in := range regexp.MustCompile(`<input ([^>]*)>`).FindAllStringSubmatch(m[1], -1) {
			attr := map[string]string{}
			for _, a := range regexp.MustCompile(`([a-z_]+)(?:="([^"]*)")?`).FindAllStringSubmatch(in[1], -1) {
				attr[a[1]] = html.UnescapeString(a[2])
			}
			_, checked := attr["checked"]
			if attr["type"] == "hidden" || (attr["type"] == "checkbox" && checked) {
				v.Add(attr["name"], attr["value"])
			}
		}
		return v
	}
	t.Fatalf("no form with %q on the page:\n%s", marker, page)
	return nil
}
