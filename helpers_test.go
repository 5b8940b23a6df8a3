package serverauth_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// fixture is a fake Google and an Exchanger configured against it, sharing
// one clock.
type fixture struct {
	t     *testing.T
	clock *serverauthtest.Clock
	g     *serverauthtest.Server
	cfg   serverauth.Config
	e     *serverauth.Exchanger
}

func newFixture(t *testing.T, opts serverauthtest.Options, mutate ...func(*serverauth.Config)) *fixture {
	t.Helper()
	clock := serverauthtest.NewClock(epoch)
	opts.Now = clock.Now
	g := serverauthtest.NewServer(opts)
	t.Cleanup(g.Close)
	cfg := g.Config()
	cfg.Now = clock.Now
	// Retries wait on the test clock, not in real time.
	cfg.Retry.Sleep = func(ctx context.Context, d time.Duration) error {
		clock.Advance(d)
		return ctx.Err()
	}
	for _, m := range mutate {
		m(&cfg)
	}
	e, err := serverauth.New(cfg)
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	return &fixture{t: t, clock: clock, g: g, cfg: cfg, e: e}
}

func (f *fixture) mint(req serverauthtest.CodeRequest) string {
	f.t.Helper()
	code, err := f.g.MintCode(req)
	if err != nil {
		f.t.Fatalf("MintCode = %v", err)
	}
	return code
}

// lastTokenRequest returns the last request the fake's token endpoint saw.
func (f *fixture) lastTokenRequest() serverauthtest.Request {
	f.t.Helper()
	reqs := f.g.Requests(serverauthtest.EndpointToken)
	if len(reqs) == 0 {
		f.t.Fatal("no token request")
	}
	return reqs[len(reqs)-1]
}

// stubToken serves one fixed token response, for shapes the fake does not
// produce.
func stubToken(t *testing.T, status int, contentType, body string) serverauth.Config {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	cfg := serverauthtest.EndpointsAt(srv.URL)
	return serverauth.Config{ClientID: "w", ClientSecret: "s", Endpoints: cfg, HTTPClient: srv.Client()}
}

// countingStore wraps a store, counts its calls and can be made to fail.
type countingStore struct {
	serverauth.TokenStore
	gets, puts atomic.Int32
	fail       atomic.Bool
}

func (s *countingStore) Get(ctx context.Context, id string) (*serverauth.Record, error) {
	s.gets.Add(1)
	if s.fail.Load() {
		return nil, errStoreDown
	}
	return s.TokenStore.Get(ctx, id)
}

func (s *countingStore) Put(ctx context.Context, r *serverauth.Record) error {
	s.puts.Add(1)
	if s.fail.Load() {
		return errStoreDown
	}
	return s.TokenStore.Put(ctx, r)
}

func (s *countingStore) Lease(ctx context.Context, id, owner string, now time.Time, ttl time.Duration) (bool, error) {
	return s.TokenStore.(serverauth.Leaser).Lease(ctx, id, owner, now, ttl)
}

func (s *countingStore) Release(ctx context.Context, id, owner string) error {
	return s.TokenStore.(serverauth.Leaser).Release(ctx, id, owner)
}

func (s *countingStore) Users(ctx context.Context) iter.Seq2[string, error] {
	return s.TokenStore.(serverauth.Lister).Users(ctx)
}

// putThenRelease is RecordLeaser.PutRelease for a test store whose Put is
// scripted: put runs, and the lease is released if it stored the record.
// (A store that embeds a MemoryStore would otherwise inherit its
// PutRelease, which bypasses the script.)
func putThenRelease(ctx context.Context, put func(context.Context, *serverauth.Record) error, l serverauth.Leaser, r *serverauth.Record, owner string) error {
	if err := put(ctx, r); err != nil {
		return err
	}
	return l.Release(ctx, r.UserID, owner)
}

// getPut is the part of a TokenStore updateThroughPut uses.
type getPut interface {
	Get(context.Context, string) (*serverauth.Record, error)
	Put(context.Context, *serverauth.Record) error
}

