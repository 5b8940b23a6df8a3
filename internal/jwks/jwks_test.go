package jwks

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serverauth/serverauth/internal/retry"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var (
	keysOnce sync.Once
	keys     [2]*rsa.PrivateKey
)

func testKeys() [2]*rsa.PrivateKey {
	keysOnce.Do(func() {
		for i := range keys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			keys[i] = k
		}
	})
	return keys
}

func jwkJSON(kid string, pub *rsa.PublicKey, extra string) string {
	n := base64.RawURLEncoding.EncodeToString(pub.N.Bytes())
	e := base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
	return fmt.Sprintf(`{"kty":"RSA","kid":%q,"use":"sig","alg":"RS256","n":%q,"e":%q%s}`, kid, n, e, extra)
}

// keyServer serves a JWK Set and counts fetches.
type keyServer struct {
	*httptest.Server
	fetches atomic.Int32

	mu      sync.Mutex // guards the fields below
	body    string
	header  http.Header
	status  int
	gate    chan struct{} // when non-nil, requests wait for it to close
	started chan struct{}
}

func newKeyServer(t *testing.T, kids ...string) *keyServer {
	ks := &keyServer{status: 200, header: http.Header{"Cache-Control": {"public, max-age=3600"}}}
	ks.setKeys(kids...)
	ks.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ks.fetches.Add(1)
		ks.mu.Lock()
		gate, started, body, status := ks.gate, ks.started, ks.body, ks.status
		for k, v := range ks.header {
			w.Header()[k] = v
		}
		ks.mu.Unlock()
		if started != nil {
			started <- struct{}{}
		}
		if gate != nil {
			<-gate
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(ks.Close)
	return ks
}

func (ks *keyServer) setKeys(kids ...string) {
	var members []string
	for i, kid := range kids {
		members = append(members, jwkJSON(kid, &testKeys()[i%2].PublicKey, ""))
	}
	ks.set(func() { ks.body = `{"keys":[` + strings.Join(members, ",") + `]}` })
}

func (ks *keyServer) set(f func()) { ks.mu.Lock(); f(); ks.mu.Unlock() }

// newCache returns a cache without retries, so tests count one fetch per
// attempt; TestFetchRetries covers retrying.
func newCache(ks *keyServer, c *clock) *Cache {
	cache := New(Config{URL: ks.URL, Client: ks.Client(), Now: c.Now, Retry: retry.Policy{MaxAttempts: 1}})
	return cache
}

func start() *clock { return &clock{t: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)} }

func mustKey(t *testing.T, c *Cache, kid string) {
	t.Helper()
	if _, err := c.Key(context.Background(), kid); err != nil {
		t.Fatalf("Key(%q) = %v, want a key", kid, err)
	}
}

func wantFetches(t *testing.T, ks *keyServer, n int32) {
	t.Helper()
	if got := ks.fetches.Load(); got != n {
		t.Fatalf("fetches = %d, want %d", got, n)
	}
}

func TestTTL(t *testing.T) {
	tests := []struct {
		name         string
		cacheControl string
		age          string
		want         time.Duration
	}{
		{"max-age without Age", "public, max-age=21155, must-revalidate, no-transform", "", 21155 * time.Second},
		{"Age subtracted", "public, max-age=21155", "155", 21000 * time.Second},
		{"unparsable Age counts as zero", "max-age=3600", "soon", time.Hour},
		{"clamped up", "max-age=10", "", MinTTL},
		{"Age past max-age clamps up", "max-age=3600", "7200", MinTTL},
		{"clamped down", "max-age=864000", "", MaxTTL},
		{"no Cache-Control", "", "", MinTTL},
		{"no-cache", "no-cache, max-age=3600", "", MinTTL},
		{"no-store", "no-store", "", MinTTL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.cacheControl != "" {
				h.Set("Cache-Control", tt.cacheControl)
			}
			if tt.age != "" {
				h.Set("Age", tt.age)
			}
			if got := TTL(h); got != tt.want {
				t.Errorf("TTL(%q, Age %q) = %s, want %s", tt.cacheControl, tt.age, got, tt.want)
			}
		})
	}
}

