package serverauthtest

import (
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/serverauth/serverauth/serverauthtest/internal/drive"
)

// Endpoint names one of the fake's services, for [Google.Requests] and
// [Google.RequestCount].
type Endpoint string

// The fake's endpoints. Legacy paths count as the endpoint they alias.
const (
	EndpointToken     Endpoint = "token"     // /token, /o/oauth2/token, /oauth2/v4/token
	EndpointRevoke    Endpoint = "revoke"    // /revoke, /o/oauth2/revoke
	EndpointJWKS      Endpoint = "jwks"      // /oauth2/v3/certs
	EndpointPEM       Endpoint = "pem"       // /oauth2/v1/certs
	EndpointTokenInfo Endpoint = "tokeninfo" // /tokeninfo, /oauth2/v3/tokeninfo
	EndpointUserInfo  Endpoint = "userinfo"  // /v1/userinfo, /oauth2/v3/userinfo
	EndpointDrive     Endpoint = "drive"     // /drive/v3/…, /upload/drive/v3/…
	EndpointAuth      Endpoint = "auth"      // /o/oauth2/v2/auth, /o/oauth2/auth
	EndpointDiscovery Endpoint = "discovery" // /.well-known/openid-configuration
	EndpointEmulator  Endpoint = "emulator"  // /emulator/…
	EndpointGSI       Endpoint = "gsi"       // /gsi/client, the Google Identity Services stand-in
	EndpointRISC      Endpoint = "risc"      // Cross-Account Protection: RISC configuration, keys, stream API
)

// Request is a copy of a request the fake received.
type Request struct {
	Endpoint Endpoint
	Method   string
	Path     string
	Query    url.Values  // the URL's query parameters
	Form     url.Values  // the form-encoded body's parameters only; nil for the Drive and emulator endpoints
	Header   http.Header // includes Authorization
	Time     time.Time   // by the fake's clock
}

// Google is the fake Google: an http.Handler serving every endpoint of the
// emulator, and the controls tests use to mint codes and tokens, rotate keys,
// revoke grants and observe traffic. [NewServer] serves one over TLS;
// cmd/fakegoogle serves one over plain HTTP on loopback. It is safe for
// concurrent use.
//
// Every endpoint goes through one wrapper that records the request and then
// applies the faults armed by [Google.FailNext] and [Google.FailFraction]
// (errors, throttling, resets, stalls, broken bodies).
type Google struct {
	opts      Options
	now       func() time.Time
	nowOption func() time.Time // Options.Now as given, nil when nil
	mux       *http.ServeMux
	drive     *drive.Emulator
	faults    *faults
	pages     *pendingPages // the chooser and consent pages awaiting an answer
	risc      *risc         // the Cross-Account Protection transmitter; internally locked

	clockOffset     atomic.Int64  // AdvanceClock's total, in nanoseconds
	accessTTLOption time.Duration // Options.AccessTokenLifetime, resolved

	// guards everything below
	mu sync.Mutex

	clients     map[string]Client // by ID
	clientOrder []string          // registration order
	users       map[string]User   // by sub, the latest profile seen
	codes       map[string]*authCode
	tokens      map[string]*token // access and refresh tokens by value
	consented   map[consentKey]bool
	granted     map[consentKey][]string // every scope granted, for include_granted_scopes
	reauth      map[string]bool         // by sub
	deleted     map[string]bool         // by sub

	allKeys     map[string]*signingKey // every key this fake had, by kid
	published   []*signingKey          // in the JWKS, oldest first
	signing     *signingKey
	attacker    *signingKey
	nextPoolKey int
	jwksMaxAge  time.Duration
	jwksAge     time.Duration
	jwksOmitAge bool

	sweepAt       int // sweep when codes and tokens reach this many
	requests      []Request
	codeExchanges map[string]int // by code as received
	refreshCounts map[string]int // by sub
}

// consentKey identifies a user's consent to a presenting client: the first
// code exchanged for it returns a refresh token, later ones do not.
type consentKey struct{ sub, client string }

