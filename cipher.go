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
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Cipher seals token fields before they reach a [TokenStore] and opens them
// after. It has the shape of Tink's AEAD (tink-go's tink.AEAD), so a
// KMS-backed key plugs in; [Keyring] is the built-in implementation.
//
// associatedData binds a ciphertext to its context: the library passes the
// user ID and the field name, so a ciphertext copied onto another user's
// record, or into another field, fails to decrypt. Implementations must be
// safe for concurrent use.
type Cipher interface {
	Encrypt(plaintext, associatedData []byte) ([]byte, error)
	Decrypt(ciphertext, associatedData []byte) ([]byte, error)
}

// ErrDecrypt is returned when a stored token cannot be decrypted: the key is
// missing from the keyring or is the wrong key for its ID, the ciphertext
// was altered, or it belongs to another user or field. A [Keyring]'s errors
// are [*DecryptError], which says which.
var ErrDecrypt = errors.New("serverauth: cannot decrypt stored token")

// KeySize is the size of a Keyring key: AES-256.
const KeySize = 32

// Key is one AES-256-GCM key of a [Keyring]. Its String and GoString never
// show the secret.
type Key struct {
	ID     uint32 // names the key inside every ciphertext it seals
	Secret []byte // KeySize random bytes
}

// GenerateKey returns a new random key with the given ID.
func GenerateKey(id uint32) (Key, error) {
	secret := make([]byte, KeySize)
	if _, err := rand.Read(secret); err != nil {
		return Key{}, err
	}
	return Key{ID: id, Secret: secret}, nil
}

// Encode returns the key as "ID:base64url-secret", the form ParseKeyring
// reads. It contains the secret: keep it in a secret manager or the
// environment, never in the database or a log.
func (k Key) Encode() string {
	return strconv.FormatUint(uint64(k.ID), 10) + ":" + base64.RawURLEncoding.EncodeToString(k.Secret)
}

// String shows the key's ID only.
func (k Key) String() string {
	return "serverauth.Key{ID:" + strconv.FormatUint(uint64(k.ID), 10) + " Secret:[REDACTED]}"
}

// GoString is String.
func (k Key) GoString() string { return k.String() }

// Keyring is an AES-256-GCM [Cipher] with key rotation: it encrypts with its
// primary key and decrypts with any of its keys, found by the key ID each
// ciphertext carries. A Keyring is safe for concurrent use. Make one with
// NewKeyring or ParseKeyring: the zero Keyring has no key, refuses to
// encrypt or decrypt, and New refuses it.
//
// Ciphertexts are sealed under keys derived from the keyring key and a
// random salt with HKDF-SHA256 (RFC 5869), as Tink's AES-GCM-HKDF does. So
// the limit of random-nonce AES-GCM, 2^32 messages per key (NIST SP 800-38D
// §8.3), which every refresh would count against, does not apply to the
// keyring key: a Keyring seals at most 2^20 messages under one derived key
// (the chance that two of them draw the same nonce is below 2^-57) and then
// draws a new salt, and salts repeat only after about 2^128. Deriving a key
// costs more than the sealing it serves, so a Keyring keeps its current
// derived key, and Decrypt keeps the keys of the last few hundred salts it
// opened a ciphertext under. Values sealed by one Keyring close together in
// time share a salt: the salt tells that much, and nothing about their
// contents. The layout, version 2:
//
//	version   1 byte    2
//	key ID    4 bytes   big-endian
//	salt      32 bytes  random; the AES-256 key is HKDF-SHA256(keyring key, salt, info "serverauth keyring v2 AES-256-GCM")
//	nonce     12 bytes  random
//	sealed    the plaintext's length, then the 16-byte tag
//
// The version byte and key ID are authenticated, as associated data before
// the caller's; the salt is bound by the key it derives. Version 1, which
// earlier releases wrote, has no salt and seals under the keyring key
// itself (version byte 1, key ID, nonce, sealed data and tag); Decrypt still
// reads it and NeedsRekey reports it, so [Exchanger.Rekey] moves it to
// version 2.
//
// Rotating keys: volume no longer forces it. Rotate when a key may have
// leaked or someone who could read it leaves, and otherwise on your own
// schedule. Generate a key with a new ID, put it first (primary) and keep
// the old ones after it; then run [Exchanger.Rekey], which moves every record
// to the primary key, and drop the old keys once it rewrote everything and
// reported no record it could not decrypt. After upgrading from a release
// that wrote version 1, run Rekey once with the same keys. A key that sealed
// version 1 values by the billion (2^32 is five weeks of hourly refreshes
// for 5 million users) should be retired that way too, since Decrypt accepts
// version 1 under every key it holds.
type Keyring struct {
	primary uint32
	keys    map[uint32]keyringKey // by key ID

	sealing atomic.Pointer[sealingKey] // the primary key's current derived key
	sealMu  sync.Mutex                 // serialises replacing it
	opened  sync.Map                   // derivedID → cipher.AEAD: keys Decrypt derived and opened a ciphertext with
	nOpened atomic.Int64               // entries in opened, about

	perKey      int64        // seals per derived key: sealsPerKey, but in tests
	derivations atomic.Int64 // keys derived, for tests
}

