package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// The realistic population: popUsers users signed in through real
// exchanges against the fake Google, of whom a hot set of popHot is asked
// for again and again, as a live server's active users are.
const (
	popUsers = 10_000
	popHot   = 256
)

// population is the fixture of BenchmarkTokenPopulation, built once per
// test binary.
type population struct {
	ex    *serverauth.Exchanger
	users []string // every user, in sign-in order
	hot   []string // the hot set, spread over the sign-in order
	rival sync.Map // user → *rivalEntry, filled beside the Exchanger's cache
	// ballast keeps some of the garbage allocated between sign-ins alive,
	// as a live server's other long-lived objects are, so that neither
	// cache's entries sit side by side in memory.
	ballast [][]byte
}

// rivalEntry is the plain design the issue compares against: a sync.Map of
// {token, refreshAt}.
type rivalEntry struct {
	tok       *oauth2.Token
	refreshAt time.Time
}

func (p *population) rivalToken(userID string) (*oauth2.Token, bool) {
	x, ok := p.rival.Load(userID)
	if !ok {
		return nil, false
	}
	e := x.(*rivalEntry)
	if !time.Now().Before(e.refreshAt) {
		return nil, false
	}
	return e.tok, true
}

var sharedPopulation = sync.OnceValues(func() (*population, error) {
	f, err := sharedFake()
	if err != nil {
		return nil, err
	}
	cfg := f.srv.Config()
	cfg.Store = serverauth.NewMemoryStore()
	cfg.TokenCacheSize = popUsers
	p := &population{users: make([]string, popUsers)}
	if p.ex, err = serverauth.New(cfg); err != nil {
		return nil, err
	}
	// The fake signs an ID token per code: mint the codes on both cores,
	// then exchange them one by one, allocating between exchanges.
	codes := make([]string, popUsers)
	var (
		wg   sync.WaitGroup
		next atomic.Int64
		bad  atomic.Pointer[error]
	)
	for range 2 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < popUsers; i = int(next.Add(1)) - 1 {
				sub := userID(i)
				code, err := f.srv.MintCode(serverauthtest.CodeRequest{
					User: serverauthtest.User{Sub: sub, Email: "u" + sub + "@example.com", EmailVerified: true},
				})
				if err != nil {
					bad.Store(&err)
					return
				}
				codes[i] = code
			}
		})
	}
	wg.Wait()
	if e := bad.Load(); e != nil {
		return nil, *e
	}
	rng := rand.New(rand.NewPCG(1, 2))
	margin := time.Minute // the Exchanger's default RefreshMargin
	for i, code := range codes {
		res, err := p.ex.Exchange(context.Background(), code)
		if err != nil {
			return nil, fmt.Errorf("exchange %d: %w", i, err)
		}
		p.users[i] = res.UserID
		tok := &oauth2.Token{AccessToken: res.Token.AccessToken, TokenType: "Bearer", Expiry: res.Token.Expiry}
		p.rival.Store(res.UserID, &rivalEntry{tok: tok, refreshAt: tok.Expiry.Add(-margin)})
		// Garbage between entries, in the size classes the caches use; a
		// quarter of it stays alive.
		for range 8 {
			b := make([]byte, 16+rng.IntN(512))
			if rng.IntN(4) == 0 {
				p.ballast = append(p.ballast, b)
			}
		}
	}
	for i := range popHot {
		p.hot = append(p.hot, p.users[(i*popUsers)/popHot+rng.IntN(popUsers/popHot)])
	}
	return p, nil
})

func getPopulation(b *testing.B) *population {
	b.Helper()
	p, err := sharedPopulation()
	if err != nil {
		b.Fatal(err)
	}
	for _, u := range p.users {
		if _, err := p.ex.Token(context.Background(), u); err != nil {
			b.Fatalf("Token(%s) = %v", u, err)
		}
		if _, ok := p.rivalToken(u); !ok {
			b.Fatalf("the sync.Map rival lost %s", u)
		}
	}
	return p
}

// order returns a random sequence of picks from users, long enough that
// the loop does not settle into a pattern the CPU could predict. The keys
// are copies laid out one after another, as a server's requests would
// carry the user ID in a string just parsed: reading the key costs no
// cache miss, and what is measured is the lookup.
func order(users []string, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 7))
	seq := make([]string, 1<<16)
	var buf []byte
	for i := range seq {
		u := users[rng.IntN(len(users))]
		if len(buf) < len(u) {
			buf = make([]byte, 64<<10)
		}
		n := copy(buf, u)
		seq[i], buf = string(buf[:n:n]), buf[n:]
	}
	return seq
}

// BenchmarkTokenPopulation is Token on a realistic population: popUsers
// users signed in through real Exchange calls against the fake, with
// garbage allocated between them so that cache entries are scattered
// through the heap, served from memory. set=hot picks at random among 256
// of them, set=all among all 10 000. impl=serverauth is Exchanger.Token,
// impl=sync-map a plain sync.Map of {token, refreshAt} filled in the same
// loop, impl=reuse-token-source one shared oauth2.ReuseTokenSource (one
// user: the best case any cache can have), impl=clock the cost of
// Config.Now alone (time.Now through a func value), which every design pays
// once per call. The parallel cases run the same from GOMAXPROCS
// goroutines; run with -cpu 1,2 to see the scaling.
func BenchmarkTokenPopulation(b *testing.B) {
	p := getPopulation(b)
	ctx := context.Background()
	now := time.Now
	type impl struct {
		name  string
		token func(user string) bool
	}
	src := reuseSource()
	impls := []impl{
		{"serverauth", func(u string) bool { _, err := p.ex.Token(ctx, u); return err == nil }},
		{"sync-map", func(u string) bool { _, ok := p.rivalToken(u); return ok }},
		{"reuse-token-source", func(string) bool { _, err := src.Token(); return err == nil }},
		{"clock", func(string) bool { return !now().IsZero() }},
	}
	for _, set := range []struct {
		name  string
		users []string
	}{{"hot", p.hot}, {"all", p.users}} {
		seq := order(set.users, 1)
		seqs := make([][]string, 8) // one per parallel goroutine, made before any timer runs
		for i := range seqs {
			seqs[i] = order(set.users, uint64(i)+2)
		}
		for _, im := range impls {
			if set.name == "all" && (im.name == "reuse-token-source" || im.name == "clock") {
				continue // the same as for the hot set
			}
			b.Run("mode=serial/set="+set.name+"/impl="+im.name, func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if !im.token(seq[i&(len(seq)-1)]) {
						b.Fatal("not served from memory")
					}
					i++
				}
			})
			if set.name == "all" {
				continue
			}
			b.Run("mode=parallel/set="+set.name+"/impl="+im.name, func(b *testing.B) {
				var g atomic.Int64
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					seq := seqs[int(g.Add(1)-1)%len(seqs)]
					i := 0
					for pb.Next() {
						if !im.token(seq[i&(len(seq)-1)]) {
							b.Error("not served from memory")
							return
						}
						i++
					}
				})
			})
		}
	}
}
