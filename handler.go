package serverauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// MaxSignInBody caps the body SignInHandler reads: a code is under 100
// bytes and an ID token at most 16 KiB.
const MaxSignInBody = 32 << 10

const defaultCSRFHeader = "X-Requested-With"

// SignInFunc is called by SignInHandler after a successful sign-in, to start
// the app's own session and answer the request. res.Token is nil for a
// sign-in made with an ID token alone.
type SignInFunc func(w http.ResponseWriter, r *http.Request, res *Result)

// SignInHandler returns the endpoint the app posts its one-time code to.
//
// It accepts POST only (405 otherwise), requires Config.CSRFHeader
// (X-Requested-With by default; 403 without it) and, when
// Config.AllowedOrigins is set, an allowed Origin (403). The body, at most
// MaxSignInBody bytes (413), is a form (code=…) or JSON ({"code": "…"}); for
// a later sign-in the app may instead send an ID token (id_token), which is
// verified and matched to the stored user. Every response has
// Cache-Control: no-store.
//
// Success calls onSignIn with the Result; a nil onSignIn answers 200 with
// the public profile as JSON (user_id, email, email_verified, name,
// given_name, family_name, picture, locale, hd, scopes), never tokens.
// Errors are JSON {"error", "error_description"} and never echo a code or a
// token: 400 bad input; 401 a code that is invalid, expired, reused or of
// another client, or a bad ID token; 403 a missing CSRF header, a disallowed
// Origin, a scope not granted, or consent needed for offline access (the
// handler then resets the grant so the next sign-in asks for consent); 502
// Google unavailable; 500 a misconfigured server or a failing store.
func (e *Exchanger) SignInHandler(onSignIn SignInFunc) http.Handler {
	if onSignIn == nil {
		onSignIn = writeProfile
	}
	header := e.cfg.CSRFHeader
	if header == "" {
		header = defaultCSRFHeader
	}
	return &signInHandler{e: e, onSignIn: onSignIn, header: header}
}

type signInHandler struct {
	e        *Exchanger
	onSignIn SignInFunc
	header   string
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
		h.e.logger().LogAttrs(r.Context(), slog.LevelInfo, "serverauth: sign-in refused",
			slog.Int("status", herr.status), slog.String("error", herr.code))
		writeError(w, herr)
		return
	}
	h.onSignIn(w, r, res)
}

func (h *signInHandler) signIn(w http.ResponseWriter, r *http.Request) (*Result, *httpError) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, &httpError{http.StatusMethodNotAllowed, "invalid_request", "use POST", 0}
	}
	if r.Header.Get(h.header) == "" {
		return nil, &httpError{http.StatusForbidden, "access_denied", "the " + h.header + " header is required", 0}
	}
	if origin := r.Header.Get("Origin"); origin != "" && len(h.e.cfg.AllowedOrigins) > 0 && !slices.Contains(h.e.cfg.AllowedOrigins, origin) {
		return nil, &httpError{http.StatusForbidden, "access_denied", "this Origin may not sign in here", 0}
	}
	code, idToken, herr := readCredential(w, r)
	if herr != nil {
		return nil, herr
	}
	if code != "" {
		return h.exchange(r, code)
	}
	return h.verify(r, idToken)
}

