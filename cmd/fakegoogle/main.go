// Command fakegoogle serves a fake of Google's OAuth 2.0 and OpenID Connect
// endpoints (and the Drive v3 app data folder, the sign-in pages and the
// Google Identity Services script) on loopback, over plain HTTP or HTTPS,
// so that a Sign-In backend and its web pages can be run and tried locally
// without Google.
// It is the emulator of package serverauthtest, with the same behaviour.
//
// Usage:
//
//	go run ./cmd/fakegoogle [-addr 127.0.0.1:8085] [-client-id ID] [-client-secret S]
//	    [-ios-client-id ID] [-android-client-id ID] [-redirect-uri URI]... [-js-origin ORIGIN]...
//	    [-auto-consent] [-tls [-tls-cert FILE]] [-issuer self|google|accounts.google.com]
//	    [-access-token-lifetime 3599s] [-rotate-refresh-tokens]
//	    [-mobile-azp presenter|server|none] [-accept-postmessage-for-mobile]
//
// On start it prints the URLs, the client IDs and secret in use, and curl
// commands that mint a code, exchange it, arm a fault and move the clock.
// Point the backend at it by setting every field of serverauth.Endpoints to
// the printed URLs (serverauth allows http only on loopback hosts) and its
// client ID and secret to the printed ones.
//
// -tls serves HTTPS with a self-signed ECDSA certificate for 127.0.0.1, ::1
// and localhost, made at start; it prints the path of its PEM (-tls-cert
// FILE to choose it; by default a temporary file, removed on exit) and its
// SHA-256 fingerprint. Trust that file in the client (curl --cacert, Go's
// x509.CertPool, NODE_EXTRA_CA_CERTS, Python's cafile). -issuer sets the
// ID tokens' iss and discovery's issuer: "self", the fake's own URL, which
// generic OpenID Connect clients (go-oidc, openid-client, oauthlib) demand
// since they compare it with the URL they fetched discovery from, the
// default with -tls; "google" (https://accounts.google.com), the default
// without -tls and the only one serverauth accepts besides
// "accounts.google.com". Discovery lists only endpoints the fake serves.
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
// tokeninfo, userinfo, drive, auth, discovery, risc. Kinds: server_error,
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
// Controls for other languages and multi-process tests (JSON bodies; see the
// serverauthtest package documentation for each):
//
//	POST   /emulator/clock {"advance_seconds": 3600}      move the fake's clock (GET shows it)
//	POST   /emulator/users/SUB/expire-access-tokens       expire the user's access tokens now
//	POST   /emulator/users/SUB/revoke                     revoke the user's grants, as from their Google account
//	POST   /emulator/users/SUB/require-reauth {"on": true} Workspace reauthentication (invalid_rapt)
//	POST   /emulator/users/SUB/delete                     delete the account
//	POST   /emulator/codes {"refresh_token_expires_in": 600, …} mint a code, here of a time-limited grant
//	GET    /emulator/counts                               requests by endpoint, refreshes by user, faults
//	POST   /emulator/counts {"code": "…"}                 how often a code was exchanged (DELETE zeroes all)
//	POST   /emulator/settings {"rotate_refresh_tokens": true, "access_token_lifetime_seconds": 60}
//
// A web page on a loopback origin may call them from the browser: /emulator/
// answers CORS (preflight included) for loopback origins only.
//
// Cross-Account Protection (RISC): the fake serves the RISC configuration at
// /.well-known/risc-configuration (its issuer is the ID tokens' issuer with a
// trailing slash; its keys are not the ID-token keys) and Google's stream API
// under /v1beta/ (stream:update, stream, stream:verify, stream/status,
// stream/status:update), authorised by the fake project's service account,
// whose key file GET /emulator/risc/service-account returns. Register a
// receiver (http or https, on a loopback host) with cmd/riscstream, then
// push events to it:
//
//	curl -s http://127.0.0.1:8085/emulator/risc/service-account > key.json
//	go run ./cmd/riscstream -endpoint http://127.0.0.1:8085 -credentials key.json register -url http://127.0.0.1:8080/risc
//	curl -s -X POST http://127.0.0.1:8085/emulator/risc/events -H 'Content-Type: application/json' \
//	    -d '{"type":"account-disabled","sub":"109876543210987654321","reason":"hijacking"}'
//
// The body is a serverauthtest.RISCEvent: "type" (a type URI or its last
// segment), "sub", "reason", "state", "email", "token_identifier_alg" and
// "refresh_token" for token-revoked, "forge" for a forged variant
// (bad_signature, unknown_kid, id_token_key, hs256_public_key,
// wrong_issuer, wrong_audience, future_iat, old_iat, no_jti, two_events, or
// exp, which is valid). The answer says what the receiver answered. POST
// /emulator/risc/redeliver {"jti": "…"} sends the same token again; GET
// /emulator/risc/deliveries lists every push.
//
// It stops on SIGINT or SIGTERM, finishing requests in flight (stalled ones
// are ended).
package main

