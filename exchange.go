package serverauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"golang.org/x/oauth2"

	"github.com/serverauth/serverauth/internal/flight"
	"github.com/serverauth/serverauth/internal/redact"
	"github.com/serverauth/serverauth/internal/retry"
)

// MaxCodeSize is the longest authorization code accepted; Google's are
// under 100 bytes.
const MaxCodeSize = 2048

// defaultAccessTokenLifetime is assumed when a token response has no
// expires_in (Google always sends one); short, so a wrong guess costs a
// refresh, not a failed API call.
const defaultAccessTokenLifetime = 10 * time.Minute

// Result is the outcome of a successful exchange.
//
// Token holds the user's access token and, when Google returned one, the
// refresh token: keep them on the server. Printing a Result with fmt or
// slog shows no token.
type Result struct {
	// UserID is the ID token's sub: Google's stable ID for the user, the key
	// to store them under. Never the email, which can change.
	UserID string

	// Profile is the verified ID token's identity.
	Profile *Profile

	// Token is the access token, its expiry, and the refresh token when this
	// exchange returned one or the store held one (see RefreshTokenIssued).
	// Its Extra("id_token") is the raw ID token.
	Token *oauth2.Token

	// GrantedScopes are the scopes the user granted, normalised (see
	// NormalizeScope) and sorted. Granular consent can make them fewer than
	// requested.
	GrantedScopes []string

	// RefreshTokenIssued reports whether Google returned a refresh token in
	// this exchange; it does so only on first consent or forced consent.
	RefreshTokenIssued bool

	// RefreshTokenExpiry is when the refresh token stops working, for
	// time-limited grants: the earlier of refresh_token_expires_in (Google's
	// time-based access, when the user leaves "ongoing access" unticked)
	// and authorization_expires_in (the grant's lifetime, in the IETF
	// draft on refresh-token expiration), from when the exchange was sent.
	// Zero when the response set neither.
	RefreshTokenExpiry time.Time

	// RefreshTokenTimeout is refresh_token_timeout (the same draft): the
	// refresh token dies when left unused this long. Zero when absent.
	RefreshTokenTimeout time.Duration
}

// String describes r without its tokens.
func (r *Result) String() string {
	if r == nil {
		return "<nil>"
	}
	return fmt.Sprintf("serverauth.Result{UserID:%q GrantedScopes:%q AccessToken:%s RefreshToken:%s}",
		r.UserID, r.GrantedScopes, redact.Present(r.Token != nil && r.Token.AccessToken != ""), redact.Present(r.Token != nil && r.Token.RefreshToken != ""))
}

// GoString is String, so %#v shows no token either.
func (r *Result) GoString() string { return r.String() }

// LogValue implements slog.LogValuer without the tokens.
func (r *Result) LogValue() slog.Value {
	if r == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(
		slog.String("user_id", r.UserID),
		slog.Any("granted_scopes", r.GrantedScopes),
		slog.Bool("refresh_token", r.Token != nil && r.Token.RefreshToken != ""),
	)
}

// clone returns a copy of r that shares nothing mutable with it, so callers
// given the same retained result cannot affect each other.
func (r *Result) clone() *Result {
	if r == nil {
		return nil
	}
	c := *r
	if r.Token != nil {
		t := *r.Token
		c.Token = &t
	}
	if r.Profile != nil {
		p := *r.Profile
		c.Profile = &p
	}
	c.GrantedScopes = append([]string(nil), r.GrantedScopes...)
	return &c
}

