package serverauthtest

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

// This file holds the authorization endpoint as a browser sees it: the
// validation of the request (RFC 6749 §4.1.1), the immediate consent of
// Options.ConsentPage off, and the account chooser and consent page of
// Options.ConsentPage on, whose answers go back by redirect (RFC 6749
// §4.1.2) or, for Google Identity Services popups, by postMessage to the
// opener (redirect_uri=postmessage).

// Paths of the browser pages' form posts and of the Google Identity
// Services stand-in.
const (
	chooserPostPath = "/signin/oauth/consent" // the chooser's account choice
	consentPostPath = "/signin/oauth/approve" // the consent page's Continue or Cancel
	gsiClientPath   = "/gsi/client"           // the stand-in script
	gsiSelectPath   = "/gsi/select"           // the ID-token account chooser
)

// Lifetimes of a page's pending request.
const (
	pageTTL     = 30 * time.Minute // a chooser or consent page can be answered this long
	maxPending  = 10000            // pending requests kept at most; the oldest go first
	postMessage = "postmessage"
)

// accessDuration is one choice of time-limited access.
type accessDuration struct {
	seconds int64
	label   string
}

// Time-limited access choices on the consent page (Google's "time-based
// access"), in seconds; the default is a week.
var accessDurations = []accessDuration{
	{3600, "1 hour"},
	{86400, "1 day"},
	{604800, "1 week"},
	{2592000, "30 days"},
}

const defaultAccessDuration = 604800

// pageKind says what a pending request ends in.
type pageKind int

const (
	kindCode    pageKind = iota // an authorization code (redirect or popup)
	kindIDToken                 // a GIS ID-token credential
)

// authzRequest is a validated browser request waiting for the user's
// answer on the fake's pages.
type authzRequest struct {
	kind        pageKind
	id          string // names the request in the pages' forms
	csrf        string // the per-page token: in the form and in a cookie
	client      Client
	redirectURI string // a registered URI, or "postmessage"
	origin      string // the page's origin for postmessage and GIS
	scopes      []string
	state       string
	nonce       string
	prompt      string
	loginHint   string
	online      bool
	includeAll  bool // include_granted_scopes=true
	challenge   string
	method      string
	loginURI    string // kindIDToken: where the credential goes
	gCSRF       string // kindIDToken redirect mode: the g_csrf_token to post
	user        *User  // chosen on the chooser
	expires     time.Time
}

// popup reports whether the answer goes to a window opener by postMessage.
func (a *authzRequest) popup() bool {
	return a.redirectURI == postMessage || (a.kind == kindIDToken && a.gCSRF == "")
}

// pendingPages holds the requests shown on a page and not yet answered. It
// is safe for concurrent use.
type pendingPages struct {
	// guards byID and order
	mu    sync.Mutex
	byID  map[string]*authzRequest
	order []string // oldest first
}

func newPendingPages() *pendingPages { return &pendingPages{byID: map[string]*authzRequest{}} }

// add stores a and gives it its id and CSRF token.
func (p *pendingPages) add(a *authzRequest, now time.Time) {
	a.id = randomToken("", 32)
	a.csrf = randomToken("", 43)
	a.expires = now.Add(pageTTL)
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.order) > 0 && (len(p.order) >= maxPending || !now.Before(p.byID[p.order[0]].expires)) {
		delete(p.byID, p.order[0])
		p.order = p.order[1:]
	}
	p.byID[a.id] = a
	p.order = append(p.order, a.id)
}

