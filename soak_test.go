package serverauth_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// TestSoak runs many goroutines over many users for a while, with
// short-lived tokens, rotating refresh tokens, sign-ins, revocations and
// random injected faults, and checks the invariants after every round: no
// code sent twice, at most one refresh per user per expiry, no refresh token
// lost; and at the end, no goroutine leak and a flat heap.
//
// CI runs it for 5 s. Run it longer with, for example:
//
//	SERVERAUTH_SOAK=10m go test -run '^TestSoak$' -v .
//
// SERVERAUTH_SOAK_HEAPPROFILE=file writes a heap profile at the end, for
// go tool pprof.
func TestSoak(t *testing.T) {
	duration := 5 * time.Second
	if v := os.Getenv("SERVERAUTH_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SERVERAUTH_SOAK=%q: %v", v, err)
		}
		duration = d
	}
	const (
		users   = 50
		workers = 32
	)
	f := newStoreFixture(t, serverauthtest.Options{RotateRefreshTokens: true, AccessTokenLifetime: 10 * time.Minute})
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 11))
	userOf := func(i int) serverauthtest.User {
		return serverauthtest.User{Sub: fmt.Sprintf("7%020d", i), Email: fmt.Sprintf("soak%d@example.com", i), EmailVerified: true}
	}
	scopes := []string{"openid", "email", "drive.appdata"}
	for i := 0; i < users; i++ {
		f.signIn(serverauthtest.CodeRequest{User: userOf(i), Scopes: scopes})
	}
	// Faults that leave the request unprocessed, so that a second refresh
	// in a round can only come from the library.
	kinds := []serverauthtest.FaultKind{
		serverauthtest.FaultServerError, serverauthtest.FaultUnavailable, serverauthtest.FaultBadGatewayHTML,
		serverauthtest.FaultThrottleHTML, serverauthtest.FaultTooManyRequests, serverauthtest.FaultReset,
	}

	runtime.GC()
	baseGoroutines := runtime.NumGoroutine()
	var heapFirst uint64
	deadline := time.Now().Add(duration)
	var ops, failures atomic.Int64
	round := 0
	for ; time.Now().Before(deadline); round++ {
		f.g.ResetCounts()
		f.g.ClearFaults()
		f.g.FailFraction(serverauthtest.EndpointToken, 0.2, serverauthtest.Fault{Kind: kinds[rng.IntN(len(kinds))], RetryAfter: time.Second})
		f.clock.Advance(10*time.Minute + time.Second) // every token expires

		var codesMu sync.Mutex
		var codes, redeemed []string // posted; redeemed (the exchange gave a result)
		var revokedNow sync.Map      // users revoked in this round
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			seed := rng.Uint64()
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(seed, uint64(round)))
				for i := 0; i < 20; i++ {
					ops.Add(1)
					u := userOf(r.IntN(users))
					switch op := r.IntN(100); {
					case op < 80: // the offline job asks for a token
						if _, err := f.e.Token(ctx, u.Sub); err != nil {
							failures.Add(1)
						}
					case op < 90: // the user signs in again, sometimes posting twice
						code, err := f.g.MintCode(serverauthtest.CodeRequest{User: u, Scopes: scopes})
						if err != nil {
							continue
						}
						res, _ := f.e.Exchange(ctx, code)
						codesMu.Lock()
						codes = append(codes, code)
						if res != nil {
							redeemed = append(redeemed, code)
						}
						codesMu.Unlock()
						if r.IntN(4) == 0 {
							// Posted again: refused locally once redeemed.
							if again, err := f.e.Exchange(ctx, code); res != nil && (again != nil || !errors.Is(err, serverauth.ErrInvalidGrant)) {
								t.Errorf("a redeemed code posted again = %v, %v; want ErrInvalidGrant and no result", again, err)
							}
						}
					case op < 98: // app data
						if ad, err := f.e.AppData(ctx, u.Sub); err == nil {
							ad.Write(ctx, "soak.json", "application/json", []byte(`{"round":1}`))
						}
					default: // the user disconnects
						revokedNow.Store(u.Sub, true)
						f.e.Revoke(ctx, u.Sub)
					}
				}
			}()
		}
		wg.Wait()

		// Invariants of the round.
		sent := map[string]int{}
		for _, r := range f.g.Requests(serverauthtest.EndpointToken) {
			if c := r.Form.Get("code"); c != "" {
				sent[c]++
			}
		}
		// A redeemed code is never sent again; a failed one only by its
		// second post (failures are not kept past their exchange).
		for _, c := range redeemed {
			if sent[c] > 1 {
				t.Fatalf("round %d: a redeemed code reached Google %d times", round, sent[c])
			}
		}
		for _, c := range codes {
			if sent[c] > 2 {
				t.Fatalf("round %d: a code posted twice reached Google %d times", round, sent[c])
			}
		}
		for i := 0; i < users; i++ {
			// A user revoked in the round may also see a refresh attempt with
			// the dying grant (RefreshCount counts dead tokens too): that is
			// not a second refresh of one expiry.
			if _, wasRevoked := revokedNow.Load(userOf(i).Sub); wasRevoked {
				continue
			}
			if n := f.g.RefreshCount(userOf(i).Sub); n > 1 {
				t.Fatalf("round %d: user %d refreshed %d times for one expiry", round, i, n)
			}
		}
		if round == 1 {
			heapFirst = heapInUse()
		}
	}

	// No refresh token lost, none resurrected: with every access token
	// expired, a user refreshes exactly when Google still holds a live
	// refresh token for them. Google's side decides, not the soak's own
	// bookkeeping: a sign-in that races a disconnect is legitimately left
	// without a refresh token (Google issued none while the old consent
	// stood, then the disconnect revoked it).
	f.g.ClearFaults()
	f.clock.Advance(time.Hour)
	for i := 0; i < users; i++ {
		u := userOf(i).Sub
		live := f.g.LiveRefreshTokens(u)
		_, err := f.e.Token(ctx, u)
		switch {
		case live > 0 && err != nil:
			t.Fatalf("after %d rounds, user %d: Google holds %d live refresh token(s), Token = %v (refresh token lost)", round, i, live, err)
		case live == 0 && err == nil:
			t.Fatalf("after %d rounds, user %d: Google holds no live refresh token, yet Token refreshed", round, i)
		case live == 0 && !errors.Is(err, serverauth.ErrNotFound) && !errors.Is(err, serverauth.ErrNoRefreshToken) && !errors.Is(err, serverauth.ErrReauthRequired):
			t.Fatalf("after %d rounds, user %d: no live grant, Token = %v; want ErrNotFound, ErrNoRefreshToken or ErrReauthRequired", round, i, err)
		}
	}

	heapLast := heapInUse()
	if path := os.Getenv("SERVERAUTH_SOAK_HEAPPROFILE"); path != "" {
		out, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		pprof.WriteHeapProfile(out)
		out.Close()
	}
	t.Logf("%d rounds, %d operations, %d failed under faults; heap %d KiB → %d KiB", round, ops.Load(), failures.Load(), heapFirst>>10, heapLast>>10)
	if heapFirst > 0 && heapLast > heapFirst*2+8<<20 {
		t.Errorf("heap grew from %d to %d bytes", heapFirst, heapLast)
	}
	f.g.Client().CloseIdleConnections()
	waitGoroutines(t, baseGoroutines+10)
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// waitGoroutines waits (a few seconds at most) for background goroutines
// (detached refreshes, idle connections) to end, and fails if more than max
// remain.
func waitGoroutines(t *testing.T, max int) {
	t.Helper()
	var n int
	for i := 0; i < 100; i++ {
		if n = runtime.NumGoroutine(); n <= max {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	t.Errorf("%d goroutines remain, want at most %d:\n%s", n, max, buf[:runtime.Stack(buf, true)])
}