func TestCacheHonoursMaxAgeWithoutAge(t *testing.T) {
	ks, clk := newKeyServer(t, "a"), start()
	c := newCache(ks, clk)
	mustKey(t, c, "a")
	clk.Advance(time.Hour - time.Second)
	mustKey(t, c, "a")
	wantFetches(t, ks, 1)
	clk.Advance(2 * time.Second)
	mustKey(t, c, "a")
	wantFetches(t, ks, 2)
}

func TestCacheSubtractsAge(t *testing.T) {
	ks, clk := newKeyServer(t, "a"), start()
	ks.set(func() { ks.header.Set("Age", "1800") })
	c := newCache(ks, clk)
	mustKey(t, c, "a")
	clk.Advance(30*time.Minute + time.Second)
	mustKey(t, c, "a")
	wantFetches(t, ks, 2)
}

func TestUnknownKidRefetchesOnceAndIsRateLimited(t *testing.T) {
	ks, clk := newKeyServer(t, "a"), start()
	c := newCache(ks, clk)
	mustKey(t, c, "a")

	// A rotated-in key: found by one refetch.
	ks.setKeys("a", "b")
	mustKey(t, c, "b")
	wantFetches(t, ks, 2)

	// Forged kids right after: no network.
	for i := 0; i < 100; i++ {
		if _, err := c.Key(context.Background(), fmt.Sprint("forged", i)); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("Key(forged) = %v, want ErrUnknownKey", err)
		}
	}
	wantFetches(t, ks, 2)

	// After the interval, one more refetch is allowed.
	clk.Advance(UnknownKeyInterval)
	if _, err := c.Key(context.Background(), "forged"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Key(forged) = %v, want ErrUnknownKey", err)
	}
	wantFetches(t, ks, 3)
}

func TestConcurrentColdStartFetchesOnce(t *testing.T) {
	ks, clk := newKeyServer(t, "a"), start()
	gate := make(chan struct{})
	ks.set(func() { ks.gate = gate })
	c := newCache(ks, clk)

	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Key(context.Background(), "a")
			errs <- err
		}()
	}
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Key = %v", err)
		}
	}
	wantFetches(t, ks, 1)
}

func TestConcurrentUnknownKidFetchesOnce(t *testing.T) {
	ks, clk := newKeyServer(t, "a"), start()
	c := newCache(ks, clk)
	mustKey(t, c, "a")
	ks.setKeys("a", "b")
	gate := make(chan struct{})
	ks.set(func() { ks.gate = gate })
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); c.Key(context.Background(), "b") }()
	}
	close(gate)
	wg.Wait()
	wantFetches(t, ks, 2)
	mustKey(t, c, "b")
}

func TestFailedFetchKeepsLastGoodKeysAndBacksOff(t *testing.T) {
	ks, clk := newKeyServer(t, "a"), start()
	c := newCache(ks, clk)
	mustKey(t, c, "a")
	ks.set(func() { ks.status = http.StatusServiceUnavailable })

	clk.Advance(time.Hour + time.Second) // stale
	mustKey(t, c, "a")                   // served stale after the failed fetch
	wantFetches(t, ks, 2)
	if _, err := c.Key(context.Background(), "new"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Key(unknown kid while failing) = %v, want ErrUnavailable (retryable)", err)
	}
	// Inside the backoff: no network at all.
	for i := 0; i < 20; i++ {
		mustKey(t, c, "a")
	}
	wantFetches(t, ks, 2)

	clk.Advance(minBackoff)
	mustKey(t, c, "a")
	wantFetches(t, ks, 3)

	// Recovery resets the backoff and the freshness.
	ks.set(func() { ks.status = http.StatusOK })
	clk.Advance(2 * minBackoff)
	mustKey(t, c, "a")
	wantFetches(t, ks, 4)
	mustKey(t, c, "a")
	wantFetches(t, ks, 4)
}