// authCode is an issued authorization code.
type authCode struct {
	user         User
	scopes       []string // granted, normalised
	origin       Origin
	presenter    string // the client that obtained the code
	exchanger    string // the (web) client that may exchange it
	project      string
	redirectURI  string
	forceConsent bool
	online       bool
	challenge    string
	method       string
	nonce        string
	includeAll   bool // include_granted_scopes
	rtTTL        time.Duration
	expires      time.Time
	used         bool
	issued       []*token // tokens the exchange issued
}

// token is an issued access or refresh token.
type token struct {
	value     string
	refresh   bool
	sub       string
	client    string // the client it was issued to: aud, and who may refresh
	presenter string // the client that obtained the code
	origin    Origin
	project   string
	scopes    []string
	expires   time.Time // zero: does not expire
	silent    bool      // expires is not announced (refresh_token_expires_in): a Testing-status grant
	revoked   bool
	deadSince time.Time // when it was revoked
	grant     *token    // for an access token, the refresh token issued with it or used to get it; may be nil
}

// alive reports whether t can be used at now.
func (t *token) alive(now time.Time) bool {
	return !t.revoked && (t.expires.IsZero() || now.Before(t.expires))
}

// New returns a fake Google configured by opts. It starts nothing; serve it
// with [NewServer] or any http.Server.
func New(opts Options) *Google {
	if opts.SelfIssuer {
		panic("serverauthtest: New: Options.SelfIssuer needs NewServer, which knows its URL; with New set Options.Issuer to the URL the fake is served at")
	}
	nowOption := opts.Now
	opts = opts.withDefaults()
	g := &Google{
		opts:          opts,
		nowOption:     nowOption,
		clients:       map[string]Client{},
		users:         map[string]User{},
		codes:         map[string]*authCode{},
		tokens:        map[string]*token{},
		consented:     map[consentKey]bool{},
		granted:       map[consentKey][]string{},
		reauth:        map[string]bool{},
		deleted:       map[string]bool{},
		allKeys:       map[string]*signingKey{},
		jwksMaxAge:    opts.JWKSMaxAge,
		jwksAge:       opts.JWKSAge,
		jwksOmitAge:   opts.JWKSOmitAge,
		codeExchanges: map[string]int{},
		refreshCounts: map[string]int{},
	}
	g.now = func() time.Time { return opts.Now().Add(time.Duration(g.clockOffset.Load())) }
	g.accessTTLOption = opts.AccessTokenLifetime
	for range opts.Keys {
		g.published = append(g.published, g.newKey())
	}
	g.signing = g.published[0]
	g.RegisterClient(Client{ID: opts.WebClientID, Secret: opts.WebClientSecret, Type: ClientWeb, ProjectID: opts.ProjectID,
		RedirectURIs: opts.RedirectURIs, JavaScriptOrigins: opts.JavaScriptOrigins})
	g.RegisterClient(Client{ID: opts.IOSClientID, Type: ClientIOS, ProjectID: opts.ProjectID})
	g.RegisterClient(Client{ID: opts.AndroidClientID, Type: ClientAndroid, ProjectID: opts.ProjectID})
	g.drive = drive.New(g.now, g.driveLookup, opts.Drive)
	g.faults = newFaults(opts.FaultSeed)
	g.pages = newPendingPages()
	g.risc = newRISC()

	mux := http.NewServeMux()
	handle := func(e Endpoint, h http.HandlerFunc, paths ...string) {
		wrapped := g.serve(e, h)
		if e == EndpointEmulator {
			wrapped = emulatorCORS(wrapped)
		}
		for _, p := range paths {
			mux.Handle(p, wrapped)
		}
	}
	handle(EndpointToken, g.handleToken, "/token", "/o/oauth2/token", "/oauth2/v4/token")
	handle(EndpointRevoke, g.handleRevoke, "/revoke", "/o/oauth2/revoke")
	handle(EndpointTokenInfo, g.handleTokenInfo, TokenInfoPath, "/oauth2/v3/tokeninfo")
	handle(EndpointJWKS, g.handleJWKS, "/oauth2/v3/certs")
	handle(EndpointPEM, g.handlePEM, "/oauth2/v1/certs")
	handle(EndpointUserInfo, g.handleUserInfo, UserInfoPath, "/oauth2/v3/userinfo")
	handle(EndpointDrive, g.drive.ServeHTTP, "/drive/v3/", "/upload/drive/v3/")
	handle(EndpointAuth, g.handleAuth, "/o/oauth2/v2/auth", "/o/oauth2/auth")
	handle(EndpointAuth, g.handleChooserPost, chooserPostPath)
	handle(EndpointAuth, g.handleConsentPost, consentPostPath)
	handle(EndpointAuth, g.handleGSISelect, gsiSelectPath)
	handle(EndpointGSI, g.handleGSIClient, gsiClientPath)
	handle(EndpointDiscovery, g.handleDiscovery, "/.well-known/openid-configuration")
	handle(EndpointEmulator, g.handleEmulatorCodes, "/emulator/codes")
	handle(EndpointEmulator, g.handleEmulatorFaults, "/emulator/faults")
	handle(EndpointEmulator, g.handleEmulatorClock, "/emulator/clock")
	handle(EndpointEmulator, g.handleEmulatorSettings, "/emulator/settings")
	handle(EndpointEmulator, g.handleEmulatorCounts, "/emulator/counts")
	handle(EndpointEmulator, g.handleEmulatorUsers, "/emulator/users/")
	handle(EndpointRISC, g.handleRISCConfiguration, RISCConfigurationPath)
	handle(EndpointRISC, g.handleRISCKeys, RISCKeysPath)
	handle(EndpointRISC, g.handleRISCStream, "/v1beta/")
	handle(EndpointEmulator, g.handleEmulatorRISC, "/emulator/risc/")
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { googleHTMLError(w, http.StatusNotFound) })
	g.mux = mux
	return g
}

