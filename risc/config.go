package risc

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/internal/retry"
)

// DefaultDedupeWindow is how long a handled event's ID is remembered, and
// how old an event may be, when [Config.DedupeWindow] is zero.
const DefaultDedupeWindow = 7 * 24 * time.Hour

// Config configures a [Receiver]. [NewReceiver] validates it and keeps a
// copy. Every check is on whatever is left zero.
type Config struct {
	// Exchanger is the one whose store and client IDs the events apply to:
	// its grants are deleted or disabled, its clock and HTTP client are the
	// defaults below. Required.
	Exchanger *serverauth.Exchanger

	// Audiences lists every OAuth client ID of the Google Cloud project
	// (web, iOS, Android): a token's aud must name one of them. Nil means
	// the Exchanger's server client ID and its Config.AllowedClientIDs.
	Audiences []string

	// OnEvent is the app's hook, called once per event after the library's
	// own action (see the package documentation) succeeded: end the user's
	// sessions, flag the account, disable account recovery by email. An
	// error makes the Receiver answer 500, so that Google redelivers the
	// event, and both the action and OnEvent run again; it must therefore
	// be idempotent. Its ctx ends after 30 s. Required: Google requires
	// ending sessions on sessions-revoked, which only the app can do; pass
	// a func that returns nil to keep only the library's actions.
	OnEvent func(ctx context.Context, ev *Event) error

	// ConfigurationURL is the RISC configuration document, from which the
	// issuer and the signing keys' URL are read. Empty means
	// GoogleConfigurationURL. It must be https (http only on a loopback
	// host, for emulators such as serverauthtest).
	ConfigurationURL string

	// HTTPClient fetches the configuration and the keys. Nil means the
	// Exchanger's. Redirects to another origin are never followed.
	HTTPClient *http.Client

	// Now is the Receiver's clock, for iat and the dedupe window. Nil means
	// the Exchanger's clock (its Config.Now).
	Now func() time.Time

	// Logger receives the Receiver's diagnostics: events handled, tokens
	// refused and why. Nil means silent. No token, or part of one, reaches
	// it.
	Logger *slog.Logger

	// Events records which events were handled, so that an event Google
	// redelivers is acted on once. Nil means the Exchanger's Store when it
	// implements serverauth.EventLedger (every store in this module does),
	// shared by every process using that store; otherwise a ledger in this
	// process's memory, which another process does not see.
	Events serverauth.EventLedger

	// DedupeWindow is how long a handled event's ID is remembered. It is
	// also the oldest event accepted: an older one is refused (400), since
	// its ID may have been forgotten. Zero means DefaultDedupeWindow (7
	// days).
	DedupeWindow time.Duration

	// Leeway is the clock skew allowed on iat, which may not be in the
	// future. Zero means serverauth.DefaultLeeway; at most
	// serverauth.MaxLeeway.
	Leeway time.Duration

	// Retry says how fetches of the configuration and the keys retry
	// transient failures, as serverauth.Config.Retry. The zero value is the
	// default.
	Retry serverauth.RetryPolicy
}

// configErr builds the *serverauth.ConfigError of a Config field.
func configErr(field, format string, args ...any) error {
	return &serverauth.ConfigError{Field: "risc.Config." + field, Problem: fmt.Sprintf(format, args...)}
}

// resolve validates c and returns it with every default set.
func (c Config) resolve() (Config, error) {
	e := c.Exchanger
	if e == nil {
		return c, configErr("Exchanger", "is required: the Exchanger whose stored grants the events apply to")
	}
	if c.OnEvent == nil {
		return c, configErr("OnEvent", "is required: Google requires ending the user's sessions on sessions-revoked, which only the app can do; pass a func that returns nil to keep only the library's actions")
	}
	if c.Audiences == nil {
		c.Audiences = append([]string{e.ClientID()}, e.AllowedClientIDs()...)
	} else {
		c.Audiences = slices.Clone(c.Audiences)
	}
	if len(c.Audiences) == 0 {
		return c, configErr("Audiences", "is empty: list the project's client IDs, or leave it nil for the Exchanger's")
	}
	for _, a := range c.Audiences {
		if a == "" {
			return c, configErr("Audiences", "has an empty entry")
		}
	}
	if c.ConfigurationURL == "" {
		c.ConfigurationURL = GoogleConfigurationURL
	}
	if err := checkURL(c.ConfigurationURL); err != nil {
		return c, configErr("ConfigurationURL", "%s", err)
	}
	if c.DedupeWindow < 0 {
		return c, configErr("DedupeWindow", "%s must not be negative (zero means %s)", c.DedupeWindow, DefaultDedupeWindow)
	}
	if c.DedupeWindow == 0 {
		c.DedupeWindow = DefaultDedupeWindow
	}
	if c.Leeway < 0 || c.Leeway > serverauth.MaxLeeway {
		return c, configErr("Leeway", "%s must be between 0 and %s (zero means %s)", c.Leeway, serverauth.MaxLeeway, serverauth.DefaultLeeway)
	}
	if c.Leeway == 0 {
		c.Leeway = serverauth.DefaultLeeway
	}
	if c.Now == nil {
		c.Now = e.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.HTTPClient == nil {
		c.HTTPClient = e.HTTPClient()
	} else {
		c.HTTPClient = sameOriginRedirects(c.HTTPClient)
	}
	if c.Events == nil {
		if l, ok := e.Store().(serverauth.EventLedger); ok {
			c.Events = l
		} else {
			c.Events = serverauth.NewMemoryStore()
			if _, inProcess := e.Store().(*serverauth.MemoryStore); e.Store() != nil && !inProcess {
				c.Logger.Warn("risc: the Exchanger's Store is not a serverauth.EventLedger: handled events are remembered in this process only, so another replica acts on a redelivery again; set Config.Events to a shared ledger")
			}
		}
	}
	return c, nil
}

// retryPolicy is the internal form of c.Retry.
func (c *Config) retryPolicy() retry.Policy {
	return retry.Policy{
		MaxAttempts:    c.Retry.MaxAttempts,
		InitialBackoff: c.Retry.InitialBackoff,
		MaxBackoff:     c.Retry.MaxBackoff,
		Budget:         c.Retry.Budget,
		Now:            c.Now,
		Sleep:          c.Retry.Sleep,
	}
}

// sameOriginRedirects returns a copy of hc that never follows a redirect to
// another origin (RFC 6454), so that a fetch meant for Google's host is not
// answered by another one.
func sameOriginRedirects(hc *http.Client) *http.Client {
	c := *hc
	next := c.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
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
	return &c
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host)
}
