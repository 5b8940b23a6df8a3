package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/serverauth/serverauth/serverauthtest"
)

// bannerValue returns the value of a "  name: value" banner line.
func bannerValue(t *testing.T, banner, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(name) + `:\s+(\S+)$`).FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("banner has no %q line:\n%s", name, banner)
	}
	return m[1]
}

// trusting returns a client that trusts only the PEM certificate at path.
func trusting(t *testing.T, path string) (*http.Client, *x509.Certificate) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s holds no PEM certificate", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}, cert
}

func doJSON(t *testing.T, c *http.Client, req *http.Request) (int, map[string]any) {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		t.Fatalf("%s %s: decoding: %v", req.Method, req.URL, err)
	}
	return res.StatusCode, m
}

// idTokenIss returns the iss claim of an ID token, unverified (the
// serverauthtest tests check the signatures).
func idTokenIss(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("ID token has %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Iss string }
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c.Iss
}

func TestRunTLS(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantIssuer string // "self": the base URL
	}{
		{"self issuer by default", []string{"-tls"}, "self"},
		{"google issuer", []string{"-tls", "-issuer", "google"}, serverauthtest.DefaultIssuer},
		{"self issuer without TLS", []string{"-issuer", "self"}, "self"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, banner := startBanner(t, tt.args...)
			want := tt.wantIssuer
			if want == "self" {
				want = base
			}
			client := http.DefaultClient
			if tt.args[0] == "-tls" {
				if !strings.HasPrefix(base, "https://127.0.0.1:") {
					t.Fatalf("base URL = %q, want https on 127.0.0.1", base)
				}
				var cert *x509.Certificate
				client, cert = trusting(t, bannerValue(t, banner, "certificate"))
				sum := sha256.Sum256(cert.Raw)
				if fp := bannerValue(t, banner, "SHA-256"); strings.ReplaceAll(fp, ":", "") != strings.ToUpper(hexString(sum[:])) {
					t.Errorf("printed fingerprint %s, want the certificate's SHA-256 %x", fp, sum)
				}
				if cert.PublicKeyAlgorithm != x509.ECDSA {
					t.Errorf("certificate key = %v, want ECDSA", cert.PublicKeyAlgorithm)
				}
				for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
					if err := cert.VerifyHostname(host); err != nil {
						t.Errorf("certificate does not cover %s: %v", host, err)
					}
				}
				if !strings.Contains(banner, "curl -s --cacert "+bannerValue(t, banner, "certificate")) {
					t.Errorf("banner's curl examples do not trust the certificate:\n%s", banner)
				}
				// Without the certificate the client refuses the fake.
				if _, err := http.Get(base + "/.well-known/openid-configuration"); err == nil {
					t.Error("a client without the certificate reached the fake")
				}
			}
			if got := bannerValue(t, banner, "issuer"); got != want {
				t.Errorf("banner issuer = %q, want %q", got, want)
			}
			if strings.Contains(banner, "serverauth accepts") != (want == base) {
				t.Errorf("banner's serverauth issuer warning shown = %v, want %v", !(want == base), want == base)
			}

			req, _ := http.NewRequest(http.MethodGet, base+"/.well-known/openid-configuration", nil)
			status, disc := doJSON(t, client, req)
			if status != 200 || disc["issuer"] != want {
				t.Fatalf("discovery = %d issuer %v, want %q", status, disc["issuer"], want)
			}
			for name, v := range disc {
				if s, ok := v.(string); ok && name != "issuer" && !strings.HasPrefix(s, base+"/") {
					t.Errorf("discovery %s = %q, want a URL on %s", name, s, base)
				}
			}

			req, _ = http.NewRequest(http.MethodPost, base+"/emulator/codes", strings.NewReader(`{"origin":"android"}`))
			req.Header.Set("Content-Type", "application/json")
			_, minted := doJSON(t, client, req)
			form := url.Values{"grant_type": {"authorization_code"}, "code": {minted["code"].(string)},
				"client_id": {serverauthtest.DefaultWebClientID}, "client_secret": {serverauthtest.DefaultWebClientSecret}}
			req, _ = http.NewRequest(http.MethodPost, disc["token_endpoint"].(string), strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			status, tok := doJSON(t, client, req)
			if status != 200 {
				t.Fatalf("exchange = %d %v", status, tok)
			}
			if iss := idTokenIss(t, tok["id_token"].(string)); iss != want {
				t.Errorf("ID token iss = %q, want %q", iss, want)
			}
		})
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestRunTLSCertFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fake.pem")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // print the banner and stop
	var out strings.Builder
	if err := run(ctx, []string{"-addr", "127.0.0.1:0", "-tls", "-tls-cert", path}, &out); err != nil {
		t.Fatalf("run() = %v", err)
	}
	if got := bannerValue(t, out.String(), "certificate"); got != path {
		t.Errorf("certificate path = %q, want %q", got, path)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the -tls-cert file is gone after exit: %v", err)
	}

	// A temporary certificate is removed on exit.
	out.Reset()
	if err := run(ctx, []string{"-addr", "127.0.0.1:0", "-tls"}, &out); err != nil {
		t.Fatalf("run() = %v", err)
	}
	tmp := bannerValue(t, out.String(), "certificate")
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary certificate %s after exit: %v, want it removed", tmp, err)
	}
}