// sealingKey is the derived key Encrypt seals under until it has sealed
// sealsPerKey messages.
type sealingKey struct {
	salt [keyringSalt]byte
	aead cipher.AEAD
	left atomic.Int64 // seals it may still make; below zero, spent
}

// derivedID names a derived key: the keyring key and the salt.
type derivedID struct {
	key  uint32
	salt [keyringSalt]byte
}

// keyringKey is one key of a Keyring: the secret, from which version 2
// derives a key per ciphertext, and AES-GCM under the secret itself, for
// version 1.
type keyringKey struct {
	secret []byte
	v1     cipher.AEAD
}

// The ciphertext layout; see Keyring.
const (
	keyringV1 = 1
	keyringV2 = 2

	keyringHeader = 1 + 4 // version, key ID
	keyringSalt   = 32
	keyringNonce  = 12
	keyringTag    = 16

	keyringV1Overhead = keyringHeader + keyringNonce + keyringTag
	keyringV2Overhead = keyringHeader + keyringSalt + keyringNonce + keyringTag

	keyringHKDFInfo = "serverauth keyring v2 AES-256-GCM"

	// maxOpenedKeys bounds the derived keys Decrypt keeps; past it, it
	// forgets them all and starts again.
	maxOpenedKeys = 512
)

// sealsPerKey is how many messages Encrypt seals under one derived key.
const sealsPerKey = 1 << 20

// NewKeyring returns a keyring that encrypts with primary and also decrypts
// with older. Its errors name keys by ID only.
func NewKeyring(primary Key, older ...Key) (*Keyring, error) {
	kr := &Keyring{primary: primary.ID, keys: make(map[uint32]keyringKey, 1+len(older)), perKey: sealsPerKey}
	for _, k := range append([]Key{primary}, older...) {
		if len(k.Secret) != KeySize {
			return nil, fmt.Errorf("%w: key %d has %d bytes, want %d (AES-256)", ErrInvalidConfig, k.ID, len(k.Secret), KeySize)
		}
		if _, dup := kr.keys[k.ID]; dup {
			return nil, fmt.Errorf("%w: key ID %d appears twice in the keyring", ErrInvalidConfig, k.ID)
		}
		secret := bytes.Clone(k.Secret)
		aead, err := newGCM(secret)
		if err != nil {
			return nil, err
		}
		kr.keys[k.ID] = keyringKey{secret: secret, v1: aead}
	}
	return kr, nil
}

// newGCM returns AES-GCM under a KeySize key.
func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// derive returns AES-GCM under the key derived from the secret and salt:
// version 2.
func (kk keyringKey) derive(salt []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, kk.secret, salt, keyringHKDFInfo, KeySize)
	if err != nil {
		return nil, err
	}
	return newGCM(key)
}

// ParseKeyring reads a keyring from its text form: comma-separated
// "ID:base64url-secret" keys (as Key.Encode writes them), primary first.
// Standard and URL base64, padded or not, are accepted. Its errors name an
// entry by its position and a key by its parsed ID, and never quote the
// input: a malformed entry may hold a secret in any place.
func ParseKeyring(s string) (*Keyring, error) {
	var keys []Key
	for i, part := range strings.Split(s, ",") {
		idText, secretText, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return nil, fmt.Errorf("%w: keyring entry %d is not ID:base64-secret", ErrInvalidConfig, i+1)
		}
		id, err := strconv.ParseUint(strings.TrimSpace(idText), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: keyring entry %d: the key ID before the colon is not a number from 0 to 4294967295 (the form is ID:base64-secret, ID first)", ErrInvalidConfig, i+1)
		}
		secret, err := decodeBase64Any(strings.TrimSpace(secretText))
		if err != nil {
			return nil, fmt.Errorf("%w: keyring entry %d (key %d): the secret after the colon is not base64", ErrInvalidConfig, i+1, id)
		}
		keys = append(keys, Key{ID: uint32(id), Secret: secret})
	}
	return NewKeyring(keys[0], keys[1:]...)
}

