package serverauth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/serverauth/serverauth/internal/redact"
)

// Bounds of WebSignInConfig.StateTTL.
const (
	DefaultSignInStateTTL = 10 * time.Minute
	MaxSignInStateTTL     = time.Hour
)

// WebSignInConfig configures [Exchanger.WebSignIn].
type WebSignInConfig struct {
	// RedirectURL is the callback's URL, registered for the web client in
	// the Google Cloud console and sent byte for byte (RFC 9700 §4.1):
	// "https://app.example.com/auth/callback". Required; https, or http on a
	// loopback host for development. Serve WebSignIn.Callback there, and
	// WebSignIn.Start on the same host, so that the state cookie reaches
	// the callback.
	RedirectURL string

	// Scopes are requested besides openid (always sent: the callback needs
	// the ID token) and Config.Scopes (required, so always sent). Nil means
	// email and profile. Aliases and short names are understood, as in
	// Config.Scopes.
	Scopes []string

	// OnSignIn is called after a successful callback, to start the app's
	// session. If it writes no response, the callback redirects (303) to
	// the path passed with StartReturnTo, or "/". Nil just redirects.
	OnSignIn SignInFunc

	// OnError answers a failed callback. Nil answers a short HTML page with
	// the status of the error's class and nothing secret. Errors:
	// *StateError (ErrInvalidState) for a callback that did not come back
	// to the browser that started it; *AuthorizationError for an error
	// redirect from Google (errors.Is ErrAccessDenied when the user
	// cancelled); then what Exchange returns (a *ScopeError beside the
	// Result when the user unticked a required scope).
	OnError SignInErrorFunc

	// StateStore keeps the pending sign-in (state, PKCE verifier, nonce)
	// between Start and the callback. Nil means a cookie, encrypted with
	// AES-256-GCM under a key derived from Config.Cipher's Keyring for this
	// use alone (or sealed by Config.Cipher itself when it is not a
	// Keyring), HttpOnly, SameSite=Lax, Secure and __Host- prefixed unless
	// RedirectURL is plain http on loopback. Without a Config.Cipher, the
	// key is random per WebSignIn, which is enough for a single process
	// (a MemoryStore, or no Store); a persistent Store with
	// InsecurePlaintextTokens needs a Cipher or a StateStore, since the
	// callback may reach another replica.
	StateStore SignInStateStore

	// StateTTL is how long a started sign-in can complete. Zero means
	// DefaultSignInStateTTL (10 minutes); at most MaxSignInStateTTL.
	StateTTL time.Duration
}

// WebSignIn is the server-side redirect sign-in of a web app (the OAuth
// 2.0 authorization code flow with PKCE and OpenID Connect's nonce, RFC
// 9700 §2.1): [WebSignIn.Start] sends the browser to Google, and
// [WebSignIn.Callback] takes it back, checks that it is the same browser
// session, exchanges the code and signs the user in. Make one with
// [Exchanger.WebSignIn]; it is safe for concurrent use.
type WebSignIn struct {
	e        *Exchanger
	cfg      WebSignInConfig
	scopes   []string // requested by every Start, normalised
	store    SignInStateStore
	authURL  string
	redirect string
}

