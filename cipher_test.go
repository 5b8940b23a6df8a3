package serverauth

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
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
