package serverauth

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"golang.org/x/oauth2"

	"github.com/serverauth/serverauth/internal/flight"
	"github.com/serverauth/serverauth/internal/jwks"
	"github.com/serverauth/serverauth/internal/lru"
	"github.com/serverauth/serverauth/internal/retry"
)

// Exchanger does the server side of Google Sign-In for one web (server)
// OAuth client. Create it with [New]; it is safe for concurrent use, and
// one Exchanger per process is the intended use.
type Exchanger struct {
	cfg        Config // validated copy
	creds      *clientSecrets
	endpoints  Endpoints
	httpClient *http.Client
	verifier   *verifier
	required   []string // Config.Scopes, normalised
	log        *slog.Logger

	codes     *flight.Group[[32]byte, *Result]    // duplicate-code dedupe
	cache     *lru.Map[*cachedToken]              // access tokens by user
	refreshes *flight.Group[string, *cachedToken] // one refresh per user at a time
	tokens    tokenState
	base      http.RoundTripper // under Client's authorising transport
	retry     retry.Policy
}

// Default bounds of an exchange.
const (
	defaultDuplicateCodeWindow = 2 * time.Minute
	exchangeTimeout            = 30 * time.Second
	maxRetainedCodes           = 10000
)

// New validates cfg and returns an Exchanger. It performs no I/O beyond
// reading Config.ClientSecretsFile and starts no goroutines.
func New(cfg Config) (*Exchanger, error) {
	creds, err := cfg.credentials()
	if err != nil {
		return nil, err
	}
	if cfg.Leeway < 0 || cfg.Leeway > MaxLeeway {
		return nil, fmt.Errorf("%w: Leeway %s must be between 0 and %s (zero means %s)", ErrInvalidConfig, cfg.Leeway, MaxLeeway, DefaultLeeway)
	}
	ep := cfg.Endpoints.withDefaults()
	if err := ep.validate(); err != nil {
		return nil, err
	}
	for _, id := range cfg.AllowedClientIDs {
		if id == "" {
			return nil, fmt.Errorf("%w: AllowedClientIDs has an empty entry", ErrInvalidConfig)
		}
	}
	if cfg.DuplicateCodeWindow == 0 {
		cfg.DuplicateCodeWindow = defaultDuplicateCodeWindow
	}
	cipher, err := cfg.storeCipher()
	if err != nil {
		return nil, err
	}
	if cfg.RefreshMargin < 0 || cfg.TokenCacheSize < 0 {
		return nil, fmt.Errorf("%w: RefreshMargin and TokenCacheSize must not be negative", ErrInvalidConfig)
	}
	if cfg.RefreshMargin == 0 {
		cfg.RefreshMargin = defaultRefreshMargin
	}
	if cfg.TokenCacheSize == 0 {
		cfg.TokenCacheSize = defaultTokenCacheSize
	}
	cfg.AllowedClientIDs = slices.Clone(cfg.AllowedClientIDs)
	cfg.Scopes = slices.Clone(cfg.Scopes)
	cfg.ClientSecretsJSON = nil // keep no second copy of the secret

	e := &Exchanger{
		cfg:        cfg,
		creds:      creds,
		endpoints:  ep,
		httpClient: cfg.httpClient(),
		required:   normalizeScopes(cfg.Scopes),
		log:        cfg.Logger,
	}
	e.verifier = &verifier{
		clientID:       creds.ClientID,
		presenters:     append([]string{creds.ClientID}, cfg.AllowedClientIDs...),
		hostedDomain:   cfg.HostedDomain,
		leeway:         cfg.leeway(),
		now:            cfg.now,
		keys:           jwks.New(ep.JWKSURL, e.httpClient, cfg.now),
		allowSAccounts: cfg.InsecureAllowServiceAccounts,
	}
	e.retry = retry.Policy{
		MaxAttempts:    cfg.Retry.MaxAttempts,
		InitialBackoff: cfg.Retry.InitialBackoff,
		MaxBackoff:     cfg.Retry.MaxBackoff,
		Budget:         cfg.Retry.Budget,
		Now:            cfg.now,
		Sleep:          cfg.Retry.Sleep,
	}
	e.verifier.keys.OnFetch = e.logKeyFetch
	e.verifier.keys.Retry = e.retry
	e.codes = flight.New[[32]byte, *Result](cfg.now, maxRetainedCodes)
	e.cache = lru.New[*cachedToken](cfg.TokenCacheSize)
	e.refreshes = flight.New[string, *cachedToken](cfg.now, cfg.TokenCacheSize)
	e.tokens = tokenState{
		store:    cfg.Store,
		cipher:   cipher,
		margin:   cfg.RefreshMargin,
		owner:    newOwnerID(),
		failures: make(map[string]int),
		pending:  make(map[string]*Record),
	}
	e.base = http.DefaultTransport
	if cfg.HTTPClient != nil && cfg.HTTPClient.Transport != nil {
		e.base = cfg.HTTPClient.Transport
	}
	return e, nil
}

