package serverauthtest

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"html"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// writeJSON writes v as Google formats JSON (two-space indentation).
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic("serverauthtest: encoding a response: " + err.Error())
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// oauthError writes an OAuth-style error.
func oauthError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, oauthErrorBody{Error: code, ErrorDescription: description})
}

// jsonString returns s as a JSON string literal.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// googleHTMLError writes Google's HTML error page for status.
func googleHTMLError(w http.ResponseWriter, status int) {
	googleHTMLPage(w, status, "That’s an error.", "The requested URL was not found on this server. That’s all we know.")
}

// googleHTMLPage writes an HTML error page in the style of Google's.
func googleHTMLPage(w http.ResponseWriter, status int, title, message string) {
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!DOCTYPE html>\n<html lang=en>\n<meta charset=utf-8>\n<title>Error %d (%s)!!1</title>\n<p><b>%d.</b> <ins>%s</ins>\n<p>%s\n",
		status, http.StatusText(status), status, html.EscapeString(title), html.EscapeString(message))
}

// handleRevoke serves the revocation endpoint (RFC 7009, with Google's deviations). The token
// is read from the form body or, as Google also accepts, the query string;
// [Request.Form] and [Request.Query] show which one a client used.
func (g *Google) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		googleHTMLError(w, http.StatusNotFound)
		return
	}
	value := r.PostForm.Get("token")
	if value == "" {
		value = r.URL.Query().Get("token")
	}
	if value == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: token")
		return
	}
	g.mu.Lock()
	t, ok := g.tokens[value]
	live := ok && t.alive(g.now()) && !g.deleted[t.sub]
	if live {
		g.revokeGrantLocked(t)
	}
	g.mu.Unlock()
	if !live {
		oauthError(w, http.StatusBadRequest, "invalid_token", "Token expired or revoked")
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleTokenInfo serves tokeninfo (Google's debugging endpoint, developers.google.com/identity/sign-in/web/backend-auth): every value is a
// string. Without a token it answers invalid_request (the fake's choice).
func (g *Google) handleTokenInfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		googleHTMLError(w, http.StatusMethodNotAllowed)
		return
	}
	invalid := func() { oauthError(w, http.StatusBadRequest, "invalid_token", "Invalid Value") }
	if idt := r.Form.Get("id_token"); idt != "" {
		info, ok := g.idTokenInfo(idt)
		if !ok {
			invalid()
			return
		}
		writeOrderedStrings(w, info)
		return
	}
	at := r.Form.Get("access_token")
	if at == "" {
		at, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	if at == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "either access_token or id_token required")
		return
	}
	t, u, ok := g.liveAccessToken(at)
	if !ok {
		invalid()
		return
	}
	now := g.now()
	access := "online"
	if t.grant != nil {
		access = "offline"
	}
	info := [][2]string{
		{"azp", t.client},
		{"aud", t.client},
		{"sub", t.sub},
		{"scope", strings.Join(t.scopes, " ")},
		{"exp", strconv.FormatInt(t.expires.Unix(), 10)},
		{"expires_in", strconv.FormatInt(int64(t.expires.Sub(now)/time.Second), 10)},
	}
	if slices.Contains(t.scopes, scopeEmail) {
		info = append(info, [2]string{"email", u.Email}, [2]string{"email_verified", strconv.FormatBool(u.EmailVerified)})
	}
	info = append(info, [2]string{"access_type", access})
	writeOrderedStrings(w, info)
}

// writeOrderedStrings writes a JSON object of string members in order.
func writeOrderedStrings(w http.ResponseWriter, members [][2]string) {
	var b strings.Builder
	b.WriteString("{\n")
	for i, m := range members {
		fmt.Fprintf(&b, "  %s: %s", jsonString(m[0]), jsonString(m[1]))
		if i < len(members)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("}\n")
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
	io.WriteString(w, b.String())
}

// idTokenInfo verifies an ID token against the published keys and the clock
// and returns its claims as strings followed by alg, kid and typ.
func (g *Google) idTokenInfo(raw string) ([][2]string, bool) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, false
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	pb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, false
	}
	var hdr struct{ Alg, Kid, Typ string }
	if json.Unmarshal(hb, &hdr) != nil || hdr.Alg != "RS256" {
		return nil, false
	}
	k, ok := g.publishedKey(hdr.Kid)
	if !ok {
		return nil, false
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&k.priv.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return nil, false
	}
	members, ok := stringMembers(pb)
	if !ok {
		return nil, false
	}
	var exp int64
	for _, m := range members {
		if m[0] == "exp" {
			exp, _ = strconv.ParseInt(m[1], 10, 64)
		}
	}
	if exp == 0 || !g.now().Before(time.Unix(exp, 0)) {
		return nil, false
	}
	return append(members, [2]string{"alg", hdr.Alg}, [2]string{"kid", hdr.Kid}, [2]string{"typ", hdr.Typ}), true
}

