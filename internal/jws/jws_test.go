package jws

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
)

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

func key(t testing.TB) *rsa.PrivateKey {
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testKey = k
	})
	return testKey
}

var b64 = base64.RawURLEncoding

// sign builds a compact JWS from raw header and payload JSON text.
func sign(t testing.TB, header, payload string) string {
	in := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key(t), crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + b64.EncodeToString(sig)
}

const (
	goodHeader  = `{"alg":"RS256","kid":"k1","typ":"JWT"}`
	goodPayload = `{"iss":"https://accounts.google.com","sub":"1"}`
)

func TestParseAcceptsAndVerifies(t *testing.T) {
	raw := sign(t, goodHeader, goodPayload)
	tok, err := Parse(raw)
	if err != nil {
		t.Fatalf("Parse(valid) = %v, want nil", err)
	}
	if tok.Header.KeyID != "k1" {
		t.Errorf("KeyID = %q, want k1", tok.Header.KeyID)
	}
	if string(tok.UnverifiedPayload) != goodPayload {
		t.Errorf("payload = %s, want %s", tok.UnverifiedPayload, goodPayload)
	}
	if err := tok.Verify(&key(t).PublicKey); err != nil {
		t.Errorf("Verify = %v, want nil", err)
	}
	for _, h := range []string{`{"alg":"RS256","kid":"k1"}`, `{"alg":"RS256","kid":"k1","typ":"jwt"}`, `{"kid":"k1","alg":"RS256","extra":1}`} {
		if _, err := Parse(sign(t, h, goodPayload)); err != nil {
			t.Errorf("Parse(header %s) = %v, want nil", h, err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	valid := sign(t, goodHeader, goodPayload)
	parts := strings.Split(valid, ".")
	tests := []struct {
		name string
		raw  string
		want error
	}{
		{"two segments", parts[0] + "." + parts[1], ErrMalformed},
		{"four segments", valid + ".x", ErrMalformed},
		{"empty signature", parts[0] + "." + parts[1] + ".", ErrMalformed},
		{"too long", parts[0] + "." + strings.Repeat("A", MaxTokenSize) + "." + parts[2], ErrMalformed},
		{"padding", parts[0] + "=." + parts[1] + "." + parts[2], ErrMalformed},
		{"standard alphabet", parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[2]) + "+", ErrMalformed},
		{"CRLF inside", parts[0] + "." + parts[1][:4] + "\r\n" + parts[1][4:] + "." + parts[2], ErrMalformed},
		{"space inside", parts[0] + "." + parts[1] + " ." + parts[2], ErrMalformed},
		{"non-canonical trailing bits", parts[0] + "." + parts[1] + "." + nonCanonical(parts[2]), ErrMalformed},
		{"JSON serialization", `{"payload":"` + parts[1] + `"}`, ErrMalformed},
		{"header not JSON", b64.EncodeToString([]byte("alg=RS256")) + "." + parts[1] + "." + parts[2], ErrMalformed},
		{"duplicate alg", sign(t, `{"alg":"none","alg":"RS256","kid":"k1"}`, goodPayload), ErrMalformed},
		{"duplicate kid", sign(t, `{"alg":"RS256","kid":"k1","kid":"k2"}`, goodPayload), ErrMalformed},
		{"invalid UTF-8 header", sign(t, "{\"alg\":\"RS256\",\"kid\":\"k\xff\"}", goodPayload), ErrMalformed},
		{"alg missing", sign(t, `{"kid":"k1"}`, goodPayload), ErrHeader},
		{"alg case variant only", sign(t, `{"ALG":"RS256","kid":"k1"}`, goodPayload), ErrHeader},
		{"alg none", sign(t, `{"alg":"none","kid":"k1"}`, goodPayload), ErrHeader},
		{"alg HS256", sign(t, `{"alg":"HS256","kid":"k1"}`, goodPayload), ErrHeader},
		{"alg ES256", sign(t, `{"alg":"ES256","kid":"k1"}`, goodPayload), ErrHeader},
		{"alg rs256 lowercase", sign(t, `{"alg":"rs256","kid":"k1"}`, goodPayload), ErrHeader},
		{"kid missing", sign(t, `{"alg":"RS256"}`, goodPayload), ErrHeader},
		{"kid empty", sign(t, `{"alg":"RS256","kid":""}`, goodPayload), ErrHeader},
		{"kid not a string", sign(t, `{"alg":"RS256","kid":1}`, goodPayload), ErrMalformed},
		{"kid too long", sign(t, `{"alg":"RS256","kid":"`+strings.Repeat("k", MaxKeyIDSize+1)+`"}`, goodPayload), ErrHeader},
		{"typ JWE", sign(t, `{"alg":"RS256","kid":"k1","typ":"JOSE+JSON"}`, goodPayload), ErrHeader},
		{"crit", sign(t, `{"alg":"RS256","kid":"k1","crit":["b64"]}`, goodPayload), ErrHeader},
		{"jku", sign(t, `{"alg":"RS256","kid":"k1","jku":"https://evil.example/keys"}`, goodPayload), ErrHeader},
		{"x5u", sign(t, `{"alg":"RS256","kid":"k1","x5u":"https://evil.example/cert"}`, goodPayload), ErrHeader},
		{"jwk", sign(t, `{"alg":"RS256","kid":"k1","jwk":{"kty":"RSA"}}`, goodPayload), ErrHeader},
		{"x5c", sign(t, `{"alg":"RS256","kid":"k1","x5c":["MII"]}`, goodPayload), ErrHeader},
		{"zip", sign(t, `{"alg":"RS256","kid":"k1","zip":"DEF"}`, goodPayload), ErrHeader},
		{"b64 false", sign(t, `{"alg":"RS256","kid":"k1","b64":false}`, goodPayload), ErrHeader},
		{"cty", sign(t, `{"alg":"RS256","kid":"k1","cty":"JWT"}`, goodPayload), ErrHeader},
		{"enc", sign(t, `{"alg":"RS256","kid":"k1","enc":"A256GCM"}`, goodPayload), ErrHeader},
		{"forbidden member null", sign(t, `{"alg":"RS256","kid":"k1","jku":null}`, goodPayload), ErrHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.raw)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse(%s) = %v, want %v", tt.name, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), parts[1]) {
				t.Errorf("error %q contains the token", err)
			}
		})
	}
}

