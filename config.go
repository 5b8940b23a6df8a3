package serverauth

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/serverauth/serverauth/internal/redact"
)

// DefaultLeeway is the clock skew allowed on an ID token's exp, iat and nbf
// when [Config.Leeway] is zero. MaxLeeway is the largest value accepted.
const (
	DefaultLeeway = 60 * time.Second
	MaxLeeway     = 5 * time.Minute
)

// Config configures an [Exchanger]. [New] validates it and keeps a copy, so
// changing a Config after New has no effect. Every check is on when a field
// is left zero; turning one off takes a field whose name starts with
// Insecure.
type Config struct {
	// The server (web) OAuth client's credentials, from exactly one of:
	// ClientSecretsFile, a path to the client_secret.json downloaded from
	// the Google Cloud console ("web" or "installed"); ClientSecretsJSON,
	// its contents; or ClientID and ClientSecret directly. iOS and Android
	// clients have no secret and cannot be used here: their IDs go in
	// AllowedClientIDs.
	ClientSecretsFile string
	ClientSecretsJSON []byte
	ClientID          string
	ClientSecret      string

	// PreviousClientSecret is the web client's secret before the current
	// one, while a rotation is under way: add a new secret to the client in
	// the Google Cloud console, deploy it as the current secret (in
	// ClientSecret or the client_secret.json) with the old one here, and a
	// refresh that Google refuses with invalid_client under the current
	// secret is sent once more with this one. A code exchange is never
	// retried with it: a code is sent once. Revoke sends no client
	// credentials (Google's revocation endpoint needs none), so a rotation
	// cannot break it. The log says which secret works (at Info when the
	// current one does again, at Warn when only the previous one does) and
	// Stats.PreviousSecretUses counts the refreshes that needed this one:
	// once it stops growing on every replica, delete the old secret in the
	// console and clear this field. Empty means no fallback.
	PreviousClientSecret string

	// AllowedClientIDs lists the other OAuth clients of the same project
	// (the iOS and Android client IDs) whose sign-ins this backend accepts:
	// an ID token's azp claim, when present, must be the server client ID or
	// one of these. Nil allows only the server client.
	AllowedClientIDs []string

	// Scopes lists the scopes that must have been granted. Aliases are
	// understood: "email", "profile" and "openid", and short names of Google
	// API scopes such as "drive.appdata". A grant missing any of them makes
	// Exchange return ErrScopeNotGranted beside the Result. Nil requires
	// nothing beyond a verified ID token.
	Scopes []string

	// RedirectURL is the redirect_uri sent with every exchange unless an
	// exchange passes WithRedirectURL. Leave it empty for iOS and Android
	// server auth codes (they must be exchanged without redirect_uri); set
	// "postmessage" for codes from the Google Identity Services popup code
	// client. Left empty, SignInHandler chooses per request: "postmessage"
	// for a browser's request, none for an app's. It is never taken from
	// client_secret.json's redirect_uris.
	RedirectURL string

	// HostedDomain, when set, accepts only users of this Google Workspace
	// domain: the ID token's hd claim must equal it.
	HostedDomain string

	// Leeway is the clock skew allowed on exp, iat and nbf. Zero means
	// DefaultLeeway (60 s); it must not be negative or above MaxLeeway.
	Leeway time.Duration

	// Now is the library's only clock: token expiry, key-cache lifetime,
	// refetch and backoff windows all read it. Nil means time.Now.
	Now func() time.Time

	// HTTPClient makes every call to Google. Nil means a client with a 30 s
	// overall timeout on a clone of http.DefaultTransport. Its redirect
	// policy is tightened: a redirect to another origin (scheme, host or
	// port) is never followed, so nothing sent over https is ever repeated
	// over plain http.
	HTTPClient *http.Client

	// Endpoints overrides Google's URLs; zero fields mean production.
	Endpoints Endpoints

	// Store keeps users' tokens for offline access: Exchange saves into it
	// and Token, Client and Revoke read it. Nil keeps nothing: Exchange still
	// returns the tokens to the caller, and Token fails.
	Store TokenStore

	// Cipher encrypts the tokens before they reach Store (RFC 6749 §10.4:
	// refresh tokens must be kept confidential in storage). New refuses a
	// Store other than a MemoryStore without one, unless
	// InsecurePlaintextTokens is set. See Keyring.
	Cipher Cipher

	// InsecurePlaintextTokens stores tokens unencrypted in a persistent
	// Store. Anyone who reads the database can then act as your users.
	InsecurePlaintextTokens bool

	// SignInOnly says the backend needs no offline access: Exchange does not
	// fail with ErrNoRefreshToken when Google returns no refresh token.
	SignInOnly bool

	// RefreshMargin is how long before its expiry an access token is
	// refreshed. Zero means one minute. It is capped at a quarter of the
	// token's lifetime, so short-lived tokens are not refreshed on every
	// call (x/oauth2's fixed 10 s margin does that to tokens under 10 s).
	RefreshMargin time.Duration

	// TokenCacheSize bounds how many users' access tokens are kept in
	// memory (least recently used go first). Zero means 10,000. A cached
	// user costs about 290 bytes with a 170-byte access token, and 112 more
	// once a Token call served from memory has built the *oauth2.Token that
	// the user's later calls share.
	TokenCacheSize int

	// IDTokenCacheSize bounds how many verified ID tokens VerifyIDToken
	// (and so SignInWithIDToken and the handlers that take an ID token)
	// remembers, so that the same token verified again (a GIS credential
	// or an app's ID token sent on every request, for the hour it lives)
	// skips the RSA signature check. The cache holds a keyed hash of each
	// token (GMAC under a random key of its own), never the token, and what
	// its signature established; every
	// claim rule and every VerifyOption is applied again on each call, an
	// entry is not used past the token's exp nor after Google's key set
	// changes, and a token that failed is never remembered. Zero means
	// 4096; negative turns the cache off.
	IDTokenCacheSize int

	// Logger receives the library's diagnostics. Nil means silent. Secrets
	// never reach it.
	Logger *slog.Logger

	// Observer is told about every operation the library performs (code
	// exchanges, refreshes, revocations, ID-token verifications, key
	// fetches, store calls, leases, Drive requests), with its outcome,
	// duration and counts, for metrics and traces; see Observer. The module
	// github.com/serverauth/serverauth/otel provides one for
	// OpenTelemetry. Nil observes nothing; Exchanger.Stats counts either
	// way.
	Observer Observer

	// DuplicateCodeWindow is how long the result of an exchange is kept (in
	// memory, keyed by a hash of the code) so that the same code posted
	// again, by a client retry or a double tap, gets the same result without
	// reaching Google twice. Zero means 2 minutes; negative keeps only
	// concurrent duplicates.
	DuplicateCodeWindow time.Duration

	// Retry says how calls to Google retry transient failures (5xx, 408,
	// 429, internal_failure, HTML throttle pages, network errors): refresh,
	// revoke, key fetches, and Drive requests that can safely be repeated.
	// An authorization-code exchange is retried only when the request never
	// left (a failure to connect): the code may otherwise be spent. Never
	// retried: invalid_grant, invalid_client, unauthorized_client,
	// redirect_uri_mismatch. The zero value is the documented default.
	Retry RetryPolicy

	// InsecureAllowServiceAccounts accepts ID tokens whose email ends in
	// gserviceaccount.com. Google signs service-account ID tokens with the
	// same keys and lets their caller choose aud, so by default they are
	// refused as sign-ins.
	InsecureAllowServiceAccounts bool
}

