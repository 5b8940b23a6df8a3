package serverauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
// missing from the keyring, the ciphertext was altered, or it belongs to
// another user or field.
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
// ciphertext carries. Ciphertext layout: version byte 1, key ID (4 bytes,
// big-endian), 12-byte random nonce, sealed data with a 16-byte tag; the
// version byte and key ID are authenticated too.
//
// To rotate: generate a key with a new ID, put it first (primary) and keep
// the old ones after it; then [Exchanger.Rekey] moves every record to the
// primary key, after which the old keys can go. A Keyring is safe for
// concurrent use. Make one with NewKeyring or ParseKeyring: the zero
// Keyring has no key, refuses to encrypt or decrypt, and New refuses it.
type Keyring struct {
	primary uint32
	aeads   map[uint32]cipher.AEAD
}

const (
	keyringVersion  = 1
	keyringOverhead = 1 + 4 + 12 + 16
)

// NewKeyring returns a keyring that encrypts with primary and also decrypts
// with older.
func NewKeyring(primary Key, older ...Key) (*Keyring, error) {
	kr := &Keyring{primary: primary.ID, aeads: make(map[uint32]cipher.AEAD, 1+len(older))}
	for _, k := range append([]Key{primary}, older...) {
		if len(k.Secret) != KeySize {
			return nil, fmt.Errorf("%w: key %d has %d bytes, want %d (AES-256)", ErrInvalidConfig, k.ID, len(k.Secret), KeySize)
		}
		if _, dup := kr.aeads[k.ID]; dup {
			return nil, fmt.Errorf("%w: key ID %d appears twice in the keyring", ErrInvalidConfig, k.ID)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		kr.aeads[k.ID] = aead
	}
	return kr, nil
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

// Encrypt seals plaintext with the primary key.
func (k *Keyring) Encrypt(plaintext, associatedData []byte) ([]byte, error) {
	aead := k.aeads[k.primary]
	if aead == nil {
		return nil, errEmptyKeyring
	}
	out := make([]byte, 5, keyringOverhead+len(plaintext))
	out[0] = keyringVersion
	binary.BigEndian.PutUint32(out[1:5], k.primary)
	nonce := out[5 : 5+aead.NonceSize()]
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out = out[:5+len(nonce)]
	return aead.Seal(out, nonce, plaintext, k.additional(out[:5], associatedData)), nil
}

var errEmptyKeyring = errors.New("serverauth: the Keyring has no keys: make it with NewKeyring or ParseKeyring")

// Decrypt opens a ciphertext made by any key of the keyring.
func (k *Keyring) Decrypt(ciphertext, associatedData []byte) ([]byte, error) {
	id, ok := keyringKeyID(ciphertext)
	if !ok {
		return nil, fmt.Errorf("%w: not a keyring ciphertext", ErrDecrypt)
	}
	aead := k.aeads[id]
	if aead == nil {
		return nil, fmt.Errorf("%w: key %d is not in the keyring", ErrDecrypt, id)
	}
	nonce := ciphertext[5 : 5+aead.NonceSize()]
	pt, err := aead.Open(nil, nonce, ciphertext[5+aead.NonceSize():], k.additional(ciphertext[:5], associatedData))
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed (altered, or another user's or field's ciphertext)", ErrDecrypt)
	}
	return pt, nil
}

// NeedsRekey reports whether ciphertext was sealed by a key other than the
// primary.
func (k *Keyring) NeedsRekey(ciphertext []byte) bool {
	id, ok := keyringKeyID(ciphertext)
	return !ok || id != k.primary
}

// additional authenticates the header with the caller's associated data.
func (k *Keyring) additional(header, associatedData []byte) []byte {
	ad := make([]byte, 0, len(header)+len(associatedData))
	return append(append(ad, header...), associatedData...)
}

func keyringKeyID(ct []byte) (uint32, bool) {
	if len(ct) < keyringOverhead || ct[0] != keyringVersion {
		return 0, false
	}
	return binary.BigEndian.Uint32(ct[1:5]), true
}

// plaintextCipher is the identity: Config.InsecurePlaintextTokens.
type plaintextCipher struct{}

func (plaintextCipher) Encrypt(p, _ []byte) ([]byte, error) { return append([]byte(nil), p...), nil }
func (plaintextCipher) Decrypt(c, _ []byte) ([]byte, error) { return append([]byte(nil), c...), nil }

// Fields named in associated data.
const (
	fieldRefreshToken = "refresh_token"
	fieldAccessToken  = "access_token"
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
	ids := make([]uint32, 0, len(k.aeads))
	for id := range k.aeads {
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