// get returns the pending request a form post names, if its token matches
// the form's and the cookie's and it has not expired.
func (p *pendingPages) get(r *http.Request, now time.Time) (*authzRequest, bool) {
	id, token := r.PostForm.Get("authz"), r.PostForm.Get("csrf")
	c, err := r.Cookie(csrfCookie(id))
	if id == "" || token == "" || err != nil {
		return nil, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.byID[id]
	if !ok || !now.Before(a.expires) ||
		subtle.ConstantTimeCompare([]byte(token), []byte(a.csrf)) != 1 ||
		subtle.ConstantTimeCompare([]byte(c.Value), []byte(a.csrf)) != 1 {
		return nil, false
	}
	return a, true
}

// done forgets a: a page is answered once.
func (p *pendingPages) done(a *authzRequest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.byID, a.id)
	if i := slices.Index(p.order, a.id); i >= 0 {
		p.order = slices.Delete(p.order, i, i+1)
	}
}

// csrfCookie names the cookie that carries the CSRF token of request id.
func csrfCookie(id string) string { return "fg_csrf_" + id }

// setCSRFCookie binds the page of a to the browser that loaded it: the
// form's token must also come back in this cookie, which another site
// cannot set (a double submit, so that no other site can make a
// browser answer a page it did not show).
func setCSRFCookie(w http.ResponseWriter, r *http.Request, a *authzRequest) {
	http.SetCookie(w, &http.Cookie{
		Name:     csrfCookie(a.id),
		Value:    a.csrf,
		Path:     "/signin/",
		MaxAge:   int(pageTTL / time.Second),
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
}

// jsOrigins returns a web client's JavaScript origins: the registered
// ones, or the origins of its redirect URIs.
func (c Client) jsOrigins() []string {
	if c.JavaScriptOrigins != nil {
		return c.JavaScriptOrigins
	}
	var out []string
	for _, r := range c.RedirectURIs {
		if o, ok := originOf(r); ok && !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}

// originOf returns the scheme://host[:port] of an http or https URL.
func originOf(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", false
	}
	return u.Scheme + "://" + u.Host, true
}

// blockedPage writes Google's "Access blocked" page for a request whose
// client, redirect URI or origin cannot be trusted with an answer.
func blockedPage(w http.ResponseWriter, status int, code, detail string) {
	title := "Access blocked: This app’s request is invalid"
	if code == "invalid_client" {
		title = "Access blocked: Authorization Error"
	}
	googleHTMLPage(w, status, title, "Error "+strconv.Itoa(status)+": "+code+". "+detail)
}

// handleAuth serves the authorization endpoint (RFC 6749 §4.1.1). Errors
// that make the redirect URI or the page origin untrustworthy are shown as
// an HTML page; others go back to the client (§4.1.2.1). access_type
// defaults to online, as at Google. With Options.ConsentPage off it
// consents at once as the login_hint user or the first account; on, it
// shows the account chooser.
func (g *Google) handleAuth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		googleHTMLError(w, http.StatusMethodNotAllowed)
		return
	}
	q := r.Form
	clientID, redirectURI := q.Get("client_id"), q.Get("redirect_uri")
	g.mu.Lock()
	c, ok := g.clients[clientID]
	g.mu.Unlock()
	if !ok || c.Type != ClientWeb {
		blockedPage(w, http.StatusUnauthorized, "invalid_client", "The OAuth client was not found.")
		return
	}
	a := &authzRequest{kind: kindCode, client: c, redirectURI: redirectURI, state: q.Get("state")}
	if redirectURI == postMessage {
		origin := q.Get("origin")
		if !slices.Contains(c.jsOrigins(), origin) {
			blockedPage(w, http.StatusBadRequest, "origin_mismatch",
				"You can’t sign in to this app because it does not comply with Google’s OAuth 2.0 policy. Register the JavaScript origin of the page: origin="+origin)
			return
		}
		a.origin = origin
	} else if !slices.Contains(c.RedirectURIs, redirectURI) {
		blockedPage(w, http.StatusBadRequest, "redirect_uri_mismatch",
			"You can’t sign in because this app sent an invalid request. redirect_uri="+redirectURI)
		return
	}
	fail := func(code, desc string) {
		g.answer(w, r, a, url.Values{"error": {code}, "error_description": {desc}})
	}
	if rt := q.Get("response_type"); rt != "code" {
		fail("unsupported_response_type", "Invalid response_type: "+rt)
		return
	}
	a.scopes = normalizeScopes(strings.Fields(q.Get("scope")))
	if len(a.scopes) == 0 {
		fail("invalid_request", "Missing required parameter: scope")
		return
	}
	access := q.Get("access_type")
	if access != "" && access != "online" && access != "offline" {
		fail("invalid_request", "Invalid access_type: "+access)
		return
	}
	a.online = access != "offline"
	a.challenge, a.method = q.Get("code_challenge"), q.Get("code_challenge_method")
	if a.challenge == "" && a.method != "" {
		fail("invalid_request", "Missing code_challenge")
		return
	}
	if a.method != "" && a.method != "plain" && a.method != "S256" {
		fail("invalid_request", "Invalid code_challenge_method: "+a.method)
		return
	}
	a.nonce, a.prompt, a.loginHint = q.Get("nonce"), q.Get("prompt"), q.Get("login_hint")
	a.includeAll = q.Get("include_granted_scopes") == "true"
	if !g.opts.ConsentPage {
		u := g.hintedUser(a.loginHint)
		g.grant(w, r, a, u, nil, 0)
		return
	}
	g.pages.add(a, g.now())
	g.showChooser(w, r, a)
}

