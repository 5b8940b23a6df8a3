package serverauth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// opKey is the context key under which recorder's Start puts the op it
// started, as a tracer would put its span.
type opKey struct{}

// recorder is an Observer that keeps every observation and checks that
// each End gets the context its Start returned.
type recorder struct {
	t *testing.T

	mu     sync.Mutex
	obs    []serverauth.Observation
	starts int
}

func (r *recorder) Start(ctx context.Context, op serverauth.Op) context.Context {
	r.mu.Lock()
	r.starts++
	r.mu.Unlock()
	return context.WithValue(ctx, opKey{}, op)
}

func (r *recorder) End(ctx context.Context, o serverauth.Observation) {
	if got, _ := ctx.Value(opKey{}).(serverauth.Op); got != o.Op {
		r.t.Errorf("End(%s) got the context of %q, want the one Start returned", o.Op, got)
	}
	r.mu.Lock()
	r.obs = append(r.obs, o)
	r.mu.Unlock()
}

// of returns the observations of op.
func (r *recorder) of(op serverauth.Op) []serverauth.Observation {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []serverauth.Observation
	for _, o := range r.obs {
		if o.Op == op {
			out = append(out, o)
		}
	}
	return out
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.obs, r.starts = nil, 0
	r.mu.Unlock()
}

// opTransport records, for each request to Google, the innermost
// observed op of its context: the HTTP client's own span would be that
// op's child.
type opTransport struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen map[string]serverauth.Op // by path
}

func (o *opTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	op, _ := req.Context().Value(opKey{}).(serverauth.Op)
	o.mu.Lock()
	o.seen[req.URL.Path] = op
	o.mu.Unlock()
	return o.next.RoundTrip(req)
}

// observedFixture is a store fixture with a recorder and an opTransport.
func observedFixture(t *testing.T, opts serverauthtest.Options, mutate ...func(*serverauth.Config)) (*storeFixture, *recorder, *opTransport) {
	rec := &recorder{t: t}
	var ot *opTransport
	f := newStoreFixture(t, opts, append([]func(*serverauth.Config){func(c *serverauth.Config) {
		c.Observer = rec
		hc := *c.HTTPClient
		ot = &opTransport{next: hc.Transport, seen: map[string]serverauth.Op{}}
		hc.Transport = ot
		c.HTTPClient = &hc
	}}, mutate...)...)
	return f, rec, ot
}

