// Package jws parses and verifies compact RS256 JSON Web Signatures strictly,
// as Google ID tokens must be accepted (see the ID token acceptance policy in
// Google's ID-token rules and RFC 8725, JWT best current practices).
//
// Why not a JOSE library: the acceptance policy needs strict base64url
// (no padding, no whitespace or CR/LF, canonical trailing bits), a header
// and payload with no duplicate or case-folded member names, and a speed
// within 1.10× of bare base64url + JSON + rsa.VerifyPKCS1v15. go-jose
// accepts the JSON serialization, strips whitespace and re-encodes segments;
// golang-jwt/v5 and google.golang.org/api/idtoken decode with encoding/json,
// which keeps the last of duplicate names and folds case, and measure 1.14×
// and 1.21× of that floor; lestrrat-go/jwx 2.2×. So this package is the
// small strict parser, fuzzed (FuzzParse); the JSON strictness itself comes
// from github.com/go-json-experiment/json (encoding/json/v2 semantics) and
// the signature check from crypto/rsa.
package jws

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Limits from the acceptance policy.
const (
	MaxTokenSize = 16 << 10 // bytes in the whole compact token
	MaxKeyIDSize = 256      // bytes in the kid header
)

// Failure kinds. Callers map them onto their own reasons.
var (
	ErrMalformed = errors.New("malformed token")     // shape, base64url or JSON
	ErrHeader    = errors.New("unacceptable header") // alg, typ, kid or a forbidden member
	ErrSignature = errors.New("signature does not verify")
)

// Error is a parse or verification failure. Detail never contains the
// token's bytes.
type Error struct {
	Kind   error // ErrMalformed, ErrHeader or ErrSignature
	Detail string
}

func (e *Error) Error() string { return e.Kind.Error() + ": " + e.Detail }
func (e *Error) Unwrap() error { return e.Kind }

func fail(kind error, detail string) *Error { return &Error{Kind: kind, Detail: detail} }

// Header is the accepted JOSE header.
type Header struct {
	KeyID string
}

// header is the JOSE header as decoded. Members that must be absent are
// captured raw so that even a null value counts as present.
type header struct {
	Alg  *string        `json:"alg"`
	Kid  *string        `json:"kid"`
	Typ  *string        `json:"typ"`
	Crit jsontext.Value `json:"crit"`
	Jku  jsontext.Value `json:"jku"`
	X5u  jsontext.Value `json:"x5u"`
	Jwk  jsontext.Value `json:"jwk"`
	X5c  jsontext.Value `json:"x5c"`
	Zip  jsontext.Value `json:"zip"`
	B64  jsontext.Value `json:"b64"`
	Cty  jsontext.Value `json:"cty"`
	Enc  jsontext.Value `json:"enc"`
}

// Token is a parsed, not yet verified, compact JWS.
type Token struct {
	Header Header

	// UnverifiedPayload is the decoded payload. It must not be used before
	// Verify succeeds.
	UnverifiedPayload []byte

	signingInput []byte // header.payload exactly as received
	signature    []byte
}

// Parse splits and decodes raw and checks the header, with typ absent or
// "JWT" (an ID token). It does not verify the signature.
func Parse(raw string) (*Token, error) { return ParseTyped(raw, "JWT") }

