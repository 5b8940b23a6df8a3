package serverauthtest

import (
	"net/http"
	"time"
)

// Default identities of the fake's OAuth clients, used for every empty field
// of [Options]. They are fixed so that examples print deterministic output;
// they look like Google's but belong to no real project.
const (
	DefaultProjectID       = "fake-google-project-4217"
	DefaultWebClientID     = "123456789012-8h3kq1t0v5m2r9c7w4n6b0x1s3d5f7g9.apps.googleusercontent.com"
	DefaultWebClientSecret = "GOCSPX-f4k3G00gl3S3cr3tV4lu3xYz0q"
	DefaultIOSClientID     = "123456789012-2p6r0t4v8x1z3b5d7f9h1j3l5n7q9s0u.apps.googleusercontent.com"
	DefaultAndroidClientID = "123456789012-a1c3e5g7i9k1m3o5q7s9u1w3y5a7c9e1.apps.googleusercontent.com"
	DefaultRedirectURI     = "http://127.0.0.1/callback"
	DefaultIssuer          = "https://accounts.google.com"
)

// Defaults of the lifetimes and cache headers in [Options].
const (
	DefaultCodeTTL             = 10 * time.Minute   // RFC 6749 §4.1.2's recommended maximum; Google's is undocumented
	DefaultAccessTokenLifetime = 3599 * time.Second // Google's typical expires_in
	DefaultIDTokenLifetime     = 3600 * time.Second // exp − iat in Google's ID tokens
	DefaultJWKSMaxAge          = 21155 * time.Second
	DefaultJWKSAge             = 12 * time.Second

	// TestingGrantLifetime is how long grants of an app in "Testing"
	// publishing status live (Options.PublishingStatusTesting): "seven days
	// from the time of consent" (Google Cloud Help, "Manage App Audience").
	TestingGrantLifetime = 7 * 24 * time.Hour
)

// Origin says where an authorization code came from, which decides the
// redirect_uri the token endpoint demands for it (developers.google.com/identity/protocols/oauth2/web-server; mobile server auth codes take none) and the
// azp of the ID token issued for it.
type Origin string

// The code sources Google distinguishes.
const (
	// OriginIOS: GIDSignIn's serverAuthCode (Info.plist GIDServerClientID).
	// Exchanged without redirect_uri.
	OriginIOS Origin = "ios"
	// OriginAndroid: requestServerAuthCode(serverClientId). Exchanged
	// without redirect_uri.
	OriginAndroid Origin = "android"
	// OriginWebPopup: Google Identity Services initCodeClient with
	// ux_mode "popup". Exchanged with redirect_uri=postmessage.
	OriginWebPopup Origin = "web-popup"
	// OriginWebRedirect: GIS ux_mode "redirect" or the classic web-server
	// flow. Exchanged with the registered redirect URI, byte for byte.
	OriginWebRedirect Origin = "web-redirect"
)

func (o Origin) mobile() bool { return o == OriginIOS || o == OriginAndroid }

func (o Origin) valid() bool {
	switch o {
	case OriginIOS, OriginAndroid, OriginWebPopup, OriginWebRedirect:
		return true
	}
	return false
}

// AZP selects the azp claim of the ID token the backend receives when it
// exchanges an iOS or Android server auth code. Google does not document it
// (Google does not document azp for every client type), so the fake can emit each variant.
type AZP int

const (
	// AZPPresenter: azp is the iOS or Android client ID that obtained the
	// code. The default.
	AZPPresenter AZP = iota
	// AZPServer: azp is the web (server) client ID, equal to aud.
	AZPServer
	// AZPNone: the azp claim is absent.
	AZPNone
)

// Client types for [Client.Type].
const (
	ClientWeb     = "web"
	ClientIOS     = "ios"
	ClientAndroid = "android"
)

// Client is an OAuth client registered with the fake.
type Client struct {
	ID           string
	Secret       string   // empty for iOS and Android clients, which have none
	Type         string   // ClientWeb, ClientIOS or ClientAndroid
	ProjectID    string   // the Cloud project; empty means Options.ProjectID
	RedirectURIs []string // web clients only: the registered redirect URIs

	// JavaScriptOrigins are, for web clients, the registered JavaScript
	// origins ("http://localhost:3000"): the pages that may run the Google
	// Identity Services popup flows (redirect_uri=postmessage) and receive
	// their codes and ID tokens. Nil means the origins of RedirectURIs.
	JavaScriptOrigins []string
}

// User is a Google account as the fake reports it.
type User struct {
	Sub           string // numeric, up to 21 digits; the stable key
	Email         string
	EmailVerified bool
	Name          string
	GivenName     string
	FamilyName    string
	Picture       string
	Locale        string
	HostedDomain  string // hd: the Workspace domain; empty for consumer accounts
}

