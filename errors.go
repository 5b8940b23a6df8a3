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