func TestStaleKeysExpireAfterStaleWindow(t *testing.T) {
	ks, clk := newKeyServer(t, "a"), start()
	c := newCache(ks, clk)
	mustKey(t, c, "a")
	ks.set(func() { ks.status = http.StatusInternalServerError })
	clk.Advance(time.Hour + StaleWindow + time.Second)
	if _, err := c.Key(context.Background(), "a"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Key after stale window = %v, want ErrUnavailable", err)
	}
}

func TestColdStartFailureBacksOff(t *testing.T) {
	ks, clk := newKeyServer(t, "a"), start()
	ks.set(func() { ks.status = http.StatusBadGateway })
	c := newCache(ks, clk)
	for i := 0; i < 10; i++ {
		if _, err := c.Key(context.Background(), "a"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Key = %v, want ErrUnavailable", err)
		}
	}
	wantFetches(t, ks, 1)
}

func TestWaiterGivesUpWithoutCancellingFetch(t *testing.T) {
	ks, clk := newKeyServer(t, "a"), start()
	gate, started := make(chan struct{}), make(chan struct{}, 1)
	ks.set(func() { ks.gate, ks.started = gate, started })
	c := newCache(ks, clk)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err := c.Key(ctx, "a"); done <- err }()
	<-started
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Key(cancelled) = %v, want context.Canceled", err)
	}
	close(gate)
	// The detached fetch completes; the next caller joins it or finds its result.
	mustKey(t, c, "a")
	wantFetches(t, ks, 1)
}

func TestBodyLimit(t *testing.T) {
	ks, clk := newKeyServer(t, "a"), start()
	ks.set(func() { ks.body = `{"keys":[],"pad":"` + strings.Repeat("x", MaxBodySize) + `"}` })
	if _, err := newCache(ks, clk).Key(context.Background(), "a"); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "1 MiB") {
		t.Fatalf("Key(huge body) = %v, want ErrUnavailable mentioning 1 MiB", err)
	}
}

func TestParseSkipsUnusableKeys(t *testing.T) {
	pub := &testKeys()[0].PublicKey
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		member string
	}{
		{"kty EC", strings.Replace(jwkJSON("x", pub, ""), `"kty":"RSA"`, `"kty":"EC"`, 1)},
		{"use enc", strings.Replace(jwkJSON("x", pub, ""), `"use":"sig"`, `"use":"enc"`, 1)},
		{"alg RS512", strings.Replace(jwkJSON("x", pub, ""), `"alg":"RS256"`, `"alg":"RS512"`, 1)},
		{"1024-bit modulus", jwkJSON("x", &weak.PublicKey, "")},
		{"e = 1", strings.Replace(jwkJSON("x", pub, ""), `"e":"AQAB"`, `"e":"AQ"`, 1)},
		{"e even", strings.Replace(jwkJSON("x", pub, ""), `"e":"AQAB"`, `"e":"AQAC"`, 1)},
		{"n not base64url", strings.Replace(jwkJSON("x", pub, ""), `"n":"`, `"n":"!!`, 1)},
		{"no kid", strings.Replace(jwkJSON("", pub, ""), `"kid":"",`, ``, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, skipped, err := Parse([]byte(`{"keys":[` + tt.member + `,` + jwkJSON("good", pub, "") + `]}`))
			if err != nil || skipped != 1 || got["good"] == nil || len(got) != 1 {
				t.Fatalf("Parse(%s + good) = %d keys, %d skipped, %v; want the good key only", tt.name, len(got), skipped, err)
			}
			if _, _, err := Parse([]byte(`{"keys":[` + tt.member + `]}`)); err == nil {
				t.Errorf("Parse(only %s) = nil error, want no usable key", tt.name)
			}
		})
	}
	// Absent use and alg are accepted; a duplicate kid keeps the first.
	bare := fmt.Sprintf(`{"kty":"RSA","kid":"b","n":%q,"e":"AQAB"}`, base64.RawURLEncoding.EncodeToString(pub.N.Bytes()))
	got, skipped, err := Parse([]byte(`{"keys":[` + bare + `,` + jwkJSON("b", &testKeys()[1].PublicKey, "") + `]}`))
	if err != nil || skipped != 1 || got["b"].N.Cmp(pub.N) != 0 {
		t.Fatalf("Parse(bare + duplicate) = %v, %d, %v; want the first b", got, skipped, err)
	}
}

