package serverauth

import (
	"net"
	"net/url"
	"strings"
)

// Google's production endpoints, used for every zero field of [Endpoints].
const (
	GoogleTokenURL  = "https://oauth2.googleapis.com/token"
	GoogleRevokeURL = "https://oauth2.googleapis.com/revoke"
	GoogleJWKSURL   = "https://www.googleapis.com/oauth2/v3/certs"
	GoogleDriveURL  = "https://www.googleapis.com/drive/v3/"
	GoogleAuthURL   = "https://accounts.google.com/o/oauth2/v2/auth"
)

// Endpoints holds the URLs of the Google services the library talks to.
// A zero field means Google's production URL (the Google… constants).
// Tests point them at a fake such as [serverauthtest.Server.Endpoints].
//
// Every URL must be https, except on a loopback host (127.0.0.0/8, ::1,
// localhost), where http is allowed for local emulators. The library never
// takes an endpoint from a client request or from client_secret.json
// (RFC 9700 §4.4, mix-up attacks).
type Endpoints struct {
	TokenURL  string // OAuth 2.0 token endpoint (code exchange and refresh)
	RevokeURL string // RFC 7009 revocation endpoint
	JWKSURL   string // ID-token signing keys, JWK Set format (v3 certs)
	DriveURL  string // Drive v3 base path; uploads go to /upload/drive/v3/ on the same host

	// AuthURL is the authorization endpoint the browser is sent to by
	// WebSignIn. It is outside the all-or-none rule of the four above, so
	// that configurations without it keep working, but WebSignIn refuses to
	// send browsers to Google while TokenURL points elsewhere: set it too.
	AuthURL string
}

// withDefaults returns e with every empty field set to Google's URL.
func (e Endpoints) withDefaults() Endpoints {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&e.TokenURL, GoogleTokenURL)
	def(&e.RevokeURL, GoogleRevokeURL)
	def(&e.JWKSURL, GoogleJWKSURL)
	def(&e.DriveURL, GoogleDriveURL)
	def(&e.AuthURL, GoogleAuthURL)
	return e
}

// validate checks that every endpoint is an absolute https URL, or http on a
// loopback host.
func (e Endpoints) validate() error {
	for _, f := range []struct{ name, v string }{
		{"TokenURL", e.TokenURL},
		{"RevokeURL", e.RevokeURL},
		{"JWKSURL", e.JWKSURL},
		{"DriveURL", e.DriveURL},
		{"AuthURL", e.AuthURL},
	} {
		u, err := url.Parse(f.v)
		if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
			return configErr("Endpoints."+f.name, "%q is not an absolute URL without user info or fragment", f.v)
		}
		switch {
		case u.Scheme == "https":
		case u.Scheme == "http" && isLoopback(u.Hostname()):
		default:
			return configErr("Endpoints."+f.name, "%q must use https (http is allowed only on a loopback host, for emulators)", f.v)
		}
	}
	return nil
}

// complete refuses a partial Endpoints: with some fields pointing at an
// emulator or proxy and others left to Google, codes or tokens meant for one
// would reach the other. All or none of TokenURL, RevokeURL, JWKSURL and
// DriveURL must be set.
func (e Endpoints) complete() error {
	fields := []struct{ name, v string }{
		{"TokenURL", e.TokenURL}, {"RevokeURL", e.RevokeURL}, {"JWKSURL", e.JWKSURL}, {"DriveURL", e.DriveURL},
	}
	var set, missing []string
	for _, f := range fields {
		if f.v == "" {
			missing = append(missing, f.name)
		} else {
			set = append(set, f.name)
		}
	}
	if len(set) > 0 && len(missing) > 0 {
		return configErr("Endpoints."+missing[0], "is empty while %s is set: set every endpoint or none (serverauthtest.EndpointsAt gives all of a fake's)", strings.Join(set, ", "))
	}
	return nil
}

// isLoopback reports whether host names the local machine.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
