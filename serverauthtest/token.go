package serverauthtest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Token-endpoint error descriptions, as Google words them (the codes are RFC 6749 §5.2's; the wording is what Google answers).
const (
	descBadRequest       = "Bad Request"
	descMalformedCode    = "Malformed auth code."
	descMissingVerifier  = "Missing code verifier."
	descVerifierUnneeded = "code_verifier or verifier is not needed."
	descBadVerifier      = "Invalid code verifier." // wording [U]
	descRevoked          = "Token has been expired or revoked."
	descReauth           = "reauth related error (invalid_rapt)"
	descDeleted          = "The account has been deleted"
	descUnauthorized     = "Unauthorized"
	descClientNotFound   = "The OAuth client was not found."
	descNoClientID       = "Could not determine client ID from request."
	descMissingSecret    = "client_secret is missing."
	descMultipleAuth     = "Multiple client authentication methods used." // the fake's wording; RFC 6749 §2.3, §5.2
	descDeletedClient    = "The OAuth client was deleted."
	descAdminPolicy      = "Access to this app is blocked by the Google Workspace admin." // the fake's wording [U]
	descOrgInternal      = "This app is restricted to users within its organization."     // the fake's wording [U]
	reauthErrorURI       = "https://support.google.com/a/answer/9368756"
)

// codePrefix starts every authorization code, as Google's "4/0A…".
const codePrefix = "4/0A"

// randomToken returns prefix followed by n random base64url characters.
func randomToken(prefix string, n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)[:n]
}