// DemoUser returns a plausible consumer account, the one the fake uses
// wherever a user is not given. Each call returns a new copy, so changing it
// changes nothing else.
func DemoUser() User {
	return User{
		Sub:           "109876543210987654321",
		Email:         "jane.doe.demo@gmail.com",
		EmailVerified: true,
		Name:          "Jane Doe",
		GivenName:     "Jane",
		FamilyName:    "Doe",
		Picture:       "https://lh3.googleusercontent.com/a/ACg8ocL3kDemoPictureJaneDoe0123456789=s96-c",
		Locale:        "en",
	}
}

// DemoAccounts returns the accounts the fake's account chooser lists by
// default: [DemoUser], a second consumer account and a Workspace account
// (hd corp.example). Each call returns new copies.
func DemoAccounts() []User {
	return []User{
		DemoUser(),
		{
			Sub:           "108765432109876543210",
			Email:         "john.roe.demo@gmail.com",
			EmailVerified: true,
			Name:          "John Roe",
			GivenName:     "John",
			FamilyName:    "Roe",
			Locale:        "en",
		},
		{
			Sub:           "107654321098765432109",
			Email:         "sam.lee@corp.example",
			EmailVerified: true,
			Name:          "Sam Lee",
			GivenName:     "Sam",
			FamilyName:    "Lee",
			Locale:        "en-GB",
			HostedDomain:  "corp.example",
		},
	}
}

// CodeRequest describes the consent that produced an authorization code, as
// if the user had signed in and consented in the app; see
// [Google.MintCode].
type CodeRequest struct {
	// User is the account that consented. The zero User means [DemoUser].
	User User

	// Scopes are the scopes requested. Aliases ("email", "profile",
	// "openid") and short names such as "drive.appdata" are allowed. Nil
	// means openid email profile.
	Scopes []string

	// GrantedScopes is what the user actually granted (granular consent): a
	// subset of Scopes, in the same notations. Nil means all of Scopes.
	GrantedScopes []string

	// Origin is where the code was obtained. Empty means OriginIOS.
	Origin Origin

	// ClientID is the client that obtained the code. Empty means, by
	// Origin, the iOS, Android or web client ID. For iOS and Android codes
	// the code is issued to the web client of the same project (the
	// "server client ID"), which alone may exchange it; web codes are
	// exchanged by ClientID itself.
	ClientID string

	// RedirectURI is, for OriginWebRedirect only, the redirect URI of the
	// authorization request: a registered one, which the exchange must then
	// repeat byte for byte.
	RedirectURI string

	// Prompt "consent" forces the consent screen, so the exchange returns a
	// refresh token even when the user had consented before.
	Prompt string

	// OnlineAccess is access_type=online: the exchange never returns a
	// refresh token.
	OnlineAccess bool

	// CodeChallenge and CodeChallengeMethod ("plain" or "S256"; empty
	// means plain, RFC 7636 §4.3) bind the code to a PKCE verifier.
	CodeChallenge       string
	CodeChallengeMethod string

	// Nonce is copied into the ID token issued for the code.
	Nonce string

	// IncludeGrantedScopes is include_granted_scopes=true (incremental
	// authorization): the exchange's tokens cover every scope the user
	// granted the client before as well as these, and the grant's existing
	// refresh tokens cover the new scopes too, as Google's grant is one per
	// user and client.
	IncludeGrantedScopes bool

	// RefreshTokenTTL > 0 makes this a time-based access grant: responses
	// carry refresh_token_expires_in, and the refresh token dies after it.
	RefreshTokenTTL time.Duration
}

