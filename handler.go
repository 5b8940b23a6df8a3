package serverauth

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
)

// MaxSignInBody caps the body SignInHandler reads: a code is under 100
// bytes and an ID token at most 16 KiB.
const MaxSignInBody = 32 << 10

const defaultCSRFHeader = "X-Requested-With"

// SignInFunc is called by SignInHandler after a successful sign-in, to start
// the app's own session and answer the request. res.Token is nil for a
// sign-in made with an ID token alone.
type SignInFunc func(w http.ResponseWriter, r *http.Request, res *Result)

// SignInErrorFunc answers a failed browser sign-in ([WebSignIn]'s
// callback, [Exchanger.GISLoginHandler]). err says why; branch on it with
// errors.Is and errors.As, never on its text, and show the user none of
// it. res is nil, except beside an error that still verified who the user
// is (a *ScopeError, ErrNoRefreshToken, ErrReauthRequired): then its
// UserID and Profile are verified, and the app may sign the user in and
// ask again for what is missing.
type SignInErrorFunc func(w http.ResponseWriter, r *http.Request, res *Result, err error)

// HandlerConfig configures [Exchanger.SignInHandler]. The zero value is the
// secure default.
type HandlerConfig struct {
	// OnSignIn is called after a successful sign-in. Nil answers 200 with
	// the user's PublicProfile as JSON.
	OnSignIn SignInFunc

	// CSRFHeader is the header every request must carry, a CSRF defence:
	// browsers cannot send a custom header cross-origin without a CORS
	// preflight (RFC 9700 §4.7; Google's samples use X-Requested-With).
	// Empty means "X-Requested-With". A header that browsers send on their
	// own or that CORS lets through without a preflight is refused. Do not
	// allow it in CORS for untrusted origins.
	CSRFHeader string

	// CSRFValue, when set, is the value CSRFHeader must have (compared in
	// constant time); otherwise any non-empty value passes.
	CSRFValue string

	// AllowedOrigins, when set, refuses a request whose Origin header is
	// present and not in the list (exact match, such as
	// "https://app.example.com"). Mobile apps send no Origin and pass. A
	// request a browser marks Sec-Fetch-Site: cross-site is refused unless
	// its Origin is listed here.
	AllowedOrigins []string

	// ExchangeOptions, when set, gives the options of each request's
	// exchange: a redirect URI, PKCE code verifier, nonce or expected user
	// (WithExpectedSubject) bound to the request (its session cookie,
	// say). They apply after the handler's own choice of redirect URI (see
	// SignInHandler), so a WithRedirectURL here wins.
	ExchangeOptions func(*http.Request) []ExchangeOption

	// VerifyOptions, when set, gives the checks of each request's ID-token
	// sign-in (an id_token body): the nonce the app bound to it
	// (RequireNonce, or RequireNonceSHA256 for an Android Credential
	// Manager or iOS token whose nonce is the hash of a raw value the app
	// sent along), a recent authentication (RequireRecentAuth), the
	// session's user (RequireSubject).
	VerifyOptions func(*http.Request) []VerifyOption

	// ResetConsent makes a sign-in that brings no refresh token, for a user
	// with none stored, revoke the grant at Google (Exchanger.ResetConsent)
	// so that the next sign-in shows the consent screen and Google issues a
	// refresh token. Off by default, because the revocation ends the grant
	// for every backend sharing the OAuth client (a staging copy, a restored
	// store): the handler then answers 403 consent_required and the app
	// disconnects and signs in again itself (iOS GIDSignIn.disconnect,
	// Android GoogleSignInClient.revokeAccess, web
	// google.accounts.oauth2.revoke).
	ResetConsent bool
}

