package bench

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/internal/testenv"
	"github.com/serverauth/serverauth/serverauthtest"
	"github.com/serverauth/serverauth/sqlstore"
)

// A refresh wave: every user's access token expires at the same moment,
// and several processes sharing a store serve requests for all users at
// once. Each user must be refreshed exactly once, whichever process asks
// first, and the others read the new token from the store.

// waveUsersEnv sets the number of users of BenchmarkRefreshWave; bench/run.sh
// sets it to 10 000. Unset (as in CI's one-iteration run), it is 1000.
const waveUsersEnv = "SERVERAUTH_BENCH_WAVE_USERS"

// Wave parameters: the fake's token endpoint answers a refresh after
// waveLatency; each process serves the wave with waveWorkers goroutines.
const (
	waveLatency   = 100 * time.Millisecond
	waveWorkers   = 16
	waveProcesses = 4
)

// waveRig is a fake Google whose token endpoint can be slowed, a store
// shared by the processes, and users signed in through real exchanges.
type waveRig struct {
	kind, dsn, name string
	key             string // the processes' Keyring, encoded
	clock           *serverauthtest.Clock
	g               *serverauthtest.Google
	url             string
	slow            atomic.Int64 // the token endpoint's added latency, ns
	subs            []string
	refreshTokens   []string // by user index, as the sign-in returned them
	scope           string   // the scopes every user granted, space-separated
	azp             string   // the client every user signed in with (the ID tokens' azp)

	presigned atomic.Pointer[presignedRefreshes] // during a fake=presigned wave
}

// presignedRefreshes answers a fake=presigned wave's refreshes from
// responses the fake signed before the wave (the ID token of each, RSA,
// is Google's work and on the same two cores would be most of the
// machine's), so that the wave measures the backend's work, as
// BenchmarkSignIn's fake=presigned does. Everything else goes to the fake.
type presignedRefreshes struct {
	byToken map[string]int // refresh token → user index
	bodies  [][]byte       // by user index: the token endpoint's answer
	counts  []atomic.Int32 // by user index: refreshes answered
}

// presign prepares a presigned wave at the fake's current time: for each
// user a new access token and an ID token as the fake issues on refresh.
func (r *waveRig) presign(seed uint64) (*presignedRefreshes, error) {
	p := &presignedRefreshes{byToken: make(map[string]int, len(r.subs)), bodies: make([][]byte, len(r.subs)),
		counts: make([]atomic.Int32, len(r.subs))}
	for i, rt := range r.refreshTokens {
		p.byToken[rt] = i
	}
	var (
		wg   sync.WaitGroup
		next atomic.Int64
		errs = make([]error, len(r.subs))
	)
	for range 2 * runtime.NumCPU() {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(r.subs)); i = next.Add(1) - 1 {
				sub := r.subs[i]
				p.bodies[i], errs[i] = json.Marshal(map[string]any{
					"access_token": fakeToken(fmt.Sprintf("ya29.a0wave%d-", seed), int(i), 167),
					"expires_in":   int(stormTokenLifetime / time.Second),
					"scope":        r.scope,
					"token_type":   "Bearer",
					"id_token":     r.g.IDToken(waveUser(sub), r.azp),
				})
			}
		})
	}
	wg.Wait()
	return p, errors.Join(errs...)
}

// waveUser is the fake's user sub.
func waveUser(sub string) serverauthtest.User {
	return serverauthtest.User{Sub: sub, Email: "w" + sub + "@example.com", EmailVerified: true}
}

// answer serves a refresh from p, and reports false for any other request.
func (p *presignedRefreshes) answer(w http.ResponseWriter, req *http.Request) bool {
	if req.ParseForm() != nil || req.PostForm.Get("grant_type") != "refresh_token" {
		return false
	}
	i, ok := p.byToken[req.PostForm.Get("refresh_token")]
	if !ok {
		return false
	}
	p.counts[i].Add(1)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(p.bodies[i])
	return true
}

