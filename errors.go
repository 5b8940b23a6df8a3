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

	// ErrGrantExpired means a time-limited grant reached its end (Google's
	// refresh_token_expires_in, or the refresh_token_timeout and
	// authorization_expires_in of the IETF draft on refresh-token
	// expiration): the library refused to refresh it, without calling
	// Google. The user must grant access again. It comes in a *GrantError,
	// which also unwraps to ErrReauthRequired.
	ErrGrantExpired = errors.New("serverauth: the time-limited grant has ended")

	// ErrClientDeleted means Google answered deleted_client: the OAuth
	// client this Exchanger uses was deleted in its Cloud project (by
	// someone, or by Google, which deletes clients unused for months). Only
	// an operator can fix it: restore the client in the Google Cloud
	// console while it can still be restored, or configure a new one. It is
	// never retried and is logged at Error level.
	ErrClientDeleted = errors.New("serverauth: the OAuth client was deleted")

	// ErrAccessBlocked means a policy keeps this user from this app, and
	// signing in again cannot change it: the user's Google Workspace admin
	// blocks the app or a scope (admin_policy_enforced), or the app's
	// consent screen is Internal and the user is outside its organization
	// (org_internal).
	ErrAccessBlocked = errors.New("serverauth: access blocked by policy")
)

// GrantError means a stored grant cannot be used, found without calling
// Google: it is dead (Status says how: revoked, expired, reauth_required),
// or it is a time-limited grant past its end (Ends). It unwraps to
// [ErrReauthRequired] and, for an ended time-limited grant, to
// [ErrGrantExpired]. Its Error names the user ID, no token.
type GrantError struct {
	UserID string
	Status Status
	// Ends is when a time-limited grant ended; zero for a dead grant.
	Ends time.Time
	// Idle says Ends came from the idle limit (refresh_token_timeout): the
	// refresh token went unused that long. Otherwise it came from
	// refresh_token_expires_in or authorization_expires_in.
	Idle bool
}

