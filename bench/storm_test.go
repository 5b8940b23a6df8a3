package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// Refresh storms are counted, not timed: the tests assert the counts and
// the benchmarks report them (calls per user per expiry).

// stormTokenLifetime is the fake's access-token lifetime in the storms;
// advancing the shared clock by it expires every token.
const stormTokenLifetime = 10 * time.Minute

// stormRig is a fake Google on a shared settable clock, a MemoryStore, and
// an Exchanger with users signed in through real exchanges (the fake only
// refreshes refresh tokens it issued).
type stormRig struct {
	clock *serverauthtest.Clock
	srv   *serverauthtest.Server
	store *serverauth.MemoryStore
	ex    *serverauth.Exchanger
	users []string // subs
}

func newStormRig(tb testing.TB, nUsers int) *stormRig {
	tb.Helper()
	r := &stormRig{clock: serverauthtest.NewClock(time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC))}
	r.srv = serverauthtest.NewServer(serverauthtest.Options{Now: r.clock.Now, AccessTokenLifetime: stormTokenLifetime})
	tb.Cleanup(r.srv.Close)
	r.store = serverauth.NewMemoryStore()
	r.ex = r.replica(tb, r.store)

	r.users = make([]string, nUsers)
	for i := range r.users {
		r.users[i] = userID(i)
	}
	var wg sync.WaitGroup
	errs := make(chan error, nUsers)
	work := make(chan string)
	for range 8 {
		wg.Go(func() {
			for sub := range work {
				code, err := r.srv.MintCode(serverauthtest.CodeRequest{
					User: serverauthtest.User{Sub: sub, Email: "u" + sub + "@example.com", EmailVerified: true},
				})
				if err == nil {
					_, err = r.ex.Exchange(context.Background(), code)
				}
				if err != nil {
					errs <- fmt.Errorf("signing in %s: %w", sub, err)
				}
			}
		})
	}
	for _, sub := range r.users {
		work <- sub
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	return r
}

// replica returns another Exchanger on the rig's fake and clock over store,
// as another process sharing the store would have.
func (r *stormRig) replica(tb testing.TB, store serverauth.TokenStore) *serverauth.Exchanger {
	tb.Helper()
	cfg := r.srv.Config()
	cfg.Store = store
	if _, mem := store.(*serverauth.MemoryStore); !mem {
		cfg.InsecurePlaintextTokens = true // the benchmark's own throwaway tokens
	}
	ex, err := serverauth.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return ex
}

// refreshes returns how many refresh requests each user has made so far.
func (r *stormRig) refreshes() map[string]int {
	m := make(map[string]int, len(r.users))
	for _, sub := range r.users {
		m[sub] = r.srv.RefreshCount(sub)
	}
	return m
}

// storm calls Token perUser times concurrently for every user, spread over
// the exchangers, and returns the first error and the distinct access
// tokens each user got.
func storm(exs []*serverauth.Exchanger, users []string, perUser int) (map[string]map[string]bool, error) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex // guards got and firstErr
		got      = make(map[string]map[string]bool, len(users))
		firstErr error
		start    = make(chan struct{})
	)
	for _, sub := range users {
		got[sub] = make(map[string]bool)
		for i := range perUser {
			ex := exs[i%len(exs)]
			wg.Go(func() {
				<-start
				tok, err := ex.Token(context.Background(), sub)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					firstErr = firstError(firstErr, fmt.Errorf("Token(%s) = %w", sub, err))
					return
				}
				got[sub][tok.AccessToken] = true
			})
		}
	}
	close(start)
	wg.Wait()
	return got, firstErr
}