// stringMembers returns the members of a JSON object in order, each value as
// a string: strings as they are, other values as their JSON text.
func stringMembers(obj []byte) ([][2]string, bool) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	var out [][2]string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false
		}
		name, _ := t.(string)
		var v json.RawMessage
		if dec.Decode(&v) != nil {
			return nil, false
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(v)
		}
		out = append(out, [2]string{name, s})
	}
	return out, true
}

// userInfo is the userinfo endpoint's body in Google's order.
type userInfo struct {
	Sub           string `json:"sub"`
	Name          string `json:"name,omitempty"`
	GivenName     string `json:"given_name,omitempty"`
	FamilyName    string `json:"family_name,omitempty"`
	Picture       string `json:"picture,omitempty"`
	Email         string `json:"email,omitempty"`
	EmailVerified *bool  `json:"email_verified,omitempty"`
	HD            string `json:"hd,omitempty"`
	Locale        string `json:"locale,omitempty"`
}

// handleUserInfo serves OpenID Connect userinfo: the claims the token's
// scopes allow (only sub without email or profile scope).
func (g *Google) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		googleHTMLError(w, http.StatusMethodNotAllowed)
		return
	}
	value, hasBearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !hasBearer {
		value = r.Form.Get("access_token")
	}
	t, u, ok := g.liveAccessToken(value)
	if !ok {
		challenge := `Bearer realm="https://accounts.google.com/"`
		if value != "" {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
		oauthError(w, http.StatusUnauthorized, "invalid_request", "Invalid Credentials")
		return
	}
	info := userInfo{Sub: t.sub}
	if slices.Contains(t.scopes, scopeProfile) {
		info.Name, info.GivenName, info.FamilyName = u.Name, u.GivenName, u.FamilyName
		info.Picture, info.Locale = u.Picture, u.Locale
	}
	if slices.Contains(t.scopes, scopeEmail) {
		info.Email = u.Email
		v := u.EmailVerified
		info.EmailVerified = &v
	}
	if info.Email != "" || info.Name != "" {
		info.HD = u.HostedDomain
	}
	w.Header().Set("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
	writeJSON(w, http.StatusOK, info)
}

// baseURL returns the scheme and host the request reached the fake at.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// discovery is the OpenID configuration document (OpenID Connect Discovery 1.0 §3; Google serves its own at accounts.google.com/.well-known/openid-configuration), with
// the fake's extra URLs at the end.
type discovery struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	TokenInfoEndpoint                 string   `json:"tokeninfo_endpoint"`
	PEMCertsURI                       string   `json:"pem_certs_uri"`
	DriveBaseURL                      string   `json:"drive_base_url"`
}

// handleDiscovery serves /.well-known/openid-configuration with every URL on
// this server. It lists only what the fake serves: Google's document also
// names a device authorization endpoint, the implicit and hybrid response
// types and the device and JWT-bearer grants, which the fake does not
// implement, so a client reading discovery is never sent to a 404.
func (g *Google) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		googleHTMLError(w, http.StatusMethodNotAllowed)
		return
	}
	base := baseURL(r)
	e := EndpointsAt(base)
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSON(w, http.StatusOK, discovery{
		Issuer:                            g.opts.Issuer,
		AuthorizationEndpoint:             base + "/o/oauth2/v2/auth",
		TokenEndpoint:                     e.TokenURL,
		UserinfoEndpoint:                  base + UserInfoPath,
		RevocationEndpoint:                e.RevokeURL,
		JWKSURI:                           e.JWKSURL,
		ResponseTypesSupported:            []string{"code"},
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  []string{"RS256"},
		ScopesSupported:                   []string{"openid", "email", "profile"},
		TokenEndpointAuthMethodsSupported: []string{"client_secret_post", "client_secret_basic"},
		ClaimsSupported:                   []string{"aud", "email", "email_verified", "exp", "family_name", "given_name", "iat", "iss", "name", "picture", "sub"},
		CodeChallengeMethodsSupported:     []string{"plain", "S256"},
		GrantTypesSupported:               []string{"authorization_code", "refresh_token"},
		TokenInfoEndpoint:                 base + TokenInfoPath,
		PEMCertsURI:                       base + "/oauth2/v1/certs",
		DriveBaseURL:                      e.DriveURL,
	})
}