// MintCode returns an authorization code as if req.User had signed in and
// consented in the app. Codes look like Google's ("4/0A" and base64url
// characters, so they contain '/'), can be exchanged once, and expire after
// Options.CodeTTL by the fake's clock.
func (g *Google) MintCode(req CodeRequest) (string, error) {
	u := req.User
	if u == (User{}) {
		u = DemoUser()
	}
	if u.Sub == "" {
		return "", errors.New("serverauthtest: MintCode: User.Sub is empty")
	}
	origin := req.Origin
	if origin == "" {
		origin = OriginIOS
	}
	if !origin.valid() {
		return "", fmt.Errorf("serverauthtest: MintCode: unknown origin %q", origin)
	}
	scopes := req.Scopes
	if scopes == nil {
		scopes = []string{"openid", "email", "profile"}
	}
	requested := normalizeScopes(scopes)
	if len(requested) == 0 {
		return "", errors.New("serverauthtest: MintCode: no scopes requested")
	}
	granted := requested
	if req.GrantedScopes != nil {
		granted = normalizeScopes(req.GrantedScopes)
		for _, s := range granted {
			if !slices.Contains(requested, s) {
				return "", fmt.Errorf("serverauthtest: MintCode: granted scope %q was not requested", s)
			}
		}
	}
	method := req.CodeChallengeMethod
	if req.CodeChallenge != "" && method == "" {
		method = "plain"
	}
	if method != "" && method != "plain" && method != "S256" {
		return "", fmt.Errorf("serverauthtest: MintCode: unknown code challenge method %q", method)
	}
	if req.CodeChallenge == "" && req.CodeChallengeMethod != "" {
		return "", errors.New("serverauthtest: MintCode: code challenge method without a code challenge")
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	if g.deleted[u.Sub] {
		return "", fmt.Errorf("serverauthtest: MintCode: account %s is deleted", u.Sub)
	}
	presenter := req.ClientID
	if presenter == "" {
		switch origin {
		case OriginIOS:
			presenter = g.opts.IOSClientID
		case OriginAndroid:
			presenter = g.opts.AndroidClientID
		default:
			presenter = g.opts.WebClientID
		}
	}
	pc, ok := g.clients[presenter]
	if !ok {
		return "", fmt.Errorf("serverauthtest: MintCode: unknown client %q", presenter)
	}
	wantType := map[Origin]string{OriginIOS: ClientIOS, OriginAndroid: ClientAndroid, OriginWebPopup: ClientWeb, OriginWebRedirect: ClientWeb}[origin]
	if pc.Type != wantType {
		return "", fmt.Errorf("serverauthtest: MintCode: client %q is a %s client, origin %s needs a %s client", presenter, pc.Type, origin, wantType)
	}
	exchanger := pc
	if origin.mobile() {
		if exchanger, ok = g.webClientOf(pc.ProjectID); !ok {
			return "", fmt.Errorf("serverauthtest: MintCode: project %q has no web client to receive the server auth code", pc.ProjectID)
		}
	}
	switch origin {
	case OriginWebRedirect:
		if !slices.Contains(pc.RedirectURIs, req.RedirectURI) {
			return "", fmt.Errorf("serverauthtest: MintCode: redirect URI %q is not registered for client %q", req.RedirectURI, presenter)
		}
	default:
		if req.RedirectURI != "" {
			return "", fmt.Errorf("serverauthtest: MintCode: a redirect URI is only for origin %s", OriginWebRedirect)
		}
	}

	code := randomToken(codePrefix, 69)
	g.codes[code] = &authCode{
		user:         u,
		scopes:       granted,
		origin:       origin,
		presenter:    presenter,
		exchanger:    exchanger.ID,
		project:      pc.ProjectID,
		redirectURI:  req.RedirectURI,
		forceConsent: hasPromptConsent(req.Prompt),
		online:       req.OnlineAccess,
		challenge:    req.CodeChallenge,
		method:       method,
		nonce:        req.Nonce,
		includeAll:   req.IncludeGrantedScopes,
		rtTTL:        req.RefreshTokenTTL,
		expires:      g.now().Add(g.opts.CodeTTL),
	}
	g.sweepLocked()
	g.users[u.Sub] = u
	return code, nil
}

// hasPromptConsent reports whether a space-separated prompt asks for consent.
func hasPromptConsent(prompt string) bool {
	return slices.Contains(strings.Fields(prompt), "consent")
}

// UpdateUser changes the profile of the Google account u.Sub, as when the
// user changes their email address or name: every later ID token, those
// of refreshes included, carries the new claims. The zero User means
// [DemoUser]. It panics on a user without Sub.
func (g *Google) UpdateUser(u User) {
	if u == (User{}) {
		u = DemoUser()
	}
	if u.Sub == "" {
		panic("serverauthtest: UpdateUser: User.Sub is empty")
	}
	g.mu.Lock()
	g.users[u.Sub] = u
	g.mu.Unlock()
}

// IDToken returns an ID token for u as a mobile SDK holds it for a sign-in
// (Google's ID-token payload, developers.google.com/identity/openid-connect/openid-connect): aud is the web client ID, azp is presenter (absent
// when presenter is empty), with the email and profile claims, valid for
// Options.IDTokenLifetime from now, signed with the current key. The zero
// User means [DemoUser].
func (g *Google) IDToken(u User, presenter string) string {
	if u == (User{}) {
		u = DemoUser()
	}
	g.mu.Lock()
	g.users[u.Sub] = u
	k := g.signing
	g.mu.Unlock()
	return g.idToken(k, idTokenParams{
		user:     u,
		aud:      g.opts.WebClientID,
		azp:      presenter,
		scopes:   []string{scopeOpenID, scopeEmail, scopeProfile},
		issuedAt: g.now(),
	})
}

// idTokenParams are the inputs of an ID token.
type idTokenParams struct {
	user        User
	aud, azp    string
	scopes      []string
	accessToken string
	nonce       string
	issuedAt    time.Time
}

// idClaims is an ID token's payload in Google's member order.
type idClaims struct {
	Iss           string `json:"iss"`
	Azp           string `json:"azp,omitempty"`
	Aud           string `json:"aud"`
	Sub           string `json:"sub"`
	HD            string `json:"hd,omitempty"`
	Email         string `json:"email,omitempty"`
	EmailVerified *bool  `json:"email_verified,omitempty"`
	AtHash        string `json:"at_hash,omitempty"`
	Nonce         string `json:"nonce,omitempty"`
	Name          string `json:"name,omitempty"`
	Picture       string `json:"picture,omitempty"`
	GivenName     string `json:"given_name,omitempty"`
	FamilyName    string `json:"family_name,omitempty"`
	Locale        string `json:"locale,omitempty"`
	Iat           int64  `json:"iat"`
	Exp           int64  `json:"exp"`
}

// idToken builds and signs an ID token with k.
func (g *Google) idToken(k *signingKey, p idTokenParams) string {
	c := idClaims{
		Iss: g.opts.Issuer,
		Azp: p.azp,
		Aud: p.aud,
		Sub: p.user.Sub,
		HD:  p.user.HostedDomain,
		Iat: p.issuedAt.Unix(),
		Exp: p.issuedAt.Add(g.opts.IDTokenLifetime).Unix(),
	}
	if slices.Contains(p.scopes, scopeEmail) {
		c.Email = p.user.Email
		v := p.user.EmailVerified
		c.EmailVerified = &v
	}
	if slices.Contains(p.scopes, scopeProfile) {
		c.Name, c.Picture = p.user.Name, p.user.Picture
		c.GivenName, c.FamilyName = p.user.GivenName, p.user.FamilyName
		c.Locale = p.user.Locale
	}
	if p.accessToken != "" {
		c.AtHash = AtHash(p.accessToken)
	}
	c.Nonce = p.nonce
	payload, err := json.Marshal(c)
	if err != nil {
		panic("serverauthtest: encoding ID token claims: " + err.Error())
	}
	return k.sign([]byte(`{"alg":"RS256","kid":"`+k.kid+`","typ":"JWT"}`), payload)
}

// AtHash returns the at_hash claim for accessToken: the base64url encoding of
// the left half of its SHA-256 (OpenID Connect Core §3.1.3.6).
func AtHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// tokenResponse is the token endpoint's success body in Google's order.
type tokenResponse struct {
	AccessToken           string `json:"access_token"`
	ExpiresIn             int64  `json:"expires_in"`
	RefreshToken          string `json:"refresh_token,omitempty"`
	RefreshTokenExpiresIn int64  `json:"refresh_token_expires_in,omitempty"`
	Scope                 string `json:"scope"`
	TokenType             string `json:"token_type"`
	IDToken               string `json:"id_token,omitempty"`
}

// tokenError is an OAuth error the token endpoint answers.
type tokenError struct {
	status      int
	code        string
	description string
	subtype     string
	uri         string
}

// oauthErrorBody is the JSON of an OAuth error.
type oauthErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
	ErrorURI         string `json:"error_uri,omitempty"`
	ErrorSubtype     string `json:"error_subtype,omitempty"`
}