import (
	"context"
	"crypto/tls"
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
		issuer    string
		useTLS    bool
		certPath  string
	)
	addr := fs.String("addr", "127.0.0.1:8085", "loopback `host:port` to listen on (port 0 picks a free one)")
	fs.StringVar(&opts.WebClientID, "client-id", serverauthtest.DefaultWebClientID, "web (server) client `ID`")
	fs.StringVar(&opts.WebClientSecret, "client-secret", serverauthtest.DefaultWebClientSecret, "web client `secret`")
	fs.StringVar(&opts.IOSClientID, "ios-client-id", serverauthtest.DefaultIOSClientID, "iOS client `ID`")
	fs.StringVar(&opts.AndroidClientID, "android-client-id", serverauthtest.DefaultAndroidClientID, "Android client `ID`")
	fs.Var(&redirects, "redirect-uri", "registered redirect `URI` of the web client (repeatable; default "+serverauthtest.DefaultRedirectURI+")")
	fs.Var(&origins, "js-origin", "registered JavaScript `origin` of the web client, for the Google Identity Services popups (repeatable; default the origins of the redirect URIs)")
	fs.BoolVar(&auto, "auto-consent", false, "consent at once at the authorization endpoint, as the first test account or the login_hint user, instead of showing the account chooser and consent page")
	fs.StringVar(&issuer, "issuer", "", "iss of the ID tokens and discovery's issuer: `self` (the fake's own URL, for generic OpenID Connect clients), google (https://accounts.google.com, which serverauth requires) or accounts.google.com (default self with -tls, google without)")
	fs.BoolVar(&useTLS, "tls", false, "serve HTTPS with a new self-signed certificate for 127.0.0.1, ::1 and localhost, whose PEM path and SHA-256 fingerprint are printed")
	fs.StringVar(&certPath, "tls-cert", "", "with -tls, write the certificate's PEM to `file` (default a temporary file, removed on exit)")
	fs.DurationVar(&opts.AccessTokenLifetime, "access-token-lifetime", serverauthtest.DefaultAccessTokenLifetime, "expires_in of access tokens (POST /emulator/settings changes it while running)")
	fs.BoolVar(&opts.RotateRefreshTokens, "rotate-refresh-tokens", false, "return a new refresh token on every refresh and revoke the old one (Google does not rotate)")
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
	if opts.AccessTokenLifetime <= 0 {
		return fmt.Errorf("fakegoogle: -access-token-lifetime %s is not positive", opts.AccessTokenLifetime)
	}
	if certPath != "" && !useTLS {
		return errors.New("fakegoogle: -tls-cert needs -tls")
	}
	if issuer == "" {
		issuer = "google"
		if useTLS {
			issuer = "self"
		}
	}
	switch issuer {
	case "self":
	case "google", serverauthtest.DefaultIssuer:
		opts.Issuer = serverauthtest.DefaultIssuer
	case "accounts.google.com":
		opts.Issuer = issuer
	default:
		return fmt.Errorf("fakegoogle: -issuer %q is not self, google or accounts.google.com", issuer)
	}
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
	defer ln.Close()
	base := "http://" + ln.Addr().String()
	var cert *tlsInfo
	if useTLS {
		base = "https://" + ln.Addr().String()
		c, pemBytes, err := selfSigned(time.Now())
		if err != nil {
			return fmt.Errorf("fakegoogle: generating the certificate: %w", err)
		}
		path, temporary, err := writeCertPEM(certPath, pemBytes)
		if err != nil {
			return err
		}
		if temporary {
			defer os.Remove(path)
		}
		cert = &tlsInfo{cert: c, path: path, fingerprint: fingerprint(c.Leaf.Raw)}
	}
	if issuer == "self" {
		opts.Issuer = base
	}
	g := serverauthtest.New(opts)
	printBanner(stdout, base, g, cert)

	srv := &http.Server{Handler: guard(g, ln.Addr().String()), ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(g.ClearFaults) // ends stalled requests
	served := make(chan error, 1)
	if cert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert.cert}, MinVersion: tls.VersionTLS12}
		go func() { served <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { served <- srv.Serve(ln) }()
	}
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