func (e *GrantError) Error() string {
	switch {
	case e.Ends.IsZero():
		return fmt.Sprintf("serverauth: the grant of user %q is %s; they must sign in and consent again", e.UserID, e.Status)
	case e.Idle:
		return fmt.Sprintf("serverauth: the grant of user %q ended at %s: its refresh token went unused longer than its refresh_token_timeout; "+
			"ask them to sign in and grant access again (access_type=offline, prompt=consent)", e.UserID, e.Ends.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("serverauth: the time-limited grant of user %q ended at %s: the user chose access for a limited time on Google's consent screen; "+
		"ask them to sign in and grant access again (access_type=offline, prompt=consent), where they can allow ongoing access", e.UserID, e.Ends.UTC().Format(time.RFC3339))
}

// Unwrap returns ErrReauthRequired and, for an ended time-limited grant,
// ErrGrantExpired.
func (e *GrantError) Unwrap() []error {
	if !e.Ends.IsZero() {
		return []error{ErrGrantExpired, ErrReauthRequired}
	}
	return []error{ErrReauthRequired}
}

// ConfigError is a bad [Config] (or [HandlerConfig]) field, as New and
// SignInHandler report it. It unwraps to [ErrInvalidConfig].
type ConfigError struct {
	Field   string // the field at fault, e.g. "Leeway" or "Endpoints.JWKSURL"
	Problem string // what is wrong and how to fix it; never a secret
}

func (e *ConfigError) Error() string {
	return "serverauth: invalid configuration: " + e.Field + ": " + e.Problem
}

func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// configErr builds a *ConfigError.
func configErr(field, format string, args ...any) *ConfigError {
	return &ConfigError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

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

var classNames = [...]string{"", "rejected", "misconfigured", "rate_limited", "transient"}

// Temporary reports whether the same call may succeed later: the class is
// ClassRateLimited or ClassTransient. It is the one answer to "retry?" for
// every error the library returns (see ClassOf).
func (c ErrorClass) Temporary() bool { return c == ClassRateLimited || c == ClassTransient }

// ClassOf returns the class of the library error err wraps: a
// [*TokenError]'s Class, an [*IDTokenError]'s Class (transient only when
// Google's signing keys could not be had), ClassMisconfigured for a bad
// Config; 0 for anything else (a store failure, a cancelled context), which
// the caller classifies itself.
func ClassOf(err error) ErrorClass {
	var (
		te *TokenError
		ie *IDTokenError
	)
	switch {
	case errors.As(err, &te):
		return te.Class
	case errors.As(err, &ie):
		return ie.Class
	case errors.Is(err, ErrInvalidConfig):
		return ClassMisconfigured
	}
	return 0
}

// Op names an operation of the library: the call to Google a
// [TokenError] comes from (OpExchange, OpRefresh, OpRevoke), and the
// operation an [Observation] reports.
type Op string

// The operations. The first three are the token operations a TokenError
// names; the others appear only in Observations.
const (
	OpExchange Op = "exchange" // Exchange: redeeming an authorization code, verifying its ID token, saving the grant
	OpRefresh  Op = "refresh"  // redeeming a refresh token at Google (the request and its retries)
	OpRevoke   Op = "revoke"   // revoking a token at Google (RFC 7009)

	OpToken       Op = "token"        // a Token call (or Client, TokenSource, Drive) that found no usable token in memory
	OpVerify      Op = "verify"       // verifying an ID token
	OpKeyFetch    Op = "key_fetch"    // fetching Google's signing keys
	OpStoreLoad   Op = "store_load"   // TokenStore.Get
	OpStoreSave   Op = "store_save"   // TokenStore.Put
	OpStoreDelete Op = "store_delete" // TokenStore.Delete
	OpLease       Op = "lease"        // taking the store's refresh lease, waiting while another process holds it
	OpDrive       Op = "drive"        // one HTTP request to the Drive API through Drive or AppData
	OpRISCEvent   Op = "risc_event"   // handling a Cross-Account Protection (RISC) event, reported through Exchanger.Observe
)

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
	Op          Op            // which call failed
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
	b.WriteString(string(e.Op))
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

// SaveError means the tokens of an exchange or refresh could not be saved
// in the store. After an exchange, Result holds them: pass it to
// Exchanger.Save once the store is back. After a refresh, Result is nil: a
// rotated refresh token is held in memory and written by the next call for
// the user or by Exchanger.Flush; an unrotated one was never at risk. The
// store may have taken the write all the same (a commit whose answer was
// lost): the library never writes the held copy over anything newer. It
// unwraps to the store's error.
type SaveError struct {
	UserID string
	Result *Result
	Err    error

	kept bool // a rotated refresh token is held in memory
}

func (e *SaveError) Error() string {
	var next string
	switch {
	case e.Result != nil:
		next = "retry with Exchanger.Save(ctx, err.Result) once the store is back"
	case e.kept:
		next = "the new refresh token is held in memory and written by the next call for this user or by Exchanger.Flush"
	default:
		next = "the stored refresh token is unchanged; the next call retries"
	}
	return fmt.Sprintf("serverauth: saving tokens for user %q failed: %v; %s", e.UserID, e.Err, next)
}

func (e *SaveError) Unwrap() error { return e.Err }

// errNoStore is returned by the token path without a Config.Store.
var errNoStore = fmt.Errorf("%w: Config.Store is nil: offline access needs a TokenStore (NewMemoryStore, filestore, sqlstore or redisstore)", ErrInvalidConfig)

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

// Reason says why an ID token was refused: a stable snake_case identifier,
// for metrics and for branching; [Reason.Message] is the human text.
type Reason string

// Reasons an ID token is refused. Each check of the acceptance policy has
// its own.
const (
	ReasonAbsent          Reason = "absent"           // a token response without the id_token it should have
	ReasonMalformed       Reason = "malformed"        // size, segments, base64url, JSON, claim types
	ReasonHeader          Reason = "bad_header"       // alg not RS256, kid missing, typ, crit/jku/x5u/jwk/x5c/zip/b64/cty/enc
	ReasonUnknownKey      Reason = "unknown_key"      // kid not in Google's key set
	ReasonKeysUnavailable Reason = "keys_unavailable" // the key set could not be fetched; retry later
	ReasonSignature       Reason = "bad_signature"
	ReasonIssuer          Reason = "wrong_issuer"
	ReasonAudience        Reason = "wrong_audience"
	ReasonPresenter       Reason = "unknown_presenter" // azp not an allowed client
	ReasonSubject         Reason = "bad_subject"
	ReasonMissingClaim    Reason = "missing_claim" // exp or iat; auth_time when RequireRecentAuth asks for it
	ReasonExpired         Reason = "expired"
	ReasonIssuedInFuture  Reason = "issued_in_future"
	ReasonNotYetValid     Reason = "not_yet_valid" // nbf
	ReasonLifetime        Reason = "bad_lifetime"  // exp ≤ iat, or longer than an hour
	ReasonHostedDomain    Reason = "wrong_hosted_domain"
	ReasonNonce           Reason = "nonce_mismatch"
	ReasonAccessTokenHash Reason = "at_hash_mismatch"
	ReasonServiceAccount  Reason = "service_account"  // email ends in gserviceaccount.com
	ReasonSubjectMismatch Reason = "subject_mismatch" // not the user expected (RequireSubject, WithExpectedSubject)
	ReasonAuthTooOld      Reason = "auth_too_old"     // auth_time older than RequireRecentAuth allows
	ReasonGrantMismatch   Reason = "grant_mismatch"   // a refreshed ID token's iss, sub, aud or azp differs from the stored grant's
)

var reasonMessages = map[Reason]string{
	ReasonAbsent:          "no ID token",
	ReasonMalformed:       "malformed token",
	ReasonHeader:          "unacceptable header",
	ReasonUnknownKey:      "signed by a key not in Google's key set",
	ReasonKeysUnavailable: "Google's signing keys are unavailable; retry later",
	ReasonSignature:       "bad signature",
	ReasonIssuer:          "wrong issuer",
	ReasonAudience:        "wrong audience",
	ReasonPresenter:       "unknown authorized party (azp)",
	ReasonSubject:         "bad subject",
	ReasonMissingClaim:    "missing claim",
	ReasonExpired:         "expired",
	ReasonIssuedInFuture:  "issued in the future",
	ReasonNotYetValid:     "not yet valid",
	ReasonLifetime:        "bad lifetime",
	ReasonHostedDomain:    "wrong hosted domain",
	ReasonNonce:           "nonce mismatch",
	ReasonAccessTokenHash: "at_hash does not match the access token",
	ReasonServiceAccount:  "a service account, not a user",
	ReasonSubjectMismatch: "another user than expected",
	ReasonAuthTooOld:      "the authentication is too old",
	ReasonGrantMismatch:   "the ID token of a refresh does not match the stored grant",
}

// Message is the reason in words.
func (r Reason) Message() string {
	if m, ok := reasonMessages[r]; ok {
		return m
	}
	return string(r)
}

// IDTokenError is an ID token verification failure. It unwraps to
// [ErrInvalidIDToken]. Its message never contains the token.
type IDTokenError struct {
	Reason Reason
	Detail string
	// Class is ClassTransient when Google's signing keys could not be had
	// (the same token may verify later) and ClassRejected otherwise.
	Class ErrorClass
	err   error

	presenter string // the refused azp, for ReasonPresenter
}

func (e *IDTokenError) Error() string {
	s := "serverauth: invalid ID token: " + e.Reason.Message()
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