// WebSignIn returns the redirect sign-in for cfg. It returns a
// *ConfigError for a bad field.
func (e *Exchanger) WebSignIn(cfg WebSignInConfig) (*WebSignIn, error) {
	u, err := url.Parse(cfg.RedirectURL)
	switch {
	case cfg.RedirectURL == "":
		return nil, configErr("WebSignInConfig.RedirectURL", "is empty: set the callback URL registered for the web client (https://your.app/auth/callback)")
	case err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || strings.Contains(cfg.RedirectURL, "#"):
		return nil, configErr("WebSignInConfig.RedirectURL", "%q is not an absolute URL without user info or fragment", cfg.RedirectURL)
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return nil, configErr("WebSignInConfig.RedirectURL", "%q must use https (http only on a loopback host, for development)", cfg.RedirectURL)
	}
	if cfg.StateTTL < 0 || cfg.StateTTL > MaxSignInStateTTL {
		return nil, configErr("WebSignInConfig.StateTTL", "%s must be between 0 and %s (zero means %s)", cfg.StateTTL, MaxSignInStateTTL, DefaultSignInStateTTL)
	}
	if cfg.StateTTL == 0 {
		cfg.StateTTL = DefaultSignInStateTTL
	}
	ep := e.cfg.Endpoints
	if ep.TokenURL != GoogleTokenURL && ep.AuthURL == GoogleAuthURL {
		return nil, configErr("Endpoints.AuthURL", "is Google's while TokenURL points elsewhere (%s): browsers would get codes from Google that your token endpoint cannot redeem; set AuthURL to the emulator's authorization endpoint", ep.TokenURL)
	}
	extra := cfg.Scopes
	if extra == nil {
		extra = []string{"email", "profile"}
	}
	s := &WebSignIn{e: e, cfg: cfg, store: cfg.StateStore, authURL: ep.AuthURL, redirect: cfg.RedirectURL}
	s.scopes = normalizeScopes(slices.Concat([]string{"openid"}, e.cfg.Scopes, extra))
	if s.store == nil {
		c := e.cfg.Cipher
		if _, plain := c.(plaintextCipher); plain {
			if _, inProcess := e.cfg.Store.(*MemoryStore); e.cfg.Store != nil && !inProcess {
				return nil, configErr("Config.Cipher", "WebSignIn's state cookie must be sealed with a key every replica shares, and Config has none (InsecurePlaintextTokens): set Config.Cipher or WebSignInConfig.StateStore")
			}
			if c, err = randomStateKeyring(); err != nil {
				return nil, err
			}
		}
		seal, err := newStateSealer(c)
		if err != nil {
			return nil, err
		}
		secure := u.Scheme == "https"
		name := stateCookieInsecure
		if secure {
			name = stateCookieSecure
		}
		s.store = &cookieStateStore{name: name, secure: secure, ttl: cfg.StateTTL, seal: seal}
	}
	return s, nil
}

// StartOption varies one [WebSignIn.Start].
type StartOption interface {
	applyStart(*startOptions)
}

type startOptions struct {
	userID    string
	loginHint string
	scopes    []string
	returnTo  string
	prompt    []string
}

type startOptionFunc func(*startOptions)

func (f startOptionFunc) applyStart(o *startOptions) { f(o) }

// StartForUser starts a sign-in for the user already signed in, to grant
// more scopes (incremental authorization) or offline access after an
// ID-token sign-in: Google preselects the account (login_hint), the code
// must belong to userID (WithExpectedSubject), and prompt=consent is sent
// only when the store holds no usable refresh token for the user, so that
// Google issues one.
func StartForUser(userID string) StartOption {
	return startOptionFunc(func(o *startOptions) { o.userID = userID })
}

// StartLoginHint sends login_hint: the email address or sub of the account
// to preselect in Google's account chooser.
func StartLoginHint(hint string) StartOption {
	return startOptionFunc(func(o *startOptions) { o.loginHint = hint })
}

// StartScopes requests scopes besides WebSignInConfig's, as incremental
// authorization does: Google adds them to the user's earlier grant
// (include_granted_scopes=true), and the stored grant keeps its refresh
// token.
func StartScopes(scopes ...string) StartOption {
	return startOptionFunc(func(o *startOptions) { o.scopes = append(o.scopes, scopes...) })
}

// StartReturnTo is the local path ("/drive?tab=2") the browser is sent to
// after the sign-in when OnSignIn writes no response. Anything that is not
// a path on this site (a scheme, a host, "//", a backslash) makes Start
// fail: the callback is no open redirector (RFC 9700 §4.11).
func StartReturnTo(path string) StartOption {
	return startOptionFunc(func(o *startOptions) { o.returnTo = path })
}

// StartPrompt adds a prompt value, such as "select_account" to show the
// account chooser although the browser has one session.
func StartPrompt(prompt string) StartOption {
	return startOptionFunc(func(o *startOptions) { o.prompt = append(o.prompt, prompt) })
}