// storeCipher returns the cipher for stored tokens, refusing a persistent
// store without one unless plaintext was asked for loudly.
func (c *Config) storeCipher() (Cipher, error) {
	switch {
	case c.Cipher != nil && c.InsecurePlaintextTokens:
		return nil, fmt.Errorf("%w: set Cipher or InsecurePlaintextTokens, not both", ErrInvalidConfig)
	case c.Cipher != nil:
		return c.Cipher, nil
	case c.InsecurePlaintextTokens:
		return plaintextCipher{}, nil
	}
	if _, inProcess := c.Store.(*MemoryStore); c.Store == nil || inProcess {
		return plaintextCipher{}, nil // nothing leaves the process
	}
	return nil, fmt.Errorf("%w: Store keeps refresh tokens outside the process, so they must be encrypted (RFC 6749 §10.4): set Cipher (e.g. a Keyring from serverauth.ParseKeyring(os.Getenv(...))) or, knowingly, InsecurePlaintextTokens", ErrInvalidConfig)
}

// ClientID returns the server client's ID.
func (e *Exchanger) ClientID() string { return e.creds.ClientID }

// oauthConfig returns the x/oauth2 configuration for the token endpoint,
// with the client credentials sent one explicit way: in the form body.
// AuthStyleAutoDetect would re-send a failed request, and with it a
// one-time code, with the credentials moved (GOOGLE-PROTOCOL §2).
func (e *Exchanger) oauthConfig(redirectURL string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     e.creds.ClientID,
		ClientSecret: e.creds.ClientSecret,
		Endpoint: oauth2.Endpoint{
			TokenURL:  e.endpoints.TokenURL,
			AuthStyle: oauth2.AuthStyleInParams,
		},
		RedirectURL: redirectURL,
	}
}

// oauth2Context is the one bridge to x/oauth2's context key: it hands x/oauth2
// the Exchanger's HTTP client for calls made under ctx.
func (e *Exchanger) oauth2Context(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, e.httpClient)
}

// logger returns the configured logger or a silent one.
func (e *Exchanger) logger() *slog.Logger {
	if e.log != nil {
		return e.log
	}
	return discardLogger
}

var discardLogger = slog.New(slog.DiscardHandler)

func (e *Exchanger) logKeyFetch(keys, skipped int, ttl time.Duration, err error) {
	l := e.logger()
	if err != nil {
		l.Warn("serverauth: fetching Google's signing keys failed; keeping the last good set", slog.String("error", err.Error()))
		return
	}
	l.Debug("serverauth: fetched Google's signing keys", slog.Int("keys", keys), slog.Int("skipped", skipped), slog.Duration("ttl", ttl))
}

// String identifies the Exchanger by its client ID.
func (e *Exchanger) String() string {
	if e == nil {
		return "<nil>"
	}
	return fmt.Sprintf("serverauth.Exchanger{ClientID:%q}", e.creds.ClientID)
}

// GoString is String.
func (e *Exchanger) GoString() string { return e.String() }
