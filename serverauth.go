package serverauth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/serverauth/serverauth/internal/flight"
	"github.com/serverauth/serverauth/internal/jwks"
	"github.com/serverauth/serverauth/internal/retry"
)

// Exchanger does the server side of Google Sign-In for one web (server)
// OAuth client. Create it with [New]; it is safe for concurrent use, and
// one Exchanger per process is the intended use.
type Exchanger struct {
	cfg      Config // resolved by New: validated, defaults set, credentials read
	verifier *verifier
	retry    retry.Policy
	base     http.RoundTripper                         // under Client's authorising transport
	owner    string                                    // this Exchanger's lease owner ID
	renew    time.Duration                             // how often a held lease is renewed: leaseRenewEvery
	codes    *flight.Group[[32]byte, *exchangeOutcome] // the duplicate-code window
	users    *users                                    // every user's in-memory state
	stats    stats                                     // counters for Stats
	secret   secretInUse                               // which client secret Google last accepted
}

// Bounds of an exchange.
const (
	exchangeTimeout  = 30 * time.Second
	maxRetainedCodes = 10000
)

// New validates cfg and returns an Exchanger. It performs no I/O beyond
// reading Config.ClientSecretsFile and starts no goroutines.
func New(cfg Config) (*Exchanger, error) {
	creds, err := cfg.credentials()
	if err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if p := cfg.PreviousClientSecret; p != "" && (p == creds.ClientSecret || strings.TrimSpace(p) != p) {
		return nil, configErr("PreviousClientSecret", "must be the secret before the current one: it is the current secret itself or has surrounding whitespace")
	}
	cfg = cfg.withDefaults()
	cfg.ClientID, cfg.ClientSecret = creds.ClientID, creds.ClientSecret
	e := &Exchanger{cfg: cfg, owner: newOwnerID(), renew: leaseRenewEvery, base: http.DefaultTransport}
	if t := cfg.HTTPClient.Transport; t != nil {
		e.base = t
	}
	e.retry = retry.Policy{
		MaxAttempts:    cfg.Retry.MaxAttempts,
		InitialBackoff: cfg.Retry.InitialBackoff,
		MaxBackoff:     cfg.Retry.MaxBackoff,
		Budget:         cfg.Retry.Budget,
		Now:            cfg.Now,
		Sleep:          cfg.Retry.Sleep,
	}
	e.verifier = &verifier{
		clientID:       cfg.ClientID,
		presenters:     append([]string{cfg.ClientID}, cfg.AllowedClientIDs...),
		hostedDomain:   cfg.HostedDomain,
		leeway:         cfg.Leeway,
		now:            cfg.Now,
		allowSAccounts: cfg.InsecureAllowServiceAccounts,
		keys: jwks.New(jwks.Config{
			URL:     cfg.Endpoints.JWKSURL,
			Client:  cfg.HTTPClient,
			Now:     cfg.Now,
			Retry:   e.retry,
			OnFetch: e.logKeyFetch,
			Observe: e.observeKeyFetch,
		}),
		verified: newVerifyCache(cfg.IDTokenCacheSize),
	}
	e.codes = flight.New[[32]byte, *exchangeOutcome](cfg.Now, maxRetainedCodes)
	e.users = newUsers(cfg.Now, cfg.TokenCacheSize, &e.stats.cacheHits)
	return e, nil
}

// newOwnerID returns a random lease owner ID for one Exchanger.
func newOwnerID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ClientID returns the server client's ID.
func (e *Exchanger) ClientID() string { return e.cfg.ClientID }

// AllowedClientIDs returns a copy of Config.AllowedClientIDs: the project's
// other clients (iOS, Android).
func (e *Exchanger) AllowedClientIDs() []string { return slices.Clone(e.cfg.AllowedClientIDs) }

// Now returns the time on the Exchanger's clock, Config.Now.
func (e *Exchanger) Now() time.Time { return e.cfg.Now() }

// HTTPClient returns the client the Exchanger calls Google with:
// Config.HTTPClient, or the default, with redirects to another origin
// refused. Code that calls Google on the Exchanger's behalf (package risc)
// uses it too.
func (e *Exchanger) HTTPClient() *http.Client { return e.cfg.HTTPClient }

// Store returns Config.Store, nil when there is none.
func (e *Exchanger) Store() TokenStore { return e.cfg.Store }

// oauthConfig returns the x/oauth2 configuration for the token endpoint
// with the given client secret, sent one explicit way: in the form body.
// AuthStyleAutoDetect would re-send a failed request, and with it a
// one-time code, with the credentials moved; Google accepts either (RFC 6749
// §2.3.1), and a code can be redeemed only once.
func (e *Exchanger) oauthConfig(redirectURL, secret string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     e.cfg.ClientID,
		ClientSecret: secret,
		Endpoint: oauth2.Endpoint{
			TokenURL:  e.cfg.Endpoints.TokenURL,
			AuthStyle: oauth2.AuthStyleInParams,
		},
		RedirectURL: redirectURL,
	}
}

// oauth2Context is the one bridge to x/oauth2's context key: it hands x/oauth2
// the Exchanger's HTTP client for calls made under ctx.
func (e *Exchanger) oauth2Context(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, e.cfg.HTTPClient)
}

func (e *Exchanger) logKeyFetch(keys, skipped int, ttl time.Duration, err error) {
	l := e.cfg.Logger
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
	return fmt.Sprintf("serverauth.Exchanger{ClientID:%q}", e.cfg.ClientID)
}

// GoString is String.
func (e *Exchanger) GoString() string { return e.String() }