func (e *tokenError) write(w http.ResponseWriter) {
	noStore(w)
	writeJSON(w, e.status, oauthErrorBody{Error: e.code, ErrorDescription: e.description, ErrorURI: e.uri, ErrorSubtype: e.subtype})
}

func errInvalidGrant(desc string) *tokenError {
	return &tokenError{status: http.StatusBadRequest, code: "invalid_grant", description: desc}
}

func errInvalidRequest(desc string) *tokenError {
	return &tokenError{status: http.StatusBadRequest, code: "invalid_request", description: desc}
}

// noStore sets the token endpoint's anti-caching headers.
func noStore(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "Mon, 01 Jan 1990 00:00:00 GMT")
}

// handleToken serves the token endpoint.
func (g *Google) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		googleHTMLError(w, http.StatusMethodNotAllowed)
		return
	}
	form := r.PostForm
	// Count before any check: a test asserts how often a code was sent.
	switch form.Get("grant_type") {
	case "authorization_code":
		if code := form.Get("code"); code != "" {
			g.mu.Lock()
			g.codeExchanges[code]++
			g.mu.Unlock()
		}
	case "refresh_token":
		g.mu.Lock()
		if t, ok := g.tokens[form.Get("refresh_token")]; ok && t.refresh {
			g.refreshCounts[t.sub]++
		}
		g.mu.Unlock()
	}

	var (
		resp *tokenResponse
		terr *tokenError
	)
	client, terr := g.authenticateClient(r)
	if terr == nil {
		for name, vs := range form {
			if len(vs) > 1 { // RFC 6749 §3.2
				terr = errInvalidRequest("Duplicate parameter: " + name)
				break
			}
		}
	}
	if terr == nil {
		switch gt := form.Get("grant_type"); gt {
		case "authorization_code":
			resp, terr = g.exchangeCode(client, form)
		case "refresh_token":
			resp, terr = g.refreshToken(client, form)
		default:
			terr = &tokenError{status: http.StatusBadRequest, code: "unsupported_grant_type", description: "Invalid grant_type: " + gt}
		}
	}
	if terr != nil {
		terr.write(w)
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, resp)
}

