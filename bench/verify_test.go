package bench

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/api/idtoken"
	"google.golang.org/api/option"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// floorHeader and floorClaims are what the floor decodes: the fields a
// verifier needs and the profile a caller wants, nothing more.
type floorHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

type floorClaims struct {
	Iss           string `json:"iss"`
	Aud           string `json:"aud"`
	Azp           string `json:"azp"`
	Sub           string `json:"sub"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	Name          string `json:"name"`
	GivenName     string `json:"given_name"`
	FamilyName    string `json:"family_name"`
	Picture       string `json:"picture"`
	Locale        string `json:"locale"`
	Iat           int64  `json:"iat"`
	Exp           int64  `json:"exp"`
}

var errFloor = errors.New("floor: invalid token")

// floorVerify is the raw floor of ID-token verification: base64url-decode
// the three segments, encoding/json the header and claims into structs,
// SHA-256 and rsa.VerifyPKCS1v15 with a pre-parsed key, and the cheap claim
// comparisons. No strictness beyond that.
func floorVerify(raw string, keys map[string]*rsa.PublicKey, aud string, now time.Time) (*floorClaims, error) {
	d1 := strings.IndexByte(raw, '.')
	d2 := strings.LastIndexByte(raw, '.')
	if d1 < 0 || d2 <= d1 {
		return nil, errFloor
	}
	enc := base64.RawURLEncoding
	hb, err := enc.DecodeString(raw[:d1])
	if err != nil {
		return nil, errFloor
	}
	var h floorHeader
	if json.Unmarshal(hb, &h) != nil || h.Alg != "RS256" {
		return nil, errFloor
	}
	key := keys[h.Kid]
	if key == nil {
		return nil, errFloor
	}
	pb, err := enc.DecodeString(raw[d1+1 : d2])
	if err != nil {
		return nil, errFloor
	}
	sig, err := enc.DecodeString(raw[d2+1:])
	if err != nil {
		return nil, errFloor
	}
	sum := sha256.Sum256([]byte(raw[:d2]))
	if rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig) != nil {
		return nil, errFloor
	}
	var c floorClaims
	if json.Unmarshal(pb, &c) != nil {
		return nil, errFloor
	}
	if c.Iss != "https://accounts.google.com" || c.Aud != aud || now.Unix() >= c.Exp {
		return nil, errFloor
	}
	return &c, nil
}

// verifiers returns each contender as a function of the shared token, with
// every cache warmed. check, run after the benchmark, fails it if a cache
// went cold meanwhile (a key fetch during the timed loop).
type contender struct {
	name      string
	verify    func(ctx context.Context, raw string) error
	check     func() error
	sameToken bool // verifies one token again and again; the others cycle through them all
}

func contenders(tb testing.TB) []contender {
	tb.Helper()
	f := getFake(tb)
	ctx := context.Background()
	jwksURL := f.srv.Endpoints().JWKSURL
	var cs []contender

	cs = append(cs, contender{name: "floor", verify: func(_ context.Context, raw string) error {
		_, err := floorVerify(raw, f.keys, f.web, time.Now())
		return err
	}})

	// The RSA step alone, for scale.
	d2 := strings.LastIndexByte(f.token, '.')
	sig, _ := base64.RawURLEncoding.DecodeString(f.token[d2+1:])
	sum := sha256.Sum256([]byte(f.token[:d2]))
	var key *rsa.PublicKey
	for _, k := range f.keys {
		if rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig) == nil {
			key = k
		}
	}
	if key == nil || key.N.BitLen() != 2048 {
		tb.Fatalf("the fake's signing key is missing or not 2048-bit")
	}
	cs = append(cs, contender{name: "rsa-only", verify: func(context.Context, string) error {
		return rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig)
	}})

	jwksBefore := 0
	checkJWKS := func() error {
		if n := f.srv.RequestCount(serverauthtest.EndpointJWKS); n != jwksBefore {
			return errors.New("serverauth fetched the keys during the timed loop")
		}
		return nil
	}
	for _, c := range []struct {
		name      string
		cacheSize int
	}{
		// A verification cache smaller than the tokens the benchmark
		// cycles through: every token is new to it (the first
		// verification of a token: full work, plus hashing and caching).
		{"serverauth", len(f.tokens) / 2},
		// The same token verified again: a cache hit.
		{"serverauth-cached", 0},
		// No verification cache: full work every time.
		{"serverauth-no-cache", -1},
	} {
		cfg := f.srv.Config()
		cfg.IDTokenCacheSize = c.cacheSize
		ex, err := serverauth.New(cfg)
		if err != nil {
			tb.Fatal(err)
		}
		cs = append(cs, contender{
			name: c.name,
			verify: func(ctx context.Context, raw string) error {
				_, err := ex.VerifyIDToken(ctx, raw)
				return err
			},
			check:     checkJWKS,
			sameToken: c.name == "serverauth-cached",
		})
	}

	rt := &redirectTransport{to: jwksURL, base: f.srv.Client().Transport}
	v, err := idtoken.NewValidator(ctx, option.WithHTTPClient(&http.Client{Transport: rt}))
	if err != nil {
		tb.Fatal(err)
	}
	var idtokenFetches int
	cs = append(cs, contender{
		name: "idtoken",
		verify: func(ctx context.Context, raw string) error {
			_, err := v.Validate(ctx, raw, f.web)
			return err
		},
		check: func() error {
			if rt.count() != idtokenFetches {
				return errors.New("idtoken refetched the keys during the timed loop: its cache went cold")
			}
			return nil
		},
	})

	ks := oidc.NewRemoteKeySet(oidc.ClientContext(ctx, f.srv.Client()), jwksURL)
	ov := oidc.NewVerifier(serverauthtest.DefaultIssuer, ks, &oidc.Config{ClientID: f.web})
	cs = append(cs, contender{name: "go-oidc", verify: func(ctx context.Context, raw string) error {
		_, err := ov.Verify(ctx, raw)
		return err
	}})

	parser := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience(f.web),
		jwt.WithIssuer(serverauthtest.DefaultIssuer), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	keyfunc := func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if k := f.keys[kid]; k != nil {
			return k, nil
		}
		return nil, errors.New("unknown kid")
	}
	cs = append(cs, contender{name: "golang-jwt", verify: func(_ context.Context, raw string) error {
		_, err := parser.Parse(raw, keyfunc)
		return err
	}})

	// Warm every cache, and check every contender accepts the tokens.
	for _, c := range cs {
		for _, tok := range f.tokens {
			if err := c.verify(ctx, tok); err != nil {
				tb.Fatalf("%s refused a token: %v", c.name, err)
			}
		}
	}
	jwksBefore = f.srv.RequestCount(serverauthtest.EndpointJWKS)
	idtokenFetches = rt.count()
	return cs
}

// BenchmarkVerifyIDToken verifies Google ID tokens (2048-bit RS256, warm
// key caches) with serverauth, the raw floor and the other Go libraries,
// cycling through the fake's tokens (all of one user, minted a second
// apart): serverauth then verifies each as a new token, its cache being
// smaller than the set. serverauth-cached verifies one token again and
// again (the cache hit); serverauth-no-cache has the cache off.
func BenchmarkVerifyIDToken(b *testing.B) {
	f := getFake(b)
	for _, c := range contenders(b) {
		b.Run("impl="+c.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				tok := f.tokens[i%len(f.tokens)]
				if c.sameToken {
					tok = f.token
				}
				if err := c.verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
				i++
			}
			if c.check != nil {
				if err := c.check(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestContendersAgree checks that every contender accepts the benchmark's
// token and refuses a tampered one, so that the benchmark compares
// verifiers that verify.
func TestContendersAgree(t *testing.T) {
	f := getFake(t)
	d2 := strings.LastIndexByte(f.token, '.')
	sig := []byte(f.token[d2+1:])
	sig[10] ^= 1
	bad := f.token[:d2+1] + string(sig)
	for _, c := range contenders(t) {
		if c.name == "rsa-only" {
			continue
		}
		if err := c.verify(context.Background(), f.token); err != nil {
			t.Errorf("%s: verify(token) = %v, want nil", c.name, err)
		}
		if err := c.verify(context.Background(), bad); err == nil {
			t.Errorf("%s: verify(tampered token) = nil, want an error", c.name)
		}
	}
}
