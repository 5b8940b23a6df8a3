// Package jwks fetches and caches the RSA signing keys of a JWK Set URL
// under this key-fetch policy (Google rotates its keys often and says how
// long to cache them in Cache-Control; see
// developers.google.com/identity/openid-connect/openid-connect):
//
//   - a key set is fresh for max-age − Age (a missing Age counts as 0),
//     clamped to [MinTTL, MaxTTL];
//   - an unknown kid triggers one refetch, single-flighted, at most once per
//     UnknownKeyInterval;
//   - nothing here refetches because a signature failed;
//   - when a fetch fails, the last good set keeps serving for up to
//     StaleWindow past its freshness, and fetches back off;
//   - concurrent callers share one fetch, each able to give up through its
//     own context; the fetch runs detached with its own timeout;
//   - bodies are capped at MaxBodySize.
//
// All times come from the injected clock.
package jwks

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/serverauth/serverauth/internal/flight"
	"github.com/serverauth/serverauth/internal/retry"
)

// Policy constants.
const (
	MinTTL             = 5 * time.Minute
	MaxTTL             = 24 * time.Hour
	StaleWindow        = 24 * time.Hour
	UnknownKeyInterval = 60 * time.Second
	FetchTimeout       = 5 * time.Second
	MaxBodySize        = 1 << 20
	minBackoff         = 5 * time.Second
	maxBackoff         = 5 * time.Minute
	minModulusBits     = 2048
)

// Errors returned by Key.
var (
	// ErrUnknownKey: the kid is not in a fresh key set (after any refetch
	// the policy allowed).
	ErrUnknownKey = errors.New("no signing key with this kid")
	// ErrUnavailable: no usable key set could be had; retry later.
	ErrUnavailable = errors.New("signing keys unavailable")
)

// set is one fetched key set; immutable once published.
type set struct {
	keys       map[string]*rsa.PublicKey
	gen        uint64 // the keys' generation: see Cache.Lookup
	fetched    time.Time
	freshUntil time.Time
}

// Config configures a Cache.
type Config struct {
	URL    string           // the JWK Set
	Client *http.Client     // makes the fetches
	Now    func() time.Time // the clock every lifetime and backoff reads

	// Retry retries a failed fetch within FetchTimeout: network errors,
	// broken bodies, 5xx, 408 and 429.
	Retry retry.Policy

	// OnFetch, when set, is told the outcome of every fetch (for logging).
	OnFetch func(keys, skipped int, ttl time.Duration, err error)

	// Observe, when set, is called as a fetch starts, with the context of
	// the caller that started it; the fetch runs under the context it
	// returns, and done is called once with the requests made and the
	// fetch's error.
	Observe func(ctx context.Context) (_ context.Context, done func(attempts int, err error))
}

// Cache is a JWK Set cache. It is safe for concurrent use.
type Cache struct {
	cfg     Config
	fetches *flight.Group[struct{}, struct{}] // at most one fetch at a time

	cur atomic.Pointer[set] // the last good set, read without locking

	mu             sync.Mutex // guards the fields below
	lastKidRefetch time.Time  // the last refetch an unknown kid triggered
	retryAt        time.Time  // after a failure, no fetch before this
	backoff        time.Duration
}

// New returns a cache configured by cfg. It fetches nothing until asked.
func New(cfg Config) *Cache {
	return &Cache{cfg: cfg, fetches: flight.New[struct{}, struct{}](cfg.Now, 1)}
}

// inFlight reports whether a fetch is running (finished fetches are not
// retained, so the group holds only a running one).
func (c *Cache) inFlight() bool { return c.fetches.Len() > 0 }

// Key returns the RSA key for kid. It fails with ErrUnknownKey when a
// fresh set lacks kid and the policy allows no refetch, and with
// ErrUnavailable (retryable) when the keys could not be had.
func (c *Cache) Key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	k, _, err := c.Lookup(ctx, kid, c.cfg.Now())
	return k, err
}

