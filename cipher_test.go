package serverauth

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestKeyringRoundTripAndBinding(t *testing.T) {
	k1, _ := GenerateKey(1)
	kr, err := NewKeyring(k1)
	if err != nil {
		t.Fatal(err)
	}
	ad := associatedData("user-a", fieldRefreshToken)
	ct, err := kr.Encrypt([]byte("1//secret"), ad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("1//secret")) {
		t.Fatal("ciphertext contains the plaintext")
	}
	if pt, err := kr.Decrypt(ct, ad); err != nil || string(pt) != "1//secret" {
		t.Fatalf("Decrypt = %q, %v", pt, err)
	}
	ct2, _ := kr.Encrypt([]byte("1//secret"), ad)
	if bytes.Equal(ct, ct2) {
		t.Error("two encryptions are equal: nonces are not random")
	}
	tampered := bytes.Clone(ct)
	tampered[len(tampered)-1] ^= 1
	wrongKeyID := bytes.Clone(ct)
	wrongKeyID[4] ^= 1
	for name, c := range map[string]struct {
		ct []byte
		ad []byte
	}{
		"other user":        {ct, associatedData("user-b", fieldRefreshToken)},
		"other field":       {ct, associatedData("user-a", fieldAccessToken)},
		"tampered":          {tampered, ad},
		"unknown key id":    {wrongKeyID, ad},
		"truncated":         {ct[:10], ad},
		"plaintext, legacy": {[]byte("1//secret"), ad},
	} {
		if _, err := kr.Decrypt(c.ct, c.ad); !errors.Is(err, ErrDecrypt) {
			t.Errorf("Decrypt(%s) = %v, want ErrDecrypt", name, err)
		}
	}
}

func TestKeyringRotation(t *testing.T) {
	k1, _ := GenerateKey(1)
	k2, _ := GenerateKey(2)
	old, _ := NewKeyring(k1)
	ad := associatedData("u", fieldAccessToken)
	ct, _ := old.Encrypt([]byte("ya29.x"), ad)
	rotated, err := ParseKeyring(k2.Encode() + "," + k1.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := rotated.Decrypt(ct, ad); err != nil || string(pt) != "ya29.x" {
		t.Fatalf("old ciphertext under the rotated keyring = %q, %v", pt, err)
	}
	if !rotated.NeedsRekey(ct) || rotated.PrimaryKeyID() != 2 {
		t.Error("old ciphertext not flagged for rekey")
	}
	ct2, _ := rotated.Encrypt([]byte("ya29.x"), ad)
	if rotated.NeedsRekey(ct2) {
		t.Error("new ciphertext flagged for rekey")
	}
	if _, err := old.Decrypt(ct2, ad); !errors.Is(err, ErrDecrypt) {
		t.Errorf("new ciphertext under the old keyring = %v, want ErrDecrypt", err)
	}
}

func TestParseKeyring(t *testing.T) {
	k, _ := GenerateKey(7)
	std := strings.NewReplacer("-", "+", "_", "/").Replace(k.Encode()) + "="
	for _, s := range []string{k.Encode(), " " + k.Encode() + " ", std, "7 : " + k.Encode()[2:]} {
		if _, err := ParseKeyring(s); err != nil {
			t.Errorf("ParseKeyring(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", "7", "x:AAAA", "7:not base64!", "7:AAAA", "4294967296:AAAA", k.Encode() + "," + k.Encode(), k.Encode() + ","} {
		if _, err := ParseKeyring(s); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("ParseKeyring(%q) = %v, want ErrInvalidConfig", s, err)
		}
	}
}

// TestParseKeyringErrorsQuoteNoInput plants a key's secret in every place a
// malformed keyring can hold it and checks that no error shows any eight
// characters of it, in either base64 alphabet.
func TestParseKeyringErrorsQuoteNoInput(t *testing.T) {
	k := Key{ID: 1, Secret: []byte("planted-secret-+/?>~0123456789ab")}
	url := base64.RawURLEncoding.EncodeToString(k.Secret)
	std := base64.StdEncoding.EncodeToString(k.Secret)
	good, _ := GenerateKey(2)
	for _, tt := range []struct{ name, in string }{
		{"swapped, secret:ID", url + ":1"},
		{"swapped, standard base64", std + ":1"},
		{"no colon", url},
		{"secret in the ID", url + ":" + url},
		{"ID glued to the secret", "1" + url + ":AAAA"},
		{"secret not base64", "1:" + url + "!"},
		{"secret with a colon", "1:" + url + ":" + url},
		{"secret too short", "1:" + url[:len(url)-8]},
		{"secret too long", "1:" + url + url},
		{"mixed alphabets", "1:" + url + "+" + std},
		{"swapped, second entry", good.Encode() + "," + url + ":3"},
		{"duplicate ID", k.Encode() + "," + k.Encode()},
		{"empty entry before it", "," + url},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseKeyring(tt.in)
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("ParseKeyring(%s) = %v, want ErrInvalidConfig", tt.name, err)
			}
			for _, secret := range []string{url, std} {
				for i := 0; i+8 <= len(secret); i++ {
					if strings.Contains(err.Error(), secret[i:i+8]) {
						t.Fatalf("ParseKeyring(%s) error %q shows the secret", tt.name, err)
					}
				}
			}
		})
	}
}