// firstError returns a if it is set, else b.
func firstError(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// expireAndStorm moves the clock past every token's expiry, storms, and
// returns how many refresh calls each user made.
func (r *stormRig) expireAndStorm(tb testing.TB, exs []*serverauth.Exchanger, users []string, perUser int) map[string]int {
	tb.Helper()
	before := r.refreshes()
	r.clock.Advance(stormTokenLifetime + time.Second)
	got, err := storm(exs, users, perUser)
	if err != nil {
		tb.Fatal(err)
	}
	after := r.refreshes()
	calls := make(map[string]int, len(users))
	for _, sub := range users {
		calls[sub] = after[sub] - before[sub]
		if len(got[sub]) != 1 {
			tb.Errorf("user %s got %d different access tokens in one storm, want 1", sub, len(got[sub]))
		}
	}
	return calls
}

func checkOnePerUser(t *testing.T, calls map[string]int) {
	t.Helper()
	total := 0
	for sub, n := range calls {
		total += n
		if n != 1 {
			t.Errorf("user %s: %d token-endpoint calls for one expiry, want 1", sub, n)
		}
	}
	if total != len(calls) {
		t.Errorf("%d token-endpoint calls for %d users, want %d", total, len(calls), len(calls))
	}
}

// TestStormOneUser: 1000 goroutines ask for one expired user's token; the
// token endpoint sees one call.
func TestStormOneUser(t *testing.T) {
	r := newStormRig(t, 1)
	checkOnePerUser(t, r.expireAndStorm(t, []*serverauth.Exchanger{r.ex}, r.users, 1000))
}

// TestStormManyUsers: 1000 users × 10 goroutines; 1000 calls, one per user.
func TestStormManyUsers(t *testing.T) {
	if testing.Short() {
		t.Skip("signs in 1000 users")
	}
	r := newStormRig(t, 1000)
	checkOnePerUser(t, r.expireAndStorm(t, []*serverauth.Exchanger{r.ex}, r.users, 10))
}

// TestStormReplicas: four Exchangers sharing one MemoryStore (a Leaser), as
// four replicas sharing a database would; 100 users × 40 goroutines spread
// over them; still one call per user per expiry. The multi-process version
// against PostgreSQL and Redis is the library's own test.
func TestStormReplicas(t *testing.T) {
	r := newStormRig(t, 100)
	exs := []*serverauth.Exchanger{r.ex, r.replica(t, r.store), r.replica(t, r.store), r.replica(t, r.store)}
	checkOnePerUser(t, r.expireAndStorm(t, exs, r.users, 40))
}

// failingEndpoint is a token endpoint that answers 503 to every request,
// after waiting for its gate to open, and counts requests per refresh
// token (one per user).
type failingEndpoint struct {
	srv     *httptest.Server
	gate    chan struct{} // closed: answer at once
	arrived chan struct{} // one value per request that reached the gate

	mu      sync.Mutex // guards byToken
	byToken map[string]int
}

func newFailingEndpoint(tb testing.TB) *failingEndpoint {
	f := &failingEndpoint{gate: make(chan struct{}), arrived: make(chan struct{}, 1<<16), byToken: make(map[string]int)}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		f.mu.Lock()
		f.byToken[r.PostForm.Get("refresh_token")]++
		f.mu.Unlock()
		select {
		case f.arrived <- struct{}{}:
		default:
		}
		select {
		case <-f.gate:
		case <-r.Context().Done():
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error":"temporarily_unavailable","error_description":"Service unavailable"}`))
	}))
	tb.Cleanup(func() {
		f.open()
		f.srv.Close()
	})
	return f
}

func (f *failingEndpoint) open() {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.gate:
	default:
		close(f.gate)
	}
}

func (f *failingEndpoint) counts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := make(map[string]int, len(f.byToken))
	for k, v := range f.byToken {
		m[k] = v
	}
	return m
}

// failingReplica returns an Exchanger over the rig's store whose token
// endpoint is f, retrying failed calls as retry says.
func (r *stormRig) failingReplica(tb testing.TB, f *failingEndpoint, retry serverauth.RetryPolicy) *serverauth.Exchanger {
	tb.Helper()
	cfg := r.srv.Config()
	cfg.Store = r.store
	cfg.Endpoints.TokenURL = f.srv.URL
	cfg.Retry = retry
	ex, err := serverauth.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return ex
}

// attempts returns the requests per refresh token since before, and their
// total.
func attempts(before, after map[string]int) (map[string]int, int) {
	d := make(map[string]int)
	total := 0
	for k, v := range after {
		if n := v - before[k]; n > 0 {
			d[k] = n
			total += n
		}
	}
	return d, total
}