// Exchange redeems a one-time authorization code posted by an app at
// Google's token endpoint, verifies the ID token, and returns the user's
// identity and tokens.
//
// The code is sent exactly once. The same code passed again while its
// exchange is under way (a double tap) shares that exchange. Once the
// exchange is done, a spent code is not a bearer credential: the same code
// passed again within Config.DuplicateCodeWindow is refused locally, without
// reaching Google, with an error wrapping ErrInvalidGrant that says it was
// already redeemed; only a retry that passes the same WithRetryBinding as
// the first call (a value of the app's session or install, say) gets the
// first result again. The window is kept in this process's memory: another
// replica sends a re-posted code to Google, which refuses it.
//
// The exchange runs detached from ctx with its own timeout: Exchange
// returns once it is done even if ctx ended meanwhile, so a client that
// gives up does not waste the code. A duplicate caller waits only as long
// as its own ctx allows.
//
// Errors: ErrInvalidCode for a code refused locally; a *TokenError for a
// failure at the token endpoint (errors.Is ErrInvalidGrant for a reused or
// expired code); an *IDTokenError (ErrInvalidIDToken) if the ID token is
// absent (a code granted without openid) or fails verification; a
// *ScopeError (ErrScopeNotGranted) beside a Result with a verified UserID
// and Profile when a required scope was not granted.
func (e *Exchanger) Exchange(ctx context.Context, code string, opts ...ExchangeOption) (*Result, error) {
	ctx, run := e.begin(ctx, OpExchange)
	res, err, o := e.exchangeShared(ctx, code, opts)
	e.end(run, err, o)
	return res, err
}

// exchangeShared is Exchange's work; the Observation says whether the
// exchange was shared and how many requests it made.
func (e *Exchanger) exchangeShared(ctx context.Context, code string, opts []ExchangeOption) (*Result, error, Observation) {
	var ob Observation
	if err := checkCode(code); err != nil {
		return nil, err, ob
	}
	var o exchangeOptions
	for _, opt := range opts {
		opt.applyExchange(&o)
	}
	redirect := e.cfg.RedirectURL
	if o.redirectURL != nil {
		redirect = *o.redirectURL
	}
	binding := bindingHash(o.binding)
	// The first caller runs the exchange itself, detached from its ctx: a
	// client that gives up does not waste the code. Duplicates wait as long
	// as their own ctx allows.
	out, err, how := e.codes.DoInline(ctx, exchangeKey(code, redirect, o), exchangeTimeout,
		func(ctx context.Context) (*exchangeOutcome, error) {
			res, attempts, err := e.exchange(ctx, code, redirect, o)
			return &exchangeOutcome{res: res, binding: binding, attempts: attempts}, err
		},
		e.retainExchange)
	ob.Coalesced, ob.Cached = how == flight.Joined, how == flight.Retained
	switch {
	case how == flight.Ran:
		ob.Attempts = out.attempts
		return out.res, err, ob
	case out == nil: // the duplicate's ctx ended first
		return nil, err, ob
	case !sameBinding(out.binding, binding, how == flight.Joined):
		e.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "serverauth: a redeemed code was posted again; refused")
		ob.Reason = "code_redeemed"
		return nil, errCodeRedeemed, ob
	}
	res := out.res.clone()
	e.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "serverauth: duplicate code answered from the first exchange")
	// The first save failed: the store may be back, so try again rather
	// than repeat the old failure.
	var se *SaveError
	if errors.As(err, &se) && res != nil {
		var scopeErr *ScopeError
		errs := []error{e.Save(ctx, res)}
		if errors.As(err, &scopeErr) {
			errs = append(errs, scopeErr)
		}
		err = errors.Join(errs...)
	}
	return res, err, ob
}

// exchangeOutcome is what the duplicate-code window keeps of an exchange.
type exchangeOutcome struct {
	res      *Result
	binding  [32]byte // SHA-256 of the first caller's retry binding; zero for none
	attempts int      // requests the exchange made
}

// errCodeRedeemed refuses a spent code locally.
var errCodeRedeemed = fmt.Errorf("%w: this code was already redeemed (a code works once): the app must sign in again for a new code; a retry that should get the first result must pass the same WithRetryBinding", ErrInvalidGrant)

// bindingHash hashes a retry binding; the empty binding is the zero hash.
func bindingHash(b string) [32]byte {
	if b == "" {
		return [32]byte{}
	}
	return sha256.Sum256([]byte(b))
}

// sameBinding decides whether a duplicate may have the first result: one
// that joined the exchange in flight (the double tap) unless both gave
// different bindings; one that came after only with the first's binding.
func sameBinding(first, dup [32]byte, joined bool) bool {
	var none [32]byte
	eq := subtle.ConstantTimeCompare(first[:], dup[:]) == 1
	if joined {
		return eq || first == none || dup == none
	}
	return first != none && eq
}

