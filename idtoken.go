package serverauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/serverauth/serverauth/internal/jwks"
	"github.com/serverauth/serverauth/internal/jws"
	"github.com/serverauth/serverauth/internal/redact"
)

// Google's two issuer spellings; both occur (OpenID Connect Core §3.1.3.7
// step 2, with Google's documented exception).
const (
	issuerHTTPS = "https://accounts.google.com"
	issuerBare  = "accounts.google.com"
)

// maxIDTokenLifetime is the longest exp − iat accepted (plus leeway). Google
// issues ID tokens for exactly one hour.
const maxIDTokenLifetime = time.Hour

func idErr(r Reason, format string, args ...any) *IDTokenError {
	return newIDTokenError(r, fmt.Sprintf(format, args...), nil)
}

// newIDTokenError classifies a refusal: only missing keys are temporary.
func newIDTokenError(r Reason, detail string, cause error) *IDTokenError {
	class := ClassRejected
	if r == ReasonKeysUnavailable {
		class = ClassTransient
	}
	return &IDTokenError{Reason: r, Detail: detail, Class: class, err: cause}
}

// Profile is the verified identity in a Google ID token.
//
// Email may change and is not unique over time: key users by Subject
// (Result.UserID). Use Email for linking accounts only when EmailVerified.
type Profile struct {
	Subject         string // sub: Google's stable user ID (up to 21 digits; keep it a string)
	Email           string
	EmailVerified   bool
	Name            string
	GivenName       string
	FamilyName      string
	Picture         string
	Locale          string
	HostedDomain    string // hd: the Google Workspace domain, "" for consumer accounts
	AuthorizedParty string // azp: the client the user signed in with, "" when absent
	Audience        string // aud: the server client ID
	Issuer          string
	IssuedAt        time.Time
	Expiry          time.Time

	claims []byte // the verified payload
}

// Claims decodes the verified token's payload into v, for claims Profile
// does not name. The payload has already been checked to be strict JSON
// (no duplicate names, valid UTF-8); names match case-sensitively.
func (p *Profile) Claims(v any) error {
	if p.claims == nil {
		return errors.New("serverauth: profile has no verified claims")
	}
	if err := json.Unmarshal(p.claims, v); err != nil {
		return fmt.Errorf("serverauth: decoding ID token claims: %w", err)
	}
	return nil
}

// claims is the payload of a Google ID token as decoded. Pointers tell an
// absent claim from a zero one.
type claims struct {
	Iss           string           `json:"iss"`
	Aud           audience         `json:"aud"`
	Azp           present[string]  `json:"azp"`
	Sub           string           `json:"sub"`
	Exp           *float64         `json:"exp"`
	Iat           *float64         `json:"iat"`
	Nbf           present[float64] `json:"nbf"`
	Email         string           `json:"email"`
	EmailVerified bool             `json:"email_verified"`
	Name          string           `json:"name"`
	GivenName     string           `json:"given_name"`
	FamilyName    string           `json:"family_name"`
	Picture       string           `json:"picture"`
	Locale        string           `json:"locale"`
	HD            present[string]  `json:"hd"`
	Nonce         present[string]  `json:"nonce"`
	AtHash        present[string]  `json:"at_hash"`
	AuthTime      present[float64] `json:"auth_time"`
}

// present is an optional claim: absent, or a value of type T. JSON null is
// neither, and is refused: a token that says "azp": null or "nbf": null is
// malformed, not one without the claim (a null that passed as absent would
// skip the claim's check).
type present[T any] struct {
	set bool
	v   T
}

func (p *present[T]) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if dec.PeekKind() == 'n' {
		return errors.New("null where a claim value must be")
	}
	p.set = true
	return json.UnmarshalDecode(dec, &p.v)
}

// audience is aud: a string or an array of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return err
	}
	*a = ss
	return nil
}

// verifier applies the ID token acceptance policy.
type verifier struct {
	clientID       string
	presenters     []string // azp values accepted: the server client and AllowedClientIDs
	hostedDomain   string
	leeway         time.Duration
	now            func() time.Time
	keys           *jwks.Cache
	allowSAccounts bool
	verified       *verifyCache // nil: every verification is a full one
}

// verifyOptions carries the per-call checks of a verification; nil
// pointers are checks not asked for.
type verifyOptions struct {
	accessToken string         // checked against at_hash when the token has one
	nonce       *nonceCheck    // the nonce claim must match
	subject     *string        // the sub claim must equal it
	maxAuthAge  *time.Duration // auth_time must be present and this recent
}