func newWaveRig(tb testing.TB, kind string, users int) *waveRig {
	tb.Helper()
	r := &waveRig{kind: kind}
	var st serverauth.TokenStore
	switch kind {
	case "postgres":
		r.dsn = testenv.DSN(tb, testenv.Postgres)
		var s *sqlstore.Store
		s, r.name = openSQL(tb, "pgx", r.dsn, sqlstore.Postgres)
		st = s
	case "redis":
		r.dsn = testenv.DSN(tb, testenv.Redis)
		s, prefix := openRedis(tb, r.dsn)
		st, r.name = s, prefix
	}
	r.clock = serverauthtest.NewClock(time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC))
	r.g = serverauthtest.New(serverauthtest.Options{Now: r.clock.Now, AccessTokenLifetime: stormTokenLifetime})
	tu, err := url.Parse(serverauthtest.EndpointsAt("http://127.0.0.1").TokenURL)
	if err != nil {
		tb.Fatal(err)
	}
	tokenPath := tu.Path
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPost && req.URL.Path == tokenPath {
			if d := time.Duration(r.slow.Load()); d > 0 {
				time.Sleep(d)
			}
			if p := r.presigned.Load(); p != nil && p.answer(w, req) {
				return
			}
		}
		r.g.ServeHTTP(w, req)
	}))
	tb.Cleanup(hs.Close)
	r.url = hs.URL
	key, err := serverauth.GenerateKey(1)
	if err != nil {
		tb.Fatal(err)
	}
	r.key = key.Encode()
	ex, err := serverauth.New(processConfig(hs.URL, r.key, st, r.clock.Now))
	if err != nil {
		tb.Fatal(err)
	}
	r.subs = make([]string, users)
	for i := range r.subs {
		r.subs[i] = "5" + userID(i)[1:]
	}
	r.refreshTokens = make([]string, users)
	scopes, azps := make([]string, users), make([]string, users)
	var (
		wg      sync.WaitGroup
		next    atomic.Int64
		errOnce sync.Once
		first   error
	)
	for range 8 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(users); i = next.Add(1) - 1 {
				sub := r.subs[i]
				code, err := r.g.MintCode(serverauthtest.CodeRequest{User: waveUser(sub)})
				var res *serverauth.Result
				if err == nil {
					res, err = ex.Exchange(context.Background(), code)
				}
				if err == nil {
					r.refreshTokens[i], scopes[i], azps[i] = res.Token.RefreshToken, strings.Join(res.GrantedScopes, " "), res.Profile.AuthorizedParty
				}
				if err != nil {
					errOnce.Do(func() { first = fmt.Errorf("signing in %s: %w", sub, err) })
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		tb.Fatal(first)
	}
	r.scope, r.azp = scopes[0], azps[0]
	for i, sc := range scopes {
		if sc != r.scope || azps[i] != r.azp || r.refreshTokens[i] == "" {
			tb.Fatalf("user %s signed in with scopes %q, azp %q and refresh token %t; want %q, %q and one, as every other user",
				r.subs[i], sc, azps[i], r.refreshTokens[i] != "", r.scope, r.azp)
		}
	}
	return r
}

// waveResult is one wave's outcome.
type waveResult struct {
	refreshes  int           // refresh requests the fake received
	notOnce    int           // users refreshed other than exactly once
	errors     int           // failed Token calls
	trips      int64         // store round trips of all processes
	longest    time.Duration // the slowest process, from "go" to done
	cpu        time.Duration // CPU time of the processes and of this one (the fake) meanwhile
	serverCPU  time.Duration // CPU time of the local store servers meanwhile (serverCPU)
	byFake     int           // refreshes the fake answered, not presignedRefreshes
	stderr     string
	processErr error
}

// wave expires every token, lets processes replicas serve all users with
// workers goroutines each, and counts. With presigned, the refreshes are
// answered from responses signed before the wave (presignedRefreshes).
func (r *waveRig) wave(processes, workers int, latency time.Duration, seed uint64, presigned bool) waveResult {
	r.clock.Advance(stormTokenLifetime + time.Second)
	before := make([]int, len(r.subs))
	for i, s := range r.subs {
		before[i] = r.g.RefreshCount(s)
	}
	var p *presignedRefreshes
	if presigned {
		var err error
		if p, err = r.presign(seed); err != nil {
			return waveResult{processErr: err}
		}
		r.presigned.Store(p)
		defer r.presigned.Store(nil)
	}
	r.slow.Store(int64(latency))
	defer r.slow.Store(0)
	job := replicaJob{FakeURL: r.url, Store: r.kind, DSN: r.dsn, Name: r.name, Keyring: r.key,
		Now: r.clock.Now(), Users: r.subs, Workers: workers, Seed: seed}
	var res waveResult
	own, servers := cpuTime(), sampleServerCPU(100*time.Millisecond)
	res.errors, res.trips, res.longest, res.cpu, res.stderr, res.processErr = runReplicasCounting(job, processes)
	res.cpu += cpuTime() - own
	res.serverCPU = servers.Stop()
	for i, s := range r.subs {
		n := r.g.RefreshCount(s) - before[i]
		res.byFake += n
		if p != nil {
			n += int(p.counts[i].Load())
		}
		res.refreshes += n
		if n != 1 {
			res.notOnce++
		}
	}
	return res
}