// SignInHandler returns the endpoint the app posts its one-time code to.
//
// It accepts POST only (405 otherwise), requires HandlerConfig.CSRFHeader
// (X-Requested-With by default; 403 without it) and, when AllowedOrigins
// is set, an allowed Origin (403); a browser request marked
// Sec-Fetch-Site: cross-site needs an allowed Origin in any case (403). The
// body is read strictly (JSON names exact and once, nothing after the
// object; a Content-Type that cannot be parsed or is neither form nor JSON
// is 415) within a 10 s read deadline of its own. The body, at most MaxSignInBody bytes
// (413), is a form (code=…) or JSON ({"code": "…"}); for a later sign-in
// the app may instead send an ID token (id_token), which
// [Exchanger.SignInWithIDToken] checks. Every response has Cache-Control:
// no-store.
//
// One handler serves apps and browsers: with Config.RedirectURL empty (the
// default), it picks each exchange's redirect_uri by who sent the request.
// A request with an Origin header (a browser page, which passed the Origin
// checks above) exchanges with "postmessage", as Google Identity Services
// popup codes (initCodeClient with ux_mode "popup") must be; a request
// without Origin (an iOS or Android app posting its server auth code)
// exchanges with no redirect_uri. A Config.RedirectURL that is set is used
// for every request instead, and HandlerConfig.ExchangeOptions overrides
// either per request (a redirect-mode code, say, needs its exact
// registered URI and WithCodeVerifier).
//
// Success calls OnSignIn with the Result. Errors are JSON {"error",
// "error_description"} and never echo a code or a token, and the status
// follows the error's class ([ClassOf]), never its text: 400 bad input;
// 401 a code or ID token Google or the verifier rejected (sign in again);
// 403 a missing CSRF header, a disallowed Origin, a scope not granted, or
// consent needed for offline access; 500 a misconfigured server (wrong
// client secret, redirect_uri mismatch; logged at Error level with the fix)
// or a failing store; 502 Google failing, 503 Google throttling, both with
// Retry-After.
func (e *Exchanger) SignInHandler(cfg HandlerConfig) (http.Handler, error) {
	if cfg.OnSignIn == nil {
		cfg.OnSignIn = writeProfile
	}
	if cfg.CSRFHeader == "" {
		cfg.CSRFHeader = defaultCSRFHeader
	}
	if err := checkCSRFHeader(cfg.CSRFHeader); err != nil {
		return nil, err
	}
	cfg.AllowedOrigins = slices.Clone(cfg.AllowedOrigins)
	return &signInHandler{e: e, cfg: cfg}, nil
}

// checkCSRFHeader refuses a header name that proves nothing: one a browser
// sets by itself (forbidden request headers) or one CORS lets a cross-site
// page send without a preflight (CORS-safelisted request headers; Fetch
// standard §2.2.2).
func checkCSRFHeader(name string) error {
	if !isToken(name) {
		return configErr("HandlerConfig.CSRFHeader", "%q is not a valid header name", name)
	}
	switch l := strings.ToLower(name); {
	case strings.HasPrefix(l, "sec-"), strings.HasPrefix(l, "proxy-"),
		slices.Contains(browserHeaders, l):
		return configErr("HandlerConfig.CSRFHeader", "%q proves nothing: browsers send it on their own or let any page send it; use a custom header such as X-Requested-With", name)
	}
	return nil
}

// browserHeaders are the forbidden and CORS-safelisted request header names,
// lower case.
var browserHeaders = []string{
	"accept", "accept-language", "content-language", "content-type", "range",
	"accept-charset", "accept-encoding", "access-control-request-headers", "access-control-request-method",
	"connection", "content-length", "cookie", "cookie2", "date", "dnt", "expect", "host", "keep-alive",
	"origin", "referer", "set-cookie", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "via",
	"x-http-method", "x-http-method-override", "x-method-override",
}

// isToken reports whether s is an HTTP token (RFC 9110 §5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

type signInHandler struct {
	e   *Exchanger
	cfg HandlerConfig
}

// httpError is a response of the handler.
type httpError struct {
	status      int
	code        string
	description string
	retryAfter  int // seconds; 0 for none
}

func badRequest(desc string) *httpError {
	return &httpError{http.StatusBadRequest, "invalid_request", desc, 0}
}

func (h *signInHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	res, herr := h.signIn(w, r)
	if herr != nil {
		h.e.cfg.Logger.LogAttrs(r.Context(), slog.LevelInfo, "serverauth: sign-in refused",
			slog.Int("status", herr.status), slog.String("error", herr.code))
		writeError(w, herr)
		return
	}
	h.cfg.OnSignIn(w, r, res)
}

