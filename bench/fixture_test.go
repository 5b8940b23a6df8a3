package bench

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/serverauth/serverauth/serverauthtest"
)

// Realistic token sizes: Google's access tokens ("ya29." …) run to about 250
// bytes, refresh tokens ("1//0…") to about 150.
const (
	accessTokenSize  = 250
	refreshTokenSize = 150
)

// fakeToken returns a token-looking string of n bytes, distinct per seed.
func fakeToken(prefix string, seed, n int) string {
	b := make([]byte, 0, max(n, len(prefix)+21))
	b = strconv.AppendInt(append(b, prefix...), int64(seed), 10)
	b = append(b, '-')
	for len(b) < n {
		b = append(b, 'x')
	}
	return string(b)
}

// verifyTokens is how many distinct ID tokens the verification benchmark
// cycles through.
const verifyTokens = 128

// userID returns the n-th benchmark user's ID, 21 digits like Google's sub.
func userID(n int) string {
	s := strconv.Itoa(n)
	return "1" + strings.Repeat("0", max(20-len(s), 0)) + s
}

// realFake is a fake Google on the real clock, shared by every benchmark
// that needs one: the comparison libraries read time.Now, so its ID tokens
// must be valid by the real clock. It lives as long as the test binary.
type realFake struct {
	srv    *serverauthtest.Server
	token  string   // one ID token: aud = web client, azp = iOS client
	tokens []string // verifyTokens distinct ID tokens like it, token first
	web    string   // the web (server) client ID
	jwks   []byte   // the fake's JWK Set, as served
	keys   map[string]*rsa.PublicKey
}

var sharedFake = sync.OnceValues(func() (*realFake, error) {
	srv := serverauthtest.NewServer(serverauthtest.Options{})
	f := &realFake{srv: srv, web: srv.WebClientID()}
	f.token = srv.IDToken(serverauthtest.DemoUser(), srv.IOSClientID())
	f.tokens = []string{f.token}
	for i := 1; i < verifyTokens; i++ {
		u := serverauthtest.DemoUser()
		u.Sub = userID(i)
		f.tokens = append(f.tokens, srv.IDToken(u, srv.IOSClientID()))
	}
	resp, err := srv.Client().Get(srv.Endpoints().JWKSURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if f.jwks, err = io.ReadAll(resp.Body); err != nil {
		return nil, err
	}
	if f.keys, err = parseJWKS(f.jwks); err != nil {
		return nil, err
	}
	return f, nil
})

func getFake(tb testing.TB) *realFake {
	tb.Helper()
	f, err := sharedFake()
	if err != nil {
		tb.Fatalf("starting the fake Google: %v", err)
	}
	return f
}

// parseJWKS returns the RSA keys of a JWK Set by kid.
func parseJWKS(b []byte) (map[string]*rsa.PublicKey, error) {
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, err
	}
	keys := make(map[string]*rsa.PublicKey)
	for _, k := range set.Keys {
		n, err := base64.RawURLEncoding.DecodeString(k.N)
		if err != nil {
			return nil, err
		}
		e, err := base64.RawURLEncoding.DecodeString(k.E)
		if err != nil {
			return nil, err
		}
		keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	return keys, nil
}

// redirectTransport sends every request to the fake's URL of the same
// path, for libraries whose URLs are fixed to Google's (idtoken).
type redirectTransport struct {
	to   string // the fake's JWKS URL
	base http.RoundTripper
	mu   sync.Mutex // guards n
	n    int        // requests forwarded
}

func (t *redirectTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	t.n++
	t.mu.Unlock()
	r := req.Clone(req.Context())
	u, err := r.URL.Parse(t.to)
	if err != nil {
		return nil, err
	}
	r.URL, r.Host = u, u.Host
	return t.base.RoundTrip(r)
}

func (t *redirectTransport) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

var bg = context.Background()