// waveIdeal is the shortest a wave could take if every worker of every
// process always asked for a user no other worker had asked for: users
// refreshes, each answered after latency, processes × workers at a time.
// The replicas do not run that schedule (see waveScheduleMinimum), so it
// is a lower bound only.
func waveIdeal(users, processes, workers int, latency time.Duration) time.Duration {
	return time.Duration(math.Ceil(float64(users)/float64(processes*workers))) * latency
}

// waveScheduleMinimum is the shortest the wave r.wave(processes, workers,
// latency, seed) can take with the schedule its replicas run: each
// replica walks all users in its own waveOrder, so a worker may ask for a
// user another process is refreshing and wait for it. It is simulateWave
// of the replicas' orders; like waveIdeal, it leaves out the CPU time of
// signing and verifying and the store's round trips.
func waveScheduleMinimum(users []string, processes, workers int, latency time.Duration, seed uint64) time.Duration {
	orders := make([][]string, processes)
	for i := range orders {
		orders[i] = waveOrder(users, waveSeed(seed, i))
	}
	return simulateWave(orders, workers, latency)
}

// simulateWave is the time a wave takes at no CPU cost when process i's
// workers take its users in orders[i] order, each the next one not taken
// yet by a worker of the same process. A worker taking a user whose
// refresh has ended goes on at once; one taking a user whose refresh a
// worker of any process started waits for it to end; otherwise it starts
// the refresh, which ends latency later. The result is when the last
// worker finds its process's order done. Workers free at the same time go
// in order of process, then worker.
func simulateWave(orders [][]string, workers int, latency time.Duration) time.Duration {
	ends := make(map[string]time.Duration) // when each started refresh ends
	next := make([]int, len(orders))       // each process's next user
	free := make(waveFree, 0, len(orders)*workers)
	for p := range orders {
		for w := range workers {
			free = append(free, waveWorker{p: p, w: w})
		}
	}
	heap.Init(&free)
	var last time.Duration
	for len(free) > 0 {
		wk := heap.Pop(&free).(waveWorker)
		if next[wk.p] == len(orders[wk.p]) {
			last = max(last, wk.at)
			continue
		}
		user := orders[wk.p][next[wk.p]]
		next[wk.p]++
		end, started := ends[user]
		if !started {
			end = wk.at + latency
			ends[user] = end
		}
		wk.at = max(wk.at, end)
		heap.Push(&free, wk)
	}
	return last
}

// waveWorker is a worker of simulateWave: worker w of process p, free
// from at on.
type waveWorker struct {
	at   time.Duration
	p, w int
}

// waveFree is simulateWave's min-heap of workers, by the time they are
// free, then process, then worker.
type waveFree []waveWorker

// Len, Less, Swap, Push and Pop make waveFree a heap.Interface.
func (h waveFree) Len() int { return len(h) }

func (h waveFree) Less(i, j int) bool {
	a, b := h[i], h[j]
	if a.at != b.at {
		return a.at < b.at
	}
	if a.p != b.p {
		return a.p < b.p
	}
	return a.w < b.w
}

func (h waveFree) Swap(i, j int) { h[i], h[j] = h[j], h[i] }

func (h *waveFree) Push(x any) { *h = append(*h, x.(waveWorker)) }

func (h *waveFree) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// waveUsers is n users for the simulation's tests.
func waveUsers(n int) []string {
	users := make([]string, n)
	for i := range users {
		users[i] = userID(i)
	}
	return users
}