// ServeHTTP serves the emulator's endpoints.
func (g *Google) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.mux.ServeHTTP(w, r) }

// maxFormBody caps the form bodies the fake reads.
const maxFormBody = 1 << 20

// serve wraps the handler of endpoint e: every request to the fake goes
// through here, which records it and then gives fault injection its chance
// to answer instead of, or after, the endpoint's own handler.
func (g *Google) serve(e Endpoint, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var formErr error
		if e != EndpointDrive && e != EndpointEmulator {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
			formErr = r.ParseForm()
		}
		g.record(e, r)
		handle := func(w http.ResponseWriter, r *http.Request) {
			if formErr != nil {
				oauthError(w, http.StatusBadRequest, "invalid_request", "Bad Request")
				return
			}
			h(w, r)
		}
		if g.fault(e, w, r, handle) {
			return
		}
		handle(w, r)
	})
}

// record appends a copy of r to the request log.
func (g *Google) record(e Endpoint, r *http.Request) {
	req := Request{
		Endpoint: e,
		Method:   r.Method,
		Path:     r.URL.Path,
		Query:    r.URL.Query(),
		Header:   r.Header.Clone(),
		Time:     g.now(),
	}
	if r.PostForm != nil {
		req.Form = cloneValues(r.PostForm)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.requests) >= maxRecordedRequests {
		// A long-running fake keeps the newest half.
		g.requests = append(g.requests[:0], g.requests[len(g.requests)/2:]...)
	}
	g.requests = append(g.requests, req)
}

// maxRecordedRequests bounds the request log of Google.Requests.
const maxRecordedRequests = 100000

// forgetAfter is how long a dead refresh token is still known (so that
// RefreshCount attributes attempts with it to its user).
const forgetAfter = 24 * time.Hour

