package serverauth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNewValidatesConfig(t *testing.T) {
	base := func() Config { return Config{ClientID: "w", ClientSecret: "s"} }
	tests := []struct {
		name      string
		mutate    func(*Config)
		wantInErr string
	}{
		{name: "defaults", mutate: func(*Config) {}},
		{name: "leeway max", mutate: func(c *Config) { c.Leeway = MaxLeeway }},
		{name: "leeway above max", mutate: func(c *Config) { c.Leeway = MaxLeeway + time.Second }, wantInErr: "Leeway"},
		{name: "leeway negative", mutate: func(c *Config) { c.Leeway = -time.Second }, wantInErr: "Leeway"},
		{name: "http endpoint off loopback", mutate: func(c *Config) { c.Endpoints.TokenURL = "http://oauth2.example.com/token" }, wantInErr: "TokenURL"},
		{name: "http on 127.0.0.1", mutate: func(c *Config) { c.Endpoints.TokenURL = "http://127.0.0.1:8080/token" }},
		{name: "http on ::1", mutate: func(c *Config) { c.Endpoints.JWKSURL = "http://[::1]:8080/certs" }},
		{name: "http on localhost", mutate: func(c *Config) { c.Endpoints.DriveURL = "http://localhost:1/drive/v3/" }},
		{name: "relative URL", mutate: func(c *Config) { c.Endpoints.JWKSURL = "/certs" }, wantInErr: "JWKSURL"},
		{name: "user info in URL", mutate: func(c *Config) { c.Endpoints.RevokeURL = "https://u:p@example.com/revoke" }, wantInErr: "RevokeURL"},
		{name: "ftp", mutate: func(c *Config) { c.Endpoints.UserInfoURL = "ftp://example.com/u" }, wantInErr: "UserInfoURL"},
		{name: "empty allowed client", mutate: func(c *Config) { c.AllowedClientIDs = []string{""} }, wantInErr: "AllowedClientIDs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.mutate(&cfg)
			_, err := New(cfg)
			if tt.wantInErr == "" {
				if err != nil {
					t.Fatalf("New = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.wantInErr) {
				t.Fatalf("New = %v, want ErrInvalidConfig naming %s", err, tt.wantInErr)
			}
		})
	}
}

func TestNewDefaultsAndCopies(t *testing.T) {
	allowed := []string{"ios"}
	cfg := Config{ClientID: "w", ClientSecret: "s", AllowedClientIDs: allowed}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	allowed[0] = "changed"
	if !slices.Equal(e.verifier.presenters, []string{"w", "ios"}) {
		t.Errorf("presenters = %q, want [w ios]: New must copy the Config", e.verifier.presenters)
	}
	if e.verifier.leeway != DefaultLeeway {
		t.Errorf("leeway = %s, want %s", e.verifier.leeway, DefaultLeeway)
	}
	if e.endpoints.TokenURL != GoogleTokenURL || e.endpoints.JWKSURL != GoogleJWKSURL || e.endpoints.DriveURL != GoogleDriveURL {
		t.Errorf("endpoints = %+v, want Google's", e.endpoints)
	}
	if e.httpClient.Timeout != defaultHTTPTimeout {
		t.Errorf("default client timeout = %s, want %s", e.httpClient.Timeout, defaultHTTPTimeout)
	}
}

func TestHTTPClientRefusesCrossHostRedirects(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("followed a redirect to another host")
	}))
	defer other.Close()
	same := 0
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/x", http.StatusFound)
		case "/here":
			http.Redirect(w, r, srv.URL+"/ok", http.StatusFound)
		case "/ok":
			same++
		}
	}))
	defer srv.Close()
	cfg := Config{HTTPClient: srv.Client()}
	hc := cfg.httpClient()
	resp, err := hc.Get(srv.URL + "/away")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("cross-host redirect: status %d, want the 302 itself", resp.StatusCode)
	}
	resp, err = hc.Get(srv.URL + "/here")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if same != 1 {
		t.Errorf("same-host redirect followed %d times, want 1", same)
	}
	if cfg.HTTPClient.CheckRedirect != nil {
		t.Error("httpClient modified the caller's client")
	}
}