// nonceCheck is an expected nonce: the claim itself, or (hashed) the raw
// value whose SHA-256 the claim is.
type nonceCheck struct {
	want   string
	hashed bool
}

// matches reports whether the nonce claim got satisfies the check, in
// constant time for a claim of the expected length.
func (n *nonceCheck) matches(got string) bool {
	if n.want == "" {
		return false // a lost nonce never passes
	}
	if !n.hashed {
		return subtle.ConstantTimeCompare([]byte(got), []byte(n.want)) == 1
	}
	sum := sha256.Sum256([]byte(n.want))
	var claim []byte
	var err error
	switch len(got) {
	case hex.EncodedLen(sha256.Size):
		claim, err = hex.DecodeString(got)
	case base64.RawURLEncoding.EncodedLen(sha256.Size):
		claim, err = base64.RawURLEncoding.DecodeString(got)
	case base64.URLEncoding.EncodedLen(sha256.Size):
		claim, err = base64.URLEncoding.DecodeString(got)
	default:
		return false
	}
	return err == nil && subtle.ConstantTimeCompare(claim, sum[:]) == 1
}

// verify checks raw against the policy and returns its profile. Every check
// runs before any claim is used.
func (v *verifier) verify(ctx context.Context, raw string, o verifyOptions) (*Profile, error) {
	now := v.now()
	vt, err := v.verifySignature(ctx, raw, now)
	if err != nil {
		return nil, err
	}
	if err := v.check(&vt.claims, o, now); err != nil {
		return nil, err
	}
	return vt.profile(), nil
}

// verifySignature parses raw, checks its header and its signature under
// Google's key for its kid, and decodes its claims: everything about a
// token that does not depend on the call or the time.
func (v *verifier) verifySignature(ctx context.Context, raw string, now time.Time) (*verifiedToken, error) {
	tok, err := jws.Parse(raw)
	if err != nil {
		var je *jws.Error
		if errors.As(err, &je) && errors.Is(je.Kind, jws.ErrHeader) {
			return nil, newIDTokenError(ReasonHeader, je.Detail, nil)
		}
		return nil, newIDTokenError(ReasonMalformed, errDetail(err), nil)
	}
	key, gen, err := v.keys.Lookup(ctx, tok.Header.KeyID, now)
	if err != nil {
		return nil, keyError(err)
	}
	if err := tok.Verify(key); err != nil {
		return nil, newIDTokenError(ReasonSignature, errDetail(err), nil)
	}
	vt := &verifiedToken{payload: tok.UnverifiedPayload, kid: tok.Header.KeyID, gen: gen} // verified by now
	if err := json.Unmarshal(tok.UnverifiedPayload, &vt.claims); err != nil {
		return nil, idErr(ReasonMalformed, "payload is not a strict JSON object with Google's claim types")
	}
	return vt, nil
}

// keyError is the refusal for a key lookup that failed.
func keyError(err error) error {
	switch {
	case errors.Is(err, jwks.ErrUnknownKey):
		return newIDTokenError(ReasonUnknownKey, "kid not in Google's current key set", nil)
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return newIDTokenError(ReasonKeysUnavailable, "waiting for signing keys", err)
	default:
		return newIDTokenError(ReasonKeysUnavailable, "could not fetch Google's signing keys", err)
	}
}

// profile is the Profile of a token whose claims passed check.
func (vt *verifiedToken) profile() *Profile {
	c := &vt.claims
	p := &Profile{
		Subject:       c.Sub,
		Email:         c.Email,
		EmailVerified: c.EmailVerified,
		Name:          c.Name,
		GivenName:     c.GivenName,
		FamilyName:    c.FamilyName,
		Picture:       c.Picture,
		Locale:        c.Locale,
		Audience:      c.Aud[0],
		Issuer:        c.Iss,
		IssuedAt:      numericDate(*c.Iat),
		Expiry:        numericDate(*c.Exp),
		claims:        vt.payload,
	}
	if c.Azp.set {
		p.AuthorizedParty = c.Azp.v
	}
	if c.HD.set {
		p.HostedDomain = c.HD.v
	}
	return p
}

