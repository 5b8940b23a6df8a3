package serverauthtest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// keyPool holds RSA keys generated once per process and reused by every fake,
// because generating a 2048-bit key takes tens of milliseconds (much more
// under the race detector). Each fake gives its keys its own random kids, so
// a token signed by one fake does not verify against another fake's JWKS.
var keyPool struct {
	// guards keys
	mu   sync.Mutex
	keys []*rsa.PrivateKey
}

// pooledKey returns the i-th key of the pool, generating keys up to it.
func pooledKey(i int) *rsa.PrivateKey {
	keyPool.mu.Lock()
	defer keyPool.mu.Unlock()
	for len(keyPool.keys) <= i {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic("serverauthtest: generating an RSA key: " + err.Error())
		}
		keyPool.keys = append(keyPool.keys, k)
	}
	return keyPool.keys[i]
}

// signingKey is one key of a fake, with its kid and its self-signed
// certificate for the v1 (PEM) endpoint.
type signingKey struct {
	kid     string
	priv    *rsa.PrivateKey
	certPEM string
}

// newSigningKey wraps the pool's i-th key under a fresh kid.
func newSigningKey(i int, now time.Time) *signingKey {
	priv := pooledKey(i)
	kid := randomHex(20)
	serial := new(big.Int).SetBytes([]byte(kid[:16]))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: kid},
		Issuer:                pkix.Name{CommonName: kid},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(14 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true, // CA:FALSE, as in Google's certificates
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		panic("serverauthtest: creating a certificate: " + err.Error())
	}
	return &signingKey{
		kid:     kid,
		priv:    priv,
		certPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
	}
}

// sign returns the compact JWS of the raw header and payload bytes.
func (k *signingKey) sign(header, payload []byte) string {
	input := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.priv, crypto.SHA256, sum[:])
	if err != nil {
		panic("serverauthtest: signing: " + err.Error())
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// jwk returns the key's JWK with its members in a random order, as Google's
// member order varies.
func (k *signingKey) jwk() string {
	members := []string{
		`"kid": "` + k.kid + `"`,
		`"alg": "RS256"`,
		`"use": "sig"`,
		`"kty": "RSA"`,
		`"n": "` + base64.RawURLEncoding.EncodeToString(k.priv.N.Bytes()) + `"`,
		`"e": "` + base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.priv.E)).Bytes()) + `"`,
	}
	mrand.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
	return "{\n      " + strings.Join(members, ",\n      ") + "\n    }"
}

// newKey allocates the next pool key for this fake. Call with g.mu held.
func (g *Google) newKey() *signingKey {
	k := newSigningKey(g.nextPoolKey, g.now())
	g.nextPoolKey++
	g.allKeys[k.kid] = k
	return k
}

// SigningKeyID returns the kid of the key that signs new ID tokens.
func (g *Google) SigningKeyID() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.signing.kid
}

// PublishedKeyIDs returns the kids currently published in the JWKS and PEM
// endpoints, oldest first.
func (g *Google) PublishedKeyIDs() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	ids := make([]string, len(g.published))
	for i, k := range g.published {
		ids[i] = k.kid
	}
	return ids
}

// AddKey publishes a new key without signing with it yet, as Google
// publishes keys ahead of use, and returns its kid.
func (g *Google) AddKey() (kid string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := g.newKey()
	g.published = append(g.published, k)
	return k.kid
}

// RotateKey publishes a new key and signs with it from now on; the old keys
// stay published until [Google.RetireKey]. It returns the new kid.
func (g *Google) RotateKey() (kid string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := g.newKey()
	g.published = append(g.published, k)
	g.signing = k
	return k.kid
}

// UseKey makes the published key kid the signing key, as when Google starts
// signing with a key published earlier by [Google.AddKey]. It panics if kid is
// not published.
func (g *Google) UseKey(kid string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, k := range g.published {
		if k.kid == kid {
			g.signing = k
			return
		}
	}
	panic("serverauthtest: UseKey: key " + kid + " is not published")
}

