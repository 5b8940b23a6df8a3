package bench

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/serverauth/serverauth"
)

// hotUsers is how many users the hot-path benchmarks keep cached.
const hotUsers = 100_000

// hotConfig is an Exchanger configuration for the hot path: no fake is
// needed, since nothing leaves memory once the tokens are cached.
func hotConfig(store serverauth.TokenStore, base http.RoundTripper) serverauth.Config {
	cfg := serverauth.Config{
		ClientID:       "123456789012-bench.apps.googleusercontent.com",
		ClientSecret:   "GOCSPX-bench",
		Store:          store,
		TokenCacheSize: hotUsers,
	}
	if base != nil {
		cfg.HTTPClient = &http.Client{Transport: base}
	}
	return cfg
}

// fillCache saves n users through ex.Save, which stores each record and
// caches its access token (valid for a day), as an exchange would.
func fillCache(ex *serverauth.Exchanger, n int) ([]string, error) {
	users := make([]string, n)
	ctx := context.Background()
	exp := time.Now().Add(24 * time.Hour)
	for i := range users {
		users[i] = userID(i)
		err := ex.Save(ctx, &serverauth.Result{
			UserID: users[i],
			Token: &oauth2.Token{
				AccessToken:  fakeToken("ya29.", i, accessTokenSize),
				RefreshToken: fakeToken("1//0", i, refreshTokenSize),
				TokenType:    "Bearer",
				Expiry:       exp,
			},
			GrantedScopes: []string{"openid", serverauth.ScopeEmail, serverauth.ScopeProfile},
		})
		if err != nil {
			return nil, err
		}
	}
	return users, nil
}

// hot is the shared hot-path fixture: an Exchanger with 100 000 users
// cached, built once per test binary (benchmarks that use RunParallel are
// called several times while b.N ramps up).
type hot struct {
	ex    *serverauth.Exchanger
	users []string
	base  *cannedTransport
}

var sharedHot = sync.OnceValues(func() (*hot, error) {
	h := &hot{base: newCannedTransport()}
	var err error
	if h.ex, err = serverauth.New(hotConfig(serverauth.NewMemoryStore(), h.base)); err != nil {
		return nil, err
	}
	if h.users, err = fillCache(h.ex, hotUsers); err != nil {
		return nil, err
	}
	return h, nil
})

// getHot returns the hot fixture after checking that every user is served
// from memory.
func getHot(b *testing.B) *hot {
	b.Helper()
	h, err := sharedHot()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, u := range []string{h.users[0], h.users[hotUsers/2], h.users[hotUsers-1]} {
		if _, err := h.ex.Token(ctx, u); err != nil {
			b.Fatalf("Token(%s) = %v", u, err)
		}
	}
	return h
}

// reuseSource is x/oauth2's cache in front of a source it never needs.
func reuseSource() oauth2.TokenSource {
	tok := &oauth2.Token{AccessToken: fakeToken("ya29.", 0, accessTokenSize), TokenType: "Bearer", Expiry: time.Now().Add(24 * time.Hour)}
	return oauth2.ReuseTokenSource(tok, failingSource{})
}

type failingSource struct{}

func (failingSource) Token() (*oauth2.Token, error) {
	panic("the cached token should have been reused")
}

// BenchmarkToken is the hot path: a cached valid token, 100 000 users
// cached. impl=reuse-token-source is one shared oauth2.ReuseTokenSource
// serving a single user. The serial cases call from one goroutine; the
// parallel ones from GOMAXPROCS goroutines (run with -cpu 1,2 to see the
// scaling), each with a user of its own (own-user) or all on one user.
func BenchmarkToken(b *testing.B) {
	h := getHot(b)
	ctx := context.Background()
	one := h.users[hotUsers/2]

	b.Run("mode=serial/impl=serverauth", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := h.ex.Token(ctx, one); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("mode=serial/impl=serverauth-rotating-users", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := h.ex.Token(ctx, h.users[i]); err != nil {
				b.Fatal(err)
			}
			if i++; i == hotUsers {
				i = 0
			}
		}
	})
	b.Run("mode=serial/impl=reuse-token-source", func(b *testing.B) {
		src := reuseSource()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := src.Token(); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("mode=parallel/impl=serverauth-own-user", func(b *testing.B) {
		var next atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			u := h.users[int(next.Add(1)*7919)%hotUsers]
			for pb.Next() {
				if _, err := h.ex.Token(ctx, u); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("mode=parallel/impl=serverauth-one-user", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := h.ex.Token(ctx, one); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("mode=parallel/impl=reuse-token-source", func(b *testing.B) {
		src := reuseSource()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := src.Token(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// cannedTransport answers every request with the same response, without
// I/O, so that a transport's own cost shows.
type cannedTransport struct{ resp *http.Response }

func newCannedTransport() *cannedTransport {
	return &cannedTransport{resp: &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       http.NoBody,
	}}
}

func (t *cannedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	return t.resp, nil
}

// BenchmarkTransport is the per-request cost of authorising a request:
// serverauth's Client transport and x/oauth2's oauth2.Transport (over a
// ReuseTokenSource), both over a base that answers without I/O; base is
// that base alone.
func BenchmarkTransport(b *testing.B) {
	h := getHot(b)
	user := h.users[hotUsers/2]
	req, err := http.NewRequest(http.MethodGet, "https://www.googleapis.com/drive/v3/files?spaces=appDataFolder", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "bench")
	ours := h.ex.Client(user).Transport
	theirs := &oauth2.Transport{Source: reuseSource(), Base: h.base}
	for _, tc := range []struct {
		name string
		rt   http.RoundTripper
	}{{"oauth2", theirs}, {"serverauth", ours}, {"base", h.base}} {
		b.Run("impl="+tc.name, func(b *testing.B) {
			// Check that the header is set, once.
			seen := &headerCheck{base: h.base}
			if tc.name != "base" {
				check := map[string]http.RoundTripper{
					"oauth2":     &oauth2.Transport{Source: reuseSource(), Base: seen},
					"serverauth": mustClientTransport(b, user, seen),
				}[tc.name]
				if _, err := check.RoundTrip(req); err != nil || !strings.HasPrefix(seen.auth, "Bearer ya29.") {
					b.Fatalf("%s: Authorization = %q, %v; want a bearer token", tc.name, seen.auth, err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				resp, err := tc.rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
			}
		})
	}
}

type headerCheck struct {
	base http.RoundTripper
	auth string
}

func (t *headerCheck) RoundTrip(req *http.Request) (*http.Response, error) {
	t.auth = req.Header.Get("Authorization")
	return t.base.RoundTrip(req)
}

// mustClientTransport returns an Exchanger's Client transport over base for
// a user whose token it has cached.
func mustClientTransport(b *testing.B, user string, base http.RoundTripper) http.RoundTripper {
	b.Helper()
	ex, err := serverauth.New(hotConfig(serverauth.NewMemoryStore(), base))
	if err != nil {
		b.Fatal(err)
	}
	err = ex.Save(context.Background(), &serverauth.Result{
		UserID: user,
		Token: &oauth2.Token{AccessToken: fakeToken("ya29.", 1, accessTokenSize), RefreshToken: "1//0x",
			TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)},
	})
	if err != nil {
		b.Fatal(err)
	}
	return ex.Client(user).Transport
}