// Options configures a fake Google. Every zero field takes the default named
// in its comment.
type Options struct {
	// Now is the fake's clock: code, token and ID-token lifetimes and the
	// JWKS cache headers read it. Nil means time.Now. Share a [Clock] with
	// the library under test: Now: clock.Now.
	Now func() time.Time

	// The project's OAuth clients. Defaults: DefaultWebClientID,
	// DefaultWebClientSecret, DefaultIOSClientID, DefaultAndroidClientID,
	// all in DefaultProjectID.
	WebClientID     string
	WebClientSecret string
	IOSClientID     string
	AndroidClientID string
	ProjectID       string

	// RedirectURIs are registered for the web client. Nil means
	// []string{DefaultRedirectURI}.
	RedirectURIs []string

	// Issuer is the ID tokens' iss and the discovery document's issuer:
	// "https://accounts.google.com" (the default) or "accounts.google.com",
	// which Google emits both, or the URL the fake is served at, for
	// generic OpenID Connect clients that demand an issuer equal to the
	// discovery URL (OpenID Connect Discovery 1.0 §4.3). serverauth itself
	// accepts only Google's two.
	Issuer string

	// SelfIssuer makes [NewServer] set Issuer to the server's own URL
	// ("https://127.0.0.1:port"). [New] cannot know that URL and panics
	// when SelfIssuer is set: give it Issuer instead.
	SelfIssuer bool

	// ConsentPage makes the authorization endpoint show an account chooser
	// and a consent page a person clicks through, as Google does, instead of
	// consenting at once as the first of Accounts (or the login_hint user).
	// cmd/fakegoogle turns it on; tests leave it off unless they drive a
	// browser. The pages are described in the package documentation.
	ConsentPage bool

	// Accounts are the accounts the chooser lists, in order, and the first
	// is the one that consents when ConsentPage is off. Nil means
	// [DemoAccounts].
	Accounts []User

	// RISCClient pushes security event tokens to the receiver registered
	// with the fake's RISC stream API. Nil means a client with a 10 s
	// timeout; set it (an httptest.Server's Client) for a receiver served
	// over TLS with a test certificate.
	RISCClient *http.Client

	// JavaScriptOrigins are the web client's registered JavaScript origins
	// (see [Client]). Nil means the origins of RedirectURIs.
	JavaScriptOrigins []string

	// MobileAZP is the azp of the ID token issued when an iOS or Android
	// code is exchanged. Undocumented by Google; the default is
	// AZPPresenter.
	MobileAZP AZP

	// AcceptPostmessageForMobile accepts redirect_uri=postmessage when an
	// iOS or Android code is exchanged. Reports conflict; the default
	// refuses it with redirect_uri_mismatch, as any other non-empty value.
	AcceptPostmessageForMobile bool

	// CodeTTL is how long an authorization code can be exchanged.
	// Default DefaultCodeTTL (10 minutes).
	CodeTTL time.Duration

	// AccessTokenLifetime is the access tokens' expires_in. Default
	// DefaultAccessTokenLifetime (3599 s).
	AccessTokenLifetime time.Duration

	// IDTokenLifetime is exp − iat of ID tokens. Default
	// DefaultIDTokenLifetime (3600 s).
	IDTokenLifetime time.Duration

	// RevokeOnCodeReuse makes a second exchange of a code revoke the tokens
	// the first exchange issued, as RFC 6749 §4.1.2 recommends. Google's
	// behaviour is undocumented; the default leaves them alive.
	RevokeOnCodeReuse bool

	// PublishingStatusTesting plays an app whose OAuth consent screen is
	// External and in "Testing" publishing status: every refresh token it
	// issues dies seven days (TestingGrantLifetime) after consent, and no
	// response says so (no refresh_token_expires_in): the first refresh
	// after that answers invalid_grant "Token has been expired or
	// revoked.", as for any dead grant.
	PublishingStatusTesting bool

	// RotateRefreshTokens makes every refresh return a new refresh token
	// and revoke the old one. Google does not rotate; this lets a client be
	// tested against rotation.
	RotateRefreshTokens bool

	// JWKSMaxAge and JWKSAge are the max-age of the key endpoints'
	// Cache-Control and their Age header. Defaults DefaultJWKSMaxAge
	// (21155 s) and DefaultJWKSAge (12 s); a negative JWKSAge sends
	// "Age: 0". JWKSOmitAge drops the Age header, as Google has been seen
	// to do.
	JWKSMaxAge  time.Duration
	JWKSAge     time.Duration
	JWKSOmitAge bool

	// Keys is the number of signing keys published at start; the first
	// signs, the others are published ahead of use. Default 2.
	Keys int

	// Drive tunes the Drive emulator where Google's behaviour is unverified;
	// the zero value is the default each field documents.
	Drive DriveOptions

	// FaultSeed seeds the draws of [Google.FailFraction], so that a run
	// fails the same requests every time. Zero means 1.
	FaultSeed int64
}

// withDefaults returns o with every zero field set to its default.
func (o Options) withDefaults() Options {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.WebClientID, DefaultWebClientID)
	def(&o.WebClientSecret, DefaultWebClientSecret)
	def(&o.IOSClientID, DefaultIOSClientID)
	def(&o.AndroidClientID, DefaultAndroidClientID)
	def(&o.ProjectID, DefaultProjectID)
	def(&o.Issuer, DefaultIssuer)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RedirectURIs == nil {
		o.RedirectURIs = []string{DefaultRedirectURI}
	} else {
		o.RedirectURIs = append([]string(nil), o.RedirectURIs...)
	}
	if o.Accounts == nil {
		o.Accounts = DemoAccounts()
	} else {
		o.Accounts = append([]User(nil), o.Accounts...)
	}
	o.JavaScriptOrigins = append([]string(nil), o.JavaScriptOrigins...)
	dur := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	dur(&o.CodeTTL, DefaultCodeTTL)
	dur(&o.AccessTokenLifetime, DefaultAccessTokenLifetime)
	dur(&o.IDTokenLifetime, DefaultIDTokenLifetime)
	dur(&o.JWKSMaxAge, DefaultJWKSMaxAge)
	if o.JWKSAge < 0 {
		o.JWKSAge = 0
	} else if o.JWKSAge == 0 {
		o.JWKSAge = DefaultJWKSAge
	}
	if o.Keys <= 0 {
		o.Keys = 2
	}
	if o.FaultSeed == 0 {
		o.FaultSeed = 1
	}
	return o
}
