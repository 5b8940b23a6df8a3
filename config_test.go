package serverauth

import (
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// at is every endpoint on base, as a fake serves them.
func at(base string) Endpoints {
	return Endpoints{TokenURL: base + "/token", RevokeURL: base + "/revoke", JWKSURL: base + "/certs", DriveURL: base + "/drive/v3/"}
}

func TestNewValidatesConfig(t *testing.T) {
	base := func() Config { return Config{ClientID: "w", ClientSecret: "s"} }
	tests := []struct {
		name      string
		mutate    func(*Config)
		wantField string // the ConfigError's Field; "" for no error
	}{
		{name: "defaults", mutate: func(*Config) {}},
		{name: "leeway max", mutate: func(c *Config) { c.Leeway = MaxLeeway }},
		{name: "leeway above max", mutate: func(c *Config) { c.Leeway = MaxLeeway + time.Second }, wantField: "Leeway"},
		{name: "leeway negative", mutate: func(c *Config) { c.Leeway = -time.Second }, wantField: "Leeway"},
		{name: "http endpoint off loopback", mutate: func(c *Config) { c.Endpoints = at("http://oauth2.example.com") }, wantField: "Endpoints.TokenURL"},
		{name: "http on 127.0.0.1", mutate: func(c *Config) { c.Endpoints = at("http://127.0.0.1:8080") }},
		{name: "http on ::1", mutate: func(c *Config) { c.Endpoints = at("http://[::1]:8080") }},
		{name: "http on localhost", mutate: func(c *Config) { c.Endpoints = at("http://localhost:1") }},
		{name: "relative URL", mutate: func(c *Config) { c.Endpoints = at("https://e.example"); c.Endpoints.JWKSURL = "/certs" }, wantField: "Endpoints.JWKSURL"},
		{name: "user info in URL", mutate: func(c *Config) {
			c.Endpoints = at("https://e.example")
			c.Endpoints.RevokeURL = "https://u:p@example.com/revoke"
		}, wantField: "Endpoints.RevokeURL"},
		{name: "ftp", mutate: func(c *Config) { c.Endpoints = at("ftp://example.com") }, wantField: "Endpoints.TokenURL"},
		{name: "partial endpoints", mutate: func(c *Config) { c.Endpoints.TokenURL = "http://127.0.0.1:1/token" }, wantField: "Endpoints.RevokeURL"},
		{name: "partial endpoints, no key set", mutate: func(c *Config) { c.Endpoints = at("http://127.0.0.1:1"); c.Endpoints.JWKSURL = "" }, wantField: "Endpoints.JWKSURL"},
		{name: "negative margin", mutate: func(c *Config) { c.RefreshMargin = -time.Second }, wantField: "RefreshMargin"},
		{name: "negative cache", mutate: func(c *Config) { c.TokenCacheSize = -1 }, wantField: "TokenCacheSize"},
		{name: "empty allowed client", mutate: func(c *Config) { c.AllowedClientIDs = []string{""} }, wantField: "AllowedClientIDs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.mutate(&cfg)
			_, err := New(cfg)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("New = %v, want nil", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.Is(err, ErrInvalidConfig) || !errors.As(err, &ce) || ce.Field != tt.wantField {
				t.Fatalf("New = %v, want a ConfigError for %s", err, tt.wantField)
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
	if e.cfg.Endpoints.TokenURL != GoogleTokenURL || e.cfg.Endpoints.JWKSURL != GoogleJWKSURL || e.cfg.Endpoints.DriveURL != GoogleDriveURL {
		t.Errorf("endpoints = %+v, want Google's", e.cfg.Endpoints)
	}
	if e.cfg.HTTPClient.Timeout != defaultHTTPTimeout {
		t.Errorf("default client timeout = %s, want %s", e.cfg.HTTPClient.Timeout, defaultHTTPTimeout)
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

// TestHTTPClientRefusesTLSDowngrade: a redirect from https to http on the
// same host and port is another origin and is not followed, so nothing
// sent over TLS is repeated in the clear.
func TestHTTPClientRefusesTLSDowngrade(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+r.Host+"/plain", http.StatusTemporaryRedirect)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the plain request would be logged as a TLS error
	defer srv.Close()
	cfg := Config{HTTPClient: srv.Client()}
	resp, err := cfg.httpClient().Post(srv.URL+"/token", "application/x-www-form-urlencoded", strings.NewReader("code=4/0Asecret"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("https → http redirect: status %d, want the 307 itself", resp.StatusCode)
	}
}
