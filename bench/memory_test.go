package bench

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
)

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkMemory measures the memory held per user with 100 000 users:
//
//   - cache: an Exchanger's in-memory token cache alone. A second Exchanger
//     over an already filled MemoryStore loads every user's token with
//     Token; the heap grows by the cache only.
//   - cache+memory-store: Save for every user into a fresh MemoryStore,
//     which holds the record (both tokens, scopes, times) and caches the
//     access token.
//
// Tokens are 250 bytes (access) and 150 bytes (refresh), user IDs 21 digits.
// The metric is B/user; the time per op is the cost of filling.
func BenchmarkMemory(b *testing.B) {
	ctx := context.Background()
	b.Run("cache-100k-users", func(b *testing.B) {
		store := serverauth.NewMemoryStore()
		filler, err := serverauth.New(hotConfig(store, nil))
		if err != nil {
			b.Fatal(err)
		}
		users, err := fillCache(filler, hotUsers)
		if err != nil {
			b.Fatal(err)
		}
		var perUser float64
		for b.Loop() {
			b.StopTimer()
			before := heapInUse()
			ex, err := serverauth.New(hotConfig(store, nil))
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			for _, u := range users {
				if _, err := ex.Token(ctx, u); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			perUser = float64(heapInUse()-before) / hotUsers
			runtime.KeepAlive(ex)
			b.StartTimer()
		}
		b.ReportMetric(perUser, "B/user")
	})
	b.Run("cache+memory-store-100k-users", func(b *testing.B) {
		var perUser float64
		for b.Loop() {
			b.StopTimer()
			before := heapInUse()
			b.StartTimer()
			ex, err := serverauth.New(hotConfig(serverauth.NewMemoryStore(), nil))
			if err != nil {
				b.Fatal(err)
			}
			users, err := fillCache(ex, hotUsers)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			// users are the caller's own strings; count them out.
			perUser = float64(heapInUse()-before)/hotUsers - float64(len(users[0])+16)
			runtime.KeepAlive(ex)
			runtime.KeepAlive(users)
			b.StartTimer()
		}
		b.ReportMetric(perUser, "B/user")
	})
	// An Exchanger keeps each exchange's Result for Config.DuplicateCodeWindow
	// (2 minutes by default; up to 10 000 codes, the map growing to twice that
	// before it is pruned) so that a repeated code gets the same answer. These
	// measure the heap held after 10 000 exchanges of distinct codes, with the
	// default window and with the window off (negative); the difference is
	// what one retained exchange costs.
	for _, tc := range []struct {
		name   string
		window time.Duration
	}{{"exchanges-10k-default-window", 0}, {"exchanges-10k-no-window", -1}} {
		b.Run(tc.name, func(b *testing.B) {
			const n = 10_000
			f := getFake(b)
			ts, _ := tokenEndpoint(b, f)
			cfg := f.srv.Config()
			cfg.Endpoints.TokenURL = ts.URL
			cfg.DuplicateCodeWindow = tc.window
			var perExchange float64
			seq := 0
			for b.Loop() {
				b.StopTimer()
				ex, err := serverauth.New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := ex.Exchange(ctx, fmt.Sprintf("4/0Awarm%d", seq)); err != nil { // warm the key cache
					b.Fatal(err)
				}
				before := heapInUse()
				b.StartTimer()
				for range n {
					seq++
					if _, err := ex.Exchange(ctx, fmt.Sprintf("4/0AmemCode%d", seq)); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				perExchange = (float64(heapInUse()) - float64(before)) / n
				runtime.KeepAlive(ex)
				b.StartTimer()
			}
			b.ReportMetric(perExchange, "B/exchange")
		})
	}
}