// Lookup is Key at now (the caller's reading of the injected clock), and
// also returns the generation of the key set the key came from. A generation names one content of the key set: a refetch
// that brings the same keys keeps it (and the same *rsa.PublicKey values),
// any change (a key added, removed or replaced) starts a new one. So a
// result derived from a key, such as a verified signature, still holds
// while Lookup returns the same generation for its kid.
func (c *Cache) Lookup(ctx context.Context, kid string, now time.Time) (*rsa.PublicKey, uint64, error) {
	s := c.cur.Load()
	switch {
	case s != nil && now.Before(s.freshUntil):
		if k := s.keys[kid]; k != nil {
			return k, s.gen, nil
		}
		// Unknown kid on a fresh set: refetch at most once per interval.
		if !c.mayRefetchForKid(now) {
			return nil, 0, ErrUnknownKey
		}
	case !c.mayFetch(now):
		// Inside the backoff after a failed fetch: no network, serve the
		// last good set while its stale window lasts.
		return lookupStale(s, kid, now, errors.New("last fetch failed; backing off"))
	}

	if err := c.fetch(ctx, s); err != nil {
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		return lookupStale(c.cur.Load(), kid, c.cfg.Now(), err)
	}
	cur := c.cur.Load()
	if k := cur.keys[kid]; k != nil {
		return k, cur.gen, nil
	}
	return nil, 0, ErrUnknownKey
}

// lookupStale serves kid from the last good set s (nil if none) after a
// failed fetch, while s is within its stale window; anything else is
// ErrUnavailable, since kid may be a key that could not be fetched.
func lookupStale(s *set, kid string, now time.Time, fetchErr error) (*rsa.PublicKey, uint64, error) {
	if s != nil && now.Before(s.freshUntil.Add(StaleWindow)) {
		if k := s.keys[kid]; k != nil {
			return k, s.gen, nil
		}
	}
	return nil, 0, fmt.Errorf("%w: %w", ErrUnavailable, fetchErr)
}

// mayFetch reports whether a fetch may start now: one is in flight (join
// it) or no failure backoff is running.
func (c *Cache) mayFetch(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inFlight() || !now.Before(c.retryAt)
}

// mayRefetchForKid reports whether an unknown kid may trigger a refetch now,
// and if so records it: at most one per UnknownKeyInterval, none inside a
// failure backoff. A fetch in flight may always be joined.
func (c *Cache) mayRefetchForKid(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.inFlight():
		return true
	case now.Before(c.retryAt):
		return false
	case !c.lastKidRefetch.IsZero() && now.Before(c.lastKidRefetch.Add(UnknownKeyInterval)):
		return false
	}
	c.lastKidRefetch = now
	return true
}

// fetch joins the fetch in flight or starts one, and waits for it or ctx.
// seen is the set the caller found wanting: a fetch that finished since
// replaced it, so a caller who arrives just after one is not sent again.
// The fetch runs detached from ctx, bounded by FetchTimeout, so a caller
// giving up neither cancels it nor fails the others.
func (c *Cache) fetch(ctx context.Context, seen *set) error {
	_, err, _ := c.fetches.Do(ctx, struct{}{}, FetchTimeout, func(ctx context.Context) (struct{}, error) {
		if c.cur.Load() != seen {
			return struct{}{}, nil
		}
		return c.run(ctx)
	}, nil)
	return err
}

// Fetched returns when the key set in use was fetched; zero before the
// first successful fetch.
func (c *Cache) Fetched() time.Time {
	if s := c.cur.Load(); s != nil {
		return s.fetched
	}
	return time.Time{}
}

// run performs one fetch.
func (c *Cache) run(ctx context.Context) (_ struct{}, err error) {
	var (
		s        *set
		skipped  int
		attempts int
	)
	if c.cfg.Observe != nil {
		var done func(int, error)
		ctx, done = c.cfg.Observe(ctx)
		defer func() { done(attempts, err) }()
	}
	err = c.cfg.Retry.Do(ctx, func(ctx context.Context) (retry.Decision, error) {
		attempts++
		var err error
		s, skipped, err = c.get(ctx)
		var se statusError
		switch {
		case err == nil:
			return retry.Stop, nil
		case errors.As(err, &se) && se < 500 && se != http.StatusRequestTimeout && se != http.StatusTooManyRequests:
			return retry.Stop, err
		}
		return retry.Again, err
	})
	c.mu.Lock()
	if err == nil {
		prev := c.cur.Load()
		switch {
		case prev == nil:
			s.gen = 1
		case sameKeys(prev.keys, s.keys):
			s.keys, s.gen = prev.keys, prev.gen
		default:
			s.gen = prev.gen + 1
		}
		c.cur.Store(s)
		c.backoff, c.retryAt = 0, time.Time{}
	} else {
		c.backoff = min(max(2*c.backoff, minBackoff), maxBackoff)
		c.retryAt = c.cfg.Now().Add(c.backoff)
	}
	c.mu.Unlock()
	if c.cfg.OnFetch != nil {
		n, ttl := 0, time.Duration(0)
		if s != nil {
			n, ttl = len(s.keys), s.freshUntil.Sub(s.fetched)
		}
		c.cfg.OnFetch(n, skipped, ttl, err)
	}
	return struct{}{}, err
}