func (h *signInHandler) signIn(w http.ResponseWriter, r *http.Request) (*Result, *httpError) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, &httpError{http.StatusMethodNotAllowed, "invalid_request", "use POST", 0}
	}
	if v := r.Header.Get(h.cfg.CSRFHeader); v == "" || h.cfg.CSRFValue != "" && subtle.ConstantTimeCompare([]byte(v), []byte(h.cfg.CSRFValue)) != 1 {
		return nil, &httpError{http.StatusForbidden, "access_denied", "the " + h.cfg.CSRFHeader + " header is required", 0}
	}
	origin := r.Header.Get("Origin")
	allowed := origin != "" && slices.Contains(h.cfg.AllowedOrigins, origin)
	if origin != "" && len(h.cfg.AllowedOrigins) > 0 && !allowed {
		return nil, &httpError{http.StatusForbidden, "access_denied", "this Origin may not sign in here", 0}
	}
	// Fetch metadata (W3C Fetch Metadata Request Headers): a browser says
	// when a page of another site sent the request; only listed origins may.
	if strings.EqualFold(r.Header.Get("Sec-Fetch-Site"), "cross-site") && !allowed {
		return nil, &httpError{http.StatusForbidden, "access_denied", "cross-site requests may sign in only from an allowed Origin", 0}
	}
	code, idToken, herr := readCredential(w, r)
	if herr != nil {
		return nil, herr
	}
	var (
		res *Result
		err error
	)
	if code != "" {
		var opts []ExchangeOption
		if origin != "" && h.e.cfg.RedirectURL == "" {
			// A browser: GIS popup codes are exchanged with postmessage.
			opts = append(opts, WithRedirectURL(PostMessage))
		}
		if h.cfg.ExchangeOptions != nil {
			opts = append(opts, h.cfg.ExchangeOptions(r)...)
		}
		res, err = h.e.Exchange(r.Context(), code, opts...)
	} else {
		var opts []VerifyOption
		if h.cfg.VerifyOptions != nil {
			opts = h.cfg.VerifyOptions(r)
		}
		res, err = h.e.SignInWithIDToken(r.Context(), idToken, opts...)
	}
	if err != nil {
		return nil, failure(h.e, r, res, err, h.cfg.ResetConsent)
	}
	return res, nil
}

// bodyReadTimeout bounds reading the sign-in body, whatever the server's own
// timeouts: a client that trickles its body does not hold the handler.
const bodyReadTimeout = 10 * time.Second