// nonCanonical flips the unused low bits of the last base64url character,
// which a lenient decoder ignores.
func nonCanonical(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[last^1])
}

func TestVerifyRejects(t *testing.T) {
	raw := sign(t, goodHeader, goodPayload)
	parts := strings.Split(raw, ".")
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := b64.DecodeString(parts[2])
	tests := []struct {
		name string
		raw  string
		key  *rsa.PublicKey
	}{
		{"other key", raw, &other.PublicKey},
		{"payload altered", parts[0] + "." + b64.EncodeToString([]byte(`{"iss":"https://accounts.google.com","sub":"2"}`)) + "." + parts[2], &key(t).PublicKey},
		{"signature truncated", parts[0] + "." + parts[1] + "." + b64.EncodeToString(sig[1:]), &key(t).PublicKey},
		{"signature with leading zero", parts[0] + "." + parts[1] + "." + b64.EncodeToString(append([]byte{0}, sig...)), &key(t).PublicKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := Parse(tt.raw)
			if err != nil {
				t.Fatalf("Parse = %v", err)
			}
			if err := tok.Verify(tt.key); !errors.Is(err, ErrSignature) {
				t.Errorf("Verify = %v, want ErrSignature", err)
			}
		})
	}
}

// FuzzParse checks that Parse never panics, that what it accepts re-splits
// to the same segments, and that a signature verifies only over the exact
// bytes given.
func FuzzParse(f *testing.F) {
	f.Add(sign(f, goodHeader, goodPayload))
	f.Add(sign(f, `{"alg":"RS256","kid":"k1","crit":["b64"]}`, goodPayload))
	f.Add("a.b.c")
	f.Add("..")
	f.Add("eyJhbGciOiJSUzI1NiJ9.e30.AA")
	pub := &key(f).PublicKey
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := Parse(raw)
		if err != nil {
			return
		}
		if got := string(tok.signingInput); got != raw[:strings.LastIndexByte(raw, '.')] {
			t.Fatalf("signing input %q is not the received prefix", got)
		}
		if tok.Header.KeyID == "" {
			t.Fatal("accepted a token without kid")
		}
		_ = tok.Verify(pub)
	})
}

func TestParseTyped(t *testing.T) {
	for _, tt := range []struct {
		header string
		ok     bool
	}{
		{`{"alg":"RS256","kid":"k1"}`, true},
		{`{"alg":"RS256","kid":"k1","typ":"secevent+jwt"}`, true},
		{`{"alg":"RS256","kid":"k1","typ":"application/secevent+jwt"}`, true},
		{`{"alg":"RS256","kid":"k1","typ":"Application/SecEvent+JWT"}`, true},
		{`{"alg":"RS256","kid":"k1","typ":"JWT"}`, true},
		{`{"alg":"RS256","kid":"k1","typ":"at+jwt"}`, false},
		{`{"alg":"RS256","kid":"k1","typ":"application/"}`, false},
		{`{"alg":"RS256","kid":"k1","typ":"secevent"}`, false},
	} {
		_, err := ParseTyped(sign(t, tt.header, goodPayload), "secevent+jwt", "JWT")
		if (err == nil) != tt.ok {
			t.Errorf("ParseTyped(header %s) = %v, want ok %v", tt.header, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrHeader) {
			t.Errorf("ParseTyped(header %s) = %v, want ErrHeader", tt.header, err)
		}
	}
	// Parse still takes only JWT.
	if _, err := Parse(sign(t, `{"alg":"RS256","kid":"k1","typ":"secevent+jwt"}`, goodPayload)); !errors.Is(err, ErrHeader) {
		t.Errorf("Parse(typ secevent+jwt) = %v, want ErrHeader", err)
	}
}