func TestKeyPrintsNoSecret(t *testing.T) {
	k, _ := GenerateKey(3)
	secret := k.Encode()[2:]
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s", k, k, k, k)} {
		if strings.Contains(s, secret) || !strings.Contains(s, "REDACTED") {
			t.Errorf("printed key %q", s)
		}
	}
}

// sealV1 returns a sealer of the version 1 layout, which earlier releases
// wrote: version byte 1, key ID (big-endian), 12-byte random nonce, then
// AES-256-GCM under the key itself, the 5-byte header authenticated before
// the associated data.
func sealV1(tb testing.TB, k Key) func(plaintext, associatedData []byte) []byte {
	tb.Helper()
	block, err := aes.NewCipher(k.Secret)
	if err != nil {
		tb.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		tb.Fatal(err)
	}
	return func(plaintext, associatedData []byte) []byte {
		out := make([]byte, 5+12, 5+12+len(plaintext)+16)
		out[0] = 1
		binary.BigEndian.PutUint32(out[1:5], k.ID)
		rand.Read(out[5:])
		return aead.Seal(out, out[5:], plaintext, append(bytes.Clone(out[:5]), associatedData...))
	}
}

func TestKeyringReadsVersion1(t *testing.T) {
	k1, _ := GenerateKey(1)
	k2, _ := GenerateKey(2)
	ad := associatedData("u", fieldRefreshToken)
	ct := sealV1(t, k1)([]byte("1//old"), ad)
	for name, keys := range map[string][]Key{"primary": {k1}, "older": {k2, k1}} {
		kr, err := NewKeyring(keys[0], keys[1:]...)
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := kr.Decrypt(ct, ad); err != nil || string(pt) != "1//old" {
			t.Errorf("Decrypt(version 1, key 1 %s) = %q, %v; want 1//old", name, pt, err)
		}
		if !kr.NeedsRekey(ct) {
			t.Errorf("NeedsRekey(version 1, key 1 %s) = false, want true", name)
		}
		if _, err := kr.Decrypt(ct, associatedData("v", fieldRefreshToken)); !errors.Is(err, ErrDecrypt) {
			t.Errorf("Decrypt(version 1, another user) = %v, want ErrDecrypt", err)
		}
	}
}