// TestObserverSeesEveryOperation walks a user through sign-in, refresh,
// Drive and disconnect and checks what the Observer is told: every
// operation, its outcome and counts, the HTTP requests made under the
// operation's context, and no user ID, email or token anywhere.
func TestObserverSeesEveryOperation(t *testing.T) {
	f, rec, ot := observedFixture(t, serverauthtest.Options{})
	ctx := context.Background()
	res := f.signIn(serverauthtest.CodeRequest{})
	f.clock.Advance(2 * time.Hour)
	tok, err := f.e.Token(ctx, res.UserID)
	if err != nil {
		t.Fatal(err)
	}
	ad, err := f.e.AppData(ctx, res.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ad.Write(ctx, "state.json", "application/json", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := f.e.Revoke(ctx, res.UserID); err != nil {
		t.Fatal(err)
	}

	for _, op := range []serverauth.Op{
		serverauth.OpExchange, serverauth.OpVerify, serverauth.OpKeyFetch, serverauth.OpStoreLoad, serverauth.OpStoreSave,
		serverauth.OpToken, serverauth.OpLease, serverauth.OpRefresh, serverauth.OpDrive, serverauth.OpRevoke, serverauth.OpStoreDelete,
	} {
		obs := rec.of(op)
		if len(obs) == 0 {
			t.Errorf("no %s observed", op)
			continue
		}
		for _, o := range obs {
			if o.Outcome != serverauth.OutcomeOK || o.Class != 0 {
				t.Errorf("%s: Outcome %s Class %s Reason %q, want ok", op, o.Outcome, o.Class, o.Reason)
			}
		}
	}
	if obs := rec.of(serverauth.OpExchange); len(obs) != 1 || obs[0].Attempts != 1 || obs[0].Coalesced || obs[0].Cached {
		t.Errorf("exchange observations = %+v, want one of 1 attempt", obs)
	}
	if obs := rec.of(serverauth.OpRefresh); len(obs) != 1 || obs[0].Attempts != 1 {
		t.Errorf("refresh observations = %+v, want one of 1 attempt", obs)
	}
	if obs := rec.of(serverauth.OpLease); len(obs) != 1 || obs[0].Attempts != 1 || obs[0].Coalesced {
		t.Errorf("lease observations = %+v, want one, granted at the first ask", obs)
	}
	// The refresh verified its ID token: a second verification.
	if n := len(rec.of(serverauth.OpVerify)); n != 2 {
		t.Errorf("%d verifications observed, want 2 (exchange, refresh)", n)
	}
	// Revoke found the record and deleted it; the sign-in's Get found none.
	var notFound int
	for _, o := range rec.of(serverauth.OpStoreLoad) {
		if o.Reason == "not_found" {
			notFound++
		}
	}
	if notFound != 1 {
		t.Errorf("%d store loads of a missing record, want 1 (the first sign-in)", notFound)
	}
	rec.mu.Lock()
	if rec.starts != len(rec.obs) {
		t.Errorf("%d Starts, %d Ends: every Start must end once", rec.starts, len(rec.obs))
	}
	all := fmt.Sprintf("%+v %#v", rec.obs, rec.obs)
	rec.mu.Unlock()
	for _, secret := range []string{res.UserID, serverauthtest.DemoUser().Email, tok.AccessToken, res.Token.RefreshToken, f.g.WebClientSecret()} {
		if strings.Contains(all, secret) {
			t.Errorf("observations hold %q", secret)
		}
	}

	// The HTTP requests ran under their operation's context.
	ep := f.g.Endpoints()
	ot.mu.Lock()
	defer ot.mu.Unlock()
	for _, want := range []struct {
		url string
		op  serverauth.Op
	}{
		{ep.TokenURL, serverauth.OpRefresh}, // the last token request
		{ep.JWKSURL, serverauth.OpKeyFetch},
		{ep.RevokeURL, serverauth.OpRevoke},
	} {
		path := want.url[strings.Index(want.url[len("https://"):], "/")+len("https://"):]
		if got := ot.seen[path]; got != want.op {
			t.Errorf("request to %s ran under %q, want %q", path, got, want.op)
		}
	}
	var driveOp serverauth.Op
	for p, op := range ot.seen {
		if strings.Contains(p, "/drive/") {
			driveOp = op
		}
	}
	if driveOp != serverauth.OpDrive {
		t.Errorf("Drive request ran under %q, want %q", driveOp, serverauth.OpDrive)
	}
}

// TestObserverFailureReasons: failures come with their class and a reason
// from the fixed set, and retained or shared outcomes say so.
func TestObserverFailureReasons(t *testing.T) {
	f, rec, _ := observedFixture(t, serverauthtest.Options{})
	ctx := context.Background()
	res := f.signIn(serverauthtest.CodeRequest{})
	f.clock.Advance(2 * time.Hour)

	f.g.FailNext(serverauthtest.EndpointToken, 8, serverauthtest.Fault{Kind: serverauthtest.FaultUnavailable})
	rec.reset()
	if _, err := f.e.Token(ctx, res.UserID); serverauth.ClassOf(err) != serverauth.ClassTransient {
		t.Fatalf("Token under 503s = %v, want a transient error", err)
	}
	refresh := rec.of(serverauth.OpRefresh)
	if len(refresh) != 1 || refresh[0].Outcome != serverauth.OutcomeError || refresh[0].Reason != "transient" ||
		refresh[0].Class != serverauth.ClassTransient || refresh[0].Attempts != 4 {
		t.Errorf("refresh observations = %+v, want one transient failure of 4 attempts", refresh)
	}
	// Inside the backoff the next caller is answered from memory.
	rec.reset()
	if _, err := f.e.Token(ctx, res.UserID); err == nil {
		t.Fatal("Token inside the backoff succeeded")
	}
	if obs := rec.of(serverauth.OpToken); len(obs) != 1 || !obs[0].Cached || obs[0].Reason != "transient" {
		t.Errorf("token observations in the backoff = %+v, want one Cached transient failure", obs)
	}
	if n := len(rec.of(serverauth.OpRefresh)); n != 0 {
		t.Errorf("%d refreshes inside the backoff, want 0", n)
	}
	if st := f.e.Stats(); st.Backoffs != 1 || st.Ops[serverauth.OpRefresh].Errors != 1 || st.Ops[serverauth.OpToken].Cached != 1 {
		t.Errorf("Stats() = %+v, want 1 backoff, 1 failed refresh, 1 cached token call", st)
	}

	// A dead grant.
	f.clock.Advance(2 * time.Minute)
	f.g.ClearFaults()
	f.g.RevokeUser(res.UserID)
	rec.reset()
	if _, err := f.e.Token(ctx, res.UserID); !errors.Is(err, serverauth.ErrReauthRequired) {
		t.Fatalf("Token of a revoked grant = %v", err)
	}
	if obs := rec.of(serverauth.OpRefresh); len(obs) != 1 || obs[0].Reason != "invalid_grant" || obs[0].Class != serverauth.ClassRejected {
		t.Errorf("refresh observations of a revoked grant = %+v, want invalid_grant, rejected", obs)
	}
	f.clock.Advance(time.Minute)
	rec.reset()
	f.e.Token(ctx, res.UserID)
	if obs := rec.of(serverauth.OpToken); len(obs) != 1 || obs[0].Reason != "grant_revoked" {
		t.Errorf("token observations of a grant known dead = %+v, want grant_revoked", obs)
	}

	// A re-posted code is refused from the duplicate window, cached.
	code := f.mint(serverauthtest.CodeRequest{Prompt: "consent", Scopes: []string{"openid", "email", "drive.appdata"}})
	if _, err := f.e.Exchange(ctx, code); err != nil {
		t.Fatal(err)
	}
	rec.reset()
	if _, err := f.e.Exchange(ctx, code); !errors.Is(err, serverauth.ErrInvalidGrant) {
		t.Fatalf("re-posted code = %v", err)
	}
	if obs := rec.of(serverauth.OpExchange); len(obs) != 1 || !obs[0].Cached || obs[0].Attempts != 0 || obs[0].Reason != "code_redeemed" {
		t.Errorf("re-posted exchange observations = %+v, want one Cached, no attempt, code_redeemed", obs)
	}
}

// TestObserverCoalesced: a caller that arrives while another caller's
// refresh is under way shares it, and says so.
func TestObserverCoalesced(t *testing.T) {
	var (
		f    *storeFixture
		rec  *recorder
		once sync.Once
		user = serverauthtest.DemoUser().Sub
	)
	joined := make(chan error, 1)
	f, rec, _ = observedFixture(t, serverauthtest.Options{}, func(c *serverauth.Config) {
		hc := *c.HTTPClient
		next := hc.Transport
		hc.Transport = roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/token") && f.clock.Now().After(epoch.Add(time.Hour)) {
				// While this refresh is in flight, another caller comes
				// and gives up at once (its context is done): it joined.
				once.Do(func() {
					ctx, cancel := context.WithCancel(context.Background())
					cancel()
					_, err := f.e.Token(ctx, user)
					joined <- err
				})
			}
			return next.RoundTrip(req)
		})
		c.HTTPClient = &hc
	})
	f.signIn(serverauthtest.CodeRequest{})
	f.clock.Advance(2 * time.Hour)
	if _, err := f.e.Token(context.Background(), user); err != nil {
		t.Fatal(err)
	}
	if err := <-joined; !errors.Is(err, context.Canceled) {
		t.Fatalf("the joining caller's Token = %v, want context.Canceled", err)
	}
	var coalesced int
	for _, o := range rec.of(serverauth.OpToken) {
		if o.Coalesced {
			coalesced++
			if o.Reason != "canceled" {
				t.Errorf("joining caller's Reason = %q, want canceled", o.Reason)
			}
		}
	}
	if coalesced != 1 {
		t.Errorf("%d coalesced token observations, want 1", coalesced)
	}
	if st := f.e.Stats(); st.Ops[serverauth.OpToken].Coalesced != 1 || st.Ops[serverauth.OpRefresh].Count != 1 {
		t.Errorf("Stats().Ops = %+v, want one coalesced token call and one refresh", st.Ops)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestStats checks the counters and gauges.
func TestStats(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	ctx := context.Background()
	if st := f.e.Stats(); !st.KeysFetched.IsZero() || st.CachedUsers != 0 || len(st.Ops) != 12 || st.Grants != nil {
		t.Fatalf("Stats() of a new Exchanger = %+v", st)
	}
	res := f.signIn(serverauthtest.CodeRequest{})
	for range 3 {
		if _, err := f.e.Token(ctx, res.UserID); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.Advance(90 * time.Minute)
	if _, err := f.e.Token(ctx, res.UserID); err != nil {
		t.Fatal(err)
	}
	st := f.e.Stats()
	if st.TokenCacheHits != 3 || st.CachedUsers != 1 {
		t.Errorf("TokenCacheHits %d CachedUsers %d, want 3 and 1", st.TokenCacheHits, st.CachedUsers)
	}
	if got := st.Ops[serverauth.OpExchange]; got.Count != 1 || got.Errors != 0 || got.Attempts != 1 {
		t.Errorf("Ops[exchange] = %+v", got)
	}
	if got := st.Ops[serverauth.OpRefresh]; got.Count != 1 || got.Attempts != 1 {
		t.Errorf("Ops[refresh] = %+v", got)
	}
	if got := st.Ops[serverauth.OpKeyFetch]; got.Count != 1 {
		t.Errorf("Ops[key_fetch] = %+v", got)
	}
	if !st.KeysFetched.Equal(epoch) || st.KeySetAge != 90*time.Minute {
		t.Errorf("KeysFetched %s KeySetAge %s, want %s and 1h30m", st.KeysFetched, st.KeySetAge, epoch)
	}
	counts, err := f.e.CountGrants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st := f.e.Stats(); counts[serverauth.StatusActive] != 1 || st.Grants[serverauth.StatusActive] != 1 || !st.GrantsCounted.Equal(f.clock.Now()) {
		t.Errorf("CountGrants = %v, Stats().Grants = %v at %s", counts, st.Grants, st.GrantsCounted)
	}
}

// TestTokenCachedAllocatesNothing: the hot path stays free of allocations,
// with or without an Observer (a cached token is counted, not observed).
func TestTokenCachedAllocatesNothing(t *testing.T) {
	for _, obs := range []serverauth.Observer{nil, &recorder{t: t}} {
		f := newStoreFixture(t, serverauthtest.Options{}, func(c *serverauth.Config) { c.Observer = obs })
		res := f.signIn(serverauthtest.CodeRequest{})
		ctx := context.Background()
		if allocs := testing.AllocsPerRun(200, func() { f.e.Token(ctx, res.UserID) }); allocs != 0 {
			t.Errorf("Token from the cache (Observer %T) allocates %v times, want 0", obs, allocs)
		}
	}
}

// countingObserver is the cheapest useful Observer: it counts.
type countingObserver struct{ n [2]int64 }

func (c *countingObserver) Start(ctx context.Context, _ serverauth.Op) context.Context { return ctx }
func (c *countingObserver) End(_ context.Context, o serverauth.Observation) {
	if o.Outcome == serverauth.OutcomeError {
		c.n[1]++
	} else {
		c.n[0]++
	}
}

// BenchmarkTokenObserver measures Token's two paths with and without an
// Observer: from the cache (the hot path, never observed) and from the
// store (two users sharing a cache of one, so every call reads the store:
// an observed OpToken and OpStoreLoad).
func BenchmarkTokenObserver(b *testing.B) {
	for _, tc := range []struct {
		name string
		obs  serverauth.Observer
	}{{"none", nil}, {"counting", &countingObserver{}}} {
		for _, path := range []string{"cached", "store"} {
			b.Run(path+"/"+tc.name, func(b *testing.B) {
				f := benchFixture(b, tc.obs, path == "store")
				ctx := context.Background()
				users := f.users
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					if _, err := f.e.Token(ctx, users[i%len(users)]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

type benchSetup struct {
	e     *serverauth.Exchanger
	users []string
}

// benchFixture signs in one user (two with a cache of one for the store
// path) against a fake Google.
func benchFixture(b *testing.B, obs serverauth.Observer, fromStore bool) benchSetup {
	b.Helper()
	clock := serverauthtest.NewClock(epoch)
	g := serverauthtest.NewServer(serverauthtest.Options{Now: clock.Now})
	b.Cleanup(g.Close)
	cfg := g.Config()
	cfg.Now, cfg.Store, cfg.Observer = clock.Now, serverauth.NewMemoryStore(), obs
	n := 1
	if fromStore {
		cfg.TokenCacheSize, n = 1, 2
	}
	e, err := serverauth.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var users []string
	for i := range n {
		u := serverauthtest.User{Sub: fmt.Sprintf("10000000000000000000%d", i), Email: fmt.Sprintf("u%d@example.com", i)}
		code, err := g.MintCode(serverauthtest.CodeRequest{User: u})
		if err != nil {
			b.Fatal(err)
		}
		res, err := e.Exchange(context.Background(), code)
		if err != nil {
			b.Fatal(err)
		}
		users = append(users, res.UserID)
	}
	slices.Sort(users)
	return benchSetup{e: e, users: users}
}

// TestExchangerObserve: work done outside the Exchanger (the risc
// package's events) is observed with the reason it gives, which must be a
// plain label: a user ID or email becomes "other".
func TestExchangerObserve(t *testing.T) {
	f, rec, _ := observedFixture(t, serverauthtest.Options{})
	ctx := context.Background()
	errBad := errors.New("bad event")
	for _, tt := range []struct {
		reason     string
		err        error
		wantReason string
	}{
		{"sessions_revoked", nil, "sessions_revoked"},
		{"109876543210987654321", nil, "other"},
		{"jane@example.com", nil, "other"},
		{"", errBad, "error"},
		{"bad_signature", errBad, "bad_signature"},
	} {
		rec.reset()
		var sawOp serverauth.Op
		err := f.e.Observe(ctx, serverauth.OpRISCEvent, func(ctx context.Context) (string, error) {
			sawOp, _ = ctx.Value(opKey{}).(serverauth.Op)
			return tt.reason, tt.err
		})
		if err != tt.err {
			t.Errorf("Observe returned %v, want %v", err, tt.err)
		}
		obs := rec.of(serverauth.OpRISCEvent)
		wantOutcome := serverauth.OutcomeOK
		if tt.err != nil {
			wantOutcome = serverauth.OutcomeError
		}
		if len(obs) != 1 || obs[0].Reason != tt.wantReason || obs[0].Outcome != wantOutcome || sawOp != serverauth.OpRISCEvent {
			t.Errorf("Observe(reason %q, err %v): observations %+v, ran under %q; want reason %q", tt.reason, tt.err, obs, sawOp, tt.wantReason)
		}
	}
	if st := f.e.Stats(); st.Ops[serverauth.OpRISCEvent].Count != 5 || st.Ops[serverauth.OpRISCEvent].Errors != 2 {
		t.Errorf("Stats().Ops[risc_event] = %+v", st.Ops[serverauth.OpRISCEvent])
	}
}

// TestRevokeOfADeadGrantObserved: Google's "already revoked" is a success
// that says so.
func TestRevokeOfADeadGrantObserved(t *testing.T) {
	f, rec, _ := observedFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	f.g.RevokeUser(res.UserID)
	if err := f.e.Revoke(context.Background(), res.UserID); err != nil {
		t.Fatal(err)
	}
	if obs := rec.of(serverauth.OpRevoke); len(obs) != 1 || obs[0].Outcome != serverauth.OutcomeOK || obs[0].Reason != "already_revoked" || obs[0].Attempts != 1 {
		t.Errorf("revoke observations = %+v, want one ok already_revoked", obs)
	}
}

// TestTokenBuildsTheSharedTokenOnlyWhenServedFromMemory: the memory per
// cached user rests on this. An entry stored by a sign-in, or loaded from
// the store by a Token call, holds no *oauth2.Token; the first call served
// from memory builds it, and every later call returns that same token.
func TestTokenBuildsTheSharedTokenOnlyWhenServedFromMemory(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	user := f.signIn(serverauthtest.CodeRequest{}).UserID
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		e    *serverauth.Exchanger
	}{{"signed in here", f.e}, {"loaded from the store", f.newReplica()}} {
		if tc.e != f.e {
			if _, err := tc.e.Token(ctx, user); err != nil { // a miss: read from the store
				t.Fatal(err)
			}
		}
		if built, cached := serverauth.SharedTokenBuilt(tc.e, user); !cached || built {
			t.Fatalf("%s: entry cached %v, shared token built %v; want cached without one", tc.name, cached, built)
		}
		first, err := tc.e.Token(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		if built, _ := serverauth.SharedTokenBuilt(tc.e, user); !built {
			t.Fatalf("%s: no shared token after a call served from memory", tc.name)
		}
		if again, err := tc.e.Token(ctx, user); err != nil || again != first {
			t.Fatalf("%s: later call got %p (%v), want the shared %p", tc.name, again, err, first)
		}
	}
}