// authenticateClient identifies and authenticates the client, by HTTP Basic
// (RFC 6749 §2.3.1: form-urlencoded, then base64) or by client_id and
// client_secret in the body. Using both is refused with invalid_request
// (RFC 6749 §2.3, §5.2); Google's behaviour there is unknown.
func (g *Google) authenticateClient(r *http.Request) (Client, *tokenError) {
	form := r.PostForm
	id, secret := form.Get("client_id"), form.Get("client_secret")
	_, secretInBody := form["client_secret"]
	if r.Header.Get("Authorization") != "" {
		bid, bsecret, ok := r.BasicAuth()
		if !ok {
			return Client{}, &tokenError{status: http.StatusUnauthorized, code: "invalid_client", description: descUnauthorized}
		}
		var err1, err2 error
		bid, err1 = url.QueryUnescape(bid)
		bsecret, err2 = url.QueryUnescape(bsecret)
		if err1 != nil || err2 != nil {
			return Client{}, &tokenError{status: http.StatusUnauthorized, code: "invalid_client", description: descUnauthorized}
		}
		if secretInBody || (id != "" && id != bid) {
			return Client{}, errInvalidRequest(descMultipleAuth)
		}
		id, secret, secretInBody = bid, bsecret, true
	}
	if id == "" {
		return Client{}, errInvalidRequest(descNoClientID)
	}
	g.mu.Lock()
	c, ok := g.clients[id]
	g.mu.Unlock()
	if !ok {
		return Client{}, &tokenError{status: http.StatusUnauthorized, code: "invalid_client", description: descClientNotFound}
	}
	if c.Secret == "" { // iOS and Android clients are public
		return c, nil
	}
	if !secretInBody || secret == "" {
		return Client{}, errInvalidRequest(descMissingSecret)
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(c.Secret)) != 1 {
		return Client{}, &tokenError{status: http.StatusUnauthorized, code: "invalid_client", description: descUnauthorized}
	}
	return c, nil
}