// TestWaveScheduleMinimum checks simulateWave and waveScheduleMinimum on
// schedules small enough to work out by hand, and on 1000 users between
// waveIdeal and what one process takes.
func TestWaveScheduleMinimum(t *testing.T) {
	const lat = 100 * time.Millisecond
	t.Run("by hand", func(t *testing.T) {
		for _, c := range []struct {
			name    string
			orders  [][]string
			workers int
			want    time.Duration
		}{
			// Each process refreshes one user at 0-100 ms and reads the other.
			{"crossed", [][]string{{"a", "b"}, {"b", "a"}}, 1, lat},
			// Process 1 waits for each refresh process 0 makes.
			{"same", [][]string{{"a", "b"}, {"a", "b"}}, 1, 2 * lat},
			// a: 0-100 ms by process 0, process 1 waits; then b (process 0)
			// and c (process 1): 100-200 ms; then process 0 refreshes d,
			// 200-300 ms, and process 1 waits for it.
			{"partly", [][]string{{"a", "b", "c", "d"}, {"a", "c", "b", "d"}}, 1, 3 * lat},
			// Two workers: a and b at 0-100 ms, c at 100-200 ms.
			{"two workers", [][]string{{"a", "b", "c"}}, 2, 2 * lat},
			{"no users", [][]string{{}, {}}, 4, 0},
		} {
			if got := simulateWave(c.orders, c.workers, lat); got != c.want {
				t.Errorf("%s: simulateWave(%q, %d) = %v, want %v", c.name, c.orders, c.workers, got, c.want)
			}
		}
	})
	t.Run("one process", func(t *testing.T) {
		for _, n := range []int{0, 1, 96, 100} {
			want := time.Duration((n+15)/16) * lat
			if got := waveScheduleMinimum(waveUsers(n), 1, 16, lat, 7); got != want {
				t.Errorf("%d users: %v, want %v", n, got, want)
			}
		}
	})
	t.Run("two processes, two users", func(t *testing.T) {
		users := waveUsers(2)
		for seed := range uint64(8) {
			// Different orders cross (lat), equal ones collide (2 × lat).
			want := lat
			if slices.Equal(waveOrder(users, waveSeed(seed, 0)), waveOrder(users, waveSeed(seed, 1))) {
				want = 2 * lat
			}
			if got := waveScheduleMinimum(users, 2, 1, lat, seed); got != want {
				t.Errorf("seed %d: %v, want %v", seed, got, want)
			}
		}
	})
	t.Run("same order", func(t *testing.T) {
		order := waveOrder(waveUsers(100), 1)
		want := time.Duration((100+7)/8) * lat // one process of 8 workers
		if got := simulateWave([][]string{order, order, order}, 8, lat); got != want {
			t.Errorf("3 processes: %v, want %v", got, want)
		}
	})
	t.Run("bounds", func(t *testing.T) {
		users := waveUsers(1000)
		ideal := waveIdeal(len(users), 4, 16, lat)
		one := waveIdeal(len(users), 1, 16, lat)
		for seed := range uint64(3) {
			if got := waveScheduleMinimum(users, 4, 16, lat, seed+1); got < ideal || got > one {
				t.Errorf("seed %d: %v, want between %v and %v", seed+1, got, ideal, one)
			}
		}
	})
}

// TestWaveScheduleOrder: waveOrder, which wave walks, is a permutation of
// the users, leaves them as they were, and differs between the replicas.
func TestWaveScheduleOrder(t *testing.T) {
	users := waveUsers(1000)
	a, b := waveOrder(users, waveSeed(1, 0)), waveOrder(users, waveSeed(1, 1))
	if !slices.Equal(users, waveUsers(1000)) {
		t.Fatal("waveOrder changed the users")
	}
	if slices.Equal(a, b) || slices.Equal(a, users) {
		t.Error("orders not shuffled, or the same for two replicas")
	}
	slices.Sort(a)
	if !slices.Equal(a, users) {
		t.Error("waveOrder is not a permutation of the users")
	}
}

// TestRefreshWaveOncePerUser: 200 users whose tokens expire together, four
// processes sharing PostgreSQL or Redis, each asking for every user's
// token: every user is refreshed exactly once and every call succeeds.
func TestRefreshWaveOncePerUser(t *testing.T) {
	for _, kind := range []string{"postgres", "redis"} {
		t.Run(kind, func(t *testing.T) {
			r := newWaveRig(t, kind, 200)
			for round, presigned := range []bool{false, false, true} {
				res := r.wave(waveProcesses, 8, 20*time.Millisecond, uint64(round), presigned)
				if res.processErr != nil {
					t.Fatalf("round %d: %v\n%s", round, res.processErr, res.stderr)
				}
				if res.notOnce != 0 || res.refreshes != len(r.subs) || res.errors != 0 {
					t.Fatalf("round %d: %d refreshes for %d users (%d not refreshed exactly once), %d failed calls\n%s",
						round, res.refreshes, len(r.subs), res.notOnce, res.errors, res.stderr)
				}
				if want := map[bool]int{false: len(r.subs), true: 0}[presigned]; res.byFake != want {
					t.Fatalf("round %d (presigned %t): the fake answered %d refreshes, want %d", round, presigned, res.byFake, want)
				}
			}
		})
	}
}

