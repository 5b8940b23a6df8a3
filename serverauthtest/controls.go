package serverauthtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// This file holds the controls that change the fake while it runs, as Go
// methods and as their HTTP twins under /emulator/ for other languages and
// other processes, and the CORS policy of /emulator/.

// Now returns the fake's time: Options.Now moved by [Google.AdvanceClock].
func (g *Google) Now() time.Time { return g.now() }

// AdvanceClock moves the fake's clock by d (backward for negative d), on
// top of Options.Now: codes, tokens and ID tokens expire by it. It is for
// tests whose code under test runs in another process; code that shares
// Options.Now in the same process does not see the move, so share a
// [Clock] and use [Clock.Advance] there.
func (g *Google) AdvanceClock(d time.Duration) { g.clockOffset.Add(int64(d)) }

// ExpireAccessTokens makes every live access token of user sub expire now,
// as if its lifetime had run out, and returns how many did; refresh tokens
// stay alive, so a client refreshes and carries on.
func (g *Google) ExpireAccessTokens(sub string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	n := 0
	for _, t := range g.tokens {
		if !t.refresh && t.sub == sub && t.alive(now) {
			t.expires = now
			n++
		}
	}
	return n
}

// SetRotateRefreshTokens turns refresh-token rotation on or off from now on
// (see Options.RotateRefreshTokens).
func (g *Google) SetRotateRefreshTokens(on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.opts.RotateRefreshTokens = on
}

// SetAccessTokenLifetime sets the expires_in of the access tokens issued
// from now on; d <= 0 restores Options.AccessTokenLifetime (default
// DefaultAccessTokenLifetime). Tokens already issued keep their expiry.
func (g *Google) SetAccessTokenLifetime(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if d <= 0 {
		d = g.accessTTLOption
	}
	g.opts.AccessTokenLifetime = d
}

// settings returns the settings the controls change.
func (g *Google) settings() EmulatorSettings {
	g.mu.Lock()
	defer g.mu.Unlock()
	rotate, secs := g.opts.RotateRefreshTokens, int64(g.opts.AccessTokenLifetime/time.Second)
	return EmulatorSettings{RotateRefreshTokens: &rotate, AccessTokenLifetime: &secs}
}

// EmulatorSettings is the JSON of /emulator/settings: GET answers the
// current values, POST changes those given ([Google.SetRotateRefreshTokens],
// [Google.SetAccessTokenLifetime]; 0 seconds restores the configured
// lifetime) and answers the result.
type EmulatorSettings struct {
	RotateRefreshTokens *bool  `json:"rotate_refresh_tokens,omitempty"`
	AccessTokenLifetime *int64 `json:"access_token_lifetime_seconds,omitempty"`
}

// EmulatorClock is the JSON of /emulator/clock: POST {"advance_seconds":
// N} moves the clock ([Google.AdvanceClock]); GET and POST answer the
// fake's time (RFC 3339) and how far it was moved in all.
type EmulatorClock struct {
	AdvanceSeconds int64  `json:"advance_seconds,omitempty"` // POST only
	Now            string `json:"now,omitempty"`
	OffsetSeconds  int64  `json:"offset_seconds"`
}

// EmulatorCounts is the JSON GET /emulator/counts answers: the counters of
// [Google.RequestCount] by endpoint, [Google.RefreshCount] by user and
// [Google.FaultCount] by endpoint. POST {"code": "…"} answers
// {"code_exchanges": N}, [Google.CodeExchangeCount] of that code (in the
// body, so that the code stays out of URLs and logs); DELETE zeroes every
// counter ([Google.ResetCounts]).
type EmulatorCounts struct {
	Requests  map[Endpoint]int `json:"requests"`
	Refreshes map[string]int   `json:"refreshes"`
	Faults    map[Endpoint]int `json:"faults"`
}

// counts returns every counter.
func (g *Google) counts() EmulatorCounts {
	c := EmulatorCounts{Requests: map[Endpoint]int{}, Refreshes: map[string]int{}, Faults: map[Endpoint]int{}}
	for _, e := range faultEndpoints {
		c.Faults[e] = g.FaultCount(e)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, e := range allEndpoints {
		c.Requests[e] = 0
	}
	for _, r := range g.requests {
		c.Requests[r.Endpoint]++
	}
	for sub, n := range g.refreshCounts {
		c.Refreshes[sub] = n
	}
	return c
}

// allEndpoints are every endpoint the counters know.
var allEndpoints = []Endpoint{
	EndpointToken, EndpointRevoke, EndpointJWKS, EndpointPEM, EndpointTokenInfo, EndpointUserInfo,
	EndpointDrive, EndpointAuth, EndpointDiscovery, EndpointEmulator, EndpointGSI, EndpointRISC,
}

// decodeControl reads a control's JSON body into v; an empty body is {}.
func decodeControl(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		oauthError(w, http.StatusBadRequest, "invalid_request", "serverauthtest: bad JSON body: "+err.Error())
		return false
	}
	return true
}

// methodNotAllowed answers a control with the methods it takes.
func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "serverauthtest: use "+allow)
}