// hintedUser returns the account a login_hint names (an email address or,
// as Google also accepts, the account's sub), or the first account.
func (g *Google) hintedUser(hint string) User {
	for _, u := range g.opts.Accounts {
		if hint != "" && (strings.EqualFold(u.Email, hint) || u.Sub == hint) {
			return u
		}
	}
	if strings.Contains(hint, "@") {
		return userForEmail(hint)
	}
	if len(g.opts.Accounts) > 0 {
		return g.opts.Accounts[0]
	}
	return DemoUser()
}

// grant mints the code for a consented request and sends it back. granted
// nil means every requested scope; rtTTL > 0 makes a time-limited grant.
func (g *Google) grant(w http.ResponseWriter, r *http.Request, a *authzRequest, u User, granted []string, rtTTL time.Duration) {
	if a.kind == kindIDToken {
		g.sendCredential(w, r, a, u)
		return
	}
	if granted == nil {
		granted = a.scopes
	}
	req := CodeRequest{
		User:                 u,
		Scopes:               a.scopes,
		GrantedScopes:        granted,
		Origin:               OriginWebRedirect,
		ClientID:             a.client.ID,
		RedirectURI:          a.redirectURI,
		Prompt:               a.prompt,
		OnlineAccess:         a.online,
		CodeChallenge:        a.challenge,
		CodeChallengeMethod:  a.method,
		Nonce:                a.nonce,
		IncludeGrantedScopes: a.includeAll,
		RefreshTokenTTL:      rtTTL,
	}
	if a.redirectURI == postMessage {
		req.Origin, req.RedirectURI = OriginWebPopup, ""
	}
	g.mu.Lock()
	firstConsent := !g.consented[consentKey{u.Sub, a.client.ID}]
	g.mu.Unlock()
	code, err := g.MintCode(req)
	if err != nil {
		g.answer(w, r, a, url.Values{"error": {"invalid_request"}, "error_description": {strings.TrimPrefix(err.Error(), "serverauthtest: MintCode: ")}})
		return
	}
	prompt := "none"
	if firstConsent || hasPromptConsent(a.prompt) || g.opts.ConsentPage {
		prompt = "consent"
	}
	g.answer(w, r, a, url.Values{
		"code":     {code},
		"scope":    {strings.Join(granted, " ")},
		"authuser": {"0"},
		"prompt":   {prompt},
	})
}

