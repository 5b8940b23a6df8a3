// Command web is a web app that signs users in with Google, three ways, and
// then works with their Drive app data folder while they are signed in:
//
//   - "Sign in with Google" (popup): the Google Identity Services code
//     client posts a code to SignInHandler, which exchanges it with
//     redirect_uri=postmessage;
//   - "Sign in with a redirect": the server-side redirect flow (WebSignIn:
//     PKCE, state and nonce in an encrypted cookie), also used to ask again
//     for Drive access when the user unticked it;
//   - the Sign in with Google button of google.accounts.id, which posts an ID
//     token to its login_uri (GISLoginHandler); a new user is sent through
//     the redirect flow to grant offline access.
//
// With no flags it runs against a fake Google in the same process, with the
// account chooser and consent page a person clicks through, and prints the
// URL to open:
//
//	go run ./examples/web
//
// Against Google, with a web client whose authorised JavaScript origin is
// http://127.0.0.1:8080 and whose redirect URIs are
// http://127.0.0.1:8080/auth/callback and http://127.0.0.1:8080/login/gis:
//
//	go run ./examples/web -client-secrets client_secret.json
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, nil); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "web:", err)
		os.Exit(1)
	}
}

// googleGSIClient is the Google Identity Services script.
const googleGSIClient = "https://accounts.google.com/gsi/client"

// running is what run started, for tests: the app's URL, and the fake
// Google when there is one.
type running struct {
	URL    string
	Google *serverauthtest.Google
	App    *app
}

// run serves the app until ctx ends. ready, when set, is called once it
// serves.
func run(ctx context.Context, args []string, out io.Writer, ready func(*running)) error {
	fs := flag.NewFlagSet("web", flag.ContinueOnError)
	fs.SetOutput(out)
	addr := fs.String("addr", "127.0.0.1:8080", "address of the app (loopback: it serves plain http)")
	secrets := fs.String("client-secrets", "", "the web client's client_secret.json, to sign in with real Google instead of the in-process fake")
	autoConsent := fs.Bool("auto-consent", false, "the fake consents at once as its first account, without the chooser and consent page")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil || !isLoopback(host) {
		return fmt.Errorf("-addr %q: serve the example on a loopback address such as 127.0.0.1:8080 (it uses plain http)", *addr)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	base := "http://" + ln.Addr().String()

	cfg := serverauth.Config{
		Scopes: []string{"email", "profile", "drive.appdata"},
		Store:  serverauth.NewMemoryStore(), // in memory: sign-ins last as long as the process
	}
	gsiURL := googleGSIClient
	var google *serverauthtest.Google
	if *secrets != "" {
		cfg.ClientSecretsFile = *secrets
	} else {
		g, fakeURL, stopFake, err := startFake(base, !*autoConsent)
		if err != nil {
			return err
		}
		defer stopFake()
		google = g
		cfg.ClientID, cfg.ClientSecret = g.WebClientID(), g.WebClientSecret()
		cfg.Endpoints = serverauthtest.EndpointsAt(fakeURL)
		cfg.Endpoints.AuthURL = fakeURL + "/o/oauth2/v2/auth"
		gsiURL = fakeURL + "/gsi/client"
		fmt.Fprintf(out, "fake Google  %s (in-process; accounts %s)\n", fakeURL, strings.Join(accountEmails(), ", "))
	}
	a, err := newApp(cfg, base, gsiURL)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(out, "open         %s/\n", base)
	if ready != nil {
		ready(&running{URL: base, Google: google, App: a})
	}
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// startFake serves a fake Google over plain http on a loopback port, with
// the app's callback and login_uri registered for its web client.
func startFake(appBase string, consentPage bool) (*serverauthtest.Google, string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, err
	}
	g := serverauthtest.New(serverauthtest.Options{
		ConsentPage:  consentPage,
		RedirectURIs: []string{appBase + "/auth/callback", appBase + "/login/gis"},
	})
	fakeHost := ln.Addr().String()
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The example mints nothing over HTTP: a page the developer visits
		// must not reach the fake's controls.
		if strings.HasPrefix(r.URL.Path, "/emulator") {
			http.NotFound(w, r)
			return
		}
		r.Host = fakeHost // the URLs the fake builds point at it
		g.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	return g, "http://" + fakeHost, func() { srv.Close() }, nil
}

func accountEmails() []string {
	var emails []string
	for _, u := range serverauthtest.DemoAccounts() {
		emails = append(emails, u.Email)
	}
	return emails
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