// get fetches and parses the key set.
func (c *Cache) get(ctx context.Context) (*set, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.cfg.URL, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.cfg.Client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("fetching keys: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodySize+1))
	if err != nil {
		return nil, 0, fmt.Errorf("reading keys: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("fetching keys: %w", statusError(resp.StatusCode))
	}
	if len(body) > MaxBodySize {
		return nil, 0, errors.New("key set larger than 1 MiB")
	}
	keys, skipped, err := Parse(body)
	if err != nil {
		return nil, skipped, err
	}
	now := c.cfg.Now()
	ttl := TTL(resp.Header)
	return &set{keys: keys, fetched: now, freshUntil: now.Add(ttl)}, skipped, nil
}

// sameKeys reports whether two key sets hold the same keys under the same
// kids.
func sameKeys(a, b map[string]*rsa.PublicKey) bool {
	if len(a) != len(b) {
		return false
	}
	for kid, k := range a {
		if o := b[kid]; o == nil || !k.Equal(o) {
			return false
		}
	}
	return true
}

// statusError is a key-set response's unexpected HTTP status.
type statusError int

func (s statusError) Error() string { return "HTTP " + strconv.Itoa(int(s)) }

// TTL computes a key set's freshness from its response headers:
// max-age − Age, clamped to [MinTTL, MaxTTL]. A missing or unparsable Age
// counts as 0; a missing max-age, no-cache or no-store gives MinTTL.
func TTL(h http.Header) time.Duration {
	maxAge := -1
	for _, d := range strings.Split(h.Get("Cache-Control"), ",") {
		d = strings.TrimSpace(strings.ToLower(d))
		switch {
		case d == "no-cache" || d == "no-store":
			return MinTTL
		case strings.HasPrefix(d, "max-age="):
			if n, err := strconv.Atoi(strings.Trim(d[len("max-age="):], `"`)); err == nil && n >= 0 {
				maxAge = n
			}
		}
	}
	if maxAge < 0 {
		return MinTTL
	}
	age, err := strconv.Atoi(strings.TrimSpace(h.Get("Age")))
	if err != nil || age < 0 {
		age = 0
	}
	ttl := time.Duration(maxAge-age) * time.Second
	return min(max(ttl, MinTTL), MaxTTL)
}

// jwk is one member of a JWK Set, as far as it matters here.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// Parse decodes a JWK Set and returns its usable RS256 signing keys by kid,
// and how many members it skipped as unusable (wrong type, use or
// algorithm, weak or malformed, duplicate kid). A set with no usable key is
// an error.
func Parse(body []byte) (map[string]*rsa.PublicKey, int, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, 0, errors.New("key set is not a JSON object with a keys array")
	}
	keys := make(map[string]*rsa.PublicKey, len(doc.Keys))
	skipped := 0
	for _, k := range doc.Keys {
		pub := k.rsaKey()
		if pub == nil || keys[k.Kid] != nil {
			skipped++
			continue
		}
		keys[k.Kid] = pub
	}
	if len(keys) == 0 {
		return nil, skipped, errors.New("key set has no usable RS256 key")
	}
	return keys, skipped, nil
}

// rsaKey returns k as an RSA public key, or nil when it is not a usable
// RS256 signing key.
func (k *jwk) rsaKey() *rsa.PublicKey {
	if k.Kty != "RSA" || k.Kid == "" || (k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != "RS256") {
		return nil
	}
	n, err1 := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.N, "="))
	e, err2 := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.E, "="))
	if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
		return nil
	}
	mod := new(big.Int).SetBytes(n)
	exp := int(new(big.Int).SetBytes(e).Int64())
	if mod.BitLen() < minModulusBits || exp < 3 || exp%2 == 0 {
		return nil
	}
	return &rsa.PublicKey{N: mod, E: exp}
}