// TestKeyringVersion2Layout opens a ciphertext by the documented layout
// alone, with the standard library.
func TestKeyringVersion2Layout(t *testing.T) {
	k, _ := GenerateKey(0x01020304)
	kr, _ := NewKeyring(k)
	ad := associatedData("u", fieldAccessToken)
	ct, err := kr.Encrypt([]byte("ya29.new"), ad)
	if err != nil {
		t.Fatal(err)
	}
	if len(ct) != 1+4+32+12+len("ya29.new")+16 || ct[0] != 2 || !bytes.Equal(ct[1:5], []byte{1, 2, 3, 4}) {
		t.Fatalf("ciphertext = %x, want version 2, key ID 01020304, salt, nonce, sealed data and tag", ct)
	}
	key, err := hkdf.Key(sha256.New, k.Secret, ct[5:37], "serverauth keyring v2 AES-256-GCM", 32)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	if pt, err := aead.Open(nil, ct[37:49], ct[49:], append(bytes.Clone(ct[:5]), ad...)); err != nil || string(pt) != "ya29.new" {
		t.Fatalf("opening by the layout = %q, %v; want ya29.new", pt, err)
	}
	if pt, err := kr.Decrypt(ct, ad); err != nil || string(pt) != "ya29.new" {
		t.Fatalf("Decrypt = %q, %v; want ya29.new", pt, err)
	}
	if kr.NeedsRekey(ct) {
		t.Error("NeedsRekey(version 2 under the primary) = true, want false")
	}
	ct2, _ := kr.Encrypt([]byte("ya29.new"), ad)
	if !bytes.Equal(ct[5:37], ct2[5:37]) || bytes.Equal(ct[37:49], ct2[37:49]) {
		t.Error("two encryptions in a row: want the same salt (one derived key) and different nonces")
	}
}

func TestKeyringDecryptErrors(t *testing.T) {
	k1, _ := GenerateKey(1)
	k3, _ := GenerateKey(3)
	// Key 2 has key 1's secret: only the authenticated header tells their
	// ciphertexts apart.
	kr, _ := NewKeyring(k1, Key{ID: 2, Secret: k1.Secret}, k3)
	ad := associatedData("u", fieldRefreshToken)
	ct, _ := kr.Encrypt([]byte("1//secret"), ad)
	v1 := sealV1(t, k1)([]byte("1//secret"), ad)
	flip := func(ct []byte, i int, b byte) []byte {
		c := bytes.Clone(ct)
		c[i] ^= b
		return c
	}
	imposter, _ := GenerateKey(1)
	wrongKey, _ := NewKeyring(imposter)
	tests := []struct {
		name      string
		kr        *Keyring
		ct        []byte
		wantKeyID uint32
		want      DecryptReason
	}{
		{"salt", kr, flip(ct, 5, 1), 1, DecryptAuthFailed},
		{"last salt byte", kr, flip(ct, 36, 0x80), 1, DecryptAuthFailed},
		{"nonce", kr, flip(ct, 40, 1), 1, DecryptAuthFailed},
		{"tag", kr, flip(ct, len(ct)-1, 1), 1, DecryptAuthFailed},
		{"key ID to a key with the same secret", kr, flip(ct, 4, 1^2), 2, DecryptAuthFailed},
		{"key ID to another key", kr, flip(ct, 4, 1^3), 3, DecryptAuthFailed},
		{"key ID to no key", kr, flip(ct, 4, 1^9), 9, DecryptUnknownKey},
		{"version 2 to 1", kr, flip(ct, 0, 2^1), 1, DecryptAuthFailed},
		{"version 1 to 2", kr, flip(append(v1, make([]byte, 32)...), 0, 1^2), 1, DecryptAuthFailed},
		{"version 1 key ID to a key with the same secret", kr, flip(v1, 4, 1^2), 2, DecryptAuthFailed},
		{"version 3", kr, flip(ct, 0, 2^3), 0, DecryptMalformed},
		{"truncated version 2", kr, ct[:1+4+32+12+15], 0, DecryptMalformed},
		{"wrong key for the ID", wrongKey, ct, 1, DecryptAuthFailed},
		{"wrong key for the ID, version 1", wrongKey, v1, 1, DecryptAuthFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.kr.Decrypt(tt.ct, ad)
			var de *DecryptError
			if !errors.Is(err, ErrDecrypt) || !errors.As(err, &de) {
				t.Fatalf("Decrypt = %v, want a *DecryptError wrapping ErrDecrypt", err)
			}
			if de.KeyID != tt.wantKeyID || de.Reason != tt.want {
				t.Errorf("Decrypt = %+v, want KeyID %d, Reason %s", *de, tt.wantKeyID, tt.want)
			}
		})
	}
}

