package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestEmulatorRefusesOtherSites checks the rules that keep a web page from
// using the fake's /emulator/ endpoints: a loopback Host (DNS rebinding), a
// loopback Origin if any (cross-site requests), and a JSON body (cross-site
// simple POSTs).
func TestEmulatorRefusesOtherSites(t *testing.T) {
	base := start(t)
	port := strings.TrimPrefix(base, "http://127.0.0.1:")
	const codes = `{"origin":"ios"}`
	tests := []struct {
		name        string
		method      string
		path        string
		host        string // "" keeps the URL's
		origin      string
		contentType string
		body        string
		wantStatus  int
	}{
		{name: "mint", method: "POST", path: "/emulator/codes", contentType: "application/json", body: codes, wantStatus: 200},
		{name: "mint, JSON with charset", method: "POST", path: "/emulator/codes", contentType: "application/json; charset=utf-8", body: codes, wantStatus: 200},
		{name: "mint, Host localhost", method: "POST", path: "/emulator/codes", host: "localhost:" + port, contentType: "application/json", body: codes, wantStatus: 200},
		{name: "mint, Host [::1] without port", method: "POST", path: "/emulator/codes", host: "[::1]", contentType: "application/json", body: codes, wantStatus: 200},
		{name: "mint, Host 127.1.2.3", method: "POST", path: "/emulator/codes", host: "127.1.2.3:" + port, contentType: "application/json", body: codes, wantStatus: 200},
		{name: "mint, loopback Origin", method: "POST", path: "/emulator/codes", origin: "http://localhost:3000", contentType: "application/json", body: codes, wantStatus: 200},
		{name: "mint, https [::1] Origin", method: "POST", path: "/emulator/codes", origin: "https://[::1]:8443", contentType: "application/json", body: codes, wantStatus: 200},
		{name: "faults report", method: "GET", path: "/emulator/faults", wantStatus: 200},

		{name: "rebound Host", method: "POST", path: "/emulator/codes", host: "attacker.example:" + port, contentType: "application/json", body: codes, wantStatus: 403},
		{name: "rebound Host, GET", method: "GET", path: "/emulator/faults", host: "attacker.example", wantStatus: 403},
		{name: "rebound Host, DELETE", method: "DELETE", path: "/emulator/faults", host: "attacker.example", wantStatus: 403},
		{name: "Host that starts like loopback", method: "POST", path: "/emulator/codes", host: "127.0.0.1.attacker.example", contentType: "application/json", body: codes, wantStatus: 403},
		{name: "Host localhost subdomain", method: "POST", path: "/emulator/codes", host: "evil.localhost", contentType: "application/json", body: codes, wantStatus: 403},
		{name: "cross-site Origin", method: "POST", path: "/emulator/codes", origin: "https://attacker.example", contentType: "application/json", body: codes, wantStatus: 403},
		{name: "cross-site Origin, GET", method: "GET", path: "/emulator/faults", origin: "https://attacker.example", wantStatus: 403},
		{name: "null Origin", method: "POST", path: "/emulator/faults", origin: "null", contentType: "application/json", body: `{}`, wantStatus: 403},
		{name: "Origin with loopback user info", method: "POST", path: "/emulator/codes", origin: "http://127.0.0.1@attacker.example", contentType: "application/json", body: codes, wantStatus: 403},
		{name: "text/plain POST", method: "POST", path: "/emulator/codes", contentType: "text/plain", body: codes, wantStatus: 415},
		{name: "form POST", method: "POST", path: "/emulator/faults", contentType: "application/x-www-form-urlencoded", body: `{"endpoint":"token","kind":"unavailable","count":1}`, wantStatus: 415},
		{name: "POST without Content-Type", method: "POST", path: "/emulator/codes", body: codes, wantStatus: 415},
		{name: "unclean path", method: "POST", path: "/x/../emulator/codes", contentType: "text/plain", body: codes, wantStatus: 415},

		{name: "Google's endpoints keep their rules", method: "GET", path: "/.well-known/openid-configuration", host: "attacker.example", origin: "https://attacker.example", wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, base+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.body == "" {
				req.Body, req.ContentLength = http.NoBody, 0
			}
			if tt.host != "" {
				req.Host = tt.host
			}
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			status, body := getJSON(t, req)
			if status != tt.wantStatus {
				t.Fatalf("%s %s (Host %q, Origin %q, Content-Type %q) = %d %v, want %d", tt.method, tt.path, tt.host, tt.origin, tt.contentType, status, body, tt.wantStatus)
			}
			if desc, _ := body["error_description"].(string); status >= 400 && !strings.HasPrefix(desc, "fakegoogle: ") {
				t.Errorf("error body = %v, want an error_description from fakegoogle", body)
			}
		})
	}
}

// TestDiscoveryIgnoresHost checks that the discovery document names the
// address the fake listens on, whatever Host the request names: a rebound
// page must not get URLs on its own host.
func TestDiscoveryIgnoresHost(t *testing.T) {
	base := start(t)
	for _, host := range []string{"", "attacker.example", "localhost:1"} {
		req, _ := http.NewRequest(http.MethodGet, base+"/.well-known/openid-configuration", nil)
		if host != "" {
			req.Host = host
		}
		status, disc := getJSON(t, req)
		if status != 200 {
			t.Fatalf("discovery with Host %q = %d %v", host, status, disc)
		}
		for _, key := range []string{"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "revocation_endpoint", "jwks_uri", "tokeninfo_endpoint", "pem_certs_uri", "drive_base_url"} {
			u, err := url.Parse(disc[key].(string))
			if err != nil || u.Scheme+"://"+u.Host != base {
				t.Errorf("discovery with Host %q: %s = %q, want a URL at %s", host, key, disc[key], base)
			}
		}
	}
}
