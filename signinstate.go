package serverauth

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/serverauth/serverauth/internal/redact"
)

// PendingSignIn is a redirect sign-in between [WebSignIn.Start] and the
// callback: what the callback checks the browser's return against. By
// default it travels in an encrypted cookie; a [SignInStateStore] may keep
// it elsewhere. Printing it with fmt or slog shows neither the verifier nor
// the nonce.
type PendingSignIn struct {
	// State is the state parameter sent to Google (RFC 6749 §10.12): the
	// callback's state must equal it.
	State string
	// CodeVerifier is the PKCE code verifier (RFC 7636) whose S256
	// challenge was sent; the exchange sends it. Secret.
	CodeVerifier string
	// Nonce was sent to Google; the ID token must carry it (OpenID Connect
	// Core §3.1.2.1). Secret until the callback.
	Nonce string
	// Expiry is when the pending sign-in stops being accepted, on
	// Config.Now.
	Expiry time.Time
	// UserID, when set, is the user the code must belong to
	// (StartForUser): a sign-in for more scopes, or after an ID-token
	// sign-in.
	UserID string
	// ReturnTo is the local path the browser goes to after the sign-in
	// (StartReturnTo); "" means "/".
	ReturnTo string
	// Scopes are the scopes requested, normalised.
	Scopes []string
	// ConsentForced says that prompt=consent was sent, so a sign-in that
	// still brings no refresh token is not sent through consent again.
	ConsentForced bool
}

// String describes p without its secrets.
func (p *PendingSignIn) String() string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprintf("serverauth.PendingSignIn{Expiry:%s UserID:%q ReturnTo:%q Scopes:%q ConsentForced:%t State:%s CodeVerifier:%s Nonce:%s}",
		p.Expiry.UTC().Format(time.RFC3339), p.UserID, p.ReturnTo, p.Scopes, p.ConsentForced,
		redact.Present(p.State != ""), redact.Present(p.CodeVerifier != ""), redact.Present(p.Nonce != ""))
}

// GoString is String.
func (p *PendingSignIn) GoString() string { return p.String() }

// LogValue implements slog.LogValuer without the secrets.
func (p *PendingSignIn) LogValue() slog.Value {
	if p == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(slog.String("user_id", p.UserID), slog.Time("expiry", p.Expiry), slog.Any("scopes", p.Scopes))
}

// SignInStateStore keeps the [PendingSignIn] of a browser between
// [WebSignIn.Start] and the callback, for apps that keep it in their own
// server-side session rather than in WebSignIn's encrypted cookie. It must
// bind the pending sign-in to the browser that started it (its session),
// never to anything in the callback's URL, and be safe for concurrent use.
type SignInStateStore interface {
	// Save keeps p for the browser of r, replacing any earlier one.
	Save(w http.ResponseWriter, r *http.Request, p *PendingSignIn) error
	// Load returns the pending sign-in of the browser of r, or nil and no
	// error when there is none. An error wrapping ErrInvalidState says the
	// state was there but unusable.
	Load(r *http.Request) (*PendingSignIn, error)
	// Delete forgets the pending sign-in of the browser of r, so that it
	// is used once. Deleting none is not an error.
	Delete(w http.ResponseWriter, r *http.Request) error
}

// ErrInvalidState means a redirect sign-in's callback did not come back to
// the browser session that started it, or came too late: a *StateError
// says which. The user starts again; it can also be a login CSRF attempt
// (RFC 6749 §10.12).
var ErrInvalidState = errors.New("serverauth: invalid sign-in state")

// StateReason says why a callback's state was refused: a stable snake_case
// identifier.
type StateReason string

// Reasons a callback's state is refused.
const (
	// StateMissing: the browser holds no pending sign-in: its cookie
	// expired or was never set (another browser, cookies blocked, the
	// Start and callback hosts differ), or it was used already.
	StateMissing StateReason = "missing"
	// StateInvalid: the pending sign-in cannot be read: the cookie was
	// altered, sealed by another key or deployment, or is incomplete.
	StateInvalid StateReason = "invalid"
	// StateExpired: the pending sign-in is older than
	// WebSignInConfig.StateTTL.
	StateExpired StateReason = "expired"
	// StateMismatch: the callback's state parameter is not the one sent:
	// a stale tab, or a forged callback. The pending sign-in is kept, so
	// the browser's genuine callback still succeeds.
	StateMismatch StateReason = "mismatch"
)

// StateError is a refused callback state. It unwraps to ErrInvalidState.
type StateError struct {
	Reason StateReason
}

func (e *StateError) Error() string {
	var why string
	switch e.Reason {
	case StateMissing:
		why = "no sign-in was started in this browser, or it was used already: start again (the start and the callback must be served on the same host, with cookies allowed)"
	case StateInvalid:
		why = "the pending sign-in cannot be read (altered, or sealed by another key): start again"
	case StateExpired:
		why = "the sign-in took too long: start again"
	case StateMismatch:
		why = "the state parameter does not match the sign-in started in this browser: start again"
	default:
		why = string(e.Reason)
	}
	return ErrInvalidState.Error() + ": " + why
}

func (e *StateError) Unwrap() error { return ErrInvalidState }

// Cookie names of the default state store: with the __Host- prefix
// (RFC 6265bis §4.1.3.2: Secure, Path=/, no Domain, so no sibling or
// parent domain can plant one) whenever the cookie is Secure.
const (
	stateCookieSecure   = "__Host-serverauth-signin"
	stateCookieInsecure = "serverauth-signin"
	maxStateCookie      = 3072
)

// cookieStateStore keeps the pending sign-in in an encrypted, HttpOnly,
// SameSite=Lax cookie.
type cookieStateStore struct {
	name   string
	secure bool
	ttl    time.Duration
	seal   *stateSealer
}