// waitTimeout fails the test if ch does not deliver within a generous bound:
// a guard against a hang, not a timing assertion.
func waitTimeout[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(time.Minute):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// noSleep makes the library's retries of one call immediate, so a test
// need not wait out real time; the per-user backoff between calls is on the
// injected clock.
func noSleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// TestStormFailingEndpoint: with the token endpoint failing, concurrent
// callers for a user share one refresh call (none queues behind another's
// failing call, and each can give up on its own), and refresh calls follow
// the per-user backoff: at most one per user per step (1 s, 2 s, 4 s, … on
// the injected clock). One refresh call makes up to Config.Retry.MaxAttempts
// requests (the library's retry policy, with its own short backoff);
// MaxAttempts 1 makes that one request per user per step.
func TestStormFailingEndpoint(t *testing.T) {
	for _, maxAttempts := range []int{1, 4} {
		t.Run(fmt.Sprintf("MaxAttempts=%d", maxAttempts), func(t *testing.T) {
			testFailingEndpoint(t, serverauth.RetryPolicy{MaxAttempts: maxAttempts, Sleep: noSleep})
		})
	}
}

func testFailingEndpoint(t *testing.T, retry serverauth.RetryPolicy) {
	r := newStormRig(t, 50)
	f := newFailingEndpoint(t)
	ex := r.failingReplica(t, f, retry)
	r.clock.Advance(stormTokenLifetime + time.Second) // every token expired

	// One user, 50 callers, while the endpoint holds the first request.
	one := r.users[0]
	results := make(chan error, 50)
	var cancels []context.CancelFunc
	for range 50 {
		ctx, cancel := context.WithCancel(context.Background())
		cancels = append(cancels, cancel)
		go func() {
			_, err := ex.Token(ctx, one)
			results <- err
		}()
	}
	defer func() {
		for _, cancel := range cancels {
			cancel()
		}
	}()
	waitTimeout(t, f.arrived, "the first refresh request")
	// Ten callers give up while the request is held: they return at once
	// instead of waiting behind it.
	for _, cancel := range cancels[:10] {
		cancel()
	}
	for range 10 {
		if err := waitTimeout(t, results, "a cancelled caller"); !errors.Is(err, context.Canceled) {
			t.Errorf("a caller that gave up got %v, want context.Canceled", err)
		}
	}
	if _, n := attempts(nil, f.counts()); n != 1 {
		t.Fatalf("%d requests reached the failing endpoint while one was held, want 1", n)
	}
	f.open()
	for range 40 {
		err := waitTimeout(t, results, "a waiting caller")
		var te *serverauth.TokenError
		if !errors.As(err, &te) || te.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("a waiting caller got %v, want the shared *TokenError with status 503", err)
		}
	}
	if _, n := attempts(nil, f.counts()); n != retry.MaxAttempts {
		t.Fatalf("50 callers made %d requests, want the %d of one shared refresh call", n, retry.MaxAttempts)
	}

	// Many users, 10 callers each, through five calls. Every request is a
	// step of one per-user schedule (1 s doubling to a minute): a call that
	// made n attempts puts its user that many steps further along.
	users := r.users[1:]
	for step := range 5 {
		backoff := stepBackoff(retry.MaxAttempts * (step + 1))
		before := f.counts()
		if _, err := storm([]*serverauth.Exchanger{ex}, users, 10); err == nil {
			t.Fatal("a storm against a failing endpoint succeeded")
		}
		d, total := attempts(before, f.counts())
		if len(d) != len(users) || total != len(users)*retry.MaxAttempts {
			t.Errorf("step %d: %d requests from %d of %d users, want one refresh call (%d requests) per user",
				step, total, len(d), len(users), retry.MaxAttempts)
		}
		// Halfway through the backoff: no request at all.
		r.clock.Advance(backoff / 2)
		before = f.counts()
		storm([]*serverauth.Exchanger{ex}, users, 10)
		if _, total := attempts(before, f.counts()); total != 0 {
			t.Errorf("step %d: %d requests halfway through the %s backoff, want 0", step, total, backoff)
		}
		r.clock.Advance(backoff - backoff/2)
	}
}

// stepBackoff is the library's per-user wait after n consecutive failed
// refresh requests: 1 s doubling, capped at a minute.
func stepBackoff(n int) time.Duration {
	d := time.Second
	for i := 1; i < n && d < time.Minute; i++ {
		d *= 2
	}
	return min(d, time.Minute)
}

// BenchmarkStorm reports the storm counts: calls/user is token-endpoint
// calls per user per expiry (the target is 1); for the failing endpoint,
// attempts/user is attempts per user per backoff step (at most 1) and
// in-backoff/user the attempts made by a second storm inside the backoff
// (0).
func BenchmarkStorm(b *testing.B) {
	for _, tc := range []struct {
		name           string
		users, perUser int
		replicas       int
	}{
		{"one-user-1000-goroutines", 1, 1000, 1},
		{"1000-users-10-goroutines", 1000, 10, 1},
		{"4-replicas-memory-store-100-users-40-goroutines", 100, 40, 4},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := newStormRig(b, tc.users)
			exs := []*serverauth.Exchanger{r.ex}
			for len(exs) < tc.replicas {
				exs = append(exs, r.replica(b, r.store))
			}
			calls, storms := 0, 0
			for b.Loop() {
				for _, n := range r.expireAndStorm(b, exs, r.users, tc.perUser) {
					calls += n
				}
				storms++
			}
			b.ReportMetric(float64(calls)/float64(storms*tc.users), "calls/user")
		})
	}
	// The failing endpoint, with the library's default retry policy (real
	// sleeps between a call's retries) and with retries off.
	for _, tc := range []struct {
		name  string
		retry serverauth.RetryPolicy
	}{
		{"failing-endpoint-default-retry-100-users-10-goroutines", serverauth.RetryPolicy{}},
		{"failing-endpoint-no-retry-100-users-10-goroutines", serverauth.RetryPolicy{MaxAttempts: 1}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := newStormRig(b, 100)
			f := newFailingEndpoint(b)
			f.open()
			exs := []*serverauth.Exchanger{r.failingReplica(b, f, tc.retry)}
			steps, tried, inBackoff := 0, 0, 0
			for b.Loop() {
				r.clock.Advance(stormTokenLifetime + time.Minute) // past every expiry and the longest backoff
				before := f.counts()
				storm(exs, r.users, 10)
				mid := f.counts()
				storm(exs, r.users, 10) // same instant: inside the backoff
				_, n := attempts(before, mid)
				_, m := attempts(mid, f.counts())
				tried += n
				inBackoff += m
				steps++
			}
			b.ReportMetric(float64(tried)/float64(steps*len(r.users)), "requests/user")
			b.ReportMetric(float64(inBackoff)/float64(steps*len(r.users)), "in-backoff/user")
		})
	}
}