// ParseTyped is Parse accepting a typ header that is absent or one of types,
// compared case-insensitively and with an "application/" prefix ignored
// (RFC 7515 §4.1.9), for JWTs of other kinds such as Security Event Tokens
// ("secevent+jwt", RFC 8417 §2.3).
func ParseTyped(raw string, types ...string) (*Token, error) {
	if len(raw) > MaxTokenSize {
		return nil, fail(ErrMalformed, "longer than 16 KiB")
	}
	d1 := strings.IndexByte(raw, '.')
	if d1 < 0 {
		return nil, fail(ErrMalformed, "not three dot-separated segments")
	}
	d2 := d1 + 1 + strings.IndexByte(raw[d1+1:], '.')
	if d2 == d1 || strings.IndexByte(raw[d2+1:], '.') >= 0 {
		return nil, fail(ErrMalformed, "not three dot-separated segments")
	}
	h64, p64, s64 := raw[:d1], raw[d1+1:d2], raw[d2+1:]
	if h64 == "" || p64 == "" || s64 == "" {
		return nil, fail(ErrMalformed, "empty segment")
	}

	// One allocation holds the signing input and the three decoded segments.
	enc := base64.RawURLEncoding.Strict()
	buf := make([]byte, len(raw)+enc.DecodedLen(len(h64))+enc.DecodedLen(len(p64))+enc.DecodedLen(len(s64)))
	rawb := buf[:copy(buf, raw):len(raw)]
	signingInput := rawb[:d2:d2]
	hdr, rest, err := decodeSegment(enc, buf[len(raw):], rawb[:d1], "header")
	if err != nil {
		return nil, err
	}
	payload, rest, err := decodeSegment(enc, rest, rawb[d1+1:d2], "payload")
	if err != nil {
		return nil, err
	}
	sig, _, err := decodeSegment(enc, rest, rawb[d2+1:], "signature")
	if err != nil {
		return nil, err
	}

	var h header
	if err := json.Unmarshal(hdr, &h); err != nil {
		return nil, fail(ErrMalformed, "header is not a strict JSON object")
	}
	switch {
	case h.Alg == nil:
		return nil, fail(ErrHeader, "alg missing")
	case *h.Alg != "RS256":
		return nil, fail(ErrHeader, "alg is not RS256")
	case h.Kid == nil || *h.Kid == "":
		return nil, fail(ErrHeader, "kid missing")
	case len(*h.Kid) > MaxKeyIDSize:
		return nil, fail(ErrHeader, "kid longer than 256 bytes")
	case h.Typ != nil && !typeAllowed(*h.Typ, types):
		return nil, fail(ErrHeader, "typ is not "+strings.Join(types, " or "))
	}
	for _, m := range [...]struct {
		name string
		v    jsontext.Value
	}{{"crit", h.Crit}, {"jku", h.Jku}, {"x5u", h.X5u}, {"jwk", h.Jwk}, {"x5c", h.X5c}, {"zip", h.Zip}, {"b64", h.B64}, {"cty", h.Cty}, {"enc", h.Enc}} {
		if m.v != nil {
			return nil, fail(ErrHeader, "forbidden header member "+m.name)
		}
	}
	return &Token{
		Header:            Header{KeyID: *h.Kid},
		UnverifiedPayload: payload,
		signingInput:      signingInput,
		signature:         sig,
	}, nil
}

// typeAllowed reports whether the typ header value is one of types.
func typeAllowed(typ string, types []string) bool {
	if len(typ) > len("application/") && strings.EqualFold(typ[:len("application/")], "application/") {
		typ = typ[len("application/"):]
	}
	for _, t := range types {
		if strings.EqualFold(typ, t) {
			return true
		}
	}
	return false
}

// decodeSegment decodes s into the front of buf and returns the decoded
// bytes and the rest of buf. Only the base64url alphabet is accepted: Go's
// decoder would otherwise skip CR and LF.
func decodeSegment(enc *base64.Encoding, buf, s []byte, name string) (out, rest []byte, err error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return nil, nil, fail(ErrMalformed, name+" is not unpadded base64url")
		}
	}
	n, err := enc.Decode(buf, s)
	if err != nil {
		return nil, nil, fail(ErrMalformed, name+" is not canonical base64url")
	}
	return buf[:n:n], buf[n:], nil
}

// Verify checks the RSASSA-PKCS1-v1_5 SHA-256 signature over the signing
// input exactly as received. The signature must be exactly the key's size.
func (t *Token) Verify(key *rsa.PublicKey) error {
	if len(t.signature) != key.Size() {
		return fail(ErrSignature, "signature length does not match the key")
	}
	sum := sha256.Sum256(t.signingInput)
	if rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], t.signature) != nil {
		return fail(ErrSignature, "RS256 verification failed")
	}
	return nil
}
