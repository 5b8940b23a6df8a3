package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/internal/testenv"
	"github.com/serverauth/serverauth/redisstore"
	"github.com/serverauth/serverauth/serverauthtest"
	"github.com/serverauth/serverauth/sqlstore"
)

// replicaEnv names a file holding a replicaJob, JSON, for a child process
// of the test binary, which then acts as one replica of a backend in
// BenchmarkStormProcesses and BenchmarkRefreshWave. (A file, not the value:
// ten thousand users' IDs exceed what one environment variable may hold.)
const replicaEnv = "SERVERAUTH_BENCH_REPLICA"

// replicaIndexEnv numbers the replica processes of one run from 0: a
// wave's replicas each walk the users in an order of their own.
const replicaIndexEnv = "SERVERAUTH_BENCH_REPLICA_INDEX"

// replicaProfileEnv, when set to a directory, makes each replica write a
// CPU profile of its storm or wave there (replica-<index>.pprof), as
// -cpuprofile does for the parent:
//
//	SERVERAUTH_BENCH_REPLICA_PROFILE=/tmp/p go test -bench RefreshWave ./bench/
const replicaProfileEnv = "SERVERAUTH_BENCH_REPLICA_PROFILE"

// replicaPoolSize bounds each replica's PostgreSQL connections.
const replicaPoolSize = 10

// replicaJob is what a replica process does: open the shared store, wait for
// "go" on stdin, call Token PerUser times concurrently for every user, and
// print "done <errors>".
type replicaJob struct {
	FakeURL string    // the fake Google, plain HTTP on loopback
	Store   string    // "postgres" or "redis"
	DSN     string    // the service's address
	Name    string    // table or key prefix
	Keyring string    // the Cipher, as ParseKeyring reads it
	Now     time.Time // the replica's clock, stopped
	Users   []string
	PerUser int

	// Workers, when set, makes the replica serve a refresh wave instead of
	// a storm: that many goroutines call Token once for every user, in an
	// order of the replica's own (seeded by Seed), as a server's request
	// handlers would. The replica then also reports its store round trips.
	Workers int
	Seed    uint64
}

// TestReplicaProcess is not a test: it is the replica process of
// BenchmarkStormProcesses, and skips unless started as one.
func TestReplicaProcess(t *testing.T) {
	v := os.Getenv(replicaEnv)
	if v == "" {
		t.Skip("the replica process of BenchmarkStormProcesses")
	}
	data, err := os.ReadFile(v)
	if err != nil {
		t.Fatal(err)
	}
	var job replicaJob
	if err := json.Unmarshal(data, &job); err != nil {
		t.Fatal(err)
	}
	if err := runReplica(job, os.Stdin, os.Stdout); err != nil {
		t.Fatal(err)
	}
}