// updateThroughPut is SignInUpdater.UpdateSignIn for a test store whose Put
// is scripted: the stored record, updated and written back through s.Put,
// again after a version conflict. (A store that embeds a MemoryStore would
// otherwise inherit its UpdateSignIn, which bypasses the script.)
func updateThroughPut(ctx context.Context, s getPut, u *serverauth.SignInUpdate) ([]byte, error) {
	for {
		r, err := s.Get(ctx, u.UserID)
		if err != nil {
			return nil, err
		}
		u.ApplyTo(r)
		if err := s.Put(ctx, r); !errors.Is(err, serverauth.ErrVersionConflict) {
			return r.RefreshToken, err
		}
	}
}

func testKeyring(t *testing.T, ids ...uint32) (*serverauth.Keyring, []serverauth.Key) {
	t.Helper()
	var keys []serverauth.Key
	for _, id := range ids {
		k, err := serverauth.GenerateKey(id)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	kr, err := serverauth.NewKeyring(keys[0], keys[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	return kr, keys
}

// storeFixture is a fixture with a store (a counting MemoryStore) and a
// keyring.
type storeFixture struct {
	*fixture
	store *countingStore
	kr    *serverauth.Keyring
}

func newStoreFixture(t *testing.T, opts serverauthtest.Options, mutate ...func(*serverauth.Config)) *storeFixture {
	t.Helper()
	store := &countingStore{TokenStore: serverauth.NewMemoryStore()}
	kr, _ := testKeyring(t, 1)
	f := newFixture(t, opts, append([]func(*serverauth.Config){func(c *serverauth.Config) {
		c.Store, c.Cipher = store, kr
		c.Scopes = []string{"email", "drive.appdata"}
	}}, mutate...)...)
	return &storeFixture{fixture: f, store: store, kr: kr}
}

func (f *storeFixture) signIn(req serverauthtest.CodeRequest) *serverauth.Result {
	f.t.Helper()
	if req.Scopes == nil {
		req.Scopes = []string{"openid", "email", "profile", "drive.appdata"}
	}
	res, err := f.e.Exchange(context.Background(), f.mint(req))
	if err != nil {
		f.t.Fatalf("Exchange = %v", err)
	}
	return res
}

// newReplica is another Exchanger on the same fake, clock and store.
func (f *storeFixture) newReplica(mutate ...func(*serverauth.Config)) *serverauth.Exchanger {
	f.t.Helper()
	cfg := f.cfg
	for _, m := range mutate {
		m(&cfg)
	}
	e, err := serverauth.New(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	return e
}

// failingTokenEndpoint answers every request with 503 and counts them.
func failingTokenEndpoint(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"error":"internal_failure","error_description":"Backend Error"}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// failingReplica is a replica whose token and revoke endpoints answer 503;
// calls counts their requests.
func (f *storeFixture) failingReplica(mutate ...func(*serverauth.Config)) (*serverauth.Exchanger, *atomic.Int32) {
	down, calls := failingTokenEndpoint(f.t)
	return f.newReplica(append([]func(*serverauth.Config){func(c *serverauth.Config) {
		c.Endpoints.TokenURL, c.Endpoints.RevokeURL = down.URL+"/token", down.URL+"/revoke"
		c.HTTPClient = down.Client()
	}}, mutate...)...), calls
}

func formCode(code string) string { return url.Values{"code": {code}}.Encode() }

// signInHandler returns e's sign-in handler for cfg, failing the test on a
// configuration error.
func signInHandler(t testing.TB, e *serverauth.Exchanger, cfg serverauth.HandlerConfig) http.Handler {
	t.Helper()
	h, err := e.SignInHandler(cfg)
	if err != nil {
		t.Fatalf("SignInHandler(%+v) = %v", cfg, err)
	}
	return h
}

// newExchanger is another Exchanger on the fixture's fake and clock, with
// its Config changed by mutate.
func (f *fixture) newExchanger(mutate func(*serverauth.Config)) *serverauth.Exchanger {
	f.t.Helper()
	cfg := f.cfg
	mutate(&cfg)
	e, err := serverauth.New(cfg)
	if err != nil {
		f.t.Fatalf("New = %v", err)
	}
	return e
}
