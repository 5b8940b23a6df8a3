package risc

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/serverauth/serverauth/internal/flight"
	"github.com/serverauth/serverauth/internal/jwks"
	"github.com/serverauth/serverauth/internal/retry"
)

// GoogleConfigurationURL is Google's RISC configuration document
// (developers.google.com/identity/protocols/risc): the issuer of its
// security event tokens and the URL of their signing keys.
const GoogleConfigurationURL = "https://accounts.google.com/.well-known/risc-configuration"

// Discovery fetch policy: the document is cached like the key set (see
// internal/jwks: max-age − Age clamped to [5 min, 24 h], the last good one
// kept through failures for a day, failures backing off).
const (
	discoveryStale   = jwks.StaleWindow
	minFetchBackoff  = 5 * time.Second
	maxFetchBackoff  = 5 * time.Minute
	discoveryTimeout = jwks.FetchTimeout
	maxDiscoveryBody = jwks.MaxBodySize
)

// errKeysUnavailable means the discovery document or the keys could not be
// had: the token may be good, so the answer is 503 and Google redelivers.
var errKeysUnavailable = errors.New("risc: Google's RISC configuration or signing keys are unavailable")

// discovered is one fetched configuration document and the key cache of its
// jwks_uri; immutable once published.
type discovered struct {
	issuer     string
	jwksURI    string
	keys       *jwks.Cache
	freshUntil time.Time
}

// keySource fetches and caches the RISC configuration and, through it, the
// signing keys. It is safe for concurrent use.
type keySource struct {
	url    string
	client *http.Client
	now    func() time.Time
	retry  retry.Policy
	log    *slog.Logger

	fetches *flight.Group[struct{}, struct{}] // one discovery fetch at a time
	cur     atomic.Pointer[discovered]        // the last good document

	mu      sync.Mutex // guards retryAt and backoff
	retryAt time.Time  // after a failed fetch, none before this
	backoff time.Duration
}

func newKeySource(configURL string, client *http.Client, now func() time.Time, rp retry.Policy, log *slog.Logger) *keySource {
	return &keySource{url: configURL, client: client, now: now, retry: rp, log: log, fetches: flight.New[struct{}, struct{}](now, 1)}
}

// key returns the RISC issuer and the signing key kid. An unknown kid is
// jwks.ErrUnknownKey (after the one rate-limited refetch the key cache
// allows); anything that kept the keys from being had wraps
// errKeysUnavailable.
func (k *keySource) key(ctx context.Context, kid string) (string, *rsa.PublicKey, error) {
	d, err := k.document(ctx)
	if err != nil {
		return "", nil, err
	}
	pub, err := d.keys.Key(ctx, kid)
	switch {
	case errors.Is(err, jwks.ErrUnknownKey):
		return d.issuer, nil, err
	case err != nil:
		return d.issuer, nil, fmt.Errorf("%w: %w", errKeysUnavailable, err)
	}
	return d.issuer, pub, nil
}

// document returns a fresh configuration document, fetching it when the
// cached one is stale, or the last good one within its stale window when a
// fetch fails.
func (k *keySource) document(ctx context.Context) (*discovered, error) {
	now := k.now()
	d := k.cur.Load()
	if d != nil && now.Before(d.freshUntil) {
		return d, nil
	}
	k.mu.Lock()
	backingOff := now.Before(k.retryAt) && k.fetches.Len() == 0
	k.mu.Unlock()
	var err error
	if backingOff {
		err = errors.New("the last fetch failed; backing off")
	} else {
		_, err, _ = k.fetches.Do(ctx, struct{}{}, discoveryTimeout, func(ctx context.Context) (struct{}, error) {
			if k.cur.Load() != d {
				return struct{}{}, nil // fetched while this caller waited
			}
			return struct{}{}, k.fetch(ctx, d)
		}, nil)
	}
	if err == nil {
		return k.cur.Load(), nil
	}
	if d != nil && k.now().Before(d.freshUntil.Add(discoveryStale)) {
		return d, nil
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%w: %w", errKeysUnavailable, ctx.Err())
	}
	return nil, fmt.Errorf("%w: %w", errKeysUnavailable, err)
}

// fetch gets the document and publishes it; prev is the one it replaces.
func (k *keySource) fetch(ctx context.Context, prev *discovered) error {
	var d *discovered
	err := k.retry.Do(ctx, func(ctx context.Context) (retry.Decision, error) {
		var (
			status int
			err    error
		)
		d, status, err = k.get(ctx)
		switch {
		case err == nil:
			return retry.Stop, nil
		case status != 0 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests:
			return retry.Stop, err
		}
		return retry.Again, err
	})
	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil {
		k.backoff = min(max(2*k.backoff, minFetchBackoff), maxFetchBackoff)
		k.retryAt = k.now().Add(k.backoff)
		k.log.Warn("risc: fetching Google's RISC configuration failed", slog.String("url", k.url), slog.String("error", err.Error()))
		return err
	}
	k.backoff, k.retryAt = 0, time.Time{}
	if prev != nil && prev.jwksURI == d.jwksURI {
		d.keys = prev.keys // same key set: keep its cache
	} else {
		d.keys = jwks.New(jwks.Config{URL: d.jwksURI, Client: k.client, Now: k.now, Retry: k.retry, OnFetch: k.logKeyFetch})
	}
	k.cur.Store(d)
	k.log.Debug("risc: fetched Google's RISC configuration", slog.String("issuer", d.issuer), slog.String("jwks_uri", d.jwksURI))
	return nil
}

func (k *keySource) logKeyFetch(keys, skipped int, ttl time.Duration, err error) {
	if err != nil {
		k.log.Warn("risc: fetching Google's RISC signing keys failed; keeping the last good set", slog.String("error", err.Error()))
		return
	}
	k.log.Debug("risc: fetched Google's RISC signing keys", slog.Int("keys", keys), slog.Int("skipped", skipped), slog.Duration("ttl", ttl))
}

// get makes one request for the document. status is the HTTP status of an
// answer that was not 200, 0 otherwise.
func (k *keySource) get(ctx context.Context) (*discovered, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("fetching the RISC configuration: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDiscoveryBody+1))
	if err != nil {
		return nil, 0, fmt.Errorf("reading the RISC configuration: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode, fmt.Errorf("fetching the RISC configuration: HTTP %s", strconv.Itoa(resp.StatusCode))
	}
	if len(body) > maxDiscoveryBody {
		return nil, 0, errors.New("the RISC configuration is larger than 1 MiB")
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, 0, errors.New("the RISC configuration is not a strict JSON object with string issuer and jwks_uri")
	}
	if doc.Issuer == "" {
		return nil, 0, errors.New("the RISC configuration has no issuer")
	}
	if err := checkURL(doc.JWKSURI); err != nil {
		return nil, 0, fmt.Errorf("the RISC configuration's jwks_uri: %w", err)
	}
	now := k.now()
	return &discovered{issuer: doc.Issuer, jwksURI: doc.JWKSURI, freshUntil: now.Add(jwks.TTL(resp.Header))}, 0, nil
}

// checkURL accepts an absolute https URL without user info or fragment, or
// http on a loopback host (for emulators).
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%q is not an absolute URL without user info or fragment", s)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && loopback(u.Hostname()):
	default:
		return fmt.Errorf("%q must use https (http is allowed only on a loopback host, for emulators)", s)
	}
	return nil
}

// loopback reports whether host names the local machine.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