// check applies the claim rules (policy steps 5 to 7) at now.
func (v *verifier) check(c *claims, o verifyOptions, now time.Time) error {
	if c.Iss != issuerHTTPS && c.Iss != issuerBare {
		return idErr(ReasonIssuer, "iss %s is not Google", quoteShort(c.Iss))
	}
	if len(c.Aud) != 1 || c.Aud[0] != v.clientID {
		return idErr(ReasonAudience, "aud is not exactly the server client ID %q; the token was issued to another client", v.clientID)
	}
	if c.Azp.set && !contains(v.presenters, c.Azp.v) {
		ie := idErr(ReasonPresenter, "azp %s is neither the server client ID nor in Config.AllowedClientIDs: add it there if it is one of your project's iOS or Android clients", quoteShort(c.Azp.v))
		ie.presenter = redact.Truncate(c.Azp.v, 200)
		return ie
	}
	if !validSubject(c.Sub) {
		return idErr(ReasonSubject, "sub must be 1 to 255 printable ASCII characters")
	}
	if c.Exp == nil || c.Iat == nil {
		return idErr(ReasonMissingClaim, "exp and iat are required")
	}
	exp, iat := *c.Exp, *c.Iat
	if !finiteTime(exp) || !finiteTime(iat) || (c.Nbf.set && !finiteTime(c.Nbf.v)) {
		return idErr(ReasonMalformed, "exp, iat or nbf out of range")
	}
	l := v.leeway
	if !now.Before(numericDate(exp).Add(l)) {
		return idErr(ReasonExpired, "expired at %s (leeway %s)", numericDate(exp).UTC().Format(time.RFC3339), l)
	}
	if numericDate(iat).After(now.Add(l)) {
		return idErr(ReasonIssuedInFuture, "iat %s is after now plus leeway %s; check the server clock", numericDate(iat).UTC().Format(time.RFC3339), l)
	}
	if c.Nbf.set && numericDate(c.Nbf.v).After(now.Add(l)) {
		return idErr(ReasonNotYetValid, "nbf is after now plus leeway %s", l)
	}
	if exp <= iat {
		return idErr(ReasonLifetime, "exp is not after iat")
	}
	if numericDate(exp).Sub(numericDate(iat)) > maxIDTokenLifetime+l {
		return idErr(ReasonLifetime, "lifetime exceeds one hour plus leeway")
	}
	if o.nonce != nil && (!c.Nonce.set || !o.nonce.matches(c.Nonce.v)) {
		detail := "nonce does not match the one sent"
		switch {
		case o.nonce.want == "":
			detail = "no nonce was expected (an empty expected nonce: the session lost it?); every token is refused"
		case !c.Nonce.set:
			detail = "the token has no nonce claim: pass the nonce to Google when signing in"
		}
		return idErr(ReasonNonce, "%s", detail)
	}
	if o.subject != nil && c.Sub != *o.subject { // sub is never empty here
		return idErr(ReasonSubjectMismatch, "the token is for another user than the one expected (the signed-in user)")
	}
	if o.maxAuthAge != nil {
		if err := checkAuthTime(c, *o.maxAuthAge, now, l); err != nil {
			return err
		}
	}
	if o.accessToken != "" && c.AtHash.set && !atHashMatches(c.AtHash.v, o.accessToken) {
		return idErr(ReasonAccessTokenHash, "at_hash does not match the access token")
	}
	if v.hostedDomain != "" && (!c.HD.set || c.HD.v != v.hostedDomain) {
		return idErr(ReasonHostedDomain, "the user is not in the Workspace domain %q", v.hostedDomain)
	}
	if !v.allowSAccounts && isServiceAccount(c.Email) {
		return idErr(ReasonServiceAccount, "service-account ID tokens are not user sign-ins")
	}
	return nil
}

// checkAuthTime applies RequireRecentAuth: auth_time present, not in the
// future and at most maxAge (plus leeway) ago.
func checkAuthTime(c *claims, maxAge time.Duration, now time.Time, leeway time.Duration) error {
	switch {
	case maxAge <= 0:
		return idErr(ReasonAuthTooOld, "RequireRecentAuth was given %s: the maximum age must be positive", maxAge)
	case !c.AuthTime.set:
		return idErr(ReasonMissingClaim, "auth_time is required for a recent authentication: request it from Google (max_age in the authorization request)")
	case !finiteTime(c.AuthTime.v):
		return idErr(ReasonMalformed, "auth_time out of range")
	}
	at := numericDate(c.AuthTime.v)
	if at.After(now.Add(leeway)) {
		return idErr(ReasonIssuedInFuture, "auth_time %s is after now plus leeway %s; check the server clock", at.UTC().Format(time.RFC3339), leeway)
	}
	if now.Sub(at) > maxAge+leeway {
		return idErr(ReasonAuthTooOld, "the user authenticated at %s, more than %s ago (leeway %s): have them sign in again", at.UTC().Format(time.RFC3339), maxAge, leeway)
	}
	return nil
}