func runReplica(job replicaJob, in io.Reader, out io.Writer) error {
	ctx := context.Background()
	var (
		st    serverauth.TokenStore
		trips roundTrips
	)
	switch job.Store {
	case "postgres":
		pc, err := pgx.ParseConfig(job.DSN)
		if err != nil {
			return err
		}
		pc.Tracer = &trips // every statement is one round trip
		db := stdlib.OpenDB(*pc)
		defer db.Close()
		// A pool of its own size, as a deployment has: without a bound,
		// four processes refreshing 100 users at once open more
		// connections than PostgreSQL's default max_connections (100);
		// and as many idle ones, or database/sql closes all but 2 after
		// each statement (sqlstore's doc).
		db.SetMaxOpenConns(replicaPoolSize)
		db.SetMaxIdleConns(replicaPoolSize)
		if err := db.PingContext(ctx); err != nil {
			return err
		}
		if st, err = sqlstore.New(db, sqlstore.Config{Dialect: sqlstore.Postgres, Table: job.Name}); err != nil {
			return err
		}
	case "redis":
		opts, err := redis.ParseURL(job.DSN)
		if err != nil {
			return err
		}
		c := redis.NewClient(opts)
		defer c.Close()
		c.AddHook(&trips) // every command or pipeline is one round trip
		if err := c.Ping(ctx).Err(); err != nil {
			return err
		}
		if st, err = redisstore.New(c, redisstore.Config{Prefix: job.Name}); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown store %q", job.Store)
	}
	cfg := processConfig(job.FakeURL, job.Keyring, st, func() time.Time { return job.Now })
	profile := os.Getenv(replicaProfileEnv)
	var ops *opTimes
	if profile != "" {
		ops = &opTimes{}
		cfg.Observer = ops
	}
	ex, err := serverauth.New(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "ready")
	if line, err := bufio.NewReader(in).ReadString('\n'); err != nil || line != "go\n" {
		return fmt.Errorf("waiting for go: %q, %v", line, err)
	}
	if profile != "" {
		name := filepath.Join(profile, "replica-"+os.Getenv(replicaIndexEnv))
		f, err := os.Create(name + ".pprof")
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
		defer func() { os.WriteFile(name+"-ops.txt", []byte(ops.String()), 0o644) }()
	}
	before, start, cpu := trips.n.Load(), time.Now(), cpuTime()
	errs := 0
	if job.Workers > 0 {
		index, _ := strconv.Atoi(os.Getenv(replicaIndexEnv))
		errs = wave(ex, job.Users, job.Workers, waveSeed(job.Seed, index))
	} else {
		got, err := storm([]*serverauth.Exchanger{ex}, job.Users, job.PerUser)
		if err != nil {
			errs = 1
			fmt.Fprintln(os.Stderr, err) // the parent keeps it for its log
		}
		for _, toks := range got {
			if len(toks) > 1 {
				errs++
			}
		}
	}
	fmt.Fprintf(out, "done %d %d %d %d\n", errs, trips.n.Load()-before, time.Since(start), cpuTime()-cpu)
	return nil
}

// waveSeed is the seed of replica index's order in a wave seeded by seed.
func waveSeed(seed uint64, index int) uint64 {
	return seed*1000 + uint64(index)
}

// waveOrder is the order in which a replica seeded by seed walks the users:
// a shuffled copy.
func waveOrder(users []string, seed uint64) []string {
	order := slices.Clone(users)
	rng := rand.New(rand.NewPCG(seed, 99))
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	return order
}

// wave calls Token once for every user from workers goroutines, in
// waveOrder's order, and returns the number of failed calls (the first few
// errors go to stderr, which the parent keeps).
func wave(ex *serverauth.Exchanger, users []string, workers int, seed uint64) int {
	order := waveOrder(users, seed)
	var (
		next, failed atomic.Int64
		wg           sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(order)); i = next.Add(1) - 1 {
				if _, err := ex.Token(context.Background(), order[i]); err != nil {
					if failed.Add(1) <= 3 {
						fmt.Fprintf(os.Stderr, "Token(%s) = %v\n", order[i], err)
					}
				}
			}
		})
	}
	wg.Wait()
	return int(failed.Load())
}

// opTimes is an Observer that adds up each operation's count, wall time
// (the replica's Config.Now stands still) and attempts, for
// replicaProfileEnv.
type opTimes struct {
	mu sync.Mutex
	by map[serverauth.Op]*opTime
}

type opTime struct {
	n, attempts, errors int
	total               time.Duration
}

type opStartKey struct{}

func (o *opTimes) Start(ctx context.Context, _ serverauth.Op) context.Context {
	return context.WithValue(ctx, opStartKey{}, time.Now())
}

func (o *opTimes) End(ctx context.Context, ob serverauth.Observation) {
	start, _ := ctx.Value(opStartKey{}).(time.Time)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.by == nil {
		o.by = map[serverauth.Op]*opTime{}
	}
	t := o.by[ob.Op]
	if t == nil {
		t = &opTime{}
		o.by[ob.Op] = t
	}
	t.n++
	t.attempts += ob.Attempts
	t.total += time.Since(start)
	if ob.Outcome == serverauth.OutcomeError {
		t.errors++
	}
}