// answer sends the authorization response v (with the request's state):
// by redirect to the registered URI, or to the opener by postMessage.
func (g *Google) answer(w http.ResponseWriter, r *http.Request, a *authzRequest, v url.Values) {
	if a.state != "" {
		v.Set("state", a.state)
	}
	if a.popup() {
		resp := map[string]string{}
		for k := range v {
			resp[k] = v.Get(k)
		}
		writePopupResult(w, a.origin, "code", resp)
		return
	}
	sep := "?"
	if strings.Contains(a.redirectURI, "?") {
		sep = "&"
	}
	noStore(w)
	http.Redirect(w, r, a.redirectURI+sep+v.Encode(), http.StatusFound)
}

// handleChooserPost serves the chooser's form: the account chosen (a
// listed one, or another email address typed in) or Cancel.
func (g *Google) handleChooserPost(w http.ResponseWriter, r *http.Request) {
	a, ok := g.pagePost(w, r)
	if !ok {
		return
	}
	if r.PostForm.Get("action") == "cancel" {
		g.pages.done(a)
		g.cancel(w, r, a)
		return
	}
	email := strings.TrimSpace(r.PostForm.Get("account"))
	u, err := g.accountFor(email)
	if err != nil {
		g.showChooserError(w, r, a, err.Error())
		return
	}
	a.user = &u
	if a.kind == kindIDToken {
		g.pages.done(a)
		g.sendCredential(w, r, a, u)
		return
	}
	g.showConsent(w, r, a)
}

// accountFor returns the listed account with email, or a new one for an
// address typed in.
func (g *Google) accountFor(email string) (User, error) {
	for _, u := range g.opts.Accounts {
		if strings.EqualFold(u.Email, email) {
			return u, nil
		}
	}
	if err := checkEmail(email); err != nil {
		return User{}, err
	}
	u := userForEmail(email)
	local, _, _ := strings.Cut(email, "@")
	u.Name, u.GivenName, u.FamilyName, u.Picture = local, local, "", ""
	return u, nil
}

// checkEmail accepts a plausible email address: a local part of RFC 5322
// atext characters and dots, one @, and a domain of letters, digits,
// hyphens and at least one inner dot; at most 254 bytes.
func checkEmail(email string) error {
	if email == "" {
		return errors.New("Enter an email address")
	}
	local, domain, ok := strings.Cut(email, "@")
	valid := ok && local != "" && len(email) <= 254 &&
		strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".") &&
		strings.IndexFunc(local, func(r rune) bool {
			return !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(".!#$%&'*+/=?^_`{|}~-", r)))
		}) < 0 &&
		strings.IndexFunc(domain, func(r rune) bool {
			return !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '.'))
		}) < 0
	if !valid {
		return errors.New("Enter a valid email address, such as you@example.com")
	}
	return nil
}

// handleConsentPost serves the consent page's form: Continue with the
// scopes left ticked and the access duration, or Cancel.
func (g *Google) handleConsentPost(w http.ResponseWriter, r *http.Request) {
	a, ok := g.pagePost(w, r)
	if !ok {
		return
	}
	if a.kind != kindCode || a.user == nil {
		googleHTMLPage(w, http.StatusBadRequest, "This page is out of date", "Choose an account first: start the sign-in again.")
		return
	}
	switch r.PostForm.Get("action") {
	case "cancel":
		g.pages.done(a)
		g.cancel(w, r, a)
		return
	case "continue":
	default:
		googleHTMLPage(w, http.StatusBadRequest, "Bad Request", "action must be continue or cancel.")
		return
	}
	// Sign-in scopes are consented as a block, and so is a scope shown
	// without a checkbox; the others only when left ticked.
	var granted []string
	for _, s := range a.scopes {
		if signInScope(s) || !granular(a.scopes) {
			granted = append(granted, s)
		}
	}
	for _, s := range r.PostForm["scope"] {
		if !slices.Contains(a.scopes, s) {
			googleHTMLPage(w, http.StatusBadRequest, "Bad Request", "scope "+s+" was not requested.")
			return
		}
		if !slices.Contains(granted, s) {
			granted = append(granted, s)
		}
	}
	var rtTTL time.Duration
	if r.PostForm.Get("ongoing_access") == "" {
		secs := int64(defaultAccessDuration)
		if d := r.PostForm.Get("access_duration"); d != "" {
			n, err := strconv.ParseInt(d, 10, 64)
			if err != nil || !slices.ContainsFunc(accessDurations, func(c accessDuration) bool { return c.seconds == n }) {
				googleHTMLPage(w, http.StatusBadRequest, "Bad Request", "access_duration "+d+" is not one of the offered durations.")
				return
			}
			secs = n
		}
		rtTTL = time.Duration(secs) * time.Second
	}
	g.pages.done(a)
	if len(granted) == 0 {
		g.cancel(w, r, a)
		return
	}
	// Keep the requested order.
	slices.SortStableFunc(granted, func(x, y string) int { return slices.Index(a.scopes, x) - slices.Index(a.scopes, y) })
	g.grant(w, r, a, *a.user, granted, rtTTL)
}