// atHashMatches checks at_hash: base64url of the left half of SHA-256 of the
// access token (OpenID Connect Core §3.1.3.6).
func atHashMatches(atHash, accessToken string) bool {
	sum := sha256.Sum256([]byte(accessToken))
	var want [22]byte
	base64.RawURLEncoding.Encode(want[:], sum[:16])
	return subtle.ConstantTimeCompare([]byte(atHash), want[:]) == 1
}

// validSubject reports whether sub is 1 to 255 printable ASCII characters.
func validSubject(sub string) bool {
	if sub == "" || len(sub) > 255 {
		return false
	}
	for i := 0; i < len(sub); i++ {
		if sub[i] < 0x21 || sub[i] > 0x7e {
			return false
		}
	}
	return true
}

// finiteTime reports whether a NumericDate is a plausible time: finite,
// non-negative and before year 10000.
func finiteTime(f float64) bool {
	return !math.IsNaN(f) && f >= 0 && f < 253402300800
}

// numericDate converts a JWT NumericDate to a time.
func numericDate(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9))
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// isServiceAccount reports whether email is in gserviceaccount.com or one of
// its subdomains (such as iam.gserviceaccount.com).
func isServiceAccount(email string) bool {
	const domain = "gserviceaccount.com"
	n := len(email) - len(domain)
	return n > 0 && strings.EqualFold(email[n:], domain) && (email[n-1] == '@' || email[n-1] == '.')
}

// quoteShort quotes an untrusted claim value for an error message, cut to 64
// bytes.
func quoteShort(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strconv.Quote(s)
}

// errDetail returns the detail of a jws error.
func errDetail(err error) string {
	var je *jws.Error
	if errors.As(err, &je) {
		return je.Detail
	}
	return "unreadable token"
}

// VerifyIDToken verifies an ID token that a client sent directly (a later
// sign-in, when the app has a fresh ID token but no new code; a GIS
// credential; an Android Credential Manager or iOS ID token) with the same
// policy as the ID token of an exchange, and returns its profile. opts add
// checks: RequireNonce or RequireNonceSHA256 for a token bound to a nonce,
// RequireRecentAuth, RequireSubject. A failure is an *IDTokenError wrapping
// ErrInvalidIDToken.
//
// Verifying the same token again skips its signature check (see
// Config.IDTokenCacheSize); every claim rule and opts still apply.
func (e *Exchanger) VerifyIDToken(ctx context.Context, rawIDToken string, opts ...VerifyOption) (*Profile, error) {
	ctx, run := e.begin(ctx, OpVerify) // observed as e.verify is, with the cache
	p, err := e.verifier.verifyCached(ctx, rawIDToken, verifyOptionsOf(opts))
	e.end(run, err, Observation{})
	if err != nil {
		e.cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "serverauth: ID token refused", refusalAttrs(err)...)
		return nil, err
	}
	return p, nil
}

// verifyOptionsOf applies opts. Without any it allocates nothing (the
// options escape through the sealed interface's method).
func verifyOptionsOf(opts []VerifyOption) verifyOptions {
	if len(opts) == 0 {
		return verifyOptions{}
	}
	var o verifyOptions
	for _, opt := range opts {
		opt.applyVerify(&o)
	}
	return o
}

// refusalAttrs are the log attributes of a refused ID token: the reason
// and, for an unknown authorized party, the refused azp (a client ID, not a
// secret), so the operator can add it to Config.AllowedClientIDs.
func refusalAttrs(err error) []slog.Attr {
	attrs := []slog.Attr{slog.String("reason", reasonOf(err))}
	var ie *IDTokenError
	if errors.As(err, &ie) && ie.Reason == ReasonPresenter {
		attrs = append(attrs, slog.String("azp", ie.presenter))
	}
	return attrs
}

// reasonOf returns an error's ID-token reason for logs.
func reasonOf(err error) string {
	var ie *IDTokenError
	if errors.As(err, &ie) {
		return string(ie.Reason)
	}
	return "other"
}