func decodeBase64Any(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "+/") {
		return base64.RawStdEncoding.DecodeString(s)
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// PrimaryKeyID returns the ID of the key new ciphertexts use.
func (k *Keyring) PrimaryKeyID() uint32 { return k.primary }

// Encrypt seals plaintext under a key derived from the primary key: a
// version 2 ciphertext.
func (k *Keyring) Encrypt(plaintext, associatedData []byte) ([]byte, error) {
	key, ok := k.keys[k.primary]
	if !ok {
		return nil, errEmptyKeyring
	}
	sk := k.sealing.Load()
	if sk == nil || sk.left.Add(-1) < 0 {
		var err error
		if sk, err = k.nextSealingKey(key, sk); err != nil {
			return nil, err
		}
	}
	out := make([]byte, keyringV2Overhead-keyringTag, keyringV2Overhead+len(plaintext))
	out[0] = keyringV2
	binary.BigEndian.PutUint32(out[1:keyringHeader], k.primary)
	copy(out[keyringHeader:], sk.salt[:])
	nonce := out[keyringHeader+keyringSalt:]
	rand.Read(nonce) // crypto/rand never fails
	return sk.aead.Seal(out, nonce, plaintext, additional(out[:keyringHeader], associatedData)), nil
}

// nextSealingKey returns a derived key with a seal left for the caller,
// taken from the current one if another goroutine replaced spent since
// the caller looked, or else made from a new salt.
func (k *Keyring) nextSealingKey(key keyringKey, spent *sealingKey) (*sealingKey, error) {
	k.sealMu.Lock()
	defer k.sealMu.Unlock()
	if sk := k.sealing.Load(); sk != nil && sk != spent && sk.left.Add(-1) >= 0 {
		return sk, nil
	}
	sk := new(sealingKey)
	rand.Read(sk.salt[:])
	k.derivations.Add(1)
	aead, err := key.derive(sk.salt[:])
	if err != nil {
		return nil, err
	}
	sk.aead = aead
	sk.left.Store(k.perKey - 1) // one is the caller's
	k.sealing.Store(sk)
	k.remember(derivedID{k.primary, sk.salt}, aead)
	return sk, nil
}

// remember keeps a derived key for Decrypt.
func (k *Keyring) remember(id derivedID, aead cipher.AEAD) {
	if k.nOpened.Add(1) > maxOpenedKeys {
		k.opened.Clear()
		k.nOpened.Store(1)
	}
	k.opened.Store(id, aead)
}

// openKey returns the derived key a version 2 ciphertext names, and
// whether Decrypt should remember it once it opened the ciphertext.
func (k *Keyring) openKey(key keyringKey, id derivedID) (aead cipher.AEAD, derived bool, err error) {
	if v, ok := k.opened.Load(id); ok {
		return v.(cipher.AEAD), false, nil
	}
	k.derivations.Add(1)
	aead, err = key.derive(id.salt[:])
	return aead, true, err
}

var errEmptyKeyring = errors.New("serverauth: the Keyring has no keys: make it with NewKeyring or ParseKeyring")

// Decrypt opens a ciphertext of either version made by any key of the
// keyring. Its errors are *DecryptError.
func (k *Keyring) Decrypt(ciphertext, associatedData []byte) ([]byte, error) {
	version, id, ok := keyringHeaderOf(ciphertext)
	if !ok {
		return nil, &DecryptError{Reason: DecryptMalformed}
	}
	key, ok := k.keys[id]
	if !ok {
		return nil, &DecryptError{KeyID: id, Reason: DecryptUnknownKey}
	}
	aead, body := key.v1, ciphertext[keyringHeader:]
	var (
		derived bool
		did     derivedID
	)
	if version == keyringV2 {
		did = derivedID{key: id, salt: [keyringSalt]byte(body[:keyringSalt])}
		var err error
		if aead, derived, err = k.openKey(key, did); err != nil {
			return nil, err
		}
		body = body[keyringSalt:]
	}
	pt, err := aead.Open(nil, body[:keyringNonce], body[keyringNonce:], additional(ciphertext[:keyringHeader], associatedData))
	if err != nil {
		return nil, &DecryptError{KeyID: id, Reason: DecryptAuthFailed}
	}
	if derived {
		// Only a key that opened something: a forged salt, which fails
		// authentication, does not push the real ones out.
		k.remember(did, aead)
	}
	return pt, nil
}

// NeedsRekey reports whether ciphertext should be sealed again: it was
// sealed by a key other than the primary, or in version 1.
func (k *Keyring) NeedsRekey(ciphertext []byte) bool {
	version, id, ok := keyringHeaderOf(ciphertext)
	return !ok || version != keyringV2 || id != k.primary
}

// additional authenticates the header with the caller's associated data.
func additional(header, associatedData []byte) []byte {
	ad := make([]byte, 0, len(header)+len(associatedData))
	return append(append(ad, header...), associatedData...)
}

// keyringHeaderOf returns a ciphertext's version and key ID; ok is false
// when it is no Keyring ciphertext: an unknown version, or too short for
// its own.
func keyringHeaderOf(ct []byte) (version byte, id uint32, ok bool) {
	if len(ct) < keyringHeader {
		return 0, 0, false
	}
	switch ct[0] {
	case keyringV1:
		ok = len(ct) >= keyringV1Overhead
	case keyringV2:
		ok = len(ct) >= keyringV2Overhead
	}
	return ct[0], binary.BigEndian.Uint32(ct[1:keyringHeader]), ok
}

// DecryptError is a ciphertext a [Keyring] could not open. It unwraps to
// [ErrDecrypt]. It never holds key material or ciphertext.
type DecryptError struct {
	KeyID  uint32 // the key the ciphertext names; 0 when Reason is DecryptMalformed
	Reason DecryptReason
}

// DecryptReason says why a [Keyring] could not open a ciphertext: a stable
// snake_case identifier.
type DecryptReason string

// Reasons a Keyring cannot decrypt.
const (
	// DecryptMalformed: no Keyring ciphertext: too short, or an unknown
	// version (plaintext, another Cipher's output).
	DecryptMalformed DecryptReason = "malformed"
	// DecryptUnknownKey: the ciphertext's key ID is not in the keyring (a
	// key dropped before Rekey finished, or a deployment without it).
	DecryptUnknownKey DecryptReason = "unknown_key"
	// DecryptAuthFailed: AES-GCM authentication failed. If it fails for
	// every record of one key ID, the keyring holds the wrong key under
	// that ID.
	DecryptAuthFailed DecryptReason = "auth_failed"
)

func (e *DecryptError) Error() string {
	id := strconv.FormatUint(uint64(e.KeyID), 10)
	var why string
	switch e.Reason {
	case DecryptMalformed:
		why = "not a Keyring ciphertext (too short, or an unknown version: plaintext or another Cipher's output?)"
	case DecryptUnknownKey:
		why = "key ID " + id + " is not in the keyring (dropped before Rekey finished, or missing from this deployment?)"
	case DecryptAuthFailed:
		why = "authentication failed under key ID " + id + ": altered data, another user's or field's ciphertext, or the wrong key for key ID " + id
	default:
		why = string(e.Reason) + " (key ID " + id + ")"
	}
	return ErrDecrypt.Error() + ": " + why
}

func (e *DecryptError) Unwrap() error { return ErrDecrypt }

// plaintextCipher is the identity: Config.InsecurePlaintextTokens.
type plaintextCipher struct{}

func (plaintextCipher) Encrypt(p, _ []byte) ([]byte, error) { return append([]byte(nil), p...), nil }
func (plaintextCipher) Decrypt(c, _ []byte) ([]byte, error) { return append([]byte(nil), c...), nil }

// Fields named in associated data.
const (
	fieldRefreshToken = "refresh_token"
	fieldAccessToken  = "access_token"
	fieldProfile      = "profile"
)

// associatedData binds a sealed field to its user and field name.
func associatedData(userID, field string) []byte {
	ad := make([]byte, 0, len("serverauth/v1\x00")+len(field)+1+len(userID))
	ad = append(ad, "serverauth/v1\x00"...)
	ad = append(ad, field...)
	ad = append(ad, 0)
	return append(ad, userID...)
}

// String shows the keyring's key IDs, never its keys.
func (k *Keyring) String() string {
	if k == nil {
		return "<nil>"
	}
	ids := make([]uint32, 0, len(k.keys))
	for id := range k.keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return fmt.Sprintf("serverauth.Keyring{Primary:%d Keys:%v}", k.primary, ids)
}

// GoString is String.
func (k *Keyring) GoString() string { return k.String() }

// seal encrypts a token field for the user.
func (e *Exchanger) seal(userID, field, token string) ([]byte, error) {
	ct, err := e.cfg.Cipher.Encrypt([]byte(token), associatedData(userID, field))
	if err != nil {
		return nil, fmt.Errorf("serverauth: encrypting %s of user %q: %w", field, userID, err)
	}
	return ct, nil
}

// open decrypts a token field of the user.
func (e *Exchanger) open(userID, field string, sealed []byte) (string, error) {
	pt, err := e.cfg.Cipher.Decrypt(sealed, associatedData(userID, field))
	if err != nil {
		if !errors.Is(err, ErrDecrypt) {
			err = fmt.Errorf("%w: %w", ErrDecrypt, err)
		}
		return "", fmt.Errorf("serverauth: %s of user %q: %w", field, userID, err)
	}
	return string(pt), nil
}

// storedProfile is the JSON of [Record.Profile] before sealing: the
// profile claims, by their ID-token names.
type storedProfile struct {
	Subject         string    `json:"sub"`
	Email           string    `json:"email,omitempty"`
	EmailVerified   bool      `json:"email_verified,omitempty"`
	Name            string    `json:"name,omitempty"`
	GivenName       string    `json:"given_name,omitempty"`
	FamilyName      string    `json:"family_name,omitempty"`
	Picture         string    `json:"picture,omitempty"`
	Locale          string    `json:"locale,omitempty"`
	HostedDomain    string    `json:"hd,omitempty"`
	AuthorizedParty string    `json:"azp,omitempty"`
	Audience        string    `json:"aud,omitempty"`
	Issuer          string    `json:"iss,omitempty"`
	IssuedAt        time.Time `json:"iat,omitzero"`
	Expiry          time.Time `json:"exp,omitzero"`
}

// sealProfile seals p's profile claims for [Record.Profile].
func (e *Exchanger) sealProfile(userID string, p *Profile) ([]byte, error) {
	b, err := json.Marshal(storedProfile{
		Subject: p.Subject, Email: p.Email, EmailVerified: p.EmailVerified, Name: p.Name,
		GivenName: p.GivenName, FamilyName: p.FamilyName, Picture: p.Picture, Locale: p.Locale,
		HostedDomain: p.HostedDomain, AuthorizedParty: p.AuthorizedParty, Audience: p.Audience,
		Issuer: p.Issuer, IssuedAt: p.IssuedAt.UTC(), Expiry: p.Expiry.UTC(),
	})
	if err != nil {
		return nil, fmt.Errorf("serverauth: encoding the profile of user %q: %w", userID, err)
	}
	return e.seal(userID, fieldProfile, string(b))
}

// openProfile opens a [Record.Profile] sealed by sealProfile. The Profile
// it returns has no verified payload: its Claims method reports so.
func (e *Exchanger) openProfile(userID string, sealed []byte) (*Profile, error) {
	plain, err := e.open(userID, fieldProfile, sealed)
	if err != nil {
		return nil, err
	}
	var sp storedProfile
	if err := json.Unmarshal([]byte(plain), &sp); err != nil {
		return nil, fmt.Errorf("serverauth: the stored profile of user %q is malformed: %w", userID, err)
	}
	return &Profile{
		Subject: sp.Subject, Email: sp.Email, EmailVerified: sp.EmailVerified, Name: sp.Name,
		GivenName: sp.GivenName, FamilyName: sp.FamilyName, Picture: sp.Picture, Locale: sp.Locale,
		HostedDomain: sp.HostedDomain, AuthorizedParty: sp.AuthorizedParty, Audience: sp.Audience,
		Issuer: sp.Issuer, IssuedAt: sp.IssuedAt, Expiry: sp.Expiry,
	}, nil
}
