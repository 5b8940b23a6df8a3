package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestRISCThroughTheGuard: the RISC configuration, the service account key
// and the event push work through cmd/fakegoogle's guard, and every URL
// is the fake's own.
func TestRISCThroughTheGuard(t *testing.T) {
	base := start(t)
	req, _ := http.NewRequest(http.MethodGet, base+"/.well-known/risc-configuration", nil)
	status, cfg := getJSON(t, req)
	if status != 200 || cfg["issuer"] != "https://accounts.google.com/" || cfg["jwks_uri"] != base+"/risc/v1/certs" {
		t.Fatalf("RISC configuration = %d %v", status, cfg)
	}
	req, _ = http.NewRequest(http.MethodGet, base+"/emulator/risc/service-account", nil)
	if status, sa := getJSON(t, req); status != 200 || sa["type"] != "service_account" {
		t.Fatalf("service account = %d %v", status, sa)
	}
	// No stream yet: the push is refused with the reason.
	req, _ = http.NewRequest(http.MethodPost, base+"/emulator/risc/events", strings.NewReader(`{"type":"verification"}`))
	req.Header.Set("Content-Type", "application/json")
	if status, body := getJSON(t, req); status != 400 || !strings.Contains(body["error_description"].(string), "stream:update") {
		t.Errorf("push without a stream = %d %v", status, body)
	}
	// A form post from a web page is refused, as for every control.
	req, _ = http.NewRequest(http.MethodPost, base+"/emulator/risc/events", strings.NewReader(`type=verification`))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("form post to /emulator/risc/events = %d, want 415", resp.StatusCode)
	}
}
