package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/serverauth/serverauth/serverauthtest"
)

// start runs the program on a free loopback port and returns its base URL;
// the program is stopped, and must return nil, when the test ends.
func start(t *testing.T, args ...string) string {
	t.Helper()
	base, _ := startBanner(t, args...)
	return base
}

// startBanner is start that also returns the banner up to the first curl
// example and its command.
func startBanner(t *testing.T, args ...string) (base, banner string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), pw)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run() = %v, want nil after cancel", err)
		}
	})
	sc := bufio.NewScanner(pr)
	const prefix = "fakegoogle: serving a fake Google at "
	var b strings.Builder
	for sc.Scan() {
		line := sc.Text()
		b.WriteString(line + "\n")
		if v, ok := strings.CutPrefix(line, prefix); ok {
			base = v
		}
		if strings.HasPrefix(line, "Exchange it as the backend does") {
			go io.Copy(io.Discard, pr)
			if base == "" {
				t.Fatalf("no %q line in the output:\n%s", prefix, b.String())
			}
			return base, b.String()
		}
	}
	t.Fatalf("no banner in the output:\n%s", b.String())
	return "", ""
}

func getJSON(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		t.Fatalf("%s %s: decoding: %v", req.Method, req.URL, err)
	}
	return res.StatusCode, m
}

func TestRunServesTheEmulator(t *testing.T) {
	tests := []struct {
		name         string
		args         []string
		clientID     string
		secret       string
		wantIssuer   string
		origin       string
		redirectURI  string // sent at the exchange
		mintRedirect string
	}{
		{
			name: "defaults, iOS code", clientID: serverauthtest.DefaultWebClientID, secret: serverauthtest.DefaultWebClientSecret,
			wantIssuer: "https://accounts.google.com", origin: "ios",
		},
		{
			name:     "custom client, web redirect",
			args:     []string{"-client-id", "111-web.apps.googleusercontent.com", "-client-secret", "s3cret", "-redirect-uri", "http://localhost:3000/a", "-redirect-uri", "http://localhost:3000/b", "-issuer", "accounts.google.com"},
			clientID: "111-web.apps.googleusercontent.com", secret: "s3cret", wantIssuer: "accounts.google.com",
			origin: "web-redirect", mintRedirect: "http://localhost:3000/b", redirectURI: "http://localhost:3000/b",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := start(t, tt.args...)
			if !strings.HasPrefix(base, "http://127.0.0.1:") {
				t.Fatalf("base URL = %q, want http on 127.0.0.1", base)
			}

			req, _ := http.NewRequest(http.MethodGet, base+"/.well-known/openid-configuration", nil)
			status, disc := getJSON(t, req)
			if status != 200 || disc["token_endpoint"] != base+"/token" || disc["issuer"] != tt.wantIssuer {
				t.Fatalf("discovery = %d %v", status, disc)
			}

			body := `{"origin":"` + tt.origin + `","scope":"openid email drive.appdata","redirect_uri":"` + tt.mintRedirect + `"}`
			req, _ = http.NewRequest(http.MethodPost, base+"/emulator/codes", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			status, minted := getJSON(t, req)
			code, _ := minted["code"].(string)
			if status != 200 || code == "" {
				t.Fatalf("POST /emulator/codes = %d %v", status, minted)
			}

			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {tt.clientID}, "client_secret": {tt.secret}}
			if tt.redirectURI != "" {
				form.Set("redirect_uri", tt.redirectURI)
			}
			req, _ = http.NewRequest(http.MethodPost, disc["token_endpoint"].(string), strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			status, tok := getJSON(t, req)
			if status != 200 || tok["refresh_token"] == nil || tok["id_token"] == nil {
				t.Fatalf("exchange = %d %v, want tokens", status, tok)
			}

			req, _ = http.NewRequest(http.MethodGet, base+"/v1/userinfo", nil)
			req.Header.Set("Authorization", "Bearer "+tok["access_token"].(string))
			if status, info := getJSON(t, req); status != 200 || info["sub"] != serverauthtest.DemoUser().Sub {
				t.Errorf("userinfo = %d %v", status, info)
			}
		})
	}
}

func TestRunBanner(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // serve nothing: print the banner and stop
	var out strings.Builder
	if err := run(ctx, []string{"-addr", "127.0.0.1:0"}, &out); err != nil {
		t.Fatalf("run() = %v", err)
	}
	for _, want := range []string{
		serverauthtest.DefaultWebClientID, serverauthtest.DefaultWebClientSecret, serverauthtest.DefaultIOSClientID,
		serverauthtest.DefaultAndroidClientID, "/.well-known/openid-configuration", "curl -s -X POST http://127.0.0.1:", "/emulator/codes", "/emulator/faults",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunRejectsBadArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "non-loopback address", args: []string{"-addr", "0.0.0.0:0"}, wantErr: "not a loopback address"},
		{name: "bad address", args: []string{"-addr", "nonsense"}, wantErr: "-addr"},
		{name: "unknown flag", args: []string{"-nope"}, wantErr: "flag provided but not defined"},
		{name: "bad azp", args: []string{"-mobile-azp", "web"}, wantErr: "-mobile-azp"},
		{name: "extra argument", args: []string{"serve"}, wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("run(%q) = %v, want an error containing %q", tt.args, err, tt.wantErr)
			}
		})
	}
}

// TestRunFaults checks the fault control of the emulator: errors, resets,
// and a stall that shutting down ends.
func TestRunFaults(t *testing.T) {
	base := start(t)
	post := func(path, contentType, body string) (*http.Response, error) {
		return http.Post(base+path, contentType, strings.NewReader(body))
	}
	arm := func(body string) {
		t.Helper()
		res, err := post("/emulator/faults", "application/json", body)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("POST /emulator/faults %s = %d", body, res.StatusCode)
		}
	}
	exchange := func(code string) (*http.Response, error) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {serverauthtest.DefaultWebClientID}, "client_secret": {serverauthtest.DefaultWebClientSecret}}
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		res, err := client.PostForm(base+"/token", form)
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		return res, err
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/emulator/codes", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	_, minted := getJSON(t, req)
	code, _ := minted["code"].(string)

	arm(`{"endpoint":"token","kind":"unavailable","count":1}`)
	if res, err := exchange(code); err != nil || res.StatusCode != 503 {
		t.Errorf("exchange under unavailable = %v, %v, want 503", res, err)
	}
	arm(`{"endpoint":"token","kind":"reset","count":1}`)
	if _, err := exchange(code); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("exchange under reset = %v, want a connection reset", err)
	}
	if res, err := exchange(code); err != nil || res.StatusCode != 200 {
		t.Errorf("exchange after the faults = %v, %v, want 200: the code was never consumed", res, err)
	}

	// A stalled request must not hold up the shutdown at the end of the test.
	arm(`{"endpoint":"jwks","kind":"stall","count":1}`)
	go func() {
		if res, err := http.Get(base + "/oauth2/v3/certs"); err == nil {
			res.Body.Close()
		}
	}()
	for {
		req, _ := http.NewRequest(http.MethodGet, base+"/emulator/faults", nil)
		_, state := getJSON(t, req)
		injected := 0.0
		for _, s := range state["faults"].([]any) {
			if m := s.(map[string]any); m["endpoint"] == "jwks" {
				injected = m["injected"].(float64)
			}
		}
		if injected == 1 {
			break
		}
	}
}