// Start sends the browser to Google's authorization endpoint (a 303
// redirect) after keeping a new pending sign-in: a random state, PKCE
// verifier (S256 challenge, RFC 7636) and nonce, in the state store. The
// request asks for a code (response_type=code) with
// access_type=offline (online with Config.SignInOnly) and
// include_granted_scopes=true, for openid, Config.Scopes and the
// configured and extra scopes; hd is sent when Config.HostedDomain is set.
// A sign-in started earlier in the same browser is replaced.
//
// It writes nothing when it returns an error: a StartReturnTo that is not
// a local path, a store that fails (reading the user's grant for
// StartForUser, or keeping the pending sign-in).
func (s *WebSignIn) Start(w http.ResponseWriter, r *http.Request, opts ...StartOption) error {
	var o startOptions
	for _, opt := range opts {
		opt.applyStart(&o)
	}
	if o.returnTo != "" && !localPath(o.returnTo) {
		return fmt.Errorf("serverauth: StartReturnTo(%s): not a local path such as \"/account\"; the sign-in sends browsers only to this site", quoteShort(o.returnTo))
	}
	consent := false
	if o.userID != "" && !s.e.cfg.SignInOnly {
		var err error
		if consent, err = s.needsConsent(r, o.userID); err != nil {
			return err
		}
	}
	p := &PendingSignIn{
		State:         randomString(),
		CodeVerifier:  oauth2.GenerateVerifier(),
		Nonce:         randomString(),
		Expiry:        s.e.cfg.Now().Add(s.cfg.StateTTL),
		UserID:        o.userID,
		ReturnTo:      o.returnTo,
		Scopes:        normalizeScopes(slices.Concat(s.scopes, o.scopes)),
		ConsentForced: consent,
	}
	hint := o.loginHint
	if hint == "" {
		hint = o.userID
	}
	return s.redirectToGoogle(w, r, p, hint, o.prompt)
}

// needsConsent reports whether the store holds no usable refresh token for
// the user, so that Google must be asked to show consent to issue one.
func (s *WebSignIn) needsConsent(r *http.Request, userID string) (bool, error) {
	st := s.e.cfg.Store
	if st == nil {
		return false, nil
	}
	rec, err := st.Get(r.Context(), userID)
	switch {
	case errors.Is(err, ErrNotFound):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("serverauth: reading the grant of user %q to start a sign-in: %w", userID, err)
	}
	return len(rec.RefreshToken) == 0 || !rec.Status.refreshable(), nil
}

// redirectToGoogle saves p and redirects to the authorization endpoint.
func (s *WebSignIn) redirectToGoogle(w http.ResponseWriter, r *http.Request, p *PendingSignIn, loginHint string, prompt []string) error {
	if p.ConsentForced {
		prompt = append(prompt, "consent")
	}
	access := "offline"
	if s.e.cfg.SignInOnly {
		access = "online"
	}
	q := url.Values{
		"response_type":          {"code"},
		"client_id":              {s.e.cfg.ClientID},
		"redirect_uri":           {s.redirect},
		"scope":                  {strings.Join(p.Scopes, " ")},
		"state":                  {p.State},
		"nonce":                  {p.Nonce},
		"code_challenge":         {oauth2.S256ChallengeFromVerifier(p.CodeVerifier)},
		"code_challenge_method":  {"S256"},
		"access_type":            {access},
		"include_granted_scopes": {"true"},
	}
	if loginHint != "" {
		q.Set("login_hint", loginHint)
	}
	if len(prompt) > 0 {
		q.Set("prompt", strings.Join(slices.Compact(slices.Sorted(slices.Values(prompt))), " "))
	}
	if s.e.cfg.HostedDomain != "" {
		q.Set("hd", s.e.cfg.HostedDomain)
	}
	if err := s.store.Save(w, r, p); err != nil {
		return err
	}
	sep := "?"
	if strings.Contains(s.authURL, "?") {
		sep = "&"
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", s.authURL+sep+q.Encode())
	w.WriteHeader(http.StatusSeeOther)
	return nil
}

// Callback serves WebSignInConfig.RedirectURL, where Google sends the
// browser back (GET). It reads the browser's pending sign-in and checks,
// before anything else, that it has not expired (Config.Now) and that the
// state parameter equals its state (constant time); a mismatch leaves the
// pending sign-in in place for the genuine callback, anything else uses it
// up (the cookie is cleared), so a replayed callback fails. Then an error
// from Google (error=access_denied when the user cancelled) goes to
// OnError, and the code is exchanged with the redirect URI, the PKCE
// verifier and the nonce (and, for StartForUser, the expected user), and
// saved as by Exchange: a grant for more scopes keeps the stored refresh
// token when Google sends none. A sign-in that brings no refresh token
// while none is stored goes back to Google once, with prompt=consent for
// that account, so that Google issues one. Success calls OnSignIn.
//
// Every response has Cache-Control: no-store and Referrer-Policy:
// no-referrer (the URL holds the code).
func (s *WebSignIn) Callback(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		s.fail(w, r, nil, errCallbackMethod)
		return
	}
	p, err := s.checkState(w, r)
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	q := r.URL.Query()
	if q.Has("error") {
		s.fail(w, r, nil, newAuthorizationError(q.Get("error"), q.Get("error_description"), q.Get("code")))
		return
	}
	if len(q["code"]) != 1 {
		s.fail(w, r, nil, fmt.Errorf("%w: the callback has %d code parameters, want 1", ErrInvalidCode, len(q["code"])))
		return
	}
	opts := []ExchangeOption{WithRedirectURL(s.redirect), WithCodeVerifier(p.CodeVerifier), WithNonce(p.Nonce)}
	if p.UserID != "" {
		opts = append(opts, WithExpectedSubject(p.UserID))
	}
	res, err := s.e.Exchange(r.Context(), q.Get("code"), opts...)
	if err != nil {
		var se *SaveError
		if errors.Is(err, ErrNoRefreshToken) && !errors.As(err, &se) && !p.ConsentForced && res != nil {
			// Consented before, but the store has no refresh token: ask
			// Google once more, for this account, with the consent screen.
			if s.consentAgain(w, r, p, res) {
				return
			}
		}
		s.fail(w, r, res, err)
		return
	}
	rw := &writeTracker{ResponseWriter: w}
	if s.cfg.OnSignIn != nil {
		s.cfg.OnSignIn(rw, r, res)
	}
	if !rw.wrote {
		to := p.ReturnTo
		if to == "" || !localPath(to) {
			to = "/"
		}
		w.Header().Set("Location", to)
		w.WriteHeader(http.StatusSeeOther)
	}
}