// String lists the operations: count, errors, attempts and mean wall time.
func (o *opTimes) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var b strings.Builder
	for op, t := range o.by {
		fmt.Fprintf(&b, "%-12s n=%d errors=%d attempts=%d mean=%v\n", op, t.n, t.errors, t.attempts, t.total/time.Duration(max(t.n, 1)))
	}
	return b.String()
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// roundTrips counts a replica's store round trips: SQL statements (pgx's
// tracer) or Redis commands and pipelines (a go-redis hook).
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}

func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmd)
	}
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmds)
	}
}

// processConfig is the configuration of every replica and of the parent.
func processConfig(fakeURL, keyring string, st serverauth.TokenStore, now func() time.Time) serverauth.Config {
	k, err := serverauth.ParseKeyring(keyring)
	if err != nil {
		panic(err)
	}
	return serverauth.Config{
		ClientID:         serverauthtest.DefaultWebClientID,
		ClientSecret:     serverauthtest.DefaultWebClientSecret,
		AllowedClientIDs: []string{serverauthtest.DefaultIOSClientID, serverauthtest.DefaultAndroidClientID},
		Endpoints:        serverauthtest.EndpointsAt(fakeURL),
		Store:            st,
		Cipher:           k,
		Now:              now,
	}
}

// BenchmarkStormProcesses is the refresh storm across four processes
// sharing a PostgreSQL or Redis store: every iteration expires every user's
// token and starts four replica processes (this test binary again), each
// calling Token 10 times concurrently for each of 100 users. calls/user is
// token-endpoint calls per user per expiry (the target is 1); errors counts
// failed calls and users who got two different tokens.
func BenchmarkStormProcesses(b *testing.B) {
	const (
		processes = 4
		users     = 100
		perUser   = 10
	)
	for _, kind := range []string{"postgres", "redis"} {
		b.Run(kind+"-4-processes-100-users-10-goroutines", func(b *testing.B) {
			var (
				st   serverauth.TokenStore
				dsn  string
				name string
			)
			switch kind {
			case "postgres":
				dsn = testenv.DSN(b, testenv.Postgres)
				st, name = openSQL(b, "pgx", dsn, sqlstore.Postgres)
			case "redis":
				dsn = testenv.DSN(b, testenv.Redis)
				st, name = openRedis(b, dsn)
			}
			clock := serverauthtest.NewClock(time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC))
			g := serverauthtest.New(serverauthtest.Options{Now: clock.Now, AccessTokenLifetime: stormTokenLifetime})
			hs := httptest.NewServer(g)
			b.Cleanup(hs.Close)
			key, err := serverauth.GenerateKey(1)
			if err != nil {
				b.Fatal(err)
			}
			ex, err := serverauth.New(processConfig(hs.URL, key.Encode(), st, clock.Now))
			if err != nil {
				b.Fatal(err)
			}
			subs := make([]string, users)
			for i := range subs {
				subs[i] = userID(i)
				code, err := g.MintCode(serverauthtest.CodeRequest{User: serverauthtest.User{Sub: subs[i], Email: "u" + subs[i] + "@example.com", EmailVerified: true}})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := ex.Exchange(context.Background(), code); err != nil {
					b.Fatal(err)
				}
			}
			calls, errs, storms := 0, 0, 0
			firstStderr := ""
			for b.Loop() {
				clock.Advance(stormTokenLifetime + time.Second)
				before := make(map[string]int, users)
				for _, s := range subs {
					before[s] = g.RefreshCount(s)
				}
				job := replicaJob{FakeURL: hs.URL, Store: kind, DSN: dsn, Name: name, Keyring: key.Encode(),
					Now: clock.Now(), Users: subs, PerUser: perUser}
				n, stderr, err := runReplicas(job, processes)
				if err != nil {
					b.Fatalf("%v\n%s", err, stderr)
				}
				if n > 0 && firstStderr == "" {
					firstStderr = stderr
				}
				errs += n
				for _, s := range subs {
					calls += g.RefreshCount(s) - before[s]
				}
				storms++
			}
			b.ReportMetric(float64(calls)/float64(storms*users), "calls/user")
			b.ReportMetric(float64(errs)/float64(storms), "errors")
			if firstStderr != "" {
				b.Logf("replica errors:\n%s", firstStderr)
			}
		})
	}
}

