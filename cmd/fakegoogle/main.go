// Command fakegoogle serves a fake of Google's OAuth 2.0 and OpenID Connect
// endpoints (and the Drive v3 app data folder) over plain HTTP on loopback,
// so that a Sign-In backend can be run and tried locally without Google.
// It is the emulator of package serverauthtest, with the same behaviour.
//
// Usage:
//
//	go run ./cmd/fakegoogle [-addr 127.0.0.1:8085] [-client-id ID] [-client-secret S]
//	    [-ios-client-id ID] [-android-client-id ID] [-redirect-uri URI]... [-issuer ISS]
//	    [-js-origin ORIGIN]... [-auto-consent]
//	    [-mobile-azp presenter|server|none] [-accept-postmessage-for-mobile]
//
// On start it prints the URLs, the client IDs and secret in use, and a curl
// command that mints a code. Point the backend at it by setting every field
// of serverauth.Endpoints to the printed URLs (serverauth allows http only
// on loopback hosts) and its client ID and secret to the printed ones.
//
// The Sign-In SDKs always talk to the real Google, so the fake cannot sit
// behind them. Instead, get codes from the fake and post them to the backend
// as the app would:
//
//   - Mobile developers: in a debug build, replace the SDK's serverAuthCode
//     with one from POST /emulator/codes ({"origin":"ios"} or
//     {"origin":"android"}; see serverauthtest.EmulatorCodeRequest for the
//     other fields). The iOS simulator shares the Mac's loopback; for an
//     Android emulator or device run "adb reverse tcp:8085 tcp:8085" first.
//   - Web developers: send the browser to /o/oauth2/v2/auth, which shows
//     an account chooser and a consent page (untick a scope, or "ongoing
//     access" for a time-limited grant; Cancel answers access_denied) and
//     redirects back with a code, like Google; -auto-consent skips the pages
//     and consents at once as the login_hint user or the first test account.
//     A page written for Google Identity Services works against the fake
//     when its script tag loads <fake>/gsi/client instead of
//     https://accounts.google.com/gsi/client: the popup code client
//     (exchange its codes with redirect_uri=postmessage) and "Sign in with
//     Google" posting an ID token to a login_uri. The page's origin must be
//     registered (-js-origin, default the origins of the -redirect-uri
//     values). See the serverauthtest package documentation for the pages
//     and the stand-in.
//
// To see how an app or backend copes when Google fails, arm faults with
// POST /emulator/faults (serverauthtest.EmulatorFaultRequest):
//
//	curl -s -X POST http://127.0.0.1:8085/emulator/faults -H 'Content-Type: application/json' \
//	    -d '{"endpoint":"token","kind":"unavailable","count":2,"retry_after_seconds":1}'
//
// "count" fails the next requests to the endpoint, "fraction" (0 to 1) a
// reproducible share of all later ones. Endpoints: token, revoke, jwks, pem,
// tokeninfo, userinfo, drive, auth, discovery. Kinds: server_error,
// unavailable, bad_gateway_html, throttle_html, too_many_requests,
// rate_limit_exceeded, google_api_error (error answers in Google's shapes);
// reset and stall (the request is not processed: a code stays unused);
// reset_after, truncated, malformed_json and wrong_content_type (the request
// is processed, then the answer is lost or broken). GET /emulator/faults
// shows what is armed and how many requests failed; DELETE /emulator/faults
// clears every fault.
//
// Only the developer's own tools may use the /emulator/ endpoints, not a web
// page they happen to visit: a request there must name a loopback Host
// (127.0.0.1, [::1] or localhost, any port; this defeats DNS rebinding), may
// carry only a loopback Origin (http or https on those hosts), and must send
// its body as Content-Type: application/json (a cross-site form cannot). It
// is refused with 403 or 415 otherwise. Every URL the fake builds, in the
// discovery document and elsewhere, uses the address it listens on, never the
// request's Host.
//
// It stops on SIGINT or SIGTERM, finishing requests in flight (stalled ones
// are ended).
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
	"syscall"
	"time"

	"github.com/serverauth/serverauth/serverauthtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// stringList is a repeatable string flag.
type stringList []string

// String returns the values comma-separated.
func (l *stringList) String() string { return strings.Join(*l, ",") }