// errCallbackMethod refuses a callback that is not a GET.
var errCallbackMethod = errors.New("serverauth: the sign-in callback takes GET only")

// checkState loads the pending sign-in and checks the callback against it.
func (s *WebSignIn) checkState(w http.ResponseWriter, r *http.Request) (*PendingSignIn, error) {
	states := r.URL.Query()["state"]
	p, err := s.store.Load(r)
	switch {
	case errors.Is(err, ErrInvalidState):
		s.store.Delete(w, r)
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("serverauth: reading the pending sign-in: %w", err)
	case p == nil:
		return nil, &StateError{Reason: StateMissing}
	case p.State == "" || p.CodeVerifier == "" || p.Nonce == "":
		s.store.Delete(w, r)
		return nil, &StateError{Reason: StateInvalid}
	case !s.e.cfg.Now().Before(p.Expiry):
		s.store.Delete(w, r)
		return nil, &StateError{Reason: StateExpired}
	case len(states) != 1 || subtle.ConstantTimeCompare([]byte(states[0]), []byte(p.State)) != 1:
		return nil, &StateError{Reason: StateMismatch}
	}
	if err := s.store.Delete(w, r); err != nil {
		// Not used up, so not usable: a replay could use it again.
		return nil, fmt.Errorf("serverauth: forgetting the pending sign-in: %w", err)
	}
	return p, nil
}

// consentAgain restarts the sign-in of res's user with prompt=consent. It
// reports whether it answered the request.
func (s *WebSignIn) consentAgain(w http.ResponseWriter, r *http.Request, p *PendingSignIn, res *Result) bool {
	next := &PendingSignIn{
		State:         randomString(),
		CodeVerifier:  oauth2.GenerateVerifier(),
		Nonce:         randomString(),
		Expiry:        s.e.cfg.Now().Add(s.cfg.StateTTL),
		UserID:        res.UserID,
		ReturnTo:      p.ReturnTo,
		Scopes:        p.Scopes,
		ConsentForced: true,
	}
	// The sub names the account exactly (Google takes it as login_hint).
	if err := s.redirectToGoogle(w, r, next, res.UserID, nil); err != nil {
		s.e.cfg.Logger.LogAttrs(r.Context(), slog.LevelWarn, "serverauth: could not restart the sign-in for consent", slog.String("error", err.Error()))
		return false
	}
	s.e.cfg.Logger.LogAttrs(r.Context(), slog.LevelInfo, "serverauth: no refresh token; asking Google for consent again", slog.String("user_id", res.UserID))
	return true
}

// fail answers a failed callback through OnError or the default page.
func (s *WebSignIn) fail(w http.ResponseWriter, r *http.Request, res *Result, err error) {
	herr := webFailure(s.e, r, res, err)
	s.e.cfg.Logger.LogAttrs(r.Context(), slog.LevelInfo, "serverauth: web sign-in refused",
		slog.Int("status", herr.status), slog.String("error", herr.code))
	if s.cfg.OnError != nil {
		s.cfg.OnError(w, r, res, err)
		return
	}
	writeErrorPage(w, herr)
}

