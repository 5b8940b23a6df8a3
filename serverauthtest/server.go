package serverauthtest

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/serverauth/serverauth"
)

// Server is a fake Google served over TLS on a loopback port, like an
// httptest.Server. Its certificate is trusted only by [Server.Client], so
// the code under test keeps certificate verification on (no
// InsecureSkipVerify). The embedded [Google] holds the emulator's state and
// controls. It is safe for concurrent use.
type Server struct {
	// URL is the base URL, "https://127.0.0.1:port", without a trailing
	// slash.
	URL string

	*Google

	ts *httptest.Server
}

// NewServer starts a fake Google configured by opts. Close it when done
// (t.Cleanup(s.Close)).
func NewServer(opts Options) *Server {
	self := opts.SelfIssuer
	opts.SelfIssuer = false
	g := New(opts)
	ts := httptest.NewUnstartedServer(g)
	if self {
		// Before the first request: nothing reads the issuer yet.
		g.opts.Issuer = "https://" + ts.Listener.Addr().String()
	}
	ts.Config.ErrorLog = log.New(handshakeFilter{os.Stderr}, "", log.LstdFlags)
	// HTTP/1.1 only (httptest's default, made explicit): FaultReset and
	// friends hijack the connection, which HTTP/2 cannot.
	ts.EnableHTTP2 = false
	ts.StartTLS()
	return &Server{URL: ts.URL, Google: g, ts: ts}
}

// handshakeFilter drops the server's "TLS handshake error" lines: tests that
// check a client refuses the fake's certificate cause them on purpose.
type handshakeFilter struct{ w io.Writer }

// Write passes p on unless it reports a TLS handshake error.
func (f handshakeFilter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("TLS handshake error")) {
		return len(p), nil
	}
	return f.w.Write(p)
}

// Close shuts the server down and closes its client's idle connections.
// Requests held by [FaultStall] end at once, their connections closed.
func (s *Server) Close() {
	s.faults.close()
	s.ts.Close()
}

// Client returns an HTTP client that trusts the server's certificate.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Certificate returns the fake's TLS certificate, for clients in other
// processes or languages that must trust it (as httptest.Server.Certificate).
func (s *Server) Certificate() *x509.Certificate { return s.ts.Certificate() }

// Endpoints returns the server's URLs for serverauth.
func (s *Server) Endpoints() serverauth.Endpoints { return EndpointsAt(s.URL) }

// EndpointsAt returns the URLs of a fake Google served at baseURL (scheme and
// host, no trailing slash), for example by cmd/fakegoogle.
func EndpointsAt(baseURL string) serverauth.Endpoints {
	return serverauth.Endpoints{
		TokenURL:  baseURL + "/token",
		RevokeURL: baseURL + "/revoke",
		JWKSURL:   baseURL + "/oauth2/v3/certs",
		DriveURL:  baseURL + "/drive/v3/",
		AuthURL:   baseURL + "/o/oauth2/v2/auth",
	}
}

// The fake's OpenID Connect endpoints that serverauth itself never calls,
// relative to its base URL: userinfo and tokeninfo.
const (
	UserInfoPath  = "/v1/userinfo"
	TokenInfoPath = "/tokeninfo"
)

// UserInfoURL is the fake's OpenID Connect userinfo endpoint.
func (s *Server) UserInfoURL() string { return s.URL + UserInfoPath }

// Config returns a serverauth configuration for this server: the web
// client's credentials, the iOS and Android client IDs as allowed
// presenters, the server's endpoints and client, and the fake's clock
// (Options.Now, nil when it was nil).
func (s *Server) Config() serverauth.Config {
	return serverauth.Config{
		ClientID:         s.WebClientID(),
		ClientSecret:     s.WebClientSecret(),
		AllowedClientIDs: []string{s.IOSClientID(), s.AndroidClientID()},
		Endpoints:        s.Endpoints(),
		HTTPClient:       s.Client(),
		Now:              s.nowOption,
	}
}

// ClientSecretJSON returns a client_secret.json of the "web" kind, as the
// Cloud console downloads it, with its URLs pointing at this server.
func (s *Server) ClientSecretJSON() []byte {
	s.mu.Lock()
	origins := append([]string{}, s.clients[s.WebClientID()].jsOrigins()...)
	s.mu.Unlock()
	type web struct {
		ClientID                string   `json:"client_id"`
		ProjectID               string   `json:"project_id"`
		AuthURI                 string   `json:"auth_uri"`
		TokenURI                string   `json:"token_uri"`
		AuthProviderX509CertURL string   `json:"auth_provider_x509_cert_url"`
		ClientSecret            string   `json:"client_secret"`
		RedirectURIs            []string `json:"redirect_uris"`
		JavascriptOrigins       []string `json:"javascript_origins"`
	}
	b, err := json.Marshal(map[string]web{"web": {
		ClientID:                s.WebClientID(),
		ProjectID:               s.ProjectID(),
		AuthURI:                 s.URL + "/o/oauth2/auth",
		TokenURI:                s.URL + "/token",
		AuthProviderX509CertURL: s.URL + "/oauth2/v1/certs",
		ClientSecret:            s.WebClientSecret(),
		RedirectURIs:            s.RedirectURIs(),
		JavascriptOrigins:       origins,
	}})
	if err != nil {
		panic("serverauthtest: encoding client_secret.json: " + err.Error())
	}
	return b
}