// runReplicas starts n replica processes for job, lets them go together once
// all are ready, and returns the errors they report and what they wrote to
// stderr (kept out of the benchmark's output, which benchstat parses).
func runReplicas(job replicaJob, n int) (errs int, stderr string, err error) {
	errs, _, _, _, stderr, err = runReplicasCounting(job, n)
	return errs, stderr, err
}

// runReplicasCounting is runReplicas, also returning the replicas' store
// round trips, the longest time a replica took from "go" to "done" and the
// CPU time they used meanwhile.
func runReplicasCounting(job replicaJob, n int) (errs int, trips int64, longest, cpu time.Duration, stderr string, err error) {
	data, err := json.Marshal(job)
	if err != nil {
		return 0, 0, 0, 0, "", err
	}
	dir, err := os.MkdirTemp("", "serverauth-replica-")
	if err != nil {
		return 0, 0, 0, 0, "", err
	}
	defer os.RemoveAll(dir)
	jobFile := filepath.Join(dir, "job.json")
	if err := os.WriteFile(jobFile, data, 0o600); err != nil {
		return 0, 0, 0, 0, "", err
	}
	var errBuf lockedBuffer
	defer func() { stderr = errBuf.String() }()
	type proc struct {
		cmd *exec.Cmd
		in  io.WriteCloser
		out *bufio.Reader
	}
	var procs []proc
	defer func() {
		for _, p := range procs {
			p.in.Close()
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	}()
	for i := range n {
		cmd := exec.Command(os.Args[0], "-test.run=^TestReplicaProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), replicaEnv+"="+jobFile, replicaIndexEnv+"="+strconv.Itoa(i))
		cmd.Stderr = &errBuf
		in, err := cmd.StdinPipe()
		if err != nil {
			return 0, 0, 0, 0, "", err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return 0, 0, 0, 0, "", err
		}
		if err := cmd.Start(); err != nil {
			return 0, 0, 0, 0, "", err
		}
		procs = append(procs, proc{cmd, in, bufio.NewReader(out)})
	}
	// readLine returns the next line with the given prefix; the test
	// framework's own lines (PASS, ok) are skipped.
	readLine := func(p proc, prefix string) (string, error) {
		for {
			line, err := p.out.ReadString('\n')
			if err != nil {
				return "", fmt.Errorf("replica: waiting for %q: %w", prefix, err)
			}
			if strings.HasPrefix(line, prefix) {
				return strings.TrimSpace(line), nil
			}
		}
	}
	for _, p := range procs {
		if _, err := readLine(p, "ready"); err != nil {
			return 0, 0, 0, 0, "", err
		}
	}
	for _, p := range procs {
		if _, err := io.WriteString(p.in, "go\n"); err != nil {
			return 0, 0, 0, 0, "", err
		}
	}
	total := 0
	var totalTrips int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	for _, p := range procs {
		wg.Go(func() {
			line, err := readLine(p, "done ")
			var (
				k       int
				t, d, c int64
			)
			if err == nil {
				_, err = fmt.Sscanf(line, "done %d %d %d %d", &k, &t, &d, &c)
			}
			mu.Lock()
			defer mu.Unlock()
			total += k
			totalTrips += t
			longest = max(longest, time.Duration(d))
			cpu += time.Duration(c)
			firstErr = firstError(firstErr, err)
		})
	}
	wg.Wait()
	return total, totalTrips, longest, cpu, "", firstErr
}

// lockedBuffer is a bytes.Buffer several processes' stderr can share.
type lockedBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