// sweepLocked forgets what can no longer matter, as Google does: codes past
// their expiry, access tokens past theirs, and tokens dead or expired for
// longer than forgetAfter. It runs when the maps have doubled since the
// last sweep, so its cost is amortised over the writes, and a long-running
// fake (cmd/fakegoogle) stays bounded. Call with g.mu held.
func (g *Google) sweepLocked() {
	if len(g.codes)+len(g.tokens) < g.sweepAt {
		return
	}
	now := g.now()
	for k, c := range g.codes {
		if !now.Before(c.expires) {
			delete(g.codes, k)
		}
	}
	for k, t := range g.tokens {
		switch {
		case !t.refresh && !t.expires.IsZero() && !now.Before(t.expires):
			delete(g.tokens, k)
		case t.revoked && now.Sub(t.deadSince) > forgetAfter:
			delete(g.tokens, k)
		case !t.expires.IsZero() && now.Sub(t.expires) > forgetAfter:
			delete(g.tokens, k)
		}
	}
	g.sweepAt = max(2*(len(g.codes)+len(g.tokens)), 1024)
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = slices.Clone(vs)
	}
	return c
}

// Requests returns copies of the requests endpoint e received since the
// start or the last [Google.ResetCounts], oldest first.
func (g *Google) Requests(e Endpoint) []Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []Request
	for _, r := range g.requests {
		if r.Endpoint == e {
			r.Query = cloneValues(r.Query)
			if r.Form != nil {
				r.Form = cloneValues(r.Form)
			}
			r.Header = r.Header.Clone()
			out = append(out, r)
		}
	}
	return out
}

// RequestCount returns how many requests endpoint e received since the
// start or the last [Google.ResetCounts].
func (g *Google) RequestCount(e Endpoint) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, r := range g.requests {
		if r.Endpoint == e {
			n++
		}
	}
	return n
}

// CodeExchangeCount returns how many authorization_code requests carrying
// code reached the token endpoint, successful or not: a test asserts a code
// was sent exactly once. A request failed by a fault that does not process it
// (see [FaultKind]) is not counted: it is only in [Google.Requests].
func (g *Google) CodeExchangeCount(code string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.codeExchanges[code]
}

// LiveRefreshTokens returns how many of sub's refresh tokens would refresh
// now: not revoked, not past their grant's end, the account not deleted.
// It is Google's side of a backend's bookkeeping: after a disconnect it is
// 0, and while it is above 0 a backend that lost the token has left a
// grant that the user still sees in their Google account and nobody can
// use.
func (g *Google) LiveRefreshTokens(sub string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.deleted[sub] {
		return 0
	}
	n, now := 0, g.now()
	for _, t := range g.tokens {
		if t.refresh && t.sub == sub && t.alive(now) {
			n++
		}
	}
	return n
}

// RefreshCount returns how many refresh_token requests with a refresh token
// of user sub (live or dead) reached the token endpoint, not counting those
// failed by a fault that does not process them.
func (g *Google) RefreshCount(sub string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refreshCounts[sub]
}

// ResetCounts forgets the recorded requests and zeroes every counter:
// [Google.RequestCount], [Google.CodeExchangeCount], [Google.RefreshCount]
// and [Google.FaultCount]. Codes, tokens, keys and armed faults are kept.
func (g *Google) ResetCounts() {
	g.faults.resetCounts()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests = nil
	g.codeExchanges = map[string]int{}
	g.refreshCounts = map[string]int{}
}

// RegisterClient adds an OAuth client, or replaces the one with the same ID:
// for example a web client in another project, whose codes the project's
// web client must not be able to exchange. It panics on a client without ID
// or with an unknown type.
func (g *Google) RegisterClient(c Client) {
	if c.ID == "" {
		panic("serverauthtest: RegisterClient: empty client ID")
	}
	switch c.Type {
	case ClientWeb, ClientIOS, ClientAndroid:
	default:
		panic("serverauthtest: RegisterClient: unknown client type " + c.Type)
	}
	if c.ProjectID == "" {
		c.ProjectID = g.opts.ProjectID
	}
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	c.JavaScriptOrigins = slices.Clone(c.JavaScriptOrigins)
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.clients[c.ID]; !ok {
		g.clientOrder = append(g.clientOrder, c.ID)
	}
	g.clients[c.ID] = c
}

