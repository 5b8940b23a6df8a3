package bench

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strconv"
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
		if d := time.Duration(r.slow.Load()); d > 0 && req.Method == http.MethodPost && req.URL.Path == tokenPath {
			time.Sleep(d)
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
				code, err := r.g.MintCode(serverauthtest.CodeRequest{User: serverauthtest.User{Sub: sub, Email: "w" + sub + "@example.com", EmailVerified: true}})
				if err == nil {
					_, err = ex.Exchange(context.Background(), code)
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
	stderr     string
	processErr error
}

// wave expires every token, lets processes replicas serve all users with
// workers goroutines each, and counts.
func (r *waveRig) wave(processes, workers int, latency time.Duration, seed uint64) waveResult {
	r.clock.Advance(stormTokenLifetime + time.Second)
	before := make([]int, len(r.subs))
	for i, s := range r.subs {
		before[i] = r.g.RefreshCount(s)
	}
	r.slow.Store(int64(latency))
	defer r.slow.Store(0)
	job := replicaJob{FakeURL: r.url, Store: r.kind, DSN: r.dsn, Name: r.name, Keyring: r.key,
		Now: r.clock.Now(), Users: r.subs, Workers: workers, Seed: seed}
	var res waveResult
	own := cpuTime()
	res.errors, res.trips, res.longest, res.cpu, res.stderr, res.processErr = runReplicasCounting(job, processes)
	res.cpu += cpuTime() - own
	for i, s := range r.subs {
		n := r.g.RefreshCount(s) - before[i]
		res.refreshes += n
		if n != 1 {
			res.notOnce++
		}
	}
	return res
}

// waveMinimum is the shortest a wave can take: users refreshes, each
// answered after latency, at most processes × workers at a time (each
// worker waits for the refresh it asked for). Reads of tokens other
// processes refreshed, and the CPU time of signing and verifying, are on
// top.
func waveMinimum(users, processes, workers int, latency time.Duration) time.Duration {
	return time.Duration(math.Ceil(float64(users)/float64(processes*workers))) * latency
}

// TestRefreshWaveOncePerUser: 200 users whose tokens expire together, four
// processes sharing PostgreSQL or Redis, each asking for every user's
// token: every user is refreshed exactly once and every call succeeds.
func TestRefreshWaveOncePerUser(t *testing.T) {
	for _, kind := range []string{"postgres", "redis"} {
		t.Run(kind, func(t *testing.T) {
			r := newWaveRig(t, kind, 200)
			for round := range 2 {
				res := r.wave(waveProcesses, 8, 20*time.Millisecond, uint64(round))
				if res.processErr != nil {
					t.Fatalf("round %d: %v\n%s", round, res.processErr, res.stderr)
				}
				if res.notOnce != 0 || res.refreshes != len(r.subs) || res.errors != 0 {
					t.Fatalf("round %d: %d refreshes for %d users (%d not refreshed exactly once), %d failed calls\n%s",
						round, res.refreshes, len(r.subs), res.notOnce, res.errors, res.stderr)
				}
			}
		})
	}
}

// BenchmarkRefreshWave is the refresh wave at scale: SERVERAUTH_BENCH_WAVE_USERS
// users (10 000 in bench/run.sh), the fake answering each refresh after
// 100 ms, served by 1 or 4 processes of 16 request goroutines each over a
// shared PostgreSQL table or Redis prefix. Reported: refreshes/user (1),
// not-once (users refreshed other than once: 0), errors, store round trips
// per refresh (all processes' SQL statements or Redis commands, over the
// refreshes), the wall time of the slowest process and its ratio to
// waveMinimum.
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
			for _, processes := range []int{1, waveProcesses} {
				b.Run(fmt.Sprintf("processes=%d/users=%d", processes, users), func(b *testing.B) {
					var (
						total       waveResult
						wall        time.Duration
						waves, seed int
					)
					for b.Loop() {
						seed++
						res := r.wave(processes, waveWorkers, waveLatency, uint64(seed))
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
						total.cpu += res.cpu
						waves++
					}
					minimum := waveMinimum(users, processes, waveWorkers, waveLatency)
					b.ReportMetric(float64(total.refreshes)/float64(waves*users), "refreshes/user")
					b.ReportMetric(float64(total.notOnce)/float64(waves), "not-once")
					b.ReportMetric(float64(total.errors)/float64(waves), "errors")
					b.ReportMetric(float64(total.trips)/float64(max(total.refreshes, 1)), "store-trips/refresh")
					b.ReportMetric(wall.Seconds()/float64(waves), "wall-s")
					b.ReportMetric(minimum.Seconds(), "minimum-s")
					b.ReportMetric(wall.Seconds()/float64(waves)/minimum.Seconds(), "wall/minimum")
					// The CPU all the work took (the fake signing an ID token per
					// refresh, the processes verifying it, encrypting, the
					// drivers), spread over every core: the machine's own floor.
					cpuBound := total.cpu.Seconds() / float64(waves) / float64(runtime.NumCPU())
					b.ReportMetric(cpuBound, "cpu-bound-s")
					b.ReportMetric(wall.Seconds()/float64(waves)/max(minimum.Seconds(), cpuBound), "wall/max(minimum,cpu-bound)")
					if total.stderr != "" {
						b.Logf("process errors:\n%s", total.stderr)
					}
				})
			}
		})
	}
}