// Set appends v.
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// run parses args, serves the fake until ctx is done, and then shuts it down
// gracefully. It writes the start-up banner to stdout.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("fakegoogle", flag.ContinueOnError)
	fs.SetOutput(stdout)
	var (
		opts      serverauthtest.Options
		redirects stringList
		origins   stringList
		azp       string
		auto      bool
	)
	addr := fs.String("addr", "127.0.0.1:8085", "loopback `host:port` to listen on (port 0 picks a free one)")
	fs.StringVar(&opts.WebClientID, "client-id", serverauthtest.DefaultWebClientID, "web (server) client `ID`")
	fs.StringVar(&opts.WebClientSecret, "client-secret", serverauthtest.DefaultWebClientSecret, "web client `secret`")
	fs.StringVar(&opts.IOSClientID, "ios-client-id", serverauthtest.DefaultIOSClientID, "iOS client `ID`")
	fs.StringVar(&opts.AndroidClientID, "android-client-id", serverauthtest.DefaultAndroidClientID, "Android client `ID`")
	fs.Var(&redirects, "redirect-uri", "registered redirect `URI` of the web client (repeatable; default "+serverauthtest.DefaultRedirectURI+")")
	fs.Var(&origins, "js-origin", "registered JavaScript `origin` of the web client, for the Google Identity Services popups (repeatable; default the origins of the redirect URIs)")
	fs.BoolVar(&auto, "auto-consent", false, "consent at once at the authorization endpoint, as the first test account or the login_hint user, instead of showing the account chooser and consent page")
	fs.StringVar(&opts.Issuer, "issuer", serverauthtest.DefaultIssuer, "iss of the ID tokens: https://accounts.google.com or accounts.google.com")
	fs.StringVar(&azp, "mobile-azp", "presenter", "azp of ID tokens for iOS and Android codes: presenter, server or none")
	fs.BoolVar(&opts.AcceptPostmessageForMobile, "accept-postmessage-for-mobile", false, "accept redirect_uri=postmessage when exchanging iOS and Android codes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("fakegoogle: unexpected arguments %q", fs.Args())
	}
	if len(redirects) > 0 {
		opts.RedirectURIs = redirects
	}
	if len(origins) > 0 {
		opts.JavaScriptOrigins = origins
	}
	opts.ConsentPage = !auto
	switch azp {
	case "presenter":
		opts.MobileAZP = serverauthtest.AZPPresenter
	case "server":
		opts.MobileAZP = serverauthtest.AZPServer
	case "none":
		opts.MobileAZP = serverauthtest.AZPNone
	default:
		return fmt.Errorf("fakegoogle: -mobile-azp %q is not presenter, server or none", azp)
	}
	if err := checkLoopback(*addr); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("fakegoogle: %w", err)
	}
	g := serverauthtest.New(opts)
	base := "http://" + ln.Addr().String()
	printBanner(stdout, base, g, opts.Issuer)

	srv := &http.Server{Handler: guard(g, ln.Addr().String()), ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(g.ClearFaults) // ends stalled requests
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("fakegoogle: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("fakegoogle: shutting down: %w", err)
	}
	fmt.Fprintln(stdout, "fakegoogle: stopped")
	return nil
}

// checkLoopback refuses an address whose host is not loopback: the fake
// speaks plain HTTP, which serverauth accepts only on loopback.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("fakegoogle: -addr %q: %w", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("fakegoogle: -addr %q is not a loopback address (use 127.0.0.1 or [::1])", addr)
}

// printBanner prints what a developer needs to point a backend at the fake.
func printBanner(w io.Writer, base string, g *serverauthtest.Google, issuer string) {
	e := serverauthtest.EndpointsAt(base)
	fmt.Fprintf(w, "fakegoogle: serving a fake Google at %s\n\n", base)
	for _, l := range [][2]string{
		{"web client ID", g.WebClientID()},
		{"web client secret", g.WebClientSecret()},
		{"iOS client ID", g.IOSClientID()},
		{"Android client ID", g.AndroidClientID()},
		{"project ID", g.ProjectID()},
		{"redirect URIs", strings.Join(g.RedirectURIs(), " ")},
		{"issuer", issuer},
		{"", ""},
		{"discovery", base + "/.well-known/openid-configuration"},
		{"TokenURL", e.TokenURL},
		{"RevokeURL", e.RevokeURL},
		{"JWKSURL", e.JWKSURL},
		{"tokeninfo", base + serverauthtest.TokenInfoPath},
		{"userinfo", base + serverauthtest.UserInfoPath},
		{"DriveURL", e.DriveURL},
		{"authorization", base + "/o/oauth2/v2/auth"},
	} {
		if l[0] == "" {
			fmt.Fprintln(w)
			continue
		}
		fmt.Fprintf(w, "  %-18s %s\n", l[0]+":", l[1])
	}
	fmt.Fprintf(w, "\nMint a server auth code as the iOS app would receive it:\n\n"+
		"  curl -s -X POST %s/emulator/codes -H 'Content-Type: application/json' \\\n"+
		"    -d '{\"origin\":\"ios\",\"scope\":\"openid email profile drive.appdata\"}'\n\n"+
		"Exchange it as the backend does:\n\n"+
		"  curl -s %s -d grant_type=authorization_code --data-urlencode code=CODE \\\n"+
		"    --data-urlencode client_id=%s --data-urlencode client_secret=%s\n\n"+
		"Make Google fail: the next two token requests get 503 (kinds: go doc ./cmd/fakegoogle; DELETE clears):\n\n"+
		"  curl -s -X POST %s/emulator/faults -H 'Content-Type: application/json' \\\n"+
		"    -d '{\"endpoint\":\"token\",\"kind\":\"unavailable\",\"count\":2}'\n\n",
		base, e.TokenURL, g.WebClientID(), g.WebClientSecret(), base)
}