// EmulatorCodeRequest is the JSON body of POST /emulator/codes, which mints
// an authorization code over HTTP (for apps and tools outside Go tests).
// User fields left out take [DemoUser]'s values, except that a request with
// an email but no sub gets a sub derived from the email. Scopes are
// space-separated.
type EmulatorCodeRequest struct {
	Sub                  string `json:"sub"`
	Email                string `json:"email"`
	EmailVerified        *bool  `json:"email_verified"`
	Name                 string `json:"name"`
	GivenName            string `json:"given_name"`
	FamilyName           string `json:"family_name"`
	Picture              string `json:"picture"`
	Locale               string `json:"locale"`
	HD                   string `json:"hd"`
	Scope                string `json:"scope"`         // requested; empty: openid email profile
	GrantedScope         string `json:"granted_scope"` // granted subset; empty: all of scope
	ClientID             string `json:"client_id"`     // the presenting client; empty: by origin
	Origin               string `json:"origin"`        // "ios" (default), "android", "web-popup", "web-redirect"
	RedirectURI          string `json:"redirect_uri"`  // web-redirect only
	Prompt               string `json:"prompt"`
	AccessType           string `json:"access_type"` // "offline" (default) or "online"
	Nonce                string `json:"nonce"`
	CodeChallenge        string `json:"code_challenge"`
	CodeChallengeMethod  string `json:"code_challenge_method"`
	RefreshTokenTTL      int64  `json:"refresh_token_expires_in"` // seconds; > 0: a time-based grant
	IncludeGrantedScopes bool   `json:"include_granted_scopes"`
}

// codeRequest converts the JSON request, naming the field at fault.
func (e *EmulatorCodeRequest) codeRequest() (CodeRequest, error) {
	u := DemoUser()
	if e.Email != "" && e.Sub == "" {
		u = userForEmail(e.Email)
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&u.Sub, e.Sub)
	set(&u.Email, e.Email)
	set(&u.Name, e.Name)
	set(&u.GivenName, e.GivenName)
	set(&u.FamilyName, e.FamilyName)
	set(&u.Picture, e.Picture)
	set(&u.Locale, e.Locale)
	set(&u.HostedDomain, e.HD)
	if e.EmailVerified != nil {
		u.EmailVerified = *e.EmailVerified
	}
	for _, c := range u.Sub {
		if c < '0' || c > '9' {
			return CodeRequest{}, fmt.Errorf("sub: %q is not numeric", u.Sub)
		}
	}
	req := CodeRequest{
		User:                 u,
		Origin:               Origin(e.Origin),
		ClientID:             e.ClientID,
		RedirectURI:          e.RedirectURI,
		Prompt:               e.Prompt,
		Nonce:                e.Nonce,
		CodeChallenge:        e.CodeChallenge,
		CodeChallengeMethod:  e.CodeChallengeMethod,
		RefreshTokenTTL:      time.Duration(e.RefreshTokenTTL) * time.Second,
		IncludeGrantedScopes: e.IncludeGrantedScopes,
	}
	if e.Scope != "" {
		if req.Scopes = strings.Fields(e.Scope); len(req.Scopes) == 0 {
			return CodeRequest{}, fmt.Errorf("scope: no scope in %q", e.Scope)
		}
	}
	if e.GrantedScope != "" {
		req.GrantedScopes = strings.Fields(e.GrantedScope)
	}
	if req.Origin != "" && !req.Origin.valid() {
		return CodeRequest{}, fmt.Errorf("origin: %q is not one of ios, android, web-popup, web-redirect", e.Origin)
	}
	switch e.AccessType {
	case "", "offline":
	case "online":
		req.OnlineAccess = true
	default:
		return CodeRequest{}, fmt.Errorf("access_type: %q is not online or offline", e.AccessType)
	}
	if e.RefreshTokenTTL < 0 {
		return CodeRequest{}, fmt.Errorf("refresh_token_expires_in: %d is negative", e.RefreshTokenTTL)
	}
	return req, nil
}

// handleEmulatorCodes serves POST /emulator/codes.
func (g *Google) handleEmulatorCodes(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "serverauthtest: use POST with a JSON body")
		return
	}
	var body EmulatorCodeRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "serverauthtest: bad JSON body: "+err.Error())
		return
	}
	req, err := body.codeRequest()
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "serverauthtest: "+err.Error())
		return
	}
	code, err := g.MintCode(req)
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"code": code})
}

// userForEmail returns a user for an email address, as the authorization
// endpoint's login_hint or the emulator endpoint supply: the sub is derived
// from the address (stable), the profile from [DemoUser], and hd is the
// domain unless it is a consumer one.
func userForEmail(email string) User {
	h := fnv.New64a()
	io.WriteString(h, strings.ToLower(email))
	u := DemoUser()
	u.Sub = fmt.Sprintf("1%020d", h.Sum64())
	u.Email = email
	u.HostedDomain = ""
	if _, domain, ok := strings.Cut(email, "@"); ok && domain != "gmail.com" && domain != "googlemail.com" {
		u.HostedDomain = domain
	}
	return u
}
