package serverauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// maxClientSecretsSize caps client_secret.json; real files are under 1 KiB.
const maxClientSecretsSize = 64 << 10

// clientSecrets is the part of client_secret.json the library uses. The
// file's token_uri and auth_uri are deliberately ignored: endpoints come
// only from Config.Endpoints (legacy token_uri values name the same Google
// endpoint), and redirect_uris never become the exchange's redirect_uri.
type clientSecrets struct {
	Kind         string // "web" or "installed"
	ClientID     string
	ClientSecret string
	RedirectURIs []string
}

// credentials resolves the server client's ID and secret from exactly one of
// the three Config sources.
func (c *Config) credentials() (*clientSecrets, error) {
	n := 0
	if c.ClientSecretsFile != "" {
		n++
	}
	if len(c.ClientSecretsJSON) > 0 {
		n++
	}
	if c.ClientID != "" || c.ClientSecret != "" {
		n++
	}
	switch {
	case n == 0:
		return nil, fmt.Errorf("%w: no client credentials: set ClientSecretsFile (the web client's client_secret.json from Google Cloud console → APIs & Services → Credentials), ClientSecretsJSON, or ClientID and ClientSecret", ErrInvalidConfig)
	case n > 1:
		return nil, fmt.Errorf("%w: set exactly one of ClientSecretsFile, ClientSecretsJSON, or ClientID with ClientSecret", ErrInvalidConfig)
	}
	switch {
	case c.ClientSecretsFile != "":
		data, err := readClientSecretsFile(c.ClientSecretsFile)
		if err != nil {
			return nil, err
		}
		return parseClientSecrets(data, c.ClientSecretsFile)
	case len(c.ClientSecretsJSON) > 0:
		return parseClientSecrets(c.ClientSecretsJSON, "ClientSecretsJSON")
	case c.ClientID == "":
		return nil, fmt.Errorf("%w: ClientSecret is set but ClientID is empty", ErrInvalidConfig)
	case c.ClientSecret == "":
		return nil, fmt.Errorf("%w: ClientID is set but ClientSecret is empty: the server needs the web client's secret (iOS and Android clients have none; put their IDs in AllowedClientIDs)", ErrInvalidConfig)
	}
	return &clientSecrets{Kind: "direct", ClientID: strings.TrimSpace(c.ClientID), ClientSecret: c.ClientSecret}, nil
}

func readClientSecretsFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: client secrets file %q does not exist: download the OAuth client of type \"Web application\" as JSON from Google Cloud console → APIs & Services → Credentials", ErrInvalidConfig, path)
		}
		return nil, fmt.Errorf("%w: client secrets file %q: %w", ErrInvalidConfig, path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxClientSecretsSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading client secrets file %q: %w", ErrInvalidConfig, path, err)
	}
	if len(data) > maxClientSecretsSize {
		return nil, fmt.Errorf("%w: client secrets file %q is larger than 64 KiB; it is not a client_secret.json", ErrInvalidConfig, path)
	}
	return data, nil
}

// parseClientSecrets decodes a client_secret.json. source names the file (or
// the Config field) in errors. Errors never quote the file's contents.
func parseClientSecrets(data []byte, source string) (*clientSecrets, error) {
	trimmed := bytes.TrimSpace(data)
	if bytes.HasPrefix(trimmed, []byte("<?xml")) || bytes.HasPrefix(trimmed, []byte("<plist")) || bytes.HasPrefix(trimmed, []byte("<!DOCTYPE plist")) {
		return nil, fmt.Errorf("%w: %s is a property list (an iOS client's GoogleService-Info.plist or client_….plist): iOS clients have no secret; use the web client's client_secret.json here and put the iOS client ID in AllowedClientIDs", ErrInvalidConfig, source)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &doc); err != nil {
		return nil, fmt.Errorf("%w: %s is not valid JSON%s: download it again from Google Cloud console", ErrInvalidConfig, source, jsonErrorPosition(trimmed, err))
	}
	if _, ok := doc["project_info"]; ok {
		return nil, fmt.Errorf("%w: %s is an Android google-services.json, not an OAuth client secret: use the web client's client_secret.json and put the Android client ID in AllowedClientIDs", ErrInvalidConfig, source)
	}
	if t, ok := doc["type"]; ok && bytes.Contains(t, []byte("service_account")) {
		return nil, fmt.Errorf("%w: %s is a service account key, not an OAuth client secret: create an OAuth client of type \"Web application\" and download its JSON", ErrInvalidConfig, source)
	}
	kind := ""
	for _, k := range []string{"web", "installed"} {
		if _, ok := doc[k]; ok {
			if kind != "" {
				return nil, fmt.Errorf("%w: %s has both \"web\" and \"installed\" objects; keep the web client's", ErrInvalidConfig, source)
			}
			kind = k
		}
	}
	if kind == "" {
		return nil, fmt.Errorf("%w: %s has no \"web\" or \"installed\" object: it is not an OAuth client_secret.json", ErrInvalidConfig, source)
	}
	var c struct {
		ClientID     *string  `json:"client_id"`
		ClientSecret *string  `json:"client_secret"`
		RedirectURIs []string `json:"redirect_uris"`
	}
	if err := json.Unmarshal(doc[kind], &c); err != nil {
		return nil, fmt.Errorf("%w: %s: %q is not an object of strings as Google writes it", ErrInvalidConfig, source, kind)
	}
	switch {
	case c.ClientID == nil || strings.TrimSpace(*c.ClientID) == "":
		return nil, fmt.Errorf("%w: %s: %s.client_id is missing or empty", ErrInvalidConfig, source, kind)
	case c.ClientSecret == nil || *c.ClientSecret == "":
		return nil, fmt.Errorf("%w: %s: %s.client_secret is missing or empty: this looks like a mobile (iOS/Android) client, which has no secret; use the web client's JSON and put the mobile client ID in AllowedClientIDs", ErrInvalidConfig, source, kind)
	}
	return &clientSecrets{Kind: kind, ClientID: strings.TrimSpace(*c.ClientID), ClientSecret: *c.ClientSecret, RedirectURIs: c.RedirectURIs}, nil
}

// jsonErrorPosition returns " (line L, column C)" for a syntax error, and
// nothing that quotes the input.
func jsonErrorPosition(data []byte, err error) string {
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return ""
	}
	off := int(min(se.Offset, int64(len(data))))
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return fmt.Sprintf(" (syntax error at line %d, column %d)", line, col)
}