// wellFormedCode reports whether code has the shape of the fake's codes.
func wellFormedCode(code string) bool {
	rest, ok := strings.CutPrefix(code, codePrefix)
	if !ok || rest == "" {
		return false
	}
	for _, c := range rest {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// exchangeCode serves grant_type=authorization_code. A failed exchange does
// not consume the code (Google's behaviour is unknown); a successful one
// does.
func (g *Google) exchangeCode(client Client, form url.Values) (*tokenResponse, *tokenError) {
	code := form.Get("code")
	if code == "" {
		return nil, errInvalidRequest("Missing required parameter: code")
	}
	if !wellFormedCode(code) {
		return nil, errInvalidGrant(descMalformedCode)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	ac, ok := g.codes[code]
	if !ok || !now.Before(ac.expires) {
		return nil, errInvalidGrant(descBadRequest)
	}
	if ac.used {
		if g.opts.RevokeOnCodeReuse {
			// Every token based on the code: those the exchange issued
			// and those refreshed from its refresh token since.
			based := map[*token]bool{}
			for _, t := range ac.issued {
				based[t] = true
			}
			g.revokeLocked(func(t *token) bool { return based[t] || based[t.grant] })
		}
		return nil, errInvalidGrant(descBadRequest)
	}
	if client.ID != ac.exchanger {
		return nil, &tokenError{status: http.StatusUnauthorized, code: "invalid_client", description: descUnauthorized}
	}
	if !g.redirectURIMatches(ac, form) {
		return nil, &tokenError{status: http.StatusBadRequest, code: "redirect_uri_mismatch", description: descBadRequest}
	}
	if terr := checkPKCE(ac, form.Get("code_verifier")); terr != nil {
		return nil, terr
	}
	if g.deleted[ac.user.Sub] {
		return nil, errInvalidGrant(descBadRequest)
	}

	ac.used = true
	var rt *token
	ck := consentKey{ac.user.Sub, ac.presenter}
	all := unionScopes(g.granted[ck], ac.scopes)
	g.granted[ck] = all
	if ac.includeAll {
		ac.scopes = all
		for _, t := range g.tokens {
			if t.refresh && !t.revoked && t.sub == ac.user.Sub && t.presenter == ac.presenter {
				t.scopes = unionScopes(t.scopes, all)
			}
		}
	}
	if !ac.online && (ac.forceConsent || !g.consented[ck]) {
		rt = &token{
			value:     randomToken("1//0", 99),
			refresh:   true,
			sub:       ac.user.Sub,
			client:    ac.exchanger,
			presenter: ac.presenter,
			origin:    ac.origin,
			project:   ac.project,
			scopes:    ac.scopes,
		}
		if ac.rtTTL > 0 {
			rt.expires = now.Add(ac.rtTTL)
		}
		if end := now.Add(TestingGrantLifetime); g.opts.PublishingStatusTesting && (rt.expires.IsZero() || end.Before(rt.expires)) {
			rt.expires, rt.silent = end, ac.rtTTL == 0
		}
		g.tokens[rt.value] = rt
		ac.issued = append(ac.issued, rt)
	}
	g.consented[ck] = true
	at := g.newAccessTokenLocked(rt, ac.user.Sub, ac.exchanger, ac.presenter, ac.origin, ac.project, ac.scopes, now)
	ac.issued = append(ac.issued, at)

	resp := &tokenResponse{
		AccessToken: at.value,
		ExpiresIn:   int64(g.opts.AccessTokenLifetime / time.Second),
		Scope:       shuffledScope(ac.scopes),
		TokenType:   "Bearer",
	}
	if rt != nil {
		resp.RefreshToken = rt.value
		if ac.rtTTL > 0 {
			resp.RefreshTokenExpiresIn = int64(ac.rtTTL / time.Second)
		}
	}
	if wantsIDToken(ac.scopes) {
		resp.IDToken = g.idToken(g.signing, idTokenParams{
			user:        ac.user,
			aud:         ac.exchanger,
			azp:         g.azp(ac.origin, ac.presenter, ac.exchanger),
			scopes:      ac.scopes,
			accessToken: at.value,
			nonce:       ac.nonce,
			issuedAt:    now,
		})
	}
	return resp, nil
}

// newAccessTokenLocked issues an access token. Call with g.mu held.
func (g *Google) newAccessTokenLocked(grant *token, sub, client, presenter string, origin Origin, project string, scopes []string, now time.Time) *token {
	at := &token{
		value:     randomToken("ya29.a0", 160),
		sub:       sub,
		client:    client,
		presenter: presenter,
		origin:    origin,
		project:   project,
		scopes:    scopes,
		expires:   now.Add(g.opts.AccessTokenLifetime),
		grant:     grant,
	}
	g.tokens[at.value] = at
	g.sweepLocked()
	return at
}

// azp returns the azp claim for a code of origin obtained by presenter and
// exchanged by exchanger.
func (g *Google) azp(origin Origin, presenter, exchanger string) string {
	if !origin.mobile() {
		return exchanger
	}
	switch g.opts.MobileAZP {
	case AZPServer:
		return exchanger
	case AZPNone:
		return ""
	}
	return presenter
}

// redirectURIMatches applies the redirect_uri rule of the code's origin
// (RFC 6749 §4.1.3). An empty parameter counts as absent (RFC 6749 §3.2).
func (g *Google) redirectURIMatches(ac *authCode, form url.Values) bool {
	uri := form.Get("redirect_uri")
	switch ac.origin {
	case OriginWebPopup:
		return uri == "postmessage"
	case OriginWebRedirect:
		return uri == ac.redirectURI
	}
	return uri == "" || (uri == "postmessage" && g.opts.AcceptPostmessageForMobile)
}

// checkPKCE applies RFC 7636 §4.6 and Google's downgrade protection.
func checkPKCE(ac *authCode, verifier string) *tokenError {
	switch {
	case ac.challenge == "" && verifier == "":
		return nil
	case ac.challenge == "":
		return errInvalidGrant(descVerifierUnneeded)
	case verifier == "":
		return errInvalidGrant(descMissingVerifier)
	}
	want := verifier
	if ac.method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(ac.challenge)) != 1 {
		return errInvalidGrant(descBadVerifier)
	}
	return nil
}

// refreshToken serves grant_type=refresh_token.
func (g *Google) refreshToken(client Client, form url.Values) (*tokenResponse, *tokenError) {
	value := form.Get("refresh_token")
	if value == "" {
		return nil, errInvalidRequest("Missing required parameter: refresh_token")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	rt, ok := g.tokens[value]
	if !ok || !rt.refresh {
		return nil, errInvalidGrant(descRevoked)
	}
	if client.ID != rt.client {
		return nil, &tokenError{status: http.StatusUnauthorized, code: "unauthorized_client", description: descUnauthorized}
	}
	if g.deleted[rt.sub] {
		return nil, errInvalidGrant(descDeleted)
	}
	if !rt.alive(now) {
		return nil, errInvalidGrant(descRevoked)
	}
	if g.reauth[rt.sub] {
		return nil, &tokenError{status: http.StatusBadRequest, code: "invalid_grant", description: descReauth, subtype: "invalid_rapt", uri: reauthErrorURI}
	}
	scopes := rt.scopes
	if s := form.Get("scope"); s != "" {
		scopes = normalizeScopes(strings.Fields(s))
		var invalid []string
		for _, sc := range scopes {
			if !slices.Contains(rt.scopes, sc) {
				invalid = append(invalid, sc)
			}
		}
		if len(invalid) > 0 {
			return nil, &tokenError{status: http.StatusBadRequest, code: "invalid_scope",
				description: "Some requested scopes were invalid. {invalid=[" + strings.Join(invalid, ", ") + "]}"}
		}
	}

	resp := &tokenResponse{
		ExpiresIn: int64(g.opts.AccessTokenLifetime / time.Second),
		Scope:     shuffledScope(scopes),
		TokenType: "Bearer",
	}
	grant := rt
	if g.opts.RotateRefreshTokens {
		next := *rt
		next.value = randomToken("1//0", 99)
		g.tokens[next.value] = &next
		rt.revoked, rt.deadSince = true, now
		grant = &next
		resp.RefreshToken = next.value
	}
	if !grant.expires.IsZero() && !grant.silent {
		resp.RefreshTokenExpiresIn = int64(grant.expires.Sub(now) / time.Second)
	}
	at := g.newAccessTokenLocked(grant, rt.sub, rt.client, rt.presenter, rt.origin, rt.project, scopes, now)
	resp.AccessToken = at.value
	if wantsIDToken(scopes) {
		resp.IDToken = g.idToken(g.signing, idTokenParams{
			user:        g.users[rt.sub],
			aud:         rt.client,
			azp:         g.azp(rt.origin, rt.presenter, rt.client),
			scopes:      scopes,
			accessToken: at.value,
			issuedAt:    now,
		})
	}
	return resp, nil
}

// unionScopes returns the scopes of a followed by those of b it lacks, in a
// new slice.
func unionScopes(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
