//go:build ignore

// Ratios reads `go test -bench` output and prints, as Markdown, the numbers
// BENCHMARKS.md's targets speak of: ratios between benchmarks of one run
// (benchstat compares runs, not benchmarks), scaling from one to two cores,
// the storm counts and the memory per user. Each figure is the median of
// its samples.
//
//	go run bench/ratios.go bench/results/latest.txt
package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// key is one benchmark (full name without the -N suffix), GOMAXPROCS and unit.
type key struct {
	name  string
	procs int
	unit  string
}

var (
	samples = map[key][]float64{}
	procsRE = regexp.MustCompile(`^(.*)-(\d+)$`)
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run bench/ratios.go RESULTS")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		name, procs := fields[0], 1
		if m := procsRE.FindStringSubmatch(name); m != nil {
			name = m[1]
			procs, _ = strconv.Atoi(m[2])
		}
		name = strings.TrimPrefix(name, "Benchmark")
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				break
			}
			k := key{name, procs, fields[i+1]}
			samples[k] = append(samples[k], v)
		}
	}
	report()
}

// med returns the median of a benchmark's samples, NaN when there are none.
func med(name string, procs int, unit string) float64 {
	return median(slices.Clone(samples[key{name, procs, unit}]))
}

// median sorts s and returns its median, NaN when it is empty.
func median(s []float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ns(name string, procs int) float64 { return med(name, procs, "ns/op") }

func dur(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case v >= 1e6:
		return fmt.Sprintf("%.2f ms", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.2f µs", v/1e3)
	}
	return fmt.Sprintf("%.1f ns", v)
}

func num(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func ratio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func ops(v float64) string {
	if math.IsNaN(v) || v == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f", 1e9/v)
}

// spread returns the min, median and max of the per-round ratios a/b: the
// k-th sample of a over the k-th of b, which ran in the same round of
// -count (every sub-benchmark of a round runs before the next round).
func spread(a, b string, procs int) (lo, mid, hi float64) {
	x, y := samples[key{a, procs, "ns/op"}], samples[key{b, procs, "ns/op"}]
	n := min(len(x), len(y))
	if n == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	r := make([]float64, n)
	for k := range n {
		r[k] = x[k] / y[k]
	}
	slices.Sort(r)
	mid = r[n/2]
	if n%2 == 0 {
		mid = (r[n/2-1] + r[n/2]) / 2
	}
	return r[0], mid, r[n-1]
}

// spreadOf prints spread as "median× (min–max, n rounds)".
func spreadOf(a, b string, procs int) string {
	lo, mid, hi := spread(a, b, procs)
	if math.IsNaN(mid) {
		return "—"
	}
	return fmt.Sprintf("%.2f× (%.2f–%.2f, %d rounds)", mid, lo, hi, min(len(samples[key{a, procs, "ns/op"}]), len(samples[key{b, procs, "ns/op"}])))
}

// waveName is one BenchmarkRefreshWave sub-benchmark.
type waveName struct{ name, store, fake, processes, users string }

var waveRE = regexp.MustCompile(`^RefreshWave/(\w+)/fake=(\w+)/processes=(\d+)/users=(\d+)$`)

// waveNames returns the refresh-wave benchmarks of the run, in order.
func waveNames() []waveName {
	seen := map[string]bool{}
	var out []waveName
	for k := range samples {
		if m := waveRE.FindStringSubmatch(k.name); m != nil && !seen[k.name] {
			seen[k.name] = true
			out = append(out, waveName{k.name, m[1], m[2], m[3], m[4]})
		}
	}
	slices.SortFunc(out, func(a, b waveName) int { return strings.Compare(a.name, b.name) })
	return out
}

// medAll is the median of a wave benchmark's samples at every GOMAXPROCS.
func medAll(w waveName, unit string) float64 { return medAny(w.name, unit) }

// medAny is the median of a benchmark's samples at every GOMAXPROCS it ran
// at (the memory and wave benchmarks run at one).
func medAny(name, unit string) float64 {
	var s []float64
	for k, v := range samples {
		if k.name == name && k.unit == unit {
			s = append(s, v...)
		}
	}
	return median(s)
}

// minMedMax prints a benchmark's time as "median (min–max)".
func minMedMax(name string, procs int) string {
	s := slices.Clone(samples[key{name, procs, "ns/op"}])
	if len(s) == 0 {
		return "—"
	}
	slices.Sort(s)
	return fmt.Sprintf("%s (%s–%s)", dur(ns(name, procs)), dur(s[0]), dur(s[len(s)-1]))
}

func report() {
	fmt.Println("### 1. ID-token verification (2048-bit key, warm key caches; serverauth: each token new to its cache; serverauth-cached: the same token again)")
	fmt.Println()
	fmt.Println("| implementation | GOMAXPROCS=1 | ratio to floor | GOMAXPROCS=2 | ratio to floor | B/op | allocs/op |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, impl := range []string{"floor", "rsa-only", "serverauth", "serverauth-cached", "serverauth-no-cache", "idtoken", "go-oidc", "golang-jwt"} {
		n := "VerifyIDToken/impl=" + impl
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s |\n", impl,
			dur(ns(n, 1)), ratio(ns(n, 1), ns("VerifyIDToken/impl=floor", 1)),
			dur(ns(n, 2)), ratio(ns(n, 2), ns("VerifyIDToken/impl=floor", 2)),
			num(med(n, 1, "B/op")), num(med(n, 1, "allocs/op")))
	}
	fmt.Println()
	ours := ns("VerifyIDToken/impl=serverauth", 1)
	for _, other := range []string{"idtoken", "go-oidc", "golang-jwt"} {
		fmt.Printf("- serverauth / %s (GOMAXPROCS=1): %s\n", other, ratio(ours, ns("VerifyIDToken/impl="+other, 1)))
	}
	for _, procs := range []int{1, 2} {
		fmt.Printf("- GOMAXPROCS=%d: a new token / the floor %s; no cache / the floor %s; the same token again: %s\n", procs,
			spreadOf("VerifyIDToken/impl=serverauth", "VerifyIDToken/impl=floor", procs),
			spreadOf("VerifyIDToken/impl=serverauth-no-cache", "VerifyIDToken/impl=floor", procs),
			minMedMax("VerifyIDToken/impl=serverauth-cached", procs))
	}
	fmt.Println()

	fmt.Println("### 2. Hot path: Token for a cached user, 100 000 users cached")
	fmt.Println()
	fmt.Println("| case | GOMAXPROCS=1 | GOMAXPROCS=2 | scaling 1→2 cores (throughput) | allocs/op |")
	fmt.Println("|---|---|---|---|---|")
	for _, c := range []string{
		"mode=serial/impl=reuse-token-source", "mode=serial/impl=serverauth", "mode=serial/impl=serverauth-rotating-users",
		"mode=parallel/impl=reuse-token-source", "mode=parallel/impl=serverauth-one-user", "mode=parallel/impl=serverauth-own-user",
	} {
		n := "Token/" + c
		scaling := "—"
		if strings.Contains(c, "parallel") {
			scaling = ratio(ns(n, 1), ns(n, 2))
		}
		fmt.Printf("| %s | %s | %s | %s | %s |\n", c, dur(ns(n, 1)), dur(ns(n, 2)), scaling, num(med(n, 1, "allocs/op")))
	}
	fmt.Println()
	fmt.Printf("- serial serverauth / serial ReuseTokenSource: %s (GOMAXPROCS=1), %s (GOMAXPROCS=2)\n",
		ratio(ns("Token/mode=serial/impl=serverauth", 1), ns("Token/mode=serial/impl=reuse-token-source", 1)),
		ratio(ns("Token/mode=serial/impl=serverauth", 2), ns("Token/mode=serial/impl=reuse-token-source", 2)))
	fmt.Println()
	fmt.Println("### 2a. Token on a realistic population: 10 000 users signed in through real exchanges, hot set of 256")
	fmt.Println()
	fmt.Println("Times are median (min–max) of the rounds; ratios are per round (each pair ran in the same round), median (min–max).")
	fmt.Println()
	fmt.Println("| case | GOMAXPROCS=1 | GOMAXPROCS=2 | allocs/op |")
	fmt.Println("|---|---|---|---|")
	pop := "TokenPopulation/mode="
	for _, c := range []string{
		"serial/set=hot/impl=serverauth", "serial/set=hot/impl=sync-map", "serial/set=hot/impl=reuse-token-source", "serial/set=hot/impl=clock",
		"serial/set=all/impl=serverauth", "serial/set=all/impl=sync-map",
		"parallel/set=hot/impl=serverauth", "parallel/set=hot/impl=sync-map", "parallel/set=hot/impl=reuse-token-source", "parallel/set=hot/impl=clock",
	} {
		n := pop + c
		fmt.Printf("| %s | %s | %s | %s |\n", c, minMedMax(n, 1), minMedMax(n, 2), num(med(n, 1, "allocs/op")))
	}
	fmt.Println()
	for _, procs := range []int{1, 2} {
		fmt.Printf("- GOMAXPROCS=%d: hot serverauth / ReuseTokenSource %s; hot serverauth / sync.Map %s; all serverauth / ReuseTokenSource %s; all serverauth / sync.Map %s\n", procs,
			spreadOf(pop+"serial/set=hot/impl=serverauth", pop+"serial/set=hot/impl=reuse-token-source", procs),
			spreadOf(pop+"serial/set=hot/impl=serverauth", pop+"serial/set=hot/impl=sync-map", procs),
			spreadOf(pop+"serial/set=all/impl=serverauth", pop+"serial/set=hot/impl=reuse-token-source", procs),
			spreadOf(pop+"serial/set=all/impl=serverauth", pop+"serial/set=all/impl=sync-map", procs))
	}
	for _, impl := range []string{"serverauth", "sync-map", "reuse-token-source", "clock"} {
		n := pop + "parallel/set=hot/impl=" + impl
		fmt.Printf("- throughput gain from 1 to 2 cores, %s: %s (medians)\n", impl, ratio(ns(n, 1), ns(n, 2)))
	}
	fmt.Println()
	fmt.Println("| Client transport, per request | GOMAXPROCS=1 | overhead over the base | B/op | allocs/op |")
	fmt.Println("|---|---|---|---|---|")
	base := ns("Transport/impl=base", 1)
	for _, impl := range []string{"oauth2", "serverauth", "base"} {
		n := "Transport/impl=" + impl
		fmt.Printf("| %s | %s | %s | %s | %s |\n", impl, dur(ns(n, 1)), dur(ns(n, 1)-base), num(med(n, 1, "B/op")), num(med(n, 1, "allocs/op")))
	}
	fmt.Printf("\n- serverauth overhead / oauth2.Transport overhead: %s\n\n",
		ratio(ns("Transport/impl=serverauth", 1)-base, ns("Transport/impl=oauth2", 1)-base))

	fmt.Println("### 3. Exchange against a loopback token endpoint")
	fmt.Println()
	fmt.Println("| implementation | GOMAXPROCS=1 | ratio | GOMAXPROCS=2 | ratio | B/op | allocs/op |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, impl := range []string{"x-oauth2+idtoken", "x-oauth2+idtoken-detached", "x-oauth2+idtoken-worker", "serverauth", "serverauth+memory-store"} {
		n, b := "Exchange/impl="+impl, "Exchange/impl=x-oauth2+idtoken"
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s |\n", impl, dur(ns(n, 1)), ratio(ns(n, 1), ns(b, 1)),
			dur(ns(n, 2)), ratio(ns(n, 2), ns(b, 2)), num(med(n, 1, "B/op")), num(med(n, 1, "allocs/op")))
	}
	fmt.Println()

	fmt.Println("### 3a. Sign-in throughput: SignInHandler into PostgreSQL with encryption, against a hand-glued handler (GOMAXPROCS=2)")
	fmt.Println()
	fmt.Println("Throughput ratio serverauth / glued per round, median (min–max); the other columns are medians.")
	fmt.Println()
	fmt.Println("| fake | clients | serverauth sign-ins/s | glued sign-ins/s | throughput ratio | serverauth p50 / p99 | glued p50 / p99 | PostgreSQL CPU/sign-in serverauth / glued |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, fake := range []string{"live", "presigned"} {
		for _, clients := range []string{"1", "8", "64"} {
			p := "SignIn/fake=" + fake + "/clients=" + clients + "/impl="
			fmt.Printf("| %s | %s | %.0f | %.0f | %s | %.1f / %.1f ms | %.1f / %.1f ms | %.0f / %.0f µs |\n", fake, clients,
				med(p+"serverauth", 2, "signins/s"), med(p+"glued", 2, "signins/s"),
				spreadOf(p+"glued", p+"serverauth", 2),
				med(p+"serverauth", 2, "p50-ms"), med(p+"serverauth", 2, "p99-ms"), med(p+"glued", 2, "p50-ms"), med(p+"glued", 2, "p99-ms"),
				med(p+"serverauth", 2, "db-cpu-us/signin"), med(p+"glued", 2, "db-cpu-us/signin"))
		}
	}
	fmt.Println()

	if !math.IsNaN(med("SignInInterleaved/fake=presigned/clients=1", 2, "serverauth/glued")) {
		fmt.Println("### 3b. Sign-in throughput, the contenders taking turns within each sample (BenchmarkSignInInterleaved)")
		fmt.Println()
		fmt.Println("| fake | clients | serverauth sign-ins/s | glued sign-ins/s | serverauth / glued, median (min–max) | serverauth p50 / p99 | glued p50 / p99 |")
		fmt.Println("|---|---|---|---|---|---|---|")
		for _, fake := range []string{"live", "presigned"} {
			for _, clients := range []string{"1", "8", "64"} {
				n := "SignInInterleaved/fake=" + fake + "/clients=" + clients
				r := slices.Clone(samples[key{n, 2, "serverauth/glued"}])
				slices.Sort(r)
				spread := "—"
				if len(r) > 0 {
					spread = fmt.Sprintf("%.2f× (%.2f–%.2f, %d samples)", med(n, 2, "serverauth/glued"), r[0], r[len(r)-1], len(r))
				}
				fmt.Printf("| %s | %s | %.0f | %.0f | %s | %.1f / %.1f ms | %.1f / %.1f ms |\n", fake, clients,
					med(n, 2, "serverauth-signins/s"), med(n, 2, "glued-signins/s"), spread,
					med(n, 2, "serverauth-p50-ms"), med(n, 2, "serverauth-p99-ms"), med(n, 2, "glued-p50-ms"), med(n, 2, "glued-p99-ms"))
			}
		}
		fmt.Println()
	}

	fmt.Println("### 4a. Refresh wave: every user's token expires at once; 1 or 4 processes of 16 workers, each asking for every user")
	fmt.Println()
	fmt.Println("Medians over the waves. minimum: the replicas' schedule simulated at no CPU cost")
	fmt.Println("(the fake answers a refresh after 100 ms); machine bound: the CPU time of the processes, the fake and the store's")
	fmt.Println("server over the cores.")
	fmt.Println()
	fmt.Println("| store | fake | processes | users | refreshes/user | not once | errors | store trips/refresh | wall | minimum | wall/minimum | machine bound | wall/max(minimum, machine bound) |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, k := range waveNames() {
		m := func(unit string) float64 { return medAll(k, unit) }
		fmt.Printf("| %s | %s | %s | %s | %.3f | %s | %s | %.2f | %.1f s | %.1f s | %.2f× | %.1f s | %.2f× |\n", k.store, k.fake, k.processes, k.users,
			m("refreshes/user"), num(m("not-once")), num(m("errors")), m("store-trips/refresh"), m("wall-s"), m("minimum-s"),
			m("wall/minimum"), m("machine-bound-s"), m("wall/max(minimum,machine-bound)"))
	}
	fmt.Println()

	fmt.Println("### 4. Refresh storms (counted)")
	fmt.Println()
	fmt.Println("| storm | metric | GOMAXPROCS=1 | GOMAXPROCS=2 |")
	fmt.Println("|---|---|---|---|")
	for _, c := range []struct{ name, unit string }{
		{"Storm/one-user-1000-goroutines", "calls/user"},
		{"Storm/1000-users-10-goroutines", "calls/user"},
		{"Storm/4-replicas-memory-store-100-users-40-goroutines", "calls/user"},
		{"StormProcesses/postgres-4-processes-100-users-10-goroutines", "calls/user"},
		{"StormProcesses/postgres-4-processes-100-users-10-goroutines", "errors"},
		{"StormProcesses/redis-4-processes-100-users-10-goroutines", "calls/user"},
		{"StormProcesses/redis-4-processes-100-users-10-goroutines", "errors"},
		{"Storm/failing-endpoint-no-retry-100-users-10-goroutines", "requests/user"},
		{"Storm/failing-endpoint-no-retry-100-users-10-goroutines", "in-backoff/user"},
		{"Storm/failing-endpoint-default-retry-100-users-10-goroutines", "requests/user"},
		{"Storm/failing-endpoint-default-retry-100-users-10-goroutines", "in-backoff/user"},
	} {
		fmt.Printf("| %s | %s | %s | %s |\n", c.name, c.unit, num(med(c.name, 1, c.unit)), num(med(c.name, 2, c.unit)))
	}
	fmt.Println()

	fmt.Println("### 5. Stores (GOMAXPROCS=1; seal = Keyring encryption of both token fields)")
	fmt.Println()
	fmt.Println("Measured: the seal=yes benchmark over the seal=no one (noisy for I/O-bound backends, where one fsync")
	fmt.Println("more or less outweighs the cipher). Computed: (store op + the Keyring's cost for both fields, from")
	fmt.Println("BenchmarkSeal) over the store op, which is what encryption adds.")
	fmt.Println()
	fmt.Println("| backend | Get ops/s | Get+open ops/s | open overhead measured / computed | Put ops/s | seal+Put ops/s | seal overhead measured / computed | Lease+Release ops/s | allocs Get / Put / Lease |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	open := ns("Seal/op=decrypt/field=refresh_token", 1) + ns("Seal/op=decrypt/field=access_token", 1)
	seal := ns("Seal/op=encrypt/field=refresh_token", 1) + ns("Seal/op=encrypt/field=access_token", 1)
	for _, be := range []string{"memory", "file", "sqlite", "postgres", "mysql", "redis"} {
		p := "Store/backend=" + be + "/op="
		g, gs := ns(p+"Get/seal=no", 1), ns(p+"Get/seal=yes", 1)
		w, ws := ns(p+"Put/seal=no", 1), ns(p+"Put/seal=yes", 1)
		l := ns(p+"Lease+Release/seal=no", 1)
		fmt.Printf("| %s | %s | %s | %s / %s | %s | %s | %s / %s | %s | %s / %s / %s |\n", be,
			ops(g), ops(gs), ratio(gs, g), ratio(g+open, g),
			ops(w), ops(ws), ratio(ws, w), ratio(w+seal, w), ops(l),
			num(med(p+"Get/seal=no", 1, "allocs/op")), num(med(p+"Put/seal=no", 1, "allocs/op")), num(med(p+"Lease+Release/seal=no", 1, "allocs/op")))
	}
	fmt.Println()
	for _, c := range []string{"op=encrypt/field=refresh_token", "op=decrypt/field=refresh_token", "op=encrypt/field=access_token", "op=decrypt/field=access_token"} {
		fmt.Printf("- Keyring %s: %s, %s B, %s allocs\n", c, dur(ns("Seal/"+c, 1)), num(med("Seal/"+c, 1, "B/op")), num(med("Seal/"+c, 1, "allocs/op")))
	}
	fmt.Println()

	fmt.Println("### 6. Memory per cached user")
	fmt.Println()
	for _, c := range []string{"Memory/cache-1m-users-167B-tokens", "Memory/cache-1m-users-250B-tokens", "Memory/cache-1m-users-167B-tokens-read-again"} {
		v := medAny(c, "B/user")
		fmt.Printf("- %s: %.1f B/user, %.1f B/user beyond the access token itself (%s MB per million users)\n", strings.TrimPrefix(c, "Memory/"),
			v, medAny(c, "B/user-beyond-token"), num(math.Round(v)))
	}
	v := medAny("Memory/cache+memory-store-100k-users", "B/user")
	fmt.Printf("- cache+memory-store-100k-users: %s B/user (%s MB per 100 000 users)\n", num(math.Round(v)), num(math.Round(v*1e5/1e6*10)/10))
	def := medAny("Memory/exchanges-10k-default-window", "B/exchange")
	off := medAny("Memory/exchanges-10k-no-window", "B/exchange")
	fmt.Printf("- heap held per exchange, default DuplicateCodeWindow: %s B; window off: %s B; one retained exchange: %s B\n",
		num(math.Round(def)), num(math.Round(off)), num(math.Round(def-off)))
}