// readCredential reads the code or ID token from a form or JSON body.
func readCredential(w http.ResponseWriter, r *http.Request) (code, idToken string, herr *httpError) {
	// A network deadline, so real time rather than Config.Now. Servers that
	// cannot set one (an httptest recorder) return ErrNotSupported.
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyReadTimeout))
	mt := ""
	if ct := r.Header.Get("Content-Type"); ct != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(ct); err != nil {
			return "", "", &httpError{http.StatusUnsupportedMediaType, "invalid_request", "the Content-Type header cannot be parsed: send application/x-www-form-urlencoded or application/json", 0}
		}
	}
	if mt != "" && mt != "application/json" && mt != "application/x-www-form-urlencoded" {
		return "", "", &httpError{http.StatusUnsupportedMediaType, "invalid_request", "send application/x-www-form-urlencoded or application/json, not " + mt, 0}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxSignInBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", "", &httpError{http.StatusRequestEntityTooLarge, "invalid_request", "the body is larger than " + strconv.Itoa(MaxSignInBody) + " bytes", 0}
		}
		return "", "", badRequest("the body could not be read in time")
	}
	if mt == "application/json" {
		// Strict: names match exactly, none twice, nothing after the object.
		var v struct {
			Code    *string `json:"code"`
			IDToken *string `json:"id_token"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return "", "", badRequest("the body is not one JSON object like {\"code\": \"...\"} (names are case-sensitive and may appear once)")
		}
		if v.Code != nil {
			code = *v.Code
		}
		if v.IDToken != nil {
			idToken = *v.IDToken
		}
	} else {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return "", "", badRequest("the body is not a valid form")
		}
		if len(form["code"]) > 1 || len(form["id_token"]) > 1 {
			return "", "", badRequest("code and id_token may appear once")
		}
		code, idToken = first(form["code"]), first(form["id_token"])
		if code == "" && idToken == "" && bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
			read := "no Content-Type (read as a form)"
			if mt != "" {
				read = "Content-Type " + mt
			}
			return "", "", badRequest("the body looks like JSON but was sent with " + read + ": send Content-Type: application/json")
		}
	}
	switch {
	case code != "" && idToken != "":
		return "", "", badRequest("send a code or an id_token, not both")
	case code == "" && idToken == "":
		return "", "", badRequest("the code is missing or empty")
	}
	return code, idToken, nil
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// failure maps a failed sign-in to its response by the error's type and
// class, never by its text. resetConsent is HandlerConfig.ResetConsent.
func failure(e *Exchanger, r *http.Request, res *Result, err error, resetConsent bool) *httpError {
	ctx, log := r.Context(), e.cfg.Logger
	var (
		scopeErr *ScopeError
		saveErr  *SaveError
		te       *TokenError
	)
	switch {
	case errors.Is(err, ErrInvalidCode):
		return badRequest("the code is empty, padded or too long")
	case errors.As(err, &saveErr):
		log.LogAttrs(ctx, slog.LevelError, "serverauth: saving a sign-in failed", slog.String("user_id", saveErr.UserID), slog.String("error", saveErr.Err.Error()))
		return &httpError{http.StatusInternalServerError, "server_error", "the sign-in could not be saved; sign in again shortly", 0}
	case errors.As(err, &scopeErr):
		return &httpError{http.StatusForbidden, "insufficient_scope", "sign in again and grant: " + strings.Join(scopeErr.Missing, " "), 0}
	case errors.Is(err, ErrNoRefreshToken):
		if resetConsent && res != nil && res.Token != nil {
			// Mobile apps cannot force the consent screen: reset the grant
			// so that the next sign-in shows it and Google issues a
			// refresh token.
			if rerr := e.ResetConsent(ctx, res); rerr != nil {
				log.LogAttrs(ctx, slog.LevelWarn, "serverauth: resetting consent failed", slog.String("error", rerr.Error()))
			}
			return &httpError{http.StatusForbidden, "consent_required", "offline access was not granted; sign in again and accept the consent screen", 0}
		}
		return &httpError{http.StatusForbidden, "consent_required", "offline access was not granted and cannot be restored from this sign-in: disconnect the app's Google account (revoke access) and sign in again to see the consent screen", 0}
	}
	if errors.Is(err, ErrAccessBlocked) {
		return &httpError{http.StatusForbidden, "access_denied", "this Google account may not use this app (an administrator's policy, or an app internal to another organisation); sign in with another account", 0}
	}
	class := ClassOf(err)
	var ie *IDTokenError
	switch {
	case class == ClassRejected && errors.As(err, &te):
		return &httpError{http.StatusUnauthorized, "invalid_grant", "the code is invalid, expired, already used or not for this app; sign in again", 0}
	case class == ClassRejected && errors.As(err, &ie):
		return &httpError{http.StatusUnauthorized, "invalid_token", "the ID token was refused: " + string(ie.Reason), 0}
	case class == ClassMisconfigured:
		attrs := []slog.Attr{slog.String("error", err.Error())}
		if errors.As(err, &te) && te.Hint != "" {
			attrs = append(attrs, slog.String("fix", te.Hint))
		}
		log.LogAttrs(ctx, slog.LevelError, "serverauth: the backend's Google client is misconfigured", attrs...)
		return &httpError{http.StatusInternalServerError, "server_error", "the server's Google configuration is wrong", 0}
	case class.Temporary():
		status, secs := http.StatusBadGateway, 30
		if class == ClassRateLimited {
			status = http.StatusServiceUnavailable
		}
		if errors.As(err, &te) && te.RetryAfter > 0 {
			secs = int(te.RetryAfter.Seconds())
		}
		return &httpError{status, "temporarily_unavailable", "Google is unavailable; sign in again shortly", secs}
	case errors.Is(err, ErrReauthRequired):
		return &httpError{http.StatusForbidden, "consent_required", "access to this account ended; sign in with a server auth code again", 0}
	case ctx.Err() != nil:
		return &httpError{http.StatusServiceUnavailable, "temporarily_unavailable", "the request was cancelled", 0}
	}
	log.LogAttrs(ctx, slog.LevelError, "serverauth: sign-in failed", slog.String("error", err.Error()))
	return &httpError{http.StatusInternalServerError, "server_error", "the sign-in failed", 0}
}

func writeError(w http.ResponseWriter, herr *httpError) {
	if herr.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(herr.retryAfter))
	}
	writeJSON(w, herr.status, map[string]string{"error": herr.code, "error_description": herr.description})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.MarshalWrite(w, v, json.Deterministic(true))
	io.WriteString(w, "\n")
}

// PublicProfile is the default JSON answer of SignInHandler: what a client
// may see of a sign-in. It holds no token.
type PublicProfile struct {
	UserID        string   `json:"user_id"`
	Email         string   `json:"email,omitempty"`
	EmailVerified bool     `json:"email_verified"`
	Name          string   `json:"name,omitempty"`
	GivenName     string   `json:"given_name,omitempty"`
	FamilyName    string   `json:"family_name,omitempty"`
	Picture       string   `json:"picture,omitempty"`
	Locale        string   `json:"locale,omitempty"`
	HostedDomain  string   `json:"hd,omitempty"`
	Scopes        []string `json:"scopes"`
}

// PublicProfile returns what a client may see of r.
func (r *Result) PublicProfile() PublicProfile {
	pp := PublicProfile{UserID: r.UserID, Scopes: r.GrantedScopes}
	if pp.Scopes == nil {
		pp.Scopes = []string{}
	}
	if p := r.Profile; p != nil {
		pp.Email, pp.EmailVerified, pp.Name, pp.GivenName = p.Email, p.EmailVerified, p.Name, p.GivenName
		pp.FamilyName, pp.Picture, pp.Locale, pp.HostedDomain = p.FamilyName, p.Picture, p.Locale, p.HostedDomain
	}
	return pp
}

func writeProfile(w http.ResponseWriter, _ *http.Request, res *Result) {
	writeJSON(w, http.StatusOK, res.PublicProfile())
}