// exchangeKey hashes the code with the parameters that change what Google
// would be asked, so only identical requests share a result.
func exchangeKey(code, redirect string, o exchangeOptions) [32]byte {
	h := sha256.New()
	subject := ""
	if o.subject != nil {
		subject = "sub:" + *o.subject // apart from no expectation
	}
	for _, s := range []string{code, redirect, o.codeVerifier, o.nonce, subject} {
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// retainExchange keeps a successful exchange's outcome for the duplicate
// window, so that a re-posted code is refused without reaching Google (or,
// with the first caller's binding, answered). Failures are kept only while
// in flight: junk codes then cannot fill the window and push successes out.
func (e *Exchanger) retainExchange(out *exchangeOutcome, _ error) time.Duration {
	if out == nil || out.res == nil {
		return 0 // failed: the code may be retried only while the first try runs
	}
	return e.cfg.DuplicateCodeWindow
}

// checkCode refuses codes that cannot be valid, before any network call.
func checkCode(code string) error {
	switch {
	case code == "":
		return fmt.Errorf("%w: the code is empty: the app must post the serverAuthCode (iOS), server auth code (Android) or GIS code it received", ErrInvalidCode)
	case len(code) > MaxCodeSize:
		return fmt.Errorf("%w: the code is %d bytes, longer than %d: it is not an authorization code", ErrInvalidCode, len(code), MaxCodeSize)
	case strings.TrimSpace(code) != code:
		return fmt.Errorf("%w: the code has leading or trailing whitespace: trim it where the app or handler reads it", ErrInvalidCode)
	}
	for _, r := range code {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar {
			return fmt.Errorf("%w: the code contains whitespace, control or invalid characters", ErrInvalidCode)
		}
	}
	return nil
}

// exchange performs one exchange at the token endpoint and reports the
// requests it made.
func (e *Exchanger) exchange(ctx context.Context, code, redirect string, o exchangeOptions) (*Result, int, error) {
	var sent atomic.Bool
	ctx = httptrace.WithClientTrace(e.oauth2Context(ctx), &httptrace.ClientTrace{
		WroteHeaders: func() { sent.Store(true) },
	})
	var authOpts []oauth2.AuthCodeOption
	if o.codeVerifier != "" {
		authOpts = append(authOpts, oauth2.VerifierOption(o.codeVerifier))
	}
	var (
		tok      *oauth2.Token
		te       *TokenError
		start    time.Time
		attempts int
	)
	err := e.retry.Do(ctx, func(ctx context.Context) (retry.Decision, error) {
		attempts++
		sent.Store(false)
		start = e.cfg.Now()
		t, err := e.oauthConfig(redirect, e.cfg.ClientSecret).Exchange(ctx, code, authOpts...)
		if err != nil {
			te = newTokenError(err, errorContext{
				op: OpExchange, redirectURI: redirect, pkce: o.codeVerifier != "", code: code,
				clientID: e.cfg.ClientID, previousSecret: e.cfg.PreviousClientSecret != "",
				now: e.cfg.Now(), secrets: []string{code, e.cfg.ClientSecret, e.cfg.PreviousClientSecret, o.codeVerifier},
			})
			te.notSent = !sent.Load()
			return te.retryDecision(), te
		}
		tok = t
		return retry.Stop, nil
	})
	if err != nil {
		level := slog.LevelWarn
		if errors.Is(te, ErrClientDeleted) {
			level = slog.LevelError // only an operator can fix it
		}
		e.cfg.Logger.LogAttrs(ctx, level, "serverauth: exchange failed",
			slog.String("class", te.Class.String()), slog.String("error", te.Code), slog.Int("status", te.StatusCode), slog.String("fix", te.Hint))
		return nil, attempts, te
	}
	res, err := e.finishExchange(ctx, tok, start, o)
	return res, attempts, err
}

// finishExchange verifies and normalises a token response.
func (e *Exchanger) finishExchange(ctx context.Context, tok *oauth2.Token, start time.Time, o exchangeOptions) (*Result, error) {
	setExpiry(tok, start)
	tok.TokenType = tok.Type()
	granted := grantedScopes(tok)
	// Keep only the extras callers read: the raw response repeats every
	// token, and the Result lives on for the duplicate-code window.
	rawID, _ := tok.Extra("id_token").(string)
	scope, _ := tok.Extra("scope").(string)
	limits := parseGrantLimits(tok, start)
	tok = tok.WithExtra(map[string]any{"id_token": rawID, "scope": scope})
	res := &Result{
		Token:               tok,
		GrantedScopes:       granted,
		RefreshTokenIssued:  tok.RefreshToken != "",
		RefreshTokenExpiry:  limits.end,
		RefreshTokenTimeout: limits.timeout,
	}
	if rawID == "" {
		// No identity, no result: the tokens would belong to nobody known.
		detail := "the token response has no id_token: request the openid scope (with email and profile) in the app's sign-in"
		if identityScope(granted) {
			detail = "the token response has no id_token although openid, email or profile was granted"
		}
		return nil, newIDTokenError(ReasonAbsent, detail, nil)
	}
	p, err := e.verify(ctx, rawID, o.verifyOptions(tok.AccessToken))
	if err != nil {
		e.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "serverauth: ID token of an exchange refused", refusalAttrs(err)...)
		return nil, err
	}
	res.UserID, res.Profile = p.Subject, p
	e.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "serverauth: code exchanged",
		slog.String("user_id", res.UserID), slog.Bool("refresh_token", res.RefreshTokenIssued), slog.Any("granted_scopes", granted))
	var errs []error
	if missing := missingScopes(e.cfg.Scopes, granted); len(missing) > 0 {
		errs = append(errs, &ScopeError{Missing: missing})
	}
	if e.cfg.Store != nil {
		// Saved before returning: a refresh token Google gave is never lost.
		if err := e.Save(ctx, res); err != nil {
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
}

// setExpiry sets tok.Expiry from expires_in on the library's clock (x/oauth2
// reads time.Now). start is when the request was sent, so the expiry errs
// early.
func setExpiry(tok *oauth2.Token, start time.Time) {
	if tok.ExpiresIn > 0 {
		tok.Expiry = start.Add(time.Duration(tok.ExpiresIn) * time.Second)
	} else {
		tok.Expiry = start.Add(defaultAccessTokenLifetime)
	}
}

// grantedScopes returns the response's scope, normalised and sorted.
func grantedScopes(tok *oauth2.Token) []string {
	s, _ := tok.Extra("scope").(string)
	return normalizeScopes([]string{s})
}

// grantLimits are the limits a token response sets on a grant. Google
// sends refresh_token_expires_in for time-based access (the user left
// "ongoing access" unticked on the consent screen); the IETF draft on
// refresh-token expiration (draft-ietf-oauth-refresh-token-expiration)
// adds refresh_token_timeout, an idle limit, and authorization_expires_in,
// the grant's own lifetime. Any of them may come on any response, also on
// a refresh without a new refresh token, and one left out of a response
// says nothing about the next.
type grantLimits struct {
	// end is the earlier of start + refresh_token_expires_in and start +
	// authorization_expires_in: after it no refresh can work. Zero when
	// the response has neither.
	end time.Time
	// timeout is refresh_token_timeout: the refresh token dies when unused
	// this long. Zero when absent.
	timeout time.Duration
}

// maxLimitSeconds bounds the lifetimes accepted (about 317 years): a
// larger or non-positive value is ignored as nonsense.
const maxLimitSeconds = 1e10

// parseGrantLimits reads a token response's grant limits (each a JSON
// number or a numeric string of seconds), counted from start, when the
// request was sent, so that they err early.
func parseGrantLimits(tok *oauth2.Token, start time.Time) grantLimits {
	var l grantLimits
	for _, name := range []string{"refresh_token_expires_in", "authorization_expires_in"} {
		if d, ok := extraSeconds(tok, name); ok {
			l.end = earliest(l.end, start.Add(d))
		}
	}
	if d, ok := extraSeconds(tok, "refresh_token_timeout"); ok {
		l.timeout = d
	}
	return l
}

// extraSeconds reads a response member holding a positive number of
// seconds.
func extraSeconds(tok *oauth2.Token, name string) (time.Duration, bool) {
	var secs float64
	switch v := tok.Extra(name).(type) {
	case float64:
		secs = v
	case string:
		var err error
		if secs, err = strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	if !(secs > 0 && secs <= maxLimitSeconds) { // also refuses NaN
		return 0, false
	}
	return time.Duration(secs * float64(time.Second)), true
}

// earliest returns the earlier of two times, a zero time meaning none.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}