// cookieState is the sealed cookie's JSON payload.
type cookieState struct {
	State    string   `json:"s"`
	Verifier string   `json:"v"`
	Nonce    string   `json:"n"`
	Expiry   int64    `json:"e"` // Unix seconds
	UserID   string   `json:"u,omitempty"`
	ReturnTo string   `json:"r,omitempty"`
	Scopes   []string `json:"sc,omitempty"`
	Consent  bool     `json:"c,omitempty"`
}

func (c *cookieStateStore) Save(w http.ResponseWriter, _ *http.Request, p *PendingSignIn) error {
	b, err := json.Marshal(cookieState{State: p.State, Verifier: p.CodeVerifier, Nonce: p.Nonce, Expiry: p.Expiry.Unix(),
		UserID: p.UserID, ReturnTo: p.ReturnTo, Scopes: p.Scopes, Consent: p.ConsentForced})
	if err != nil {
		return fmt.Errorf("serverauth: encoding the sign-in state: %w", err)
	}
	sealed, err := c.seal.seal(b, c.name)
	if err != nil {
		return fmt.Errorf("serverauth: sealing the sign-in state: %w", err)
	}
	v := base64.RawURLEncoding.EncodeToString(sealed)
	if len(v) > maxStateCookie {
		return fmt.Errorf("serverauth: the sign-in state is %d bytes, over the cookie limit of %d: shorten the return path or the scopes", len(v), maxStateCookie)
	}
	http.SetCookie(w, c.cookie(v, int(c.ttl/time.Second)))
	return nil
}

func (c *cookieStateStore) Load(r *http.Request) (*PendingSignIn, error) {
	ck, err := r.Cookie(c.name)
	if err != nil || ck.Value == "" {
		return nil, nil
	}
	invalid := &StateError{Reason: StateInvalid}
	if len(ck.Value) > maxStateCookie {
		return nil, invalid
	}
	sealed, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil {
		return nil, invalid
	}
	b, err := c.seal.open(sealed, c.name)
	if err != nil {
		return nil, invalid
	}
	var s cookieState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, invalid
	}
	return &PendingSignIn{State: s.State, CodeVerifier: s.Verifier, Nonce: s.Nonce, Expiry: time.Unix(s.Expiry, 0),
		UserID: s.UserID, ReturnTo: s.ReturnTo, Scopes: s.Scopes, ConsentForced: s.Consent}, nil
}

func (c *cookieStateStore) Delete(w http.ResponseWriter, _ *http.Request) error {
	http.SetCookie(w, c.cookie("", -1))
	return nil
}

func (c *cookieStateStore) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     c.name,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		Secure:   c.secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode, // sent on Google's top-level redirect back, not on cross-site subrequests
	}
}

// stateSealer encrypts the state cookie: with AES-256-GCM under keys
// derived (HKDF-SHA256, RFC 5869) from a Keyring's keys for this purpose
// alone, or with another Cipher (a KMS) given associated data of its own.
type stateSealer struct {
	primary uint32
	aeads   map[uint32]cipher.AEAD // by key ID, derived
	cipher  Cipher                 // set instead for a Cipher that is no Keyring
}

const (
	stateSealVersion = 1
	stateSealHKDF    = "serverauth sign-in state v1 AES-256-GCM"
	stateSealAD      = "serverauth/signin-state/v1\x00"
)

// newStateSealer returns a sealer for the Keyring's keys or the Cipher.
func newStateSealer(c Cipher) (*stateSealer, error) {
	k, ok := c.(*Keyring)
	if !ok {
		return &stateSealer{cipher: c}, nil
	}
	s := &stateSealer{primary: k.primary, aeads: make(map[uint32]cipher.AEAD, len(k.keys))}
	for id, kk := range k.keys {
		key, err := hkdf.Key(sha256.New, kk.secret, nil, stateSealHKDF, KeySize)
		if err != nil {
			return nil, err
		}
		if s.aeads[id], err = newGCM(key); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// randomStateKeyring is a one-key keyring of this process, for an
// Exchanger without a Cipher whose tokens never leave the process.
func randomStateKeyring() (*Keyring, error) {
	k, err := GenerateKey(0)
	if err != nil {
		return nil, err
	}
	return NewKeyring(k)
}

// seal encrypts b for the cookie named name: version, key ID, nonce,
// ciphertext and tag, the header and name authenticated.
func (s *stateSealer) seal(b []byte, name string) ([]byte, error) {
	ad := []byte(stateSealAD + name)
	if s.cipher != nil {
		return s.cipher.Encrypt(b, ad)
	}
	aead := s.aeads[s.primary]
	out := make([]byte, 5, 5+aead.NonceSize()+len(b)+aead.Overhead())
	out[0] = stateSealVersion
	binary.BigEndian.PutUint32(out[1:5], s.primary)
	out = append(out, make([]byte, aead.NonceSize())...)
	rand.Read(out[5:])
	return aead.Seal(out, out[5:], b, append(ad, out[:5]...)), nil
}

// open decrypts what seal made with any key of the keyring.
func (s *stateSealer) open(b []byte, name string) ([]byte, error) {
	ad := []byte(stateSealAD + name)
	if s.cipher != nil {
		return s.cipher.Decrypt(b, ad)
	}
	if len(b) < 5 || b[0] != stateSealVersion {
		return nil, errors.New("not a sign-in state")
	}
	aead, ok := s.aeads[binary.BigEndian.Uint32(b[1:5])]
	if !ok || len(b) < 5+aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("unknown key or too short")
	}
	n := 5 + aead.NonceSize()
	return aead.Open(nil, b[5:n], b[n:], append(ad, b[:5]...))
}
