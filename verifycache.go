package serverauth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"sync/atomic"
	"unsafe"

	"github.com/serverauth/serverauth/internal/jws"
	"github.com/serverauth/serverauth/internal/lru"
)

// verifiedToken is what checking an ID token's signature established,
// whatever the call and the time: the token is well formed, signed by the
// key of its kid in one generation of Google's key set, and carries these
// claims. The claim rules (time, audience, the call's options) are not in
// it: they are applied on every use.
type verifiedToken struct {
	claims  claims
	payload []byte // the verified payload, for Profile.Claims; never modified
	kid     string
	gen     uint64 // the key-set generation the signature was checked under
	until   int64  // the token's exp, Unix nanoseconds: not used from the cache at or after it
}

// verifyCache remembers successful verifications by a keyed hash of the
// whole token, so that verifying the same token again skips the RSA
// signature check (about 25 µs of the 31 µs a verification costs). It
// holds no token: a hash, the claims and which key signed them.
//
// The hash is GMAC (GHASH under AES-128, NIST SP 800-38D) with a random key
// of the cache's own, which never leaves it: GHASH is an almost-XOR-universal
// hash (McGrew and Viega, "The Security and Performance of the Galois/Counter
// Mode", 2004), so two different tokens of up to 16·n bytes get the same
// 16-byte key with probability at most (n+1)/2^128 over the key, which no one
// outside the process knows or sees. That is the property the cache needs:
// no token but the one verified finds its entry. It hashes a kilobyte-long
// ID token about four times as fast as SHA-256, which was half the cost of
// a hit. Where the standard library refuses GCM with a chosen nonce (Go's
// FIPS 140-only mode), the key is SHA-256 of the token.
type verifyCache struct {
	m    *lru.Map[verifiedToken] // keyed by tokenKey; internally locked
	mac  cipher.AEAD             // AES-128-GCM under the cache's random key; nil: SHA-256
	full atomic.Int64            // full verifications made through the cache, for tests
}

// newVerifyCache returns a cache of size entries, or nil (no cache) for a
// negative size.
func newVerifyCache(size int) *verifyCache {
	if size < 0 {
		return nil
	}
	c := &verifyCache{m: lru.New[verifiedToken](size)}
	key := make([]byte, 16)
	rand.Read(key) // crypto/rand never fails
	if block, err := aes.NewCipher(key); err == nil {
		c.mac, _ = cipher.NewGCM(block) // nil in FIPS 140-only mode
	}
	return c
}

// gmacNonce is the fixed nonce of the cache's GMAC: it serves as a keyed
// hash, which a fixed nonce does not weaken (the tag is GHASH of the token
// masked by one fixed block).
var gmacNonce [12]byte

// tokenKey returns the cache key of raw, in buf, reading raw in place:
// copying a token of about a kilobyte to hash it would cost more than the
// hash (buf itself escapes through the AEAD interface: 32 bytes). Neither
// hash writes its input.
func (c *verifyCache) tokenKey(raw string, buf *[sha256.Size]byte) []byte {
	b := unsafe.Slice(unsafe.StringData(raw), len(raw))
	if c.mac == nil {
		*buf = sha256.Sum256(b)
		return buf[:]
	}
	return c.mac.Seal(buf[:0], gmacNonce[:], nil, b)
}

// verifyCached is verify with the cache: a token verified before, under
// the key set generation still current for its kid and before its exp, is
// not parsed or checked against its signature again, but every claim rule
// and the call's options are. Only a token that passed them all is
// remembered.
func (v *verifier) verifyCached(ctx context.Context, raw string, o verifyOptions) (*Profile, error) {
	c := v.verified
	if c == nil || len(raw) > jws.MaxTokenSize { // too long is refused by verify, unhashed
		return v.verify(ctx, raw, o)
	}
	now := v.now()
	var buf [sha256.Size]byte
	key := c.tokenKey(raw, &buf)
	if vt, ok := c.m.Load(string(key)); ok {
		if unixNanos(now) < vt.until {
			_, gen, err := v.keys.Lookup(ctx, vt.kid, now)
			if err != nil {
				return nil, keyError(err) // the key is gone, or the keys cannot be had
			}
			if gen == vt.gen {
				if err := v.check(&vt.claims, o, now); err != nil {
					return nil, err
				}
				return vt.profile(), nil
			}
		}
		// Past exp, or Google's keys changed since: verify afresh.
		c.m.CompareAndDelete(string(key), func(x *verifiedToken) bool { return x == vt })
	}
	c.full.Add(1)
	vt, err := v.verifySignature(ctx, raw, now)
	if err != nil {
		return nil, err
	}
	if err := v.check(&vt.claims, o, now); err != nil {
		return nil, err
	}
	// check guarantees exp is present and finite.
	if vt.until = unixNanos(numericDate(*vt.claims.Exp)); unixNanos(now) < vt.until {
		c.m.Store(string(key), *vt)
	}
	return vt.profile(), nil
}
