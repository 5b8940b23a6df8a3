package serverauth

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Sentinel errors. Callers branch on them with errors.Is; the errors the
// library returns wrap them and carry the details ([TokenError],
// [IDTokenError]).
var (
	// ErrInvalidConfig is wrapped by every error New returns for a bad Config.
	ErrInvalidConfig = errors.New("serverauth: invalid configuration")

	// ErrInvalidCode means an authorization code was refused before any
	// network call: empty, padded with whitespace, or too long.
	ErrInvalidCode = errors.New("serverauth: invalid authorization code")

	// ErrInvalidIDToken means an ID token failed verification. The error is
	// an *IDTokenError saying why.
	ErrInvalidIDToken = errors.New("serverauth: invalid ID token")

	// ErrInvalidGrant means Google answered invalid_grant: on exchange, a
	// code that was reused, expired, altered or issued to another client; on
	// refresh, a refresh token that is revoked or expired.
	ErrInvalidGrant = errors.New("serverauth: invalid grant")

	// ErrScopeNotGranted means the user did not grant a required scope
	// (granular consent lets users untick scopes). Exchange returns it beside
	// a usable Result, so the app can sign the user in and ask again.
	ErrScopeNotGranted = errors.New("serverauth: scope not granted")

	// ErrNoRefreshToken means offline access is needed but Google returned
	// no refresh token and none is stored: the user must consent again.
	ErrNoRefreshToken = errors.New("serverauth: no refresh token")

	// ErrReauthRequired means the user must sign in again before the
	// backend can act for them: the grant is dead (revoked, expired) or the
	// Workspace admin demands reauthentication (invalid_rapt).
	ErrReauthRequired = errors.New("serverauth: user must sign in again")
)

// ErrorClass classifies a [TokenError] by what the caller can do about it.
type ErrorClass int

const (
	// ClassRejected: Google understood the request and refused it
	// (invalid_grant and the like). Retrying the same request cannot help.
	ClassRejected ErrorClass = iota + 1
	// ClassMisconfigured: the client's setup is wrong (invalid_client,
	// unauthorized_client, redirect_uri_mismatch, invalid_request, an
	// endpoint answering with something that is not an OAuth endpoint).
	ClassMisconfigured
	// ClassRateLimited: Google is throttling the client (429, or a 403 or
	// redirect to an HTML "automated queries" page). Retry later.
	ClassRateLimited
	// ClassTransient: the endpoint failed (5xx, internal_failure, a broken
	// or unreadable response, a network error). Retry later, except that
	// an authorization code may already have been consumed.
	ClassTransient
)

var classNames = [...]string{"", "rejected", "misconfigured", "rate limited", "transient"}

func (c ErrorClass) String() string {
	if c > 0 && int(c) < len(classNames) {
		return classNames[c]
	}
	return "ErrorClass(" + strconv.Itoa(int(c)) + ")"
}

// TokenError is a failure at Google's token or revocation endpoint. It
// unwraps to the matching sentinel (invalid_grant to [ErrInvalidGrant];
// the invalid_rapt and rapt_required subtypes, and any invalid_grant on
// refresh, to [ErrReauthRequired]) and, when Google answered, to the
// *oauth2.RetrieveError holding the response; when no answer arrived, to the
// network error.
//
// Its fields and Error never hold a token, a code or the client secret:
// Google's text is truncated and scrubbed of them.
type TokenError struct {
	Op          string        // "exchange", "refresh" or "revoke"
	StatusCode  int           // HTTP status; 0 when no response arrived
	Code        string        // OAuth "error", e.g. "invalid_grant"; "" for a non-OAuth body
	Description string        // "error_description", truncated
	Subtype     string        // "error_subtype", e.g. "invalid_rapt"
	Class       ErrorClass    // what kind of failure this is
	Hint        string        // the likely cause and what to do, for the developer
	RetryAfter  time.Duration // from a Retry-After header, when there was one

	retrieve  *oauth2.RetrieveError
	cause     error
	sentinels []error
	notSent   bool // the request failed before anything reached the endpoint
	attempts  int  // requests made by the call, retries included
}

func (e *TokenError) Error() string {
	var b strings.Builder
	b.WriteString("serverauth: ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	switch {
	case e.Code != "":
		b.WriteString(e.Code)
		if e.Subtype != "" {
			b.WriteString("/" + e.Subtype)
		}
		if e.Description != "" {
			b.WriteString(" " + strconv.Quote(e.Description))
		}
	case e.StatusCode != 0:
		b.WriteString(e.Class.String() + " response")
	default:
		b.WriteString("no response")
		if e.cause != nil {
			b.WriteString(": " + e.cause.Error())
		}
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.StatusCode)
	}
	if e.Hint != "" {
		b.WriteString(": " + e.Hint)
	}
	return b.String()
}