// tlsInfo is the certificate of -tls and where its PEM is.
type tlsInfo struct {
	cert        tls.Certificate
	path        string
	fingerprint string
}

// printBanner prints what a developer needs to point a backend at the fake.
func printBanner(w io.Writer, base string, g *serverauthtest.Google, cert *tlsInfo) {
	issuer := g.Issuer()
	e := serverauthtest.EndpointsAt(base)
	fmt.Fprintf(w, "fakegoogle: serving a fake Google at %s\n\n", base)
	lines := [][2]string{
		{"web client ID", g.WebClientID()},
		{"web client secret", g.WebClientSecret()},
		{"iOS client ID", g.IOSClientID()},
		{"Android client ID", g.AndroidClientID()},
		{"project ID", g.ProjectID()},
		{"redirect URIs", strings.Join(g.RedirectURIs(), " ")},
		{"issuer", issuer},
	}
	curl := "curl -s"
	if cert != nil {
		lines = append(lines, [2]string{"certificate", cert.path}, [2]string{"SHA-256", cert.fingerprint})
		curl += " --cacert " + cert.path
	}
	lines = append(lines, [][2]string{
		{"", ""},
		{"discovery", base + "/.well-known/openid-configuration"},
		{"TokenURL", e.TokenURL},
		{"RevokeURL", e.RevokeURL},
		{"JWKSURL", e.JWKSURL},
		{"tokeninfo", base + serverauthtest.TokenInfoPath},
		{"userinfo", base + serverauthtest.UserInfoPath},
		{"DriveURL", e.DriveURL},
		{"authorization", base + "/o/oauth2/v2/auth"},
		{"GIS script", base + "/gsi/client"},
		{"RISC config", base + serverauthtest.RISCConfigurationPath},
		{"RISC stream API", base + "/v1beta/stream (cmd/riscstream -endpoint " + base + ")"},
	}...)
	for _, l := range lines {
		if l[0] == "" {
			fmt.Fprintln(w)
			continue
		}
		fmt.Fprintf(w, "  %-18s %s\n", l[0]+":", l[1])
	}
	if issuer == base {
		fmt.Fprintf(w, "\nThe issuer is the fake's own URL, for generic OpenID Connect clients; serverauth accepts\n"+
			"only Google's issuers: run with -issuer google for a serverauth backend.\n")
	}
	fmt.Fprintf(w, "\nMint a server auth code as the iOS app would receive it:\n\n"+
		"  %[1]s -X POST %[2]s/emulator/codes -H 'Content-Type: application/json' \\\n"+
		"    -d '{\"origin\":\"ios\",\"scope\":\"openid email profile drive.appdata\"}'\n\n"+
		"Exchange it as the backend does:\n\n"+
		"  %[1]s %[3]s -d grant_type=authorization_code --data-urlencode code=CODE \\\n"+
		"    --data-urlencode client_id=%[4]s --data-urlencode client_secret=%[5]s\n\n"+
		"Make Google fail: the next two token requests get 503 (kinds: go doc ./cmd/fakegoogle; DELETE clears):\n\n"+
		"  %[1]s -X POST %[2]s/emulator/faults -H 'Content-Type: application/json' \\\n"+
		"    -d '{\"endpoint\":\"token\",\"kind\":\"unavailable\",\"count\":2}'\n\n"+
		"Move the fake's clock an hour on (other controls: go doc ./cmd/fakegoogle):\n\n"+
		"  %[1]s -X POST %[2]s/emulator/clock -H 'Content-Type: application/json' -d '{\"advance_seconds\":3600}'\n\n",
		curl, base, e.TokenURL, g.WebClientID(), g.WebClientSecret())
}