// handleEmulatorClock serves /emulator/clock.
func (g *Google) handleEmulatorClock(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		var body EmulatorClock
		if !decodeControl(w, r, &body) {
			return
		}
		if body.Now != "" || body.OffsetSeconds != 0 {
			oauthError(w, http.StatusBadRequest, "invalid_request", "serverauthtest: POST takes advance_seconds only")
			return
		}
		g.AdvanceClock(time.Duration(body.AdvanceSeconds) * time.Second)
	default:
		methodNotAllowed(w, "GET, POST")
		return
	}
	writeJSON(w, http.StatusOK, EmulatorClock{Now: g.now().UTC().Format(time.RFC3339Nano), OffsetSeconds: g.clockOffset.Load() / int64(time.Second)})
}

// handleEmulatorSettings serves /emulator/settings.
func (g *Google) handleEmulatorSettings(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		var body EmulatorSettings
		if !decodeControl(w, r, &body) {
			return
		}
		if body.AccessTokenLifetime != nil && *body.AccessTokenLifetime < 0 {
			oauthError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("serverauthtest: access_token_lifetime_seconds: %d is negative", *body.AccessTokenLifetime))
			return
		}
		if body.RotateRefreshTokens != nil {
			g.SetRotateRefreshTokens(*body.RotateRefreshTokens)
		}
		if body.AccessTokenLifetime != nil {
			g.SetAccessTokenLifetime(time.Duration(*body.AccessTokenLifetime) * time.Second)
		}
	default:
		methodNotAllowed(w, "GET, POST")
		return
	}
	writeJSON(w, http.StatusOK, g.settings())
}

// handleEmulatorCounts serves /emulator/counts.
func (g *Google) handleEmulatorCounts(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodDelete:
		g.ResetCounts()
	case http.MethodPost:
		var body struct {
			Code string `json:"code"`
		}
		if !decodeControl(w, r, &body) {
			return
		}
		if body.Code == "" {
			oauthError(w, http.StatusBadRequest, "invalid_request", "serverauthtest: code: missing; POST {\"code\": \"…\"} for its exchange count")
			return
		}
		writeJSON(w, http.StatusOK, map[string]int{"code_exchanges": g.CodeExchangeCount(body.Code)})
		return
	default:
		methodNotAllowed(w, "GET, POST, DELETE")
		return
	}
	writeJSON(w, http.StatusOK, g.counts())
}

// handleEmulatorUsers serves POST /emulator/users/{sub}/{action}, the
// controls of one user's grants: expire-access-tokens
// ([Google.ExpireAccessTokens]), revoke ([Google.RevokeUser]),
// require-reauth with {"on": bool} ([Google.RequireReauth]) and delete
// ([Google.DeleteAccount]).
func (g *Google) handleEmulatorUsers(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/emulator/users/")
	sub, action, ok := strings.Cut(rest, "/")
	if !ok || sub == "" || strings.Contains(action, "/") {
		oauthError(w, http.StatusNotFound, "invalid_request", "serverauthtest: use POST /emulator/users/{sub}/expire-access-tokens, revoke, require-reauth or delete")
		return
	}
	for _, c := range sub {
		if c < '0' || c > '9' {
			oauthError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("serverauthtest: sub: %q is not numeric", sub))
			return
		}
	}
	if r.Method != http.MethodPost {
		methodNotAllowed(w, "POST")
		return
	}
	var body struct {
		On *bool `json:"on"`
	}
	if !decodeControl(w, r, &body) {
		return
	}
	if body.On != nil && action != "require-reauth" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "serverauthtest: on: only require-reauth takes it")
		return
	}
	out := map[string]any{"sub": sub}
	switch action {
	case "expire-access-tokens":
		out["expired"] = g.ExpireAccessTokens(sub)
	case "revoke":
		g.RevokeUser(sub)
	case "require-reauth":
		on := body.On == nil || *body.On
		g.RequireReauth(sub, on)
		out["on"] = on
	case "delete":
		g.DeleteAccount(sub)
	default:
		oauthError(w, http.StatusNotFound, "invalid_request", fmt.Sprintf("serverauthtest: action %q is not expire-access-tokens, revoke, require-reauth or delete", action))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// emulatorCORS lets pages on loopback origins (http or https, any port)
// call /emulator/ from a browser, preflight included; other origins get no
// CORS header, so their pages cannot read the answers, and their
// preflights are refused.
func emulatorCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		origin, hasOrigin := r.Header["Origin"]
		allowed := hasOrigin && len(origin) == 1 && loopbackOrigin(origin[0])
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		switch {
		case allowed && preflight:
			h.Set("Access-Control-Allow-Origin", origin[0])
			h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
			h.Set("Access-Control-Allow-Headers", "Content-Type")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		case preflight:
			oauthError(w, http.StatusForbidden, "forbidden", "serverauthtest: only loopback origins may call /emulator/")
			return
		case allowed:
			h.Set("Access-Control-Allow-Origin", origin[0])
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackOrigin reports whether an Origin header is an http or https
// origin on localhost or a loopback IP address, with any port. "null" (a
// sandboxed or file: page) is not.
func loopbackOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Host == "" ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