// readCredential reads the code or ID token from a form or JSON body.
func readCredential(w http.ResponseWriter, r *http.Request) (code, idToken string, herr *httpError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxSignInBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", "", &httpError{http.StatusRequestEntityTooLarge, "invalid_request", "the body is larger than " + strconv.Itoa(MaxSignInBody) + " bytes", 0}
		}
		return "", "", badRequest("the body could not be read")
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/json":
		var v struct {
			Code    *string `json:"code"`
			IDToken *string `json:"id_token"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&v); err != nil || dec.More() {
			return "", "", badRequest("the body is not a JSON object like {\"code\": \"...\"}")
		}
		if v.Code != nil {
			code = *v.Code
		}
		if v.IDToken != nil {
			idToken = *v.IDToken
		}
	case "application/x-www-form-urlencoded", "":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return "", "", badRequest("the body is not a valid form")
		}
		if len(form["code"]) > 1 || len(form["id_token"]) > 1 {
			return "", "", badRequest("code and id_token may appear once")
		}
		code, idToken = first(form["code"]), first(form["id_token"])
	default:
		return "", "", &httpError{http.StatusUnsupportedMediaType, "invalid_request", "send application/x-www-form-urlencoded or application/json", 0}
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

// exchange redeems the posted code.
func (h *signInHandler) exchange(r *http.Request, code string) (*Result, *httpError) {
	e := h.e
	res, err := e.Exchange(r.Context(), code)
	if err == nil {
		return res, nil
	}
	var (
		te       *TokenError
		ie       *IDTokenError
		scopeErr *ScopeError
		saveErr  *SaveError
	)
	switch {
	case errors.Is(err, ErrInvalidCode):
		return nil, badRequest("the code is empty, padded or too long")
	case errors.As(err, &saveErr):
		e.logger().LogAttrs(r.Context(), slog.LevelError, "serverauth: saving a sign-in failed", slog.String("user_id", saveErr.UserID), slog.String("error", saveErr.Err.Error()))
		return nil, &httpError{http.StatusInternalServerError, "server_error", "the sign-in could not be saved; post the same code again shortly", 0}
	case errors.As(err, &scopeErr):
		return nil, &httpError{http.StatusForbidden, "insufficient_scope", "sign in again and grant: " + strings.Join(scopeErr.Missing, " "), 0}
	case errors.Is(err, ErrNoRefreshToken):
		// Mobile apps cannot force the consent screen: reset the grant so
		// that the next sign-in shows it and Google issues a refresh token.
		if rerr := e.ResetConsent(r.Context(), res); rerr != nil {
			e.logger().LogAttrs(r.Context(), slog.LevelWarn, "serverauth: resetting consent failed", slog.String("error", rerr.Error()))
		}
		return nil, &httpError{http.StatusForbidden, "consent_required", "offline access was not granted; sign in again and accept the consent screen", 0}
	case errors.As(err, &ie):
		return nil, idTokenHTTPError(ie)
	case errors.As(err, &te):
		return nil, tokenHTTPError(r, e, te)
	case r.Context().Err() != nil:
		return nil, &httpError{http.StatusServiceUnavailable, "temporarily_unavailable", "the request was cancelled", 0}
	}
	e.logger().LogAttrs(r.Context(), slog.LevelError, "serverauth: sign-in failed", slog.String("error", err.Error()))
	return nil, &httpError{http.StatusInternalServerError, "server_error", "the sign-in failed", 0}
}

func idTokenHTTPError(ie *IDTokenError) *httpError {
	if ie.Temporary() {
		return &httpError{http.StatusBadGateway, "temporarily_unavailable", "Google's signing keys are unavailable; try again shortly", 30}
	}
	return &httpError{http.StatusUnauthorized, "invalid_token", "the ID token was refused: " + string(ie.Reason), 0}
}

func tokenHTTPError(r *http.Request, e *Exchanger, te *TokenError) *httpError {
	switch {
	case te.Code == "invalid_grant" || te.Code == "invalid_client" || te.Code == "unauthorized_client":
		return &httpError{http.StatusUnauthorized, "invalid_grant", "the code is invalid, expired, already used or not for this app; sign in again", 0}
	case te.Temporary():
		secs := int(te.RetryAfter.Seconds())
		return &httpError{http.StatusBadGateway, "temporarily_unavailable", "Google is unavailable; sign in again shortly", secs}
	}
	e.logger().LogAttrs(r.Context(), slog.LevelError, "serverauth: the backend's Google client is misconfigured", slog.String("error", te.Error()))
	return &httpError{http.StatusInternalServerError, "server_error", "the server's Google configuration is wrong", 0}
}

// verify handles a later sign-in with an ID token alone.
func (h *signInHandler) verify(r *http.Request, raw string) (*Result, *httpError) {
	e := h.e
	p, err := e.VerifyIDToken(r.Context(), raw)
	if err != nil {
		var ie *IDTokenError
		if errors.As(err, &ie) {
			return nil, idTokenHTTPError(ie)
		}
		return nil, &httpError{http.StatusInternalServerError, "server_error", "the ID token could not be checked", 0}
	}
	res := &Result{UserID: p.Subject, Profile: p}
	if e.tokens.store == nil {
		return res, nil
	}
	rec, err := e.tokens.store.Get(r.Context(), p.Subject)
	switch {
	case errors.Is(err, ErrNotFound) && e.cfg.SignInOnly:
		return res, nil
	case errors.Is(err, ErrNotFound):
		return nil, &httpError{http.StatusForbidden, "consent_required", "this user has not granted offline access yet; sign in with a server auth code", 0}
	case err != nil:
		e.logger().LogAttrs(r.Context(), slog.LevelError, "serverauth: reading a user for sign-in", slog.String("error", err.Error()))
		return nil, &httpError{http.StatusInternalServerError, "server_error", "the user could not be loaded", 0}
	}
	res.GrantedScopes = append([]string(nil), rec.Scopes...)
	if rec.Status.NeedsConsent() && rec.Status != StatusScopeRemoved && !e.cfg.SignInOnly {
		return nil, &httpError{http.StatusForbidden, "consent_required", "access was " + string(rec.Status) + "; sign in with a server auth code again", 0}
	}
	if missing := missingScopes(e.required, rec.Scopes); len(missing) > 0 {
		return nil, &httpError{http.StatusForbidden, "insufficient_scope", "sign in again and grant: " + strings.Join(missing, " "), 0}
	}
	return res, nil
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
	json.NewEncoder(w).Encode(v)
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
