package serverauth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testSecret = "GOCSPX-test-secret-value"

func TestParseClientSecrets(t *testing.T) {
	tests := []struct {
		name      string
		json      string
		wantID    string
		wantKind  string
		wantInErr []string // substrings the error must have; nil means success
	}{
		{
			name:     "web",
			json:     `{"web":{"client_id":"web.apps.googleusercontent.com","project_id":"p","auth_uri":"https://accounts.google.com/o/oauth2/auth","token_uri":"https://oauth2.googleapis.com/token","auth_provider_x509_cert_url":"https://www.googleapis.com/oauth2/v1/certs","client_secret":"` + testSecret + `","redirect_uris":["https://example.com/cb"],"javascript_origins":["https://example.com"]}}`,
			wantID:   "web.apps.googleusercontent.com",
			wantKind: "web",
		},
		{
			name:     "installed with legacy token_uri and oob",
			json:     `{"installed":{"client_id":"desk.apps.googleusercontent.com","client_secret":"` + testSecret + `","token_uri":"https://accounts.google.com/o/oauth2/token","redirect_uris":["urn:ietf:wg:oauth:2.0:oob","http://localhost"]}}`,
			wantID:   "desk.apps.googleusercontent.com",
			wantKind: "installed",
		},
		{
			name:     "missing redirect_uris and project_id, unknown keys",
			json:     `{"web":{"client_id":"w","client_secret":"` + testSecret + `","new_field":{"x":1}},"extra":true}`,
			wantID:   "w",
			wantKind: "web",
		},
		{name: "malformed JSON", json: `{"web":{"client_id":"w",}}`, wantInErr: []string{"not valid JSON", "line 1"}},
		{name: "not an object", json: `[]`, wantInErr: []string{"not valid JSON"}},
		{name: "neither web nor installed", json: `{"other":{}}`, wantInErr: []string{`no "web" or "installed"`}},
		{name: "both web and installed", json: `{"web":{},"installed":{}}`, wantInErr: []string{"both"}},
		{name: "missing client_id", json: `{"web":{"client_secret":"` + testSecret + `"}}`, wantInErr: []string{"web.client_id"}},
		{name: "empty client_id", json: `{"web":{"client_id":" ","client_secret":"` + testSecret + `"}}`, wantInErr: []string{"web.client_id"}},
		{name: "missing client_secret", json: `{"installed":{"client_id":"ios.apps.googleusercontent.com"}}`, wantInErr: []string{"installed.client_secret", "mobile", "AllowedClientIDs"}},
		{name: "client_id not a string", json: `{"web":{"client_id":5,"client_secret":"` + testSecret + `"}}`, wantInErr: []string{`"web"`}},
		{name: "iOS plist", json: `<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>CLIENT_ID</key></dict></plist>`, wantInErr: []string{"iOS", "AllowedClientIDs"}},
		{name: "Android google-services.json", json: `{"project_info":{"project_number":"1"},"client":[{"oauth_client":[{"client_id":"a"}]}]}`, wantInErr: []string{"Android", "AllowedClientIDs"}},
		{name: "service account key", json: `{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----"}`, wantInErr: []string{"service account"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseClientSecrets([]byte(tt.json), "client_secret_x.json")
			if tt.wantInErr == nil {
				if err != nil {
					t.Fatalf("parseClientSecrets = %v, want nil", err)
				}
				if got.ClientID != tt.wantID || got.ClientSecret != testSecret || got.Kind != tt.wantKind {
					t.Errorf("parseClientSecrets = %s/%s, want %s/%s with the secret", got.Kind, got.ClientID, tt.wantKind, tt.wantID)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("parseClientSecrets = %v, want ErrInvalidConfig", err)
			}
			msg := err.Error()
			for _, want := range append(tt.wantInErr, "client_secret_x.json") {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
			if strings.Contains(msg, testSecret) {
				t.Errorf("error %q contains the secret", msg)
			}
		})
	}
}

func TestClientSecretsNeverTakeRedirectURIs(t *testing.T) {
	e, err := New(Config{ClientSecretsJSON: []byte(`{"web":{"client_id":"w","client_secret":"s3cret","redirect_uris":["https://example.com/cb"]}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.oauthConfig(e.cfg.RedirectURL, e.cfg.ClientSecret).RedirectURL; got != "" {
		t.Errorf("redirect for exchanges = %q, want empty: redirect_uris[0] must never be used", got)
	}
}

func TestCredentialsSources(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "client_secret.json")
	if err := os.WriteFile(good, []byte(`{"web":{"client_id":"w","client_secret":"`+testSecret+`"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge.json")
	if err := os.WriteFile(huge, []byte(strings.Repeat(" ", maxClientSecretsSize+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		cfg       Config
		wantID    string
		wantInErr string
	}{
		{name: "file", cfg: Config{ClientSecretsFile: good}, wantID: "w"},
		{name: "JSON", cfg: Config{ClientSecretsJSON: []byte(`{"web":{"client_id":"j","client_secret":"x"}}`)}, wantID: "j"},
		{name: "ID and secret", cfg: Config{ClientID: "d", ClientSecret: "x"}, wantID: "d"},
		{name: "none", cfg: Config{}, wantInErr: "no client credentials"},
		{name: "file and ID", cfg: Config{ClientSecretsFile: good, ClientID: "d", ClientSecret: "x"}, wantInErr: "exactly one"},
		{name: "file and JSON", cfg: Config{ClientSecretsFile: good, ClientSecretsJSON: []byte(`{}`)}, wantInErr: "exactly one"},
		{name: "ID without secret", cfg: Config{ClientID: "d"}, wantInErr: "ClientSecret is empty"},
		{name: "secret without ID", cfg: Config{ClientSecret: testSecret}, wantInErr: "ClientID is empty"},
		{name: "missing file", cfg: Config{ClientSecretsFile: filepath.Join(dir, "nope.json")}, wantInErr: "nope.json\" does not exist"},
		{name: "huge file", cfg: Config{ClientSecretsFile: huge}, wantInErr: "larger than 64 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.credentials()
			if tt.wantInErr == "" {
				if err != nil || got.ClientID != tt.wantID {
					t.Fatalf("credentials() = %v, %v; want client %q", got, err, tt.wantID)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.wantInErr) {
				t.Fatalf("credentials() error = %v, want ErrInvalidConfig mentioning %q", err, tt.wantInErr)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}