// webFailure maps a failed browser sign-in to its response.
func webFailure(e *Exchanger, r *http.Request, res *Result, err error) *httpError {
	var (
		stateErr *StateError
		authErr  *AuthorizationError
	)
	switch {
	case errors.Is(err, errCallbackMethod):
		return &httpError{http.StatusMethodNotAllowed, "invalid_request", "Google returns here with GET.", 0}
	case errors.Is(err, ErrCSRF):
		return &httpError{http.StatusForbidden, "access_denied", "The sign-in could not be checked against this browser (its g_csrf_token cookie is missing or different). Sign in again from the app's page.", 0}
	case errors.As(err, &stateErr):
		return &httpError{http.StatusBadRequest, "invalid_request", "This sign-in expired, was already used, or was started in another browser. Start again.", 0}
	case errors.Is(err, ErrAccessDenied):
		return &httpError{http.StatusForbidden, "access_denied", "Sign-in was cancelled.", 0}
	case errors.As(err, &authErr) && (authErr.Code == "temporarily_unavailable" || authErr.Code == "server_error"):
		return &httpError{http.StatusServiceUnavailable, "temporarily_unavailable", "Google is unavailable; try again shortly.", 30}
	case errors.As(err, &authErr):
		e.cfg.Logger.LogAttrs(r.Context(), slog.LevelError, "serverauth: Google refused the authorization request", slog.String("error", err.Error()))
		return &httpError{http.StatusInternalServerError, "server_error", "The app's Google sign-in is misconfigured.", 0}
	case errors.Is(err, ErrNoRefreshToken):
		return &httpError{http.StatusForbidden, "consent_required", "Offline access was not granted. Sign in again and allow access.", 0}
	}
	return failure(e, r, res, err, false)
}

// writeErrorPage answers a browser with a short HTML page.
func writeErrorPage(w http.ResponseWriter, herr *httpError) {
	if herr.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(herr.retryAfter))
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'")
	w.WriteHeader(herr.status)
	fmt.Fprintf(w, "<!doctype html>\n<meta charset=\"utf-8\">\n<title>Sign-in failed</title>\n<h1>Sign-in failed</h1>\n<p>%s</p>\n<p><small>%d %s</small></p>\n",
		html.EscapeString(herr.description), herr.status, html.EscapeString(herr.code))
}

// writeTracker records whether a handler wrote a response.
type writeTracker struct {
	http.ResponseWriter
	wrote bool
}

func (t *writeTracker) WriteHeader(status int) {
	t.wrote = true
	t.ResponseWriter.WriteHeader(status)
}

func (t *writeTracker) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (t *writeTracker) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// localPath reports whether p is a path on this site: it starts with one
// slash, has no backslash (browsers read "/\\host" as "//host") or
// control character, and parses without a scheme or host.
func localPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\") {
		return false
	}
	u, err := url.Parse(p) // refuses control characters
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil
}

// randomString returns 32 random bytes, base64url: a state or nonce.
func randomString() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ErrAccessDenied means the user declined at Google: Cancel on the
// consent screen, or no account chosen (error=access_denied, RFC 6749
// §4.1.2.1). The error is an *AuthorizationError.
var ErrAccessDenied = errors.New("serverauth: the user declined the sign-in")

// AuthorizationError is an error redirect from Google's authorization
// endpoint to the callback (RFC 6749 §4.1.2.1): access_denied when the
// user cancelled, invalid_request or unauthorized_client for a
// misconfigured client, admin_policy_enforced or org_internal when the
// user's Workspace refuses the app. Code and Description come from the URL
// and are untrusted: they are truncated, and credential-shaped text in
// them is masked.
type AuthorizationError struct {
	Code        string
	Description string
}

// newAuthorizationError scrubs and truncates the untrusted fields: a
// description could echo a code or token back.
func newAuthorizationError(code, desc string, secrets ...string) *AuthorizationError {
	return &AuthorizationError{Code: redact.Truncate(redact.String(code, secrets...), 64), Description: redact.Truncate(redact.String(desc, secrets...), 200)}
}

func (e *AuthorizationError) Error() string {
	s := "serverauth: Google answered the authorization request with error " + strconv.Quote(e.Code)
	if e.Description != "" {
		s += ": " + strconv.Quote(e.Description)
	}
	return s
}

// Is makes errors.Is(err, ErrAccessDenied) true for access_denied.
func (e *AuthorizationError) Is(target error) bool {
	return target == ErrAccessDenied && e.Code == "access_denied"
}