func TestDecryptErrorSuggestsTheWrongKey(t *testing.T) {
	err := error(&DecryptError{KeyID: 7, Reason: DecryptAuthFailed})
	if !strings.Contains(err.Error(), "wrong key for key ID 7") || !strings.HasPrefix(err.Error(), "serverauth: ") {
		t.Errorf("DecryptError = %q, want it to start with serverauth: and suggest the wrong key for key ID 7", err)
	}
}

// BenchmarkKeyring compares the version 1 layout (AES-GCM under the keyring
// key) with version 2 (a key derived per ciphertext), on a refresh token's
// size.
func BenchmarkKeyring(b *testing.B) {
	k, _ := GenerateKey(1)
	kr, _ := NewKeyring(k)
	pt := bytes.Repeat([]byte("x"), 103)
	ad := associatedData("123456789012345678901", fieldRefreshToken)
	v1 := sealV1(b, k)
	v2 := func(pt, ad []byte) []byte {
		ct, err := kr.Encrypt(pt, ad)
		if err != nil {
			b.Fatal(err)
		}
		return ct
	}
	for _, v := range []struct {
		name string
		seal func(pt, ad []byte) []byte
	}{{"v1", v1}, {"v2", v2}} {
		b.Run(v.name+"/Encrypt", func(b *testing.B) {
			for b.Loop() {
				v.seal(pt, ad)
			}
		})
		b.Run(v.name+"/Decrypt", func(b *testing.B) {
			ct := v.seal(pt, ad)
			for b.Loop() {
				if _, err := kr.Decrypt(ct, ad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// saltOf returns a version 2 ciphertext's salt.
func saltOf(ct []byte) [keyringSalt]byte {
	return [keyringSalt]byte(ct[keyringHeader : keyringHeader+keyringSalt])
}

// TestKeyringSealsPerDerivedKey: Encrypt seals SetSealsPerKey messages
// under one derived key, each with its own nonce, then derives a new one;
// another Keyring with the key derives each salt's key once, and the
// sealing Keyring none at all to open what it sealed.
func TestKeyringSealsPerDerivedKey(t *testing.T) {
	k, _ := GenerateKey(7)
	kr, _ := NewKeyring(k)
	SetSealsPerKey(kr, 3)
	ad := associatedData("u", fieldRefreshToken)
	var cts [][]byte
	for i := range 7 {
		ct, err := kr.Encrypt(fmt.Appendf(nil, "1//token-%d", i), ad)
		if err != nil {
			t.Fatal(err)
		}
		cts = append(cts, ct)
	}
	nonces := map[string]bool{}
	for i, ct := range cts {
		if same := saltOf(ct) == saltOf(cts[i/3*3]); !same {
			t.Errorf("ciphertext %d: salt differs from ciphertext %d's; want 3 seals per derived key", i, i/3*3)
		}
		if i%3 == 0 && i > 0 && saltOf(ct) == saltOf(cts[i-1]) {
			t.Errorf("ciphertext %d: salt of ciphertext %d again; want a new derived key after 3 seals", i, i-1)
		}
		nonces[string(ct[keyringHeader+keyringSalt:keyringV2Overhead-keyringTag])] = true
	}
	if len(nonces) != len(cts) {
		t.Errorf("%d distinct nonces in %d ciphertexts", len(nonces), len(cts))
	}
	if got := KeyDerivations(kr); got != 3 {
		t.Errorf("sealing 7 messages, 3 per key: %d derivations, want 3", got)
	}
	other, _ := NewKeyring(k)
	for round := range 2 {
		for i, ct := range cts {
			if pt, err := kr.Decrypt(ct, ad); err != nil || string(pt) != fmt.Sprintf("1//token-%d", i) {
				t.Fatalf("sealer: Decrypt(%d) = %q, %v", i, pt, err)
			}
			if pt, err := other.Decrypt(ct, ad); err != nil || string(pt) != fmt.Sprintf("1//token-%d", i) {
				t.Fatalf("other keyring, round %d: Decrypt(%d) = %q, %v", round, i, pt, err)
			}
		}
	}
	if got := KeyDerivations(kr); got != 3 {
		t.Errorf("the sealer opening its own ciphertexts: %d derivations in all, want the 3 of sealing", got)
	}
	if got := KeyDerivations(other); got != 3 {
		t.Errorf("another keyring opening 7 ciphertexts under 3 salts twice: %d derivations, want 3", got)
	}
}

// TestKeyringDecryptRemembersOnlyKeysThatOpened: a ciphertext whose salt
// was forged fails every time and never takes a place among the derived
// keys Decrypt keeps; those stay bounded.
func TestKeyringDecryptRemembersOnlyKeysThatOpened(t *testing.T) {
	k, _ := GenerateKey(7)
	sealer, _ := NewKeyring(k)
	SetSealsPerKey(sealer, 1)
	kr, _ := NewKeyring(k)
	ad := associatedData("u", fieldAccessToken)
	ct, _ := sealer.Encrypt([]byte("ya29.x"), ad)
	forged := bytes.Clone(ct)
	forged[keyringHeader] ^= 1
	for range 3 {
		var de *DecryptError
		if _, err := kr.Decrypt(forged, ad); !errors.As(err, &de) || de.Reason != DecryptAuthFailed {
			t.Fatalf("Decrypt(forged salt) = %v, want %s", err, DecryptAuthFailed)
		}
	}
	if got, kept := KeyDerivations(kr), OpenedKeys(kr); got != 3 || kept != 0 {
		t.Fatalf("a forged salt three times: %d derivations, %d keys kept; want 3 and 0", got, kept)
	}
	for i := range maxOpenedKeys + 40 {
		ct, _ := sealer.Encrypt([]byte("ya29.x"), ad)
		if _, err := kr.Decrypt(ct, ad); err != nil {
			t.Fatalf("Decrypt(%d) = %v", i, err)
		}
		if kept := OpenedKeys(kr); kept > maxOpenedKeys {
			t.Fatalf("after %d salts: %d keys kept, want at most %d", i+1, kept, maxOpenedKeys)
		}
	}
}

// TestKeyringSealsPerKeyConcurrently: goroutines sealing at once never put
// more than the limit under one derived key, and every ciphertext opens.
func TestKeyringSealsPerKeyConcurrently(t *testing.T) {
	k, _ := GenerateKey(7)
	kr, _ := NewKeyring(k)
	SetSealsPerKey(kr, 5)
	ad := associatedData("u", fieldAccessToken)
	const goroutines, each = 8, 200
	cts := make([][]byte, goroutines*each)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				ct, err := kr.Encrypt([]byte("ya29.x"), ad)
				if err != nil {
					t.Error(err)
					return
				}
				cts[g*each+i] = ct
			}
		})
	}
	wg.Wait()
	perSalt := map[[keyringSalt]byte]int{}
	for _, ct := range cts {
		perSalt[saltOf(ct)]++
		if pt, err := kr.Decrypt(ct, ad); err != nil || string(pt) != "ya29.x" {
			t.Fatalf("Decrypt = %q, %v", pt, err)
		}
	}
	for _, n := range perSalt {
		if n > 5 {
			t.Fatalf("%d messages sealed under one derived key, want at most 5", n)
		}
	}
	if want := len(cts) / 5; len(perSalt) < want {
		t.Errorf("%d salts for %d messages, want at least %d", len(perSalt), len(cts), want)
	}
}
