package serverauth

import (
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
)

// GISLoginConfig configures [Exchanger.GISLoginHandler].
type GISLoginConfig struct {
	// OnSignIn is called after a successful sign-in, to start the app's
	// session. If it writes no response, the handler redirects (303) to
	// "/". Nil just redirects.
	OnSignIn SignInFunc

	// OnError answers a failed sign-in. Nil answers a short HTML page with
	// the status of the error's class. Errors: ErrCSRF for a failed
	// g_csrf_token check; an *IDTokenError; then what SignInWithIDToken
	// returns beside the verified user (ErrNoRefreshToken,
	// ErrReauthRequired, a *ScopeError), unless WebSignIn handles them. A
	// request that is no login_uri form at all (another method, content
	// type, an oversized or malformed body) is answered by the handler.
	OnError SignInErrorFunc

	// VerifyOptions, when set, gives each request's extra checks of the
	// credential, such as RequireNonce with the nonce the page passed to
	// google.accounts.id.initialize and the session kept.
	VerifyOptions func(*http.Request) []VerifyOption

	// WebSignIn, when set, takes over a verified user who has no usable
	// grant (none stored, a dead one, a required scope missing): the
	// browser is sent through its redirect flow for that account
	// (StartForUser), to grant offline access and the scopes. Nil hands
	// these to OnError.
	WebSignIn *WebSignIn

	// StartOptions, when set, adds options to the WebSignIn.Start of such a
	// user, after StartForUser: StartReturnTo the page they should land on
	// (the redirect flow's OnSignIn answers the callback, not this
	// handler's), say.
	StartOptions func(r *http.Request, res *Result) []StartOption
}

// ErrCSRF means a browser request failed its CSRF check: for
// GISLoginHandler, the g_csrf_token cookie is missing or differs from the
// form field of the same name.
var ErrCSRF = errors.New("serverauth: CSRF check failed")

// GISLoginHandler returns the endpoint for Sign in with Google for Web's
// login_uri: the button or One Tap in redirect mode POSTs the ID token
// there as an application/x-www-form-urlencoded form with credential and
// g_csrf_token, and sets the same g_csrf_token value as a cookie
// (developers.google.com/identity/gsi/web/guides/verify-google-id-token).
//
// The handler accepts POST only (405), a form body only (415) of at most
// MaxSignInBody bytes (413), each field once. It requires the g_csrf_token
// cookie to be present, non-empty and equal to the form field (compared in
// constant time), the double-submit check Google prescribes, or refuses
// with 403 before reading the credential. The credential is then signed in
// as by [Exchanger.SignInWithIDToken] with the VerifyOptions. Every
// response has Cache-Control: no-store.
func (e *Exchanger) GISLoginHandler(cfg GISLoginConfig) (http.Handler, error) {
	if cfg.WebSignIn != nil && cfg.WebSignIn.e != e {
		return nil, configErr("GISLoginConfig.WebSignIn", "belongs to another Exchanger: make it with this Exchanger's WebSignIn")
	}
	return &gisLoginHandler{e: e, cfg: cfg}, nil
}

type gisLoginHandler struct {
	e   *Exchanger
	cfg GISLoginConfig
}

func (h *gisLoginHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	credential, herr := readGISForm(w, r)
	if herr != nil {
		h.e.cfg.Logger.LogAttrs(r.Context(), slog.LevelInfo, "serverauth: GIS sign-in refused",
			slog.Int("status", herr.status), slog.String("error", herr.code))
		if herr.status == http.StatusForbidden && h.cfg.OnError != nil {
			h.cfg.OnError(w, r, nil, ErrCSRF)
			return
		}
		writeErrorPage(w, herr)
		return
	}
	var opts []VerifyOption
	if h.cfg.VerifyOptions != nil {
		opts = h.cfg.VerifyOptions(r)
	}
	res, err := h.e.SignInWithIDToken(r.Context(), credential, opts...)
	if err != nil {
		if res != nil && h.cfg.WebSignIn != nil && needsGrant(err) {
			opts := []StartOption{StartForUser(res.UserID)}
			if h.cfg.StartOptions != nil {
				opts = append(opts, h.cfg.StartOptions(r, res)...)
			}
			serr := h.cfg.WebSignIn.Start(w, r, opts...)
			if serr == nil {
				return
			}
			err = errors.Join(err, serr)
		}
		herr := webFailure(h.e, r, res, err)
		h.e.cfg.Logger.LogAttrs(r.Context(), slog.LevelInfo, "serverauth: GIS sign-in refused",
			slog.Int("status", herr.status), slog.String("error", herr.code))
		if h.cfg.OnError != nil {
			h.cfg.OnError(w, r, res, err)
			return
		}
		writeErrorPage(w, herr)
		return
	}
	rw := &writeTracker{ResponseWriter: w}
	if h.cfg.OnSignIn != nil {
		h.cfg.OnSignIn(rw, r, res)
	}
	if !rw.wrote {
		w.Header().Set("Location", "/")
		w.WriteHeader(http.StatusSeeOther)
	}
}

// needsGrant reports whether a verified ID-token sign-in failed for want of
// a usable grant, which the code flow can give.
func needsGrant(err error) bool {
	return errors.Is(err, ErrNoRefreshToken) || errors.Is(err, ErrReauthRequired) || errors.Is(err, ErrScopeNotGranted)
}

// readGISForm reads a login_uri POST and checks its double-submit cookie.
func readGISForm(w http.ResponseWriter, r *http.Request) (string, *httpError) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return "", &httpError{http.StatusMethodNotAllowed, "invalid_request", "Google Identity Services posts here.", 0}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return "", &httpError{http.StatusUnsupportedMediaType, "invalid_request", "Send the form Google Identity Services posts (application/x-www-form-urlencoded).", 0}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxSignInBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", &httpError{http.StatusRequestEntityTooLarge, "invalid_request", "The form is larger than " + strconv.Itoa(MaxSignInBody) + " bytes.", 0}
		}
		return "", badRequest("The form could not be read.")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || len(form["credential"]) > 1 || len(form["g_csrf_token"]) > 1 {
		return "", badRequest("The form is not valid: credential and g_csrf_token may appear once.")
	}
	ck, err := r.Cookie("g_csrf_token")
	field := form.Get("g_csrf_token")
	if err != nil || ck.Value == "" || field == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(field)) != 1 {
		return "", &httpError{http.StatusForbidden, "access_denied", "The sign-in could not be checked against this browser (its g_csrf_token cookie is missing or different). Sign in again from the app's page.", 0}
	}
	credential := form.Get("credential")
	if credential == "" {
		return "", badRequest("The credential (the ID token) is missing.")
	}
	return credential, nil
}