func TestRunConsentFlags(t *testing.T) {
	auth := func(base string) *http.Response {
		t.Helper()
		q := url.Values{"client_id": {serverauthtest.DefaultWebClientID}, "redirect_uri": {serverauthtest.DefaultRedirectURI},
			"response_type": {"code"}, "scope": {"openid email drive.appdata"}}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := c.Get(base + "/o/oauth2/v2/auth?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	if res := auth(start(t)); res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Errorf("auth by default = %d %s, want 200 (the account chooser)", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if res := auth(start(t, "-auto-consent")); res.StatusCode != http.StatusFound || !strings.HasPrefix(res.Header.Get("Location"), serverauthtest.DefaultRedirectURI+"?") ||
		!strings.Contains(res.Header.Get("Location"), "code=") {
		t.Errorf("auth with -auto-consent = %d %s, want 302 with a code", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestRunTokenFlags(t *testing.T) {
	base := start(t, "-access-token-lifetime", "1m", "-rotate-refresh-tokens")
	req, _ := http.NewRequest(http.MethodGet, base+"/emulator/settings", nil)
	if _, s := getJSON(t, req); s["access_token_lifetime_seconds"] != 60.0 || s["rotate_refresh_tokens"] != true {
		t.Errorf("settings = %v, want 60 s and rotation", s)
	}
}

func TestRunJSOrigins(t *testing.T) {
	base := start(t, "-js-origin", "http://localhost:3000")
	popup := func(origin string) int {
		q := url.Values{"client_id": {serverauthtest.DefaultWebClientID}, "redirect_uri": {"postmessage"}, "origin": {origin},
			"response_type": {"code"}, "scope": {"openid"}}
		res, err := http.Get(base + "/o/oauth2/v2/auth?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if s := popup("http://localhost:3000"); s != http.StatusOK {
		t.Errorf("popup from the registered origin = %d, want 200", s)
	}
	if s := popup("http://127.0.0.1"); s != http.StatusBadRequest {
		t.Errorf("popup from an unregistered origin = %d, want 400", s)
	}
}

func TestRunEmulatorCORS(t *testing.T) {
	base := start(t)
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, base+"/emulator/codes", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := preflight("http://localhost:5173"); res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != "http://localhost:5173" {
		t.Errorf("loopback preflight = %d %v, want 204 allowing the origin", res.StatusCode, res.Header)
	}
	if res := preflight("https://evil.example"); res.StatusCode != http.StatusForbidden || res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("foreign preflight = %d %v, want 403 without CORS", res.StatusCode, res.Header)
	}
}

func TestRunRejectsBadTLSArgs(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"-issuer", "https://evil.example"}, "-issuer"},
		{[]string{"-tls-cert", "x.pem"}, "-tls-cert needs -tls"},
		{[]string{"-access-token-lifetime", "0s"}, "-access-token-lifetime"},
		{[]string{"-tls", "-tls-cert", filepath.Join(t.TempDir(), "no", "such", "dir.pem")}, "-tls-cert"},
	} {
		err := run(context.Background(), append([]string{"-addr", "127.0.0.1:0"}, tt.args...), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("run(%q) = %v, want an error containing %q", tt.args, err, tt.wantErr)
		}
	}
}