// RetryPolicy bounds retries: capped exponential backoff with jitter,
// honouring Retry-After, within the caller's context and a total budget.
type RetryPolicy struct {
	// MaxAttempts counts the first attempt. Zero means 4; 1 turns retries
	// off.
	MaxAttempts int
	// InitialBackoff doubles per retry up to MaxBackoff, jittered between
	// half and all of it. Zero means 250 ms and 8 s.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// Budget is the longest one call spends retrying, from its first
	// attempt; a Retry-After beyond it ends the retries at once. Zero means
	// 20 s.
	Budget time.Duration
	// Sleep is how a retry waits. Nil waits on a timer; tests pass a
	// function that advances their clock (and honours ctx).
	Sleep func(ctx context.Context, d time.Duration) error
}

// defaultHTTPTimeout bounds one call to Google when Config.HTTPClient is nil.
const defaultHTTPTimeout = 30 * time.Second

// httpClient returns the client for calls to Google: the configured one with
// same-host redirects only, or a default.
func (c *Config) httpClient() *http.Client {
	var hc http.Client
	if c.HTTPClient != nil {
		hc = *c.HTTPClient
	} else {
		hc.Transport = http.DefaultTransport.(*http.Transport).Clone()
		hc.Timeout = defaultHTTPTimeout
	}
	next := hc.CheckRedirect
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > 0 && !sameOrigin(req.URL, via[0].URL) {
			return http.ErrUseLastResponse
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 5 {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return &hc
}

// String shows the configuration without the client secret.
func (c Config) String() string {
	return fmt.Sprintf("serverauth.Config{ClientID:%q ClientSecret:%s PreviousClientSecret:%s ClientSecretsFile:%q AllowedClientIDs:%q Scopes:%q RedirectURL:%q HostedDomain:%q Store:%T Cipher:%T}",
		c.ClientID, redact.Present(c.ClientSecret != "" || len(c.ClientSecretsJSON) > 0), redact.Present(c.PreviousClientSecret != ""), c.ClientSecretsFile, c.AllowedClientIDs, c.Scopes, c.RedirectURL, c.HostedDomain, c.Store, c.Cipher)
}

// GoString is String, so %#v shows no secret either.
func (c Config) GoString() string { return c.String() }

// LogValue implements slog.LogValuer without the client secret.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("client_id", c.ClientID), slog.Any("scopes", c.Scopes), slog.String("redirect_url", c.RedirectURL))
}

// Defaults for zero Config fields.
const (
	defaultDuplicateCodeWindow = 2 * time.Minute
	defaultRefreshMargin       = time.Minute
	defaultTokenCacheSize      = 10000
	defaultIDTokenCacheSize    = 4096
)

// validate reports the first problem with c, naming the field and the fix.
// It checks the fields as given, before defaults; credentials are checked
// by credentials, which reads ClientSecretsFile.
func (c *Config) validate() error {
	if c.Leeway < 0 || c.Leeway > MaxLeeway {
		return configErr("Leeway", "%s must be between 0 and %s (zero means %s)", c.Leeway, MaxLeeway, DefaultLeeway)
	}
	for _, id := range c.AllowedClientIDs {
		if id == "" {
			return configErr("AllowedClientIDs", "has an empty entry")
		}
	}
	if c.RefreshMargin < 0 {
		return configErr("RefreshMargin", "%s must not be negative (zero means %s)", c.RefreshMargin, defaultRefreshMargin)
	}
	if c.TokenCacheSize < 0 {
		return configErr("TokenCacheSize", "%d must not be negative (zero means %d)", c.TokenCacheSize, defaultTokenCacheSize)
	}
	if k, ok := c.Cipher.(*Keyring); ok && (k == nil || len(k.keys) == 0) {
		return configErr("Cipher", "the Keyring has no keys: make it with NewKeyring or ParseKeyring")
	}
	if c.Cipher != nil && c.InsecurePlaintextTokens {
		return configErr("Cipher", "set Cipher or InsecurePlaintextTokens, not both")
	}
	if _, inProcess := c.Store.(*MemoryStore); c.Store != nil && !inProcess && c.Cipher == nil && !c.InsecurePlaintextTokens {
		return configErr("Cipher", "Store keeps refresh tokens outside the process, so they must be encrypted (RFC 6749 §10.4): set Cipher (e.g. a Keyring from serverauth.ParseKeyring(os.Getenv(...))) or, knowingly, InsecurePlaintextTokens")
	}
	if err := c.Endpoints.complete(); err != nil {
		return err
	}
	return c.Endpoints.withDefaults().validate()
}

// withDefaults returns c resolved: every zero field that has a documented
// default gets it, slices are copied, and the clock, logger, cipher and
// HTTP client are never nil. The Exchanger keeps this one copy and reads
// nothing else.
func (c Config) withDefaults() Config {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Leeway == 0 {
		c.Leeway = DefaultLeeway
	}
	if c.DuplicateCodeWindow == 0 {
		c.DuplicateCodeWindow = defaultDuplicateCodeWindow
	}
	if c.RefreshMargin == 0 {
		c.RefreshMargin = defaultRefreshMargin
	}
	if c.TokenCacheSize == 0 {
		c.TokenCacheSize = defaultTokenCacheSize
	}
	if c.IDTokenCacheSize == 0 {
		c.IDTokenCacheSize = defaultIDTokenCacheSize
	}
	if c.Cipher == nil {
		c.Cipher = plaintextCipher{} // validate allowed it: in-process store or loudly asked
	}
	c.Endpoints = c.Endpoints.withDefaults()
	c.HTTPClient = c.httpClient()
	c.AllowedClientIDs = slices.Clone(c.AllowedClientIDs)
	c.Scopes = normalizeScopes(c.Scopes)
	c.ClientSecretsJSON = nil // keep no second copy of the secret
	return c
}

// sameOrigin reports whether a and b share scheme, host and port (RFC 6454):
// a redirect that changes any of them could move a secret off TLS or to
// another server.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host)
}
