package bench

import (
	"context"
	"runtime"
	"testing"

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
}