func TestFetchRetries(t *testing.T) {
	tests := []struct {
		status      int
		wantFetches int32
	}{
		{http.StatusServiceUnavailable, 3},
		{http.StatusTooManyRequests, 3},
		{http.StatusNotFound, 1}, // not worth retrying
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			ks, clk := newKeyServer(t, "a"), start()
			ks.set(func() { ks.status = tt.status })
			c := New(Config{URL: ks.URL, Client: ks.Client(), Now: clk.Now, Retry: retry.Policy{MaxAttempts: 3, Now: clk.Now, Sleep: func(ctx context.Context, d time.Duration) error {
				clk.Advance(d)
				return nil
			}}})
			if _, err := c.Key(context.Background(), "a"); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Key = %v, want ErrUnavailable", err)
			}
			wantFetches(t, ks, tt.wantFetches)
		})
	}
	// A transient failure that clears within the retries is invisible.
	ks, clk := newKeyServer(t, "a"), start()
	var n atomic.Int32
	ks.set(func() { ks.status = http.StatusBadGateway })
	c := New(Config{URL: ks.URL, Client: ks.Client(), Now: clk.Now, Retry: retry.Policy{MaxAttempts: 3, Now: clk.Now, Sleep: func(ctx context.Context, d time.Duration) error {
		if n.Add(1) == 1 {
			ks.set(func() { ks.status = http.StatusOK })
		}
		return nil
	}}})
	mustKey(t, c, "a")
	wantFetches(t, ks, 2)
}

// TestGenerationChangesWithTheKeys: a refetch that brings the same keys
// keeps the generation (and the key values), any change starts a new one,
// and a stale set served after a failed fetch keeps its own.
func TestGenerationChangesWithTheKeys(t *testing.T) {
	ks, clk := newKeyServer(t, "a"), start()
	c := newCache(ks, clk)
	lookup := func(kid string) (*rsa.PublicKey, uint64) {
		t.Helper()
		k, gen, err := c.Lookup(context.Background(), kid, clk.Now())
		if err != nil {
			t.Fatalf("Lookup(%q) = %v", kid, err)
		}
		return k, gen
	}
	k1, g1 := lookup("a")

	clk.Advance(2 * time.Hour) // stale: refetched, same keys
	k2, g2 := lookup("a")
	wantFetches(t, ks, 2)
	if g2 != g1 || k2 != k1 {
		t.Errorf("a refetch of the same keys: generation %d → %d, same key value %v; want the same generation and key", g1, g2, k2 == k1)
	}

	ks.setKeys("a", "b") // a key added
	_, g3 := lookup("b")
	if g3 == g2 {
		t.Errorf("a key added: generation stayed %d", g3)
	}
	if _, g := lookup("a"); g != g3 {
		t.Errorf("Lookup(a) generation %d, want the current %d", g, g3)
	}

	clk.Advance(2 * time.Hour)
	ks.set(func() { ks.body = `{"keys":[` + jwkJSON("a", &testKeys()[1].PublicKey, "") + `]}` }) // a replaced under the same kid
	if _, g := lookup("a"); g == g3 {
		t.Errorf("key a replaced: generation stayed %d", g)
	}
	_, g4 := lookup("a")

	clk.Advance(2 * time.Hour)
	ks.set(func() { ks.status = http.StatusServiceUnavailable })
	if _, g := lookup("a"); g != g4 {
		t.Errorf("a stale set served after a failed fetch: generation %d, want its own %d", g, g4)
	}
}