// RetireKey unpublishes the key kid. Tokens it signed stop verifying against
// the JWKS. If it was the signing key, the newest remaining published key
// signs from now on; if none remains, it keeps signing though unpublished.
func (g *Google) RetireKey(kid string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, k := range g.published {
		if k.kid == kid {
			g.published = append(g.published[:i:i], g.published[i+1:]...)
			break
		}
	}
	if g.signing.kid == kid && len(g.published) > 0 {
		g.signing = g.published[len(g.published)-1]
	}
}

// SetJWKSCache changes the key endpoints' Cache-Control max-age and Age
// header; omitAge drops the Age header.
func (g *Google) SetJWKSCache(maxAge, age time.Duration, omitAge bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.jwksMaxAge, g.jwksAge, g.jwksOmitAge = maxAge, age, omitAge
}

// Sign returns a compact JWS (RS256) over exactly the header and payload
// bytes given, base64url-encoded once and not re-encoded, signed with the
// current signing key. It lets tests craft tokens with duplicate claims, odd
// types, a wrong alg or a foreign kid; the header is not checked.
func (g *Google) Sign(header, payload []byte) string {
	g.mu.Lock()
	k := g.signing
	g.mu.Unlock()
	return k.sign(header, payload)
}

// SignWithKey is [Google.Sign] with the key kid, published or retired. It
// panics if the fake never had a key kid.
func (g *Google) SignWithKey(kid string, header, payload []byte) string {
	g.mu.Lock()
	k, ok := g.allKeys[kid]
	g.mu.Unlock()
	if !ok {
		panic("serverauthtest: SignWithKey: unknown key " + kid)
	}
	return k.sign(header, payload)
}

// SignUnpublished is [Google.Sign] with an attacker's key: a valid RSA key
// that this fake never publishes. Put a published kid in the header to test
// a forged signature under a known kid.
func (g *Google) SignUnpublished(header, payload []byte) string {
	g.mu.Lock()
	if g.attacker == nil {
		g.attacker = newSigningKey(g.nextPoolKey, g.now())
		g.nextPoolKey++
	}
	k := g.attacker
	g.mu.Unlock()
	return k.sign(header, payload)
}

// publishedKey returns the published key kid.
func (g *Google) publishedKey(kid string) (*signingKey, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, k := range g.published {
		if k.kid == kid {
			return k, true
		}
	}
	return nil, false
}

// keyCacheHeaders sets the key endpoints' caching headers.
func (g *Google) keyCacheHeaders(w http.ResponseWriter) {
	g.mu.Lock()
	maxAge, age, omitAge := g.jwksMaxAge, g.jwksAge, g.jwksOmitAge
	g.mu.Unlock()
	now := g.now().UTC()
	h := w.Header()
	h.Set("Date", now.Format(http.TimeFormat))
	h.Set("Expires", now.Add(maxAge).Format(http.TimeFormat))
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(maxAge/time.Second))+", must-revalidate, no-transform")
	if !omitAge {
		h.Set("Age", strconv.Itoa(int(age/time.Second)))
	}
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("Vary", "Origin, X-Origin, Referer")
}

// handleJWKS serves /oauth2/v3/certs.
func (g *Google) handleJWKS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		googleHTMLError(w, http.StatusMethodNotAllowed)
		return
	}
	g.mu.Lock()
	keys := append([]*signingKey(nil), g.published...)
	g.mu.Unlock()
	mrand.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	jwks := make([]string, len(keys))
	for i, k := range keys {
		jwks[i] = k.jwk()
	}
	g.keyCacheHeaders(w)
	fmt.Fprintf(w, "{\n  \"keys\": [\n    %s\n  ]\n}\n", strings.Join(jwks, ",\n    "))
}

// handlePEM serves /oauth2/v1/certs: the same keys as self-signed X.509
// certificates, keyed by kid.
func (g *Google) handlePEM(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		googleHTMLError(w, http.StatusMethodNotAllowed)
		return
	}
	g.mu.Lock()
	keys := append([]*signingKey(nil), g.published...)
	g.mu.Unlock()
	members := make([]string, len(keys))
	for i, k := range keys {
		members[i] = strconv.Quote(k.kid) + ": " + jsonString(k.certPEM)
	}
	g.keyCacheHeaders(w)
	fmt.Fprintf(w, "{\n  %s\n}\n", strings.Join(members, ",\n  "))
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