// cancel answers a request the user declined: error=access_denied, as
// Google (RFC 6749 §4.1.2.1).
func (g *Google) cancel(w http.ResponseWriter, r *http.Request, a *authzRequest) {
	if a.kind == kindIDToken {
		if a.popup() {
			writePopupResult(w, a.origin, "id", map[string]string{"error": "access_denied"})
			return
		}
		noStore(w)
		http.Redirect(w, r, a.origin+"/", http.StatusFound)
		return
	}
	g.answer(w, r, a, url.Values{"error": {"access_denied"}})
}

// pagePost checks a form post from one of the fake's pages: POST, a known
// and live request, its CSRF token in the form and in the cookie.
func (g *Google) pagePost(w http.ResponseWriter, r *http.Request) (*authzRequest, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		googleHTMLError(w, http.StatusMethodNotAllowed)
		return nil, false
	}
	a, ok := g.pages.get(r, g.now())
	if !ok {
		googleHTMLPage(w, http.StatusForbidden, "This page has expired or was not shown by this browser",
			"The form’s token does not match. Start the sign-in again from the app.")
		return nil, false
	}
	return a, true
}

// signInScope reports whether s is one of the sign-in scopes Google
// consents as a block.
func signInScope(s string) bool { return s == scopeOpenID || s == scopeEmail || s == scopeProfile }

// granular reports whether Google's consent screen shows a checkbox per
// non-sign-in scope: when a request has a sign-in scope and another scope,
// or two or more other scopes (Google, "How to handle granular
// permissions", 2024).
func granular(scopes []string) bool {
	var signIn, other int
	for _, s := range scopes {
		if signInScope(s) {
			signIn++
		} else {
			other++
		}
	}
	return (signIn > 0 && other > 0) || other >= 2
}