// WebClientID returns the web (server) client's ID.
func (g *Google) WebClientID() string { return g.opts.WebClientID }

// WebClientSecret returns the web client's secret.
func (g *Google) WebClientSecret() string { return g.opts.WebClientSecret }

// IOSClientID returns the iOS client's ID.
func (g *Google) IOSClientID() string { return g.opts.IOSClientID }

// AndroidClientID returns the Android client's ID.
func (g *Google) AndroidClientID() string { return g.opts.AndroidClientID }

// ProjectID returns the project of the default clients.
func (g *Google) ProjectID() string { return g.opts.ProjectID }

// Issuer returns the iss of the ID tokens the fake signs, which its
// discovery document names too.
func (g *Google) Issuer() string { return g.opts.Issuer }

// RedirectURIs returns the web client's registered redirect URIs.
func (g *Google) RedirectURIs() []string { return slices.Clone(g.opts.RedirectURIs) }

// webClientOf returns the web client of project, preferring the default one.
// Call with g.mu held.
func (g *Google) webClientOf(project string) (Client, bool) {
	if c := g.clients[g.opts.WebClientID]; c.ProjectID == project && c.Type == ClientWeb {
		return c, true
	}
	for _, id := range g.clientOrder {
		if c := g.clients[id]; c.ProjectID == project && c.Type == ClientWeb {
			return c, true
		}
	}
	return Client{}, false
}

// RevokeUser acts as the user removing the app's access in their Google
// account: every grant of sub dies, so refreshing answers invalid_grant
// "Token has been expired or revoked." and the access tokens stop working.
// The next consent returns a refresh token again.
func (g *Google) RevokeUser(sub string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.revokeLocked(func(t *token) bool { return t.sub == sub })
	for k := range g.consented {
		if k.sub == sub {
			delete(g.consented, k)
		}
	}
	for k := range g.granted {
		if k.sub == sub {
			delete(g.granted, k)
		}
	}
}

// RequireReauth turns on or off a Workspace reauthentication demand for sub:
// while on, refreshing answers 400 invalid_grant "reauth related error
// (invalid_rapt)" with error_subtype invalid_rapt.
func (g *Google) RequireReauth(sub string, on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if on {
		g.reauth[sub] = true
	} else {
		delete(g.reauth, sub)
	}
}

// DeleteAccount deletes the Google account sub: refreshing answers
// invalid_grant "The account has been deleted", its access tokens stop
// working and no more codes can be minted for it.
func (g *Google) DeleteAccount(sub string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.deleted[sub] = true
}

// revokeLocked revokes every token matching. Call with g.mu held.
func (g *Google) revokeLocked(match func(*token) bool) {
	for _, t := range g.tokens {
		if match(t) && !t.revoked {
			t.revoked, t.deadSince = true, g.now()
		}
	}
}

// revokeGrantLocked revokes the grant t belongs to: every token of its user
// in its project, and the consents given there. Call with g.mu held.
func (g *Google) revokeGrantLocked(t *token) {
	sub, project := t.sub, t.project
	g.revokeLocked(func(u *token) bool { return u.sub == sub && u.project == project })
	for k := range g.consented {
		if k.sub == sub && g.clients[k.client].ProjectID == project {
			delete(g.consented, k)
		}
	}
	for k := range g.granted {
		if k.sub == sub && g.clients[k.client].ProjectID == project {
			delete(g.granted, k)
		}
	}
}

// liveAccessToken returns the access token value if it is live.
func (g *Google) liveAccessToken(value string) (*token, User, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.tokens[value]
	if !ok || t.refresh || !t.alive(g.now()) || g.deleted[t.sub] {
		return nil, User{}, false
	}
	return t, g.users[t.sub], true
}
