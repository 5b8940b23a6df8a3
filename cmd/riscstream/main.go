// Command riscstream manages the project's Cross-Account Protection event
// stream through Google's RISC API (developers.google.com/identity/protocols/risc,
// "Register your receiver"): it registers the receiver's URL and the event
// types to send there, asks Google for a verification event, and shows or
// changes the stream's status.
//
// Usage:
//
//	go run ./cmd/riscstream [-credentials key.json] [-endpoint URL] [-ca-cert PEM] COMMAND [flags]
//
// Commands:
//
//	register -url URL [-events all|TYPE,…]  stream:update: deliver these event types to URL
//	get                                    GET stream: the stream's configuration
//	verify [-state TEXT]                   stream:verify: send a verification event carrying TEXT
//	status                                 GET stream/status: enabled or disabled
//	enable, disable                        stream/status:update
//
// The calls are authorised by a service account of the same Google Cloud
// project as the app's OAuth clients, holding the RISC Configuration Admin
// role (roles/riscconfigs.admin), with the RISC API enabled: give its JSON
// key file with -credentials, or in the GOOGLE_APPLICATION_CREDENTIALS
// environment variable. Each call carries a JWT the key signs (iss and sub
// the account's email, aud
// https://risc.googleapis.com/google.identity.risc.v1beta.RiscManagementService,
// valid for an hour); the key and the JWT are never printed.
//
// -events takes full event type URIs or their last segment
// (sessions-revoked, tokens-revoked, token-revoked, account-disabled,
// account-enabled, account-purged, account-credential-change-required,
// verification); "all", the default, is every one of them. Google delivers
// only to https URLs on the project's authorised domains.
//
// -endpoint is the API's base URL, https://risc.googleapis.com by default;
// point it at cmd/fakegoogle to try the stream locally (http is allowed only
// on loopback hosts), with the fake's service account key from GET
// /emulator/risc/service-account, and -ca-cert at the certificate
// cmd/fakegoogle -tls prints.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/oauth2/google"

	"github.com/serverauth/serverauth/risc"
)