// handleGSISelect serves the account chooser of the Google Identity
// Services stand-in's ID-token sign-in (google.accounts.id): choosing an
// account mints an ID token for the client (aud and azp the client ID,
// nonce as given) and sends it to the opener by postMessage or, in
// redirect mode, posts it with g_csrf_token to login_uri.
func (g *Google) handleGSISelect(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		googleHTMLError(w, http.StatusMethodNotAllowed)
		return
	}
	q := r.Form
	g.mu.Lock()
	c, ok := g.clients[q.Get("client_id")]
	g.mu.Unlock()
	if !ok || c.Type != ClientWeb {
		blockedPage(w, http.StatusUnauthorized, "invalid_client", "The OAuth client was not found.")
		return
	}
	a := &authzRequest{kind: kindIDToken, client: c, scopes: []string{scopeOpenID, scopeEmail, scopeProfile},
		nonce: q.Get("nonce"), loginHint: q.Get("login_hint"), loginURI: q.Get("login_uri")}
	origin := q.Get("origin")
	if !slices.Contains(c.jsOrigins(), origin) {
		blockedPage(w, http.StatusBadRequest, "origin_mismatch",
			"Register the JavaScript origin of the page: origin="+origin)
		return
	}
	a.origin = origin
	if a.loginURI != "" && !slices.Contains(c.RedirectURIs, a.loginURI) {
		blockedPage(w, http.StatusBadRequest, "redirect_uri_mismatch",
			"login_uri must be a registered redirect URI: login_uri="+a.loginURI)
		return
	}
	switch q.Get("ux_mode") {
	case "", "popup":
	case "redirect":
		a.gCSRF = q.Get("g_csrf_token")
		if a.loginURI == "" || !validCSRFToken(a.gCSRF) {
			googleHTMLPage(w, http.StatusBadRequest, "Bad Request", "ux_mode redirect needs login_uri and a g_csrf_token of 16 to 128 letters, digits, - or _.")
			return
		}
	default:
		googleHTMLPage(w, http.StatusBadRequest, "Bad Request", "ux_mode must be popup or redirect.")
		return
	}
	if !g.opts.ConsentPage {
		g.sendCredential(w, r, a, g.hintedUser(a.loginHint))
		return
	}
	g.pages.add(a, g.now())
	g.showChooser(w, r, a)
}

// validCSRFToken accepts the g_csrf_token values the stand-in makes.
func validCSRFToken(s string) bool {
	if len(s) < 16 || len(s) > 128 {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_')
	}) < 0
}

// sendCredential mints the GIS ID token for u and delivers it.
func (g *Google) sendCredential(w http.ResponseWriter, r *http.Request, a *authzRequest, u User) {
	cred := g.GISCredential(u, a.client.ID, a.nonce)
	if a.popup() {
		writePopupResult(w, a.origin, "id", map[string]string{"credential": cred, "select_by": "btn", "clientId": a.client.ID, "client_id": a.client.ID})
		return
	}
	writeAutoPost(w, a.loginURI, [][2]string{{"credential", cred}, {"g_csrf_token", a.gCSRF}})
}

// GISCredential returns the ID token Sign in with Google hands a web page
// for u (the credential of google.accounts.id, and of a login_uri post):
// aud and azp are clientID, with the email and profile claims and nonce
// when not empty, valid for Options.IDTokenLifetime, signed with the
// current key. The zero User means [DemoUser].
func (g *Google) GISCredential(u User, clientID, nonce string) string {
	if u == (User{}) {
		u = DemoUser()
	}
	g.mu.Lock()
	g.users[u.Sub] = u
	k := g.signing
	g.mu.Unlock()
	return g.idToken(k, idTokenParams{
		user:     u,
		aud:      clientID,
		azp:      clientID,
		scopes:   []string{scopeOpenID, scopeEmail, scopeProfile},
		nonce:    nonce,
		issuedAt: g.now(),
	})
}

// scopeDescription returns what Google's consent screen says about s.
func scopeDescription(s string) string {
	switch s {
	case scopeOpenID:
		return "Associate you with your personal info on Google"
	case scopeEmail:
		return "See your primary Google Account email address"
	case scopeProfile:
		return "See your personal info, including any personal info you’ve made publicly available"
	case scopePrefix + "drive.appdata":
		return "See, create, and delete its own configuration data in your Google Drive"
	case scopePrefix + "drive.file":
		return "See, edit, create, and delete only the specific Google Drive files you use with this app"
	case scopePrefix + "drive":
		return "See, edit, create, and delete all of your Google Drive files"
	case scopePrefix + "drive.readonly":
		return "See and download all your Google Drive files"
	case scopePrefix + "calendar":
		return "See, edit, share, and permanently delete all the calendars you can access using Google Calendar"
	}
	return fmt.Sprintf("Use %s", strings.TrimPrefix(s, scopePrefix))
}
