package serverauth

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"
)

// TestVerifyCacheKey: a cache's key for a token is the same every time,
// differs for a token one byte away, and differs between caches (each has
// a random GMAC key of its own); without GCM, it is the token's SHA-256.
func TestVerifyCacheKey(t *testing.T) {
	tok := strings.Repeat("eyJhbGciOiJSUzI1NiIsImtpZCI6", 36)
	near := tok[:len(tok)-1] + "x"
	c1, c2 := newVerifyCache(8), newVerifyCache(8)
	if c1.mac == nil || c2.mac == nil {
		t.Fatal("newVerifyCache made no GMAC")
	}
	fallback := &verifyCache{}
	var b1, b2 [sha256.Size]byte
	for _, c := range []*verifyCache{c1, fallback} {
		k := bytes.Clone(c.tokenKey(tok, &b1))
		if again := c.tokenKey(tok, &b2); !bytes.Equal(k, again) {
			t.Errorf("mac %t: two keys for one token", c.mac != nil)
		}
		if other := c.tokenKey(near, &b2); bytes.Equal(k, other) {
			t.Errorf("mac %t: tokens one byte apart share a key", c.mac != nil)
		}
		if want := map[bool]int{true: 16, false: 32}[c.mac != nil]; len(k) != want {
			t.Errorf("mac %t: key of %d bytes, want %d", c.mac != nil, len(k), want)
		}
	}
	if k1, k2 := bytes.Clone(c1.tokenKey(tok, &b1)), c2.tokenKey(tok, &b2); bytes.Equal(k1, k2) {
		t.Error("two caches give a token the same key: their GMAC keys are not their own")
	}
	if sum := sha256.Sum256([]byte(tok)); !bytes.Equal(fallback.tokenKey(tok, &b1), sum[:]) {
		t.Error("the fallback key is not the token's SHA-256")
	}
}