// Unwrap returns the sentinels the error matches and the underlying
// *oauth2.RetrieveError or network error.
func (e *TokenError) Unwrap() []error {
	errs := append([]error(nil), e.sentinels...)
	if e.retrieve != nil {
		errs = append(errs, e.retrieve)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// Temporary reports whether retrying later may succeed (rate limited or
// transient).
func (e *TokenError) Temporary() bool {
	return e.Class == ClassRateLimited || e.Class == ClassTransient
}

// SaveError means the tokens of an exchange or refresh could not be saved
// in the store. Result, when set, still holds them: pass it to
// Exchanger.Save once the store is back, so a refresh token Google gave is
// not lost. It unwraps to the store's error.
type SaveError struct {
	UserID string
	Result *Result
	Err    error
}

func (e *SaveError) Error() string {
	return fmt.Sprintf("serverauth: saving tokens for user %q failed: %v; nothing was lost: retry with Exchanger.Save", e.UserID, e.Err)
}

func (e *SaveError) Unwrap() error { return e.Err }

// errNoStore is returned by the token path without a Config.Store.
var errNoStore = errors.New("serverauth: Config.Store is nil: offline access needs a TokenStore (NewMemoryStore, filestore, sqlstore or redisstore)")

// noRefreshTokenError explains ErrNoRefreshToken after an exchange.
type noRefreshTokenError struct{}

func (*noRefreshTokenError) Error() string {
	return "serverauth: no refresh token: Google returns one only on the user's first consent to this client, and none is stored; " +
		"on the web, request the code with access_type=offline and prompt=consent; " +
		"from iOS or Android (which cannot force consent), call Exchanger.ResetConsent with this Result and have the user sign in again"
}

func (*noRefreshTokenError) Unwrap() error { return ErrNoRefreshToken }

// ScopeError reports required scopes the user did not grant. It unwraps to
// ErrScopeNotGranted.
type ScopeError struct {
	Missing []string // normalised scope URLs
}

func (e *ScopeError) Error() string {
	return "serverauth: scope not granted: the user did not grant " + strings.Join(e.Missing, ", ") +
		"; sign them in and ask for it again (granular consent lets users untick scopes)"
}

func (e *ScopeError) Unwrap() error { return ErrScopeNotGranted }

// Reason says why an ID token was refused.
type Reason string

// Reasons an ID token is refused. Each check of the acceptance policy has
// its own.
const (
	ReasonAbsent          Reason = "absent"                   // a token response without the id_token it should have
	ReasonMalformed       Reason = "malformed"                // size, segments, base64url, JSON, claim types
	ReasonHeader          Reason = "unacceptable header"      // alg not RS256, kid missing, typ, crit/jku/x5u/jwk/x5c/zip/b64/cty/enc
	ReasonUnknownKey      Reason = "unknown signing key"      // kid not in Google's key set
	ReasonKeysUnavailable Reason = "signing keys unavailable" // the key set could not be fetched; retry later
	ReasonSignature       Reason = "bad signature"
	ReasonIssuer          Reason = "wrong issuer"
	ReasonAudience        Reason = "wrong audience"
	ReasonPresenter       Reason = "unknown authorized party" // azp not an allowed client
	ReasonSubject         Reason = "bad subject"
	ReasonMissingClaim    Reason = "missing claim" // exp or iat
	ReasonExpired         Reason = "expired"
	ReasonIssuedInFuture  Reason = "issued in the future"
	ReasonNotYetValid     Reason = "not yet valid" // nbf
	ReasonLifetime        Reason = "bad lifetime"  // exp ≤ iat, or longer than an hour
	ReasonHostedDomain    Reason = "wrong hosted domain"
	ReasonNonce           Reason = "nonce mismatch"
	ReasonAccessTokenHash Reason = "at_hash mismatch"
	ReasonServiceAccount  Reason = "service account" // email ends in gserviceaccount.com
)

// IDTokenError is an ID token verification failure. It unwraps to
// [ErrInvalidIDToken]. Its message never contains the token.
type IDTokenError struct {
	Reason Reason
	Detail string
	err    error
}

func (e *IDTokenError) Error() string {
	s := "serverauth: invalid ID token: " + string(e.Reason)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns ErrInvalidIDToken and the underlying cause, if any.
func (e *IDTokenError) Unwrap() []error {
	if e.err != nil {
		return []error{ErrInvalidIDToken, e.err}
	}
	return []error{ErrInvalidIDToken}
}

// Temporary reports whether the same token may verify later: only when
// Google's signing keys could not be fetched.
func (e *IDTokenError) Temporary() bool { return e.Reason == ReasonKeysUnavailable }