// The RISC API.
const (
	defaultEndpoint    = "https://risc.googleapis.com"
	managementAudience = "https://risc.googleapis.com/google.identity.risc.v1beta.RiscManagementService"
	pushMethod         = "https://schemas.openid.net/secevent/risc/delivery-method/push"
	credentialsEnv     = "GOOGLE_APPLICATION_CREDENTIALS"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// usageText is printed by -help and after a usage error.
const usageText = `usage: riscstream [-credentials key.json] [-endpoint URL] [-ca-cert PEM] COMMAND [flags]

commands:
  register -url URL [-events all|TYPE,...]  deliver these event types to URL (stream:update)
  get                                      show the stream's configuration
  verify [-state TEXT]                     have Google send a verification event carrying TEXT
  status                                   show whether the stream is enabled
  enable | disable                         turn the stream on or off

The service account key may also be given in $GOOGLE_APPLICATION_CREDENTIALS.

global flags:
`

// run parses args, makes the call and prints Google's answer to stdout.
// getenv is read after the flags, never as a default -help would print.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("riscstream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	credentials := fs.String("credentials", "", "service account JSON key `file` (default $"+credentialsEnv+")")
	endpoint := fs.String("endpoint", defaultEndpoint, "RISC API base `URL`")
	caCert := fs.String("ca-cert", "", "PEM `file` of a certificate to trust besides the system's (for cmd/fakegoogle -tls)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("riscstream: no command: give register, get, verify, status, enable or disable")
	}
	cmd, cmdArgs := fs.Arg(0), fs.Args()[1:]
	call, err := parseCommand(cmd, cmdArgs, stderr)
	if err != nil {
		return err
	}
	base, err := checkEndpoint(*endpoint)
	if err != nil {
		return err
	}
	if *credentials == "" {
		*credentials = getenv(credentialsEnv)
	}
	if *credentials == "" {
		return errors.New("riscstream: no service account key: give -credentials key.json or set " + credentialsEnv)
	}
	key, err := os.ReadFile(*credentials)
	if err != nil {
		return fmt.Errorf("riscstream: reading the service account key: %w", err)
	}
	ts, err := google.JWTAccessTokenSourceFromJSON(key, managementAudience)
	if err != nil {
		return errors.New("riscstream: " + *credentials + " is not a service account JSON key file (download one for the service account in the Cloud console: Keys > Add key > JSON)")
	}
	client, err := httpClient(*caCert)
	if err != nil {
		return err
	}
	tok, err := ts.Token()
	if err != nil {
		return errors.New("riscstream: signing the authorisation JWT with the service account key failed")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var body io.Reader
	if call.body != nil {
		b, err := json.Marshal(call.body)
		if err != nil {
			return fmt.Errorf("riscstream: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, call.method, base+call.path, body)
	if err != nil {
		return fmt.Errorf("riscstream: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("riscstream: %s %s: %w", call.method, base+call.path, scrub(err, tok.AccessToken))
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("riscstream: reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return apiError(resp.StatusCode, answer)
	}
	return printAnswer(stdout, call, answer)
}

// call is one RISC API request.
type call struct {
	name   string
	method string
	path   string
	body   any
}

// parseCommand reads a command and its flags.
func parseCommand(cmd string, args []string, stderr io.Writer) (*call, error) {
	fs := flag.NewFlagSet("riscstream "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &call{name: cmd}
	var receiver, events, state *string
	switch cmd {
	case "register":
		receiver = fs.String("url", "", "the receiver's https `URL` (required)")
		events = fs.String("events", "all", "event `types` to deliver: all, or a comma-separated list of URIs or short names")
		c.method, c.path = http.MethodPost, "/v1beta/stream:update"
	case "get":
		c.method, c.path = http.MethodGet, "/v1beta/stream"
	case "verify":
		state = fs.String("state", "", "`text` the verification event carries (default: riscstream and the time)")
		c.method, c.path = http.MethodPost, "/v1beta/stream:verify"
	case "status":
		c.method, c.path = http.MethodGet, "/v1beta/stream/status"
	case "enable", "disable":
		c.method, c.path = http.MethodPost, "/v1beta/stream/status:update"
		c.body = map[string]string{"status": cmd + "d"}
	default:
		return nil, fmt.Errorf("riscstream: unknown command %q: give register, get, verify, status, enable or disable", cmd)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("riscstream %s: unexpected arguments %q", cmd, fs.Args())
	}
	switch cmd {
	case "register":
		if *receiver == "" {
			return nil, errors.New("riscstream register: -url is required: the receiver's https URL, where risc.Receiver is mounted")
		}
		if u, err := url.Parse(*receiver); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return nil, fmt.Errorf("riscstream register: -url %q is not an absolute https URL", *receiver)
		}
		types, err := eventTypes(*events)
		if err != nil {
			return nil, err
		}
		c.body = map[string]any{
			"delivery":         map[string]string{"delivery_method": pushMethod, "url": *receiver},
			"events_requested": types,
		}
	case "verify":
		if *state == "" {
			*state = "riscstream " + time.Now().UTC().Format(time.RFC3339)
		}
		c.body = map[string]string{"state": *state}
	}
	return c, nil
}

// eventTypes expands -events.
func eventTypes(list string) ([]string, error) {
	all := risc.EventTypes()
	if list == "all" {
		return all, nil
	}
	var types []string
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		i := slices.IndexFunc(all, func(u string) bool { return u == t || u[strings.LastIndexByte(u, '/')+1:] == t })
		if i < 0 {
			return nil, fmt.Errorf("riscstream register: -events: unknown event type %q (known: all, %s)", t, shortNames(all))
		}
		if !slices.Contains(types, all[i]) {
			types = append(types, all[i])
		}
	}
	return types, nil
}

func shortNames(uris []string) string {
	names := make([]string, len(uris))
	for i, u := range uris {
		names[i] = u[strings.LastIndexByte(u, '/')+1:]
	}
	return strings.Join(names, ", ")
}

// checkEndpoint accepts an https base URL, or http on a loopback host: the
// requests carry a credential.
func checkEndpoint(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("riscstream: -endpoint %q is not an absolute URL such as %s", s, defaultEndpoint)
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	loopback := strings.EqualFold(host, "localhost") || ip != nil && ip.IsLoopback()
	if u.Scheme != "https" && !(u.Scheme == "http" && loopback) {
		return "", fmt.Errorf("riscstream: -endpoint %q must use https (http only on a loopback host, for cmd/fakegoogle)", s)
	}
	return strings.TrimSuffix(s, "/"), nil
}

// httpClient returns the client for the API, trusting caFile too when set.
// Redirects are not followed: they would carry the credential elsewhere.
func httpClient(caFile string) (*http.Client, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pemBytes, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("riscstream: -ca-cert: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("riscstream: -ca-cert %s holds no PEM certificate", caFile)
		}
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{
		Transport:     t,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// scrub removes the credential from an error's text.
func scrub(err error, secret string) error {
	if secret != "" && strings.Contains(err.Error(), secret) {
		return errors.New(strings.ReplaceAll(err.Error(), secret, "[REDACTED]"))
	}
	return err
}

// apiError turns a failed call's answer into an error with Google's
// message and what to do about it.
func apiError(status int, body []byte) error {
	var v struct {
		Error struct {
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	msg := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &v) == nil && v.Error.Message != "" {
		msg = v.Error.Message
	}
	if len(msg) > 500 {
		msg = msg[:500] + "…"
	}
	hint := ""
	switch status {
	case http.StatusUnauthorized:
		hint = "; check that the key belongs to a service account of the app's project and that the machine's clock is right"
	case http.StatusForbidden:
		hint = "; the service account needs the RISC Configuration Admin role (roles/riscconfigs.admin), the RISC API must be enabled, and the receiver must be https on one of the project's authorised domains"
	case http.StatusNotFound:
		hint = "; register a receiver first: riscstream register -url https://…"
	}
	return fmt.Errorf("riscstream: the RISC API answered %d: %s%s", status, msg, hint)
}

// printAnswer prints a successful call's answer.
func printAnswer(w io.Writer, c *call, body []byte) error {
	switch c.name {
	case "verify":
		fmt.Fprintf(w, "verification requested: Google sends a verification event carrying state %q to the receiver\n", c.body.(map[string]string)["state"])
		return nil
	case "status", "enable", "disable":
		var v struct {
			Status string `json:"status"`
		}
		if json.Unmarshal(body, &v) == nil && v.Status != "" {
			fmt.Fprintf(w, "stream %s\n", v.Status)
			return nil
		}
	}
	var out bytes.Buffer
	if json.Indent(&out, body, "", "  ") != nil {
		out.Reset()
		out.Write(body)
	}
	fmt.Fprintln(w, strings.TrimSpace(out.String()))
	return nil
}