// BenchmarkRefreshWave is the refresh wave at scale: SERVERAUTH_BENCH_WAVE_USERS
// users (10 000 in bench/run.sh), the fake answering each refresh after
// 100 ms, served by 1 or 4 processes of 16 request goroutines each over a
// shared PostgreSQL table or Redis prefix. Reported, per wave:
// refreshes/user (1), not-once (users refreshed other than once: 0),
// errors, store-trips/refresh (all processes' SQL statements or Redis
// commands, over the refreshes), wall-s (the wall time of the slowest
// process), ideal-s (waveIdeal: every worker on a user no other worker
// asked for), minimum-s (waveScheduleMinimum of the wave's seed: the
// schedule the replicas run, at no CPU cost), wall/minimum, cpu-bound-s
// (the CPU time of all processes and the fake, over the cores),
// server-cpu-s (the CPU time of the store's server, when it runs on this
// machine: serverCPU), machine-bound-s (all that CPU time, over the
// cores), wall/max(minimum,cpu-bound) and wall/max(minimum,machine-bound).
// Times are averages over the waves.
func BenchmarkRefreshWave(b *testing.B) {
	users := 1000
	if v := os.Getenv(waveUsersEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("%s=%q: want a positive number", waveUsersEnv, v)
		}
		users = n
	}
	for _, kind := range []string{"postgres", "redis"} {
		b.Run(kind, func(b *testing.B) {
			r := newWaveRig(b, kind, users) // shared by the sub-benchmarks, cleaned up after them
			for _, c := range []struct {
				fake      string
				processes int
			}{{"live", 1}, {"live", waveProcesses}, {"presigned", waveProcesses}} {
				processes, presigned := c.processes, c.fake == "presigned"
				b.Run(fmt.Sprintf("fake=%s/processes=%d/users=%d", c.fake, processes, users), func(b *testing.B) {
					var (
						total         waveResult
						wall, minimum time.Duration
						waves, seed   int
					)
					for b.Loop() {
						seed++
						res := r.wave(processes, waveWorkers, waveLatency, uint64(seed), presigned)
						if res.processErr != nil {
							b.Fatalf("%v\n%s", res.processErr, res.stderr)
						}
						if res.errors > 0 && total.stderr == "" {
							total.stderr = res.stderr
						}
						total.refreshes += res.refreshes
						total.notOnce += res.notOnce
						total.errors += res.errors
						total.trips += res.trips
						wall += res.longest
						minimum += waveScheduleMinimum(r.subs, processes, waveWorkers, waveLatency, uint64(seed))
						total.cpu += res.cpu
						total.serverCPU += res.serverCPU
						waves++
					}
					ideal := waveIdeal(users, processes, waveWorkers, waveLatency)
					minimumS := minimum.Seconds() / float64(waves)
					b.ReportMetric(float64(total.refreshes)/float64(waves*users), "refreshes/user")
					b.ReportMetric(float64(total.notOnce)/float64(waves), "not-once")
					b.ReportMetric(float64(total.errors)/float64(waves), "errors")
					b.ReportMetric(float64(total.trips)/float64(max(total.refreshes, 1)), "store-trips/refresh")
					b.ReportMetric(wall.Seconds()/float64(waves), "wall-s")
					b.ReportMetric(ideal.Seconds(), "ideal-s")
					b.ReportMetric(minimumS, "minimum-s")
					b.ReportMetric(wall.Seconds()/float64(waves)/minimumS, "wall/minimum")
					// The CPU all the work took (the fake signing an ID token per
					// refresh, the processes verifying it, encrypting, the
					// drivers), spread over every core: the machine's own floor.
					cpuBound := total.cpu.Seconds() / float64(waves) / float64(runtime.NumCPU())
					b.ReportMetric(cpuBound, "cpu-bound-s")
					b.ReportMetric(wall.Seconds()/float64(waves)/max(minimumS, cpuBound), "wall/max(minimum,cpu-bound)")
					// The same with the store server's CPU, which the cores also ran.
					serverS := total.serverCPU.Seconds() / float64(waves)
					machineBound := cpuBound + serverS/float64(runtime.NumCPU())
					b.ReportMetric(serverS, "server-cpu-s")
					b.ReportMetric(machineBound, "machine-bound-s")
					b.ReportMetric(wall.Seconds()/float64(waves)/max(minimumS, machineBound), "wall/max(minimum,machine-bound)")
					if total.stderr != "" {
						b.Logf("process errors:\n%s", total.stderr)
					}
				})
			}
		})
	}
}
