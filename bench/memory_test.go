package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
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

// generatedStore is a read-only TokenStore that makes each user's record
// when asked (user i is userID(i)), holding nothing: an Exchanger that
// loads a million users' tokens from it grows by its token cache alone.
type generatedStore struct {
	tokenSize int
	expiry    time.Time
}

func (s *generatedStore) Get(_ context.Context, id string) (*serverauth.Record, error) {
	i, err := strconv.Atoi(strings.TrimPrefix(id, "1"))
	if err != nil || id != userID(i) {
		return nil, serverauth.ErrNotFound
	}
	return &serverauth.Record{
		UserID:       id,
		AccessToken:  []byte(fakeToken("ya29.a0", i, s.tokenSize)),
		RefreshToken: []byte(fakeToken("1//0", i, refreshTokenSize)),
		Expiry:       s.expiry,
		Scopes:       []string{"openid", serverauth.ScopeEmail, serverauth.ScopeProfile},
		Status:       serverauth.StatusActive,
		Created:      s.expiry.Add(-time.Hour),
		Updated:      s.expiry.Add(-time.Hour),
		Version:      1,
	}, nil
}

func (s *generatedStore) Put(context.Context, *serverauth.Record) error {
	return errors.New("generatedStore is read-only")
}

func (s *generatedStore) Delete(context.Context, string) error {
	return errors.New("generatedStore is read-only")
}

// cacheBytesPerUser loads n users' tokens of the given size into a fresh
// Exchanger's cache through Token, calls Token reads-1 more times per user,
// and returns the heap it grew by, per user.
func cacheBytesPerUser(b *testing.B, n, tokenSize, reads int) float64 {
	b.Helper()
	ctx := context.Background()
	users := make([]string, n)
	for i := range users {
		users[i] = userID(i)
	}
	store := &generatedStore{tokenSize: tokenSize, expiry: time.Now().Add(time.Hour)}
	cfg := hotConfig(store, nil)
	cfg.TokenCacheSize = n
	cfg.InsecurePlaintextTokens = true // generated throwaway tokens
	// Fewer collections while filling; heapInUse collects fully anyway.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	before := heapInUse()
	ex, err := serverauth.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	for range reads {
		for _, u := range users {
			if _, err := ex.Token(ctx, u); err != nil {
				b.Fatal(err)
			}
		}
	}
	perUser := float64(heapInUse()-before) / float64(n)
	// Every user is still served from memory.
	for _, i := range []int{0, n / 2, n - 1} {
		tok, err := ex.Token(ctx, users[i])
		if err != nil || tok.AccessToken != fakeToken("ya29.a0", i, tokenSize) {
			b.Fatalf("Token(%s) after filling = %v", users[i], err)
		}
	}
	runtime.KeepAlive(ex)
	runtime.KeepAlive(users)
	return perUser
}

// BenchmarkMemory measures the memory held per user:
//
//   - cache-1m-users-…: an Exchanger's in-memory token cache alone, with a
//     million users, each loaded through Token from a store that holds
//     nothing (the heap grows by the cache only). Access tokens of 167
//     bytes (as the fake issues: "ya29.a0" and 160 characters) and of 250
//     (Google's run to about that). "-read-again": every user's Token
//     called a second time, served from memory, which builds the
//     *oauth2.Token that later calls share (the hot set's cost per user).
//   - cache+memory-store-100k-users: Save for 100 000 users into a fresh
//     MemoryStore, which holds the record (both tokens, scopes, times) and
//     caches the access token.
//
// User IDs are 21 digits. The metric is B/user; the time per op is the
// cost of filling.
func BenchmarkMemory(b *testing.B) {
	ctx := context.Background()
	for _, tc := range []struct {
		size, reads int
		suffix      string
	}{{167, 1, ""}, {accessTokenSize, 1, ""}, {167, 2, "-read-again"}} {
		b.Run(fmt.Sprintf("cache-1m-users-%dB-tokens%s", tc.size, tc.suffix), func(b *testing.B) {
			var perUser float64
			for b.Loop() {
				perUser = cacheBytesPerUser(b, 1_000_000, tc.size, tc.reads)
			}
			b.ReportMetric(perUser, "B/user")
			b.ReportMetric(perUser-float64(tc.size), "B/user-beyond-token")
		})
	}
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
