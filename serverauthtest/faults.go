package serverauthtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/serverauth/serverauth/serverauthtest/internal/drive"
)

// FaultKind is a way in which the fake fails a request; see [Fault] and
// [Google.FailNext].
//
// All kinds but four fail the request before it is processed: a code
// stays unused, no token is issued or refreshed, no Drive file changes, and
// [Google.CodeExchangeCount] and [Google.RefreshCount] do not count it. The
// request is still in [Google.Requests]: it reached Google, which did
// nothing with it. FaultResetAfter, FaultTruncated, FaultMalformedJSON and
// FaultWrongContentType process the request first, as the endpoint would,
// and then lose or break the answer: a code is spent, a token issued, a
// file written, and the client cannot tell.
//
// The status kinds answer in the endpoint's own error shape. The token and
// revoke endpoints use OAuth errors ({"error":"internal_failure",…}); Drive,
// userinfo, tokeninfo, the key endpoints and discovery use Google API errors
// ({"error":{"code":500,"errors":[{"reason":"backendError",…}],…}}); the
// authorization endpoint, a browser page, answers with HTML pages.
//
// [NewServer] and cmd/fakegoogle speak HTTP/1.1, where the fake hijacks the
// connection to reset or close it. Served over HTTP/2 instead, FaultReset,
// FaultResetAfter, FaultStall and FaultTruncated reset the stream: the
// client sees "stream error: … INTERNAL_ERROR" (after the first half of the
// body, for FaultTruncated).
type FaultKind int

const (
	// FaultServerError answers 500: on the token and revoke endpoints
	// {"error":"internal_failure","error_description":"Backend Error"};
	// elsewhere a Google API error with reason backendError, message
	// "Internal Error" and status INTERNAL.
	FaultServerError FaultKind = iota + 1

	// FaultUnavailable answers 503 in the shapes of FaultServerError, with
	// "Service Unavailable" and status UNAVAILABLE, and a Retry-After
	// header when Fault.RetryAfter is set.
	FaultUnavailable

	// FaultBadGatewayHTML answers 502 with the text/html page of Google's
	// front end: "That’s an error. … Please try again in 30 seconds."
	FaultBadGatewayHTML

	// FaultThrottleHTML answers 403 with the text/html page Google shows
	// to abusive traffic: "Our systems have detected unusual traffic …
	// automated queries".
	FaultThrottleHTML

	// FaultTooManyRequests answers 429 with a Retry-After header
	// (Fault.RetryAfter, default 1 s): on the token and revoke endpoints
	// {"error":"rate_limit_exceeded"}; elsewhere a Google API error with
	// reason rateLimitExceeded and status RESOURCE_EXHAUSTED.
	FaultTooManyRequests

	// FaultRateLimitExceeded answers Drive's 403 with reason
	// userRateLimitExceeded and status PERMISSION_DENIED, in the Google
	// API shape on every endpoint.
	FaultRateLimitExceeded

	// FaultGoogleAPIError answers 501 with a Google API error (reason
	// notImplemented, status UNIMPLEMENTED) on every endpoint; on the token
	// endpoint this is the odd front-end answer a client expecting an
	// OAuth error must survive (RFC 6749 §5.2).
	FaultGoogleAPIError

	// FaultReset resets the connection (TCP RST) before the request is
	// processed. The client gets an error and no response: over the fake's
	// TLS and plain HTTP servers, "connection reset by peer" (ECONNRESET),
	// or io.EOF when the reset wins the race with the client's read.
	//
	// Go's http.Transport replays an idempotent request (GET, HEAD, or one
	// with an Idempotency-Key header) once when a reused keep-alive
	// connection fails before any byte of the answer, so such a client sees
	// one reset only as a second request, which takes the next fault (or
	// succeeds). Queue two faults, or use a client without keep-alives, to
	// see the error.
	FaultReset

	// FaultResetAfter processes the request and then resets the connection
	// instead of answering: the response is lost, as FaultReset shows it
	// to the client.
	FaultResetAfter

	// FaultStall hangs without an answer until the client gives up (its
	// context ends or it closes the connection), Fault.Stall of real time
	// elapses (default 1 minute), [Google.ClearFaults] is called or the
	// [Server] is closed; then the connection is closed. The request is
	// not processed. A client with a deadline sees its own timeout; one
	// without sees io.EOF when the stall ends.
	FaultStall

	// FaultTruncated processes the request and sends the real status and
	// headers with the Content-Length of the full body, but only the first
	// half of the body, then closes the connection: reading the body fails
	// with io.ErrUnexpectedEOF. A response without a body is lost entirely:
	// the connection closes before the status line.
	FaultTruncated

	// FaultMalformedJSON processes the request and replaces the body with
	// text that is not JSON, with the original status (200 for a 204) and
	// Content-Type application/json: the first string value loses its
	// opening quote ({"access_token": ya29.…), or a body without one
	// becomes {"status": ok}.
	FaultMalformedJSON

	// FaultWrongContentType processes the request and sends the real
	// status and body with Content-Type "text/html; charset=UTF-8".
	FaultWrongContentType

	// FaultDeletedClient answers 401 {"error":"deleted_client",
	// "error_description":"The OAuth client was deleted."}, as Google does
	// once the OAuth client was deleted (Google deletes clients unused for
	// months). Token and revoke endpoints only.
	FaultDeletedClient

	// FaultUnauthorizedClient answers 401 {"error":"unauthorized_client",
	// "error_description":"Unauthorized"}: the refresh token or code
	// belongs to another client. Token endpoint only.
	FaultUnauthorizedClient

	// FaultAdminPolicyEnforced answers as when the user's Google Workspace
	// admin blocks the app or a scope: on the token endpoint 400
	// {"error":"admin_policy_enforced",…} (Google's description wording is
	// unverified; the fake's is "Access to this app is blocked by the
	// Google Workspace admin."), on the authorization endpoint Google's
	// "Access blocked" page naming "Error 400: admin_policy_enforced".
	FaultAdminPolicyEnforced

	// FaultOrgInternal answers as when the app's consent screen is
	// Internal and the user is outside its organization: on the
	// authorization endpoint, where Google shows it, a 403 "Access
	// blocked" page naming "Error 403: org_internal"; on the token
	// endpoint (the fake's choice, for clients that must classify it) 403
	// {"error":"org_internal",…}.
	FaultOrgInternal

	// FaultInvalidRapt answers 400 {"error":"invalid_grant",
	// "error_description":"reauth related error (invalid_rapt)",
	// "error_subtype":"invalid_rapt",…}: the Workspace session control
	// demands reauthentication, once ([Google.RequireReauth] keeps
	// demanding it). Token endpoint only.
	FaultInvalidRapt

	// FaultRaptRequired is FaultInvalidRapt with the rapt_required subtype
	// and description "reauth related error (rapt_required)". Token
	// endpoint only.
	FaultRaptRequired
)

// faultKindNames are the kinds' names in /emulator/faults and String.
var faultKindNames = [...]string{
	FaultServerError:       "server_error",
	FaultUnavailable:       "unavailable",
	FaultBadGatewayHTML:    "bad_gateway_html",
	FaultThrottleHTML:      "throttle_html",
	FaultTooManyRequests:   "too_many_requests",
	FaultRateLimitExceeded: "rate_limit_exceeded",
	FaultGoogleAPIError:    "google_api_error",
	FaultReset:             "reset",
	FaultResetAfter:        "reset_after",
	FaultStall:             "stall",
	FaultTruncated:         "truncated",
	FaultMalformedJSON:     "malformed_json",
	FaultWrongContentType:  "wrong_content_type",

	FaultDeletedClient:       "deleted_client",
	FaultUnauthorizedClient:  "unauthorized_client",
	FaultAdminPolicyEnforced: "admin_policy_enforced",
	FaultOrgInternal:         "org_internal",
	FaultInvalidRapt:         "invalid_rapt",
	FaultRaptRequired:        "rapt_required",
}

// String returns the kind's name as POST /emulator/faults spells it, such as
// "server_error" or "reset_after".
func (k FaultKind) String() string {
	if k.valid() {
		return faultKindNames[k]
	}
	return "FaultKind(" + strconv.Itoa(int(k)) + ")"
}

func (k FaultKind) valid() bool { return k >= FaultServerError && k <= FaultRaptRequired }

// endpoints returns the endpoints an OAuth error kind can fail; nil means
// every endpoint that can fail.
func (k FaultKind) endpoints() []Endpoint {
	switch k {
	case FaultDeletedClient:
		return []Endpoint{EndpointToken, EndpointRevoke}
	case FaultUnauthorizedClient, FaultInvalidRapt, FaultRaptRequired:
		return []Endpoint{EndpointToken}
	case FaultAdminPolicyEnforced, FaultOrgInternal:
		return []Endpoint{EndpointToken, EndpointAuth}
	}
	return nil
}

// allows reports whether kind k can fail endpoint e.
func (k FaultKind) allows(e Endpoint) bool {
	eps := k.endpoints()
	return eps == nil || slices.Contains(eps, e)
}

// endpointList names the endpoints k can fail.
func (k FaultKind) endpointList() string {
	var names []string
	for _, e := range k.endpoints() {
		names = append(names, string(e))
	}
	return strings.Join(names, ", ")
}

// processed reports whether the request is processed before the fault.
func (k FaultKind) processed() bool {
	switch k {
	case FaultResetAfter, FaultTruncated, FaultMalformedJSON, FaultWrongContentType:
		return true
	}
	return false
}

// parseFaultKind returns the kind named s.
func parseFaultKind(s string) (FaultKind, bool) {
	for k, name := range faultKindNames {
		if name != "" && name == s {
			return FaultKind(k), true
		}
	}
	return 0, false
}

// Defaults of Fault's durations.
const (
	defaultRetryAfter = time.Second
	defaultStall      = time.Minute
)

// Fault is a failure to inject; see [Google.FailNext].
type Fault struct {
	// Kind is how the request fails. The zero Kind is invalid.
	Kind FaultKind

	// RetryAfter is the Retry-After of FaultTooManyRequests (zero means
	// 1 s) and, when set, of FaultUnavailable. It is sent in whole
	// seconds, rounded up.
	RetryAfter time.Duration

	// Stall caps a FaultStall in real time (not the fake's clock): zero
	// means 1 minute.
	Stall time.Duration
}

// faultEndpoints are the endpoints that can fail. The emulator's own
// endpoint cannot: it must stay reachable to clear faults.
var faultEndpoints = []Endpoint{
	EndpointToken, EndpointRevoke, EndpointJWKS, EndpointPEM, EndpointTokenInfo,
	EndpointUserInfo, EndpointDrive, EndpointAuth, EndpointDiscovery, EndpointRISC,
}

// faultRun is n queued faults f.
type faultRun struct {
	f Fault
	n int
}

// fractionFault is a fault armed with a probability.
type fractionFault struct {
	p float64
	f Fault
}

// faults is the fault-injection state of a Google.
type faults struct {
	seed int64

	// guards everything below
	mu       sync.Mutex
	queue    map[Endpoint][]faultRun
	fraction map[Endpoint]fractionFault
	rand     map[Endpoint]*rand.Rand // one generator per endpoint, created at its first draw
	injected map[Endpoint]int
	changed  chan struct{} // closed and replaced whenever injected grows
	stallEnd chan struct{} // closed and replaced to end the stalls in progress
	closed   bool          // the server is closing: stalls end at once
}

func newFaults(seed int64) *faults {
	return &faults{
		seed:     seed,
		queue:    map[Endpoint][]faultRun{},
		fraction: map[Endpoint]fractionFault{},
		rand:     map[Endpoint]*rand.Rand{},
		injected: map[Endpoint]int{},
		changed:  make(chan struct{}),
		stallEnd: make(chan struct{}),
	}
}

// checkFault panics unless e can fail and f is valid.
func checkFault(method string, e Endpoint, f Fault) {
	if !slices.Contains(faultEndpoints, e) {
		panic(fmt.Sprintf("serverauthtest: %s: endpoint %q cannot fail", method, e))
	}
	if !f.Kind.valid() {
		panic(fmt.Sprintf("serverauthtest: %s: invalid fault kind %d", method, f.Kind))
	}
	if !f.Kind.allows(e) {
		panic(fmt.Sprintf("serverauthtest: %s: fault %s answers only at %s, not %s", method, f.Kind, f.Kind.endpointList(), e))
	}
}

// FailNext makes the next n requests to endpoint e fail with f, after the
// faults already queued for e. Queued faults take precedence over
// [Google.FailFraction]. It panics if n is negative, if f.Kind is not a
// valid kind, if e cannot fail (the emulator's own endpoint cannot) or if
// f.Kind is an OAuth error kind that e does not answer (FaultDeletedClient
// and the kinds after it name their endpoints).
func (g *Google) FailNext(e Endpoint, n int, f Fault) {
	checkFault("FailNext", e, f)
	if n < 0 {
		panic(fmt.Sprintf("serverauthtest: FailNext: negative count %d", n))
	}
	if n == 0 {
		return
	}
	fs := g.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.queue[e] = append(fs.queue[e], faultRun{f, n})
}

// FailFraction makes each later request to endpoint e that no queued fault
// takes fail with f with probability fraction, replacing the fraction set
// before; fraction 0 turns it off. The draws for each endpoint come from
// their own generator seeded with Options.FaultSeed, so the same seed and
// the same sequence of requests to e fail the same requests, whatever the
// other endpoints receive. It panics if fraction is not within [0, 1], or,
// for a fraction above 0, as [Google.FailNext] does.
func (g *Google) FailFraction(e Endpoint, fraction float64, f Fault) {
	if math.IsNaN(fraction) || fraction < 0 || fraction > 1 {
		panic(fmt.Sprintf("serverauthtest: FailFraction: fraction %v is not within [0, 1]", fraction))
	}
	if fraction > 0 {
		checkFault("FailFraction", e, f)
	}
	fs := g.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fraction == 0 {
		delete(fs.fraction, e)
		return
	}
	fs.fraction[e] = fractionFault{fraction, f}
}

// ClearFaults disarms every fault of every endpoint, queued and fractional,
// and ends the stalls in progress (their connections close).
// [Google.FaultCount] keeps its counts.
func (g *Google) ClearFaults() {
	fs := g.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	clear(fs.queue)
	clear(fs.fraction)
	if !fs.closed {
		close(fs.stallEnd)
		fs.stallEnd = make(chan struct{})
	}
}

// FaultCount returns how many requests to endpoint e were failed by an
// injected fault since the start or the last [Google.ResetCounts].
func (g *Google) FaultCount(e Endpoint) int {
	fs := g.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.injected[e]
}

// WaitFaultCount blocks until [Google.FaultCount](e) is at least n and
// returns nil, or until ctx ends and returns an error wrapping ctx.Err(). A
// test uses it to act while a request is held by FaultStall: once the fault
// is counted, the request has reached the fake and will not be processed.
func (g *Google) WaitFaultCount(ctx context.Context, e Endpoint, n int) error {
	fs := g.faults
	for {
		fs.mu.Lock()
		got, changed := fs.injected[e], fs.changed
		fs.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("serverauthtest: waiting for %d faults on %s, %d so far: %w", n, e, got, ctx.Err())
		}
	}
}

// resetCounts zeroes the injected counts.
func (fs *faults) resetCounts() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	clear(fs.injected)
}

// close ends the stalls in progress and every later one at once.
func (fs *faults) close() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if !fs.closed {
		fs.closed = true
		close(fs.stallEnd)
	}
}

// take returns the fault the next request to e gets, if any, and counts it.
func (fs *faults) take(e Endpoint) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var f Fault
	if runs := fs.queue[e]; len(runs) > 0 {
		f = runs[0].f
		if runs[0].n--; runs[0].n == 0 {
			runs = runs[1:]
		}
		if len(runs) == 0 {
			delete(fs.queue, e)
		} else {
			fs.queue[e] = runs
		}
	} else if fr, ok := fs.fraction[e]; ok && fs.generator(e).Float64() < fr.p {
		f = fr.f
	} else {
		return Fault{}, false
	}
	fs.injected[e]++
	close(fs.changed)
	fs.changed = make(chan struct{})
	return f, true
}

// generator returns e's random generator. Call with fs.mu held.
func (fs *faults) generator(e Endpoint) *rand.Rand {
	r, ok := fs.rand[e]
	if !ok {
		h := fnv.New64a()
		io.WriteString(h, string(e))
		r = rand.New(rand.NewPCG(uint64(fs.seed), h.Sum64()))
		fs.rand[e] = r
	}
	return r
}

// stallState returns the channel that ends the current stalls, already
// closed when the server is closing.
func (fs *faults) stallState() <-chan struct{} {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.stallEnd
}

// fault is the fault-injection hook of [Google.serve]: when a fault is armed
// for e, it answers the request instead of the endpoint, running next (the
// endpoint's handler) first for the kinds that process the request, and
// reports that it did.
func (g *Google) fault(e Endpoint, w http.ResponseWriter, r *http.Request, next http.HandlerFunc) (handled bool) {
	f, ok := g.faults.take(e)
	if !ok {
		return false
	}
	switch {
	case f.Kind == FaultReset:
		abortConn(w, true)
	case f.Kind == FaultStall:
		g.faults.stall(w, r, f.Stall)
	case f.Kind.processed():
		rec := &bufferedResponse{header: http.Header{}}
		next(rec, r)
		sendBroken(f.Kind, w, rec)
	default:
		io.Copy(io.Discard, r.Body) // as a server that read the request and failed
		writeFaultStatus(e, f, w)
	}
	return true
}

// abortConn ends the request without an answer by closing its connection:
// with a TCP reset when reset is true and the connection is TCP (for TLS,
// the TCP connection under it is reset, without close_notify). Where the
// connection cannot be hijacked (HTTP/2, or a writer that does not unwrap
// to net/http's), it panics with http.ErrAbortHandler, which the server turns
// into a reset stream (HTTP/2) or a closed connection (HTTP/1).
func abortConn(w http.ResponseWriter, reset bool) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if reset {
		raw := conn
		for {
			u, ok := raw.(interface{ NetConn() net.Conn })
			if !ok {
				break
			}
			raw = u.NetConn()
		}
		if tcp, ok := raw.(*net.TCPConn); ok {
			tcp.SetLinger(0)
			tcp.Close()
			return
		}
	}
	conn.Close()
}

// stall holds the request without answering (see FaultStall), then closes
// the connection.
func (fs *faults) stall(w http.ResponseWriter, r *http.Request, d time.Duration) {
	if d <= 0 {
		d = defaultStall
	}
	deadline := time.Now().Add(d)
	end := fs.stallState()
	// Read the whole request first: net/http notices a client going away
	// (and cancels r.Context) only once the body is consumed. The read
	// deadline bounds a client that never finishes its body.
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(deadline)
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		abortConn(w, false)
		return
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-r.Context().Done():
	case <-t.C:
	case <-end:
	}
	abortConn(w, false)
}

// bufferedResponse records an endpoint's answer for the kinds that break it.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 && status >= 200 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

// bodyAllowed reports whether a response with status may have a body.
func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified
}

// sendBroken writes the recorded answer rec broken as kind says.
func sendBroken(kind FaultKind, w http.ResponseWriter, rec *bufferedResponse) {
	status, body := rec.status, rec.body.Bytes()
	if status == 0 {
		status = http.StatusOK
	}
	h := w.Header()
	for k, vs := range rec.header {
		h[k] = vs
	}
	switch kind {
	case FaultResetAfter:
		abortConn(w, true)
		return
	case FaultTruncated:
		if len(body) == 0 || !bodyAllowed(status) {
			abortConn(w, false)
			return
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(status)
		w.Write(body[:len(body)/2])
		http.NewResponseController(w).Flush()
		abortConn(w, false)
		return
	case FaultMalformedJSON:
		if !bodyAllowed(status) {
			status = http.StatusOK
		}
		body = malformJSON(body)
		h.Set("Content-Type", "application/json; charset=UTF-8")
		h.Del("Content-Range")
		h.Del("Content-Encoding")
	case FaultWrongContentType:
		h.Set("Content-Type", "text/html; charset=UTF-8")
	}
	if bodyAllowed(status) {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	} else {
		h.Del("Content-Length")
	}
	w.WriteHeader(status)
	w.Write(body)
}

// jsonStringValue finds the opening quote of a JSON member's string value.
var jsonStringValue = regexp.MustCompile(`:\s*"`)

// malformJSON returns b with the opening quote of its first string value
// removed, which no JSON parser accepts, or {"status": ok}.
func malformJSON(b []byte) []byte {
	if loc := jsonStringValue.FindIndex(b); loc != nil {
		out := append(slices.Clone(b[:loc[1]-1]), b[loc[1]:]...)
		if !json.Valid(out) {
			return out
		}
	}
	return []byte(`{"status": ok}` + "\n")
}

// writeFaultStatus answers f, a status kind, in e's error shape.
func writeFaultStatus(e Endpoint, f Fault, w http.ResponseWriter) {
	retryAfter := func(d time.Duration) {
		if d > 0 {
			w.Header().Set("Retry-After", strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10))
		}
	}
	oauth := e == EndpointToken || e == EndpointRevoke
	html := e == EndpointAuth
	switch f.Kind {
	case FaultServerError, FaultUnavailable:
		status, desc, msg := http.StatusInternalServerError, "Backend Error", "Internal Error"
		if f.Kind == FaultUnavailable {
			status, desc, msg = http.StatusServiceUnavailable, "Service Unavailable", "Service Unavailable"
			retryAfter(f.RetryAfter)
		}
		switch {
		case oauth:
			writeFaultJSON(w, status, oauthErrorBody{Error: "internal_failure", ErrorDescription: desc})
		case html:
			googleHTMLPage(w, status, "That’s an error.", "There was an error. Please try again later. That’s all we know.")
		default:
			writeAPIError(w, status, "backendError", msg)
		}
	case FaultBadGatewayHTML:
		googleHTMLPage(w, http.StatusBadGateway, "That’s an error.",
			"The server encountered a temporary error and could not complete your request. Please try again in 30 seconds. That’s all we know.")
	case FaultThrottleHTML:
		writeThrottlePage(w, http.StatusForbidden)
	case FaultTooManyRequests:
		d := f.RetryAfter
		if d <= 0 {
			d = defaultRetryAfter
		}
		retryAfter(d)
		switch {
		case oauth:
			writeFaultJSON(w, http.StatusTooManyRequests, oauthErrorBody{Error: "rate_limit_exceeded"})
		case html:
			writeThrottlePage(w, http.StatusTooManyRequests)
		default:
			writeAPIError(w, http.StatusTooManyRequests, "rateLimitExceeded", "Rate Limit Exceeded")
		}
	case FaultRateLimitExceeded:
		writeAPIError(w, http.StatusForbidden, "userRateLimitExceeded", "User Rate Limit Exceeded")
	case FaultGoogleAPIError:
		writeAPIError(w, http.StatusNotImplemented, "notImplemented", "Operation is not implemented, or supported, or enabled.")
	case FaultDeletedClient:
		writeFaultJSON(w, http.StatusUnauthorized, oauthErrorBody{Error: "deleted_client", ErrorDescription: descDeletedClient})
	case FaultUnauthorizedClient:
		writeFaultJSON(w, http.StatusUnauthorized, oauthErrorBody{Error: "unauthorized_client", ErrorDescription: descUnauthorized})
	case FaultAdminPolicyEnforced:
		if html {
			googleHTMLPage(w, http.StatusBadRequest, "Access blocked: this app is blocked",
				"This app tried to access sensitive info in your Google Account. To keep your account safe, your administrator has blocked this app. Error 400: admin_policy_enforced")
			return
		}
		writeFaultJSON(w, http.StatusBadRequest, oauthErrorBody{Error: "admin_policy_enforced", ErrorDescription: descAdminPolicy})
	case FaultOrgInternal:
		if html {
			googleHTMLPage(w, http.StatusForbidden, "Access blocked: this app can only be used within its organization",
				"You can’t sign in because this app is only available to users within its organization. Error 403: org_internal")
			return
		}
		writeFaultJSON(w, http.StatusForbidden, oauthErrorBody{Error: "org_internal", ErrorDescription: descOrgInternal})
	case FaultInvalidRapt, FaultRaptRequired:
		subtype := "invalid_rapt"
		if f.Kind == FaultRaptRequired {
			subtype = "rapt_required"
		}
		writeFaultJSON(w, http.StatusBadRequest, oauthErrorBody{Error: "invalid_grant", ErrorDescription: "reauth related error (" + subtype + ")", ErrorURI: reauthErrorURI, ErrorSubtype: subtype})
	}
}

// writeFaultJSON writes v indented, with its Content-Length.
func writeFaultJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic("serverauthtest: encoding a fault: " + err.Error())
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// writeAPIError writes a Google API error: {"error":{"code":…,"message":…,
// "errors":[{"message":…,"domain":"global","reason":…}],"status":…}}.
func writeAPIError(w http.ResponseWriter, status int, reason, msg string) {
	writeFaultJSON(w, status, drive.ErrorBody(status, reason, msg))
}

// throttlePage is the body of Google's page for automated traffic.
const throttlePage = `<html>
<head><meta http-equiv="content-type" content="text/html; charset=utf-8"><meta name="viewport" content="initial-scale=1"><title>Sorry...</title></head>
<body style="font-family: arial, sans-serif; background-color: #fff; color: #000; padding:20px; font-size:18px;">
<div style="max-width:400px;">
<hr noshade size="1" style="color:#ccc; background-color:#ccc;"><br>
<div style="font-size:13px;">
<b>About this page</b><br><br>
Our systems have detected unusual traffic from your computer network. This page checks to see if it&#39;s really you sending the requests, and not a robot.<br><br>
We&#39;re sorry... but your computer or network may be sending automated queries. To protect our users, we can&#39;t process your request right now.<br><br>
</div>
<hr noshade size="1" style="color:#ccc; background-color:#ccc;">
</div>
</body>
</html>
`

// writeThrottlePage writes the automated-traffic page with status.
func writeThrottlePage(w http.ResponseWriter, status int) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(throttlePage)))
	w.WriteHeader(status)
	io.WriteString(w, throttlePage)
}

// EmulatorFaultRequest is the JSON body of POST /emulator/faults, which arms
// faults over HTTP (for apps and tools outside Go tests), as
// [Google.FailNext] and [Google.FailFraction] do:
//
//	{"endpoint":"token","kind":"unavailable","count":2,"retry_after_seconds":1}
//
// Endpoint is one of token, revoke, jwks, pem, tokeninfo, userinfo, drive,
// auth, discovery. Kind is a [FaultKind]'s name: server_error, unavailable,
// bad_gateway_html, throttle_html, too_many_requests, rate_limit_exceeded,
// google_api_error, reset, reset_after, stall, truncated, malformed_json,
// wrong_content_type, and the OAuth errors deleted_client,
// unauthorized_client, admin_policy_enforced, org_internal, invalid_rapt,
// rapt_required on the endpoints their kinds name. Count > 0 queues that many faults; Fraction, when
// present, sets the fraction of later requests that fail (0 turns it off).
// At least one of the two must be given.
//
// The answer is the endpoint's fault state, {"endpoint":"token","queued":2,
// "fraction":0,"injected":0}; "fraction_kind" names the fractional fault's
// kind when one is armed. GET /emulator/faults answers {"faults":[…]} with
// the state of every endpoint, and DELETE /emulator/faults clears every
// fault as [Google.ClearFaults] does, then answers as GET. Bad input gets
// 400 invalid_request naming the field at fault.
type EmulatorFaultRequest struct {
	Endpoint          string   `json:"endpoint"`
	Kind              string   `json:"kind"`
	Count             int      `json:"count"`
	Fraction          *float64 `json:"fraction"`
	RetryAfterSeconds float64  `json:"retry_after_seconds"` // Fault.RetryAfter
	StallSeconds      float64  `json:"stall_seconds"`       // Fault.Stall
}

// faultState is an endpoint's fault state as /emulator/faults reports it.
type faultState struct {
	Endpoint     Endpoint `json:"endpoint"`
	Queued       int      `json:"queued"`
	Fraction     float64  `json:"fraction"`
	FractionKind string   `json:"fraction_kind,omitempty"`
	Injected     int      `json:"injected"`
}

// state returns e's fault state.
func (fs *faults) state(e Endpoint) faultState {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	s := faultState{Endpoint: e, Injected: fs.injected[e]}
	for _, run := range fs.queue[e] {
		s.Queued += run.n
	}
	if fr, ok := fs.fraction[e]; ok {
		s.Fraction, s.FractionKind = fr.p, fr.f.Kind.String()
	}
	return s
}

// maxFaultSeconds bounds the durations /emulator/faults accepts (a year).
const maxFaultSeconds = 365 * 24 * 3600

// apply validates the request, naming the field at fault, and arms it.
func (req *EmulatorFaultRequest) apply(g *Google) (Endpoint, error) {
	e := Endpoint(req.Endpoint)
	if !slices.Contains(faultEndpoints, e) {
		names := make([]string, len(faultEndpoints))
		for i, fe := range faultEndpoints {
			names[i] = string(fe)
		}
		return "", fmt.Errorf("endpoint: %q is not one of %s", req.Endpoint, strings.Join(names, ", "))
	}
	if req.Count < 0 {
		return "", fmt.Errorf("count: %d is negative", req.Count)
	}
	if req.Fraction != nil && !(*req.Fraction >= 0 && *req.Fraction <= 1) {
		return "", fmt.Errorf("fraction: %v is not between 0 and 1", *req.Fraction)
	}
	if req.Count == 0 && req.Fraction == nil {
		return "", fmt.Errorf("count: give a count above 0, a fraction, or both")
	}
	var f Fault
	if req.Kind != "" || req.Count > 0 || (req.Fraction != nil && *req.Fraction > 0) {
		k, ok := parseFaultKind(req.Kind)
		if !ok {
			return "", fmt.Errorf("kind: %q is not one of %s", req.Kind, strings.Join(faultKindNames[1:], ", "))
		}
		if !k.allows(e) {
			return "", fmt.Errorf("kind: %s answers only at %s, not %s", k, k.endpointList(), e)
		}
		f.Kind = k
	}
	for _, d := range []struct {
		name string
		secs float64
		dst  *time.Duration
	}{{"retry_after_seconds", req.RetryAfterSeconds, &f.RetryAfter}, {"stall_seconds", req.StallSeconds, &f.Stall}} {
		if d.secs < 0 || d.secs > maxFaultSeconds {
			return "", fmt.Errorf("%s: %v is not between 0 and %d", d.name, d.secs, maxFaultSeconds)
		}
		*d.dst = time.Duration(d.secs * float64(time.Second))
	}
	if req.Count > 0 {
		g.FailNext(e, req.Count, f)
	}
	if req.Fraction != nil {
		g.FailFraction(e, *req.Fraction, f)
	}
	return e, nil
}

// handleEmulatorFaults serves /emulator/faults: GET reports, POST arms,
// DELETE clears.
func (g *Google) handleEmulatorFaults(w http.ResponseWriter, r *http.Request) {
	all := func() {
		var out struct {
			Faults []faultState `json:"faults"`
		}
		for _, e := range faultEndpoints {
			out.Faults = append(out.Faults, g.faults.state(e))
		}
		writeJSON(w, http.StatusOK, out)
	}
	switch r.Method {
	case http.MethodGet:
		all()
	case http.MethodDelete:
		g.ClearFaults()
		all()
	case http.MethodPost:
		var body EmulatorFaultRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			oauthError(w, http.StatusBadRequest, "invalid_request", "serverauthtest: bad JSON body: "+err.Error())
			return
		}
		e, err := body.apply(g)
		if err != nil {
			oauthError(w, http.StatusBadRequest, "invalid_request", "serverauthtest: "+err.Error())
			return
		}
		writeJSON(w, http.StatusOK, g.faults.state(e))
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "serverauthtest: use GET, POST or DELETE")
	}
}
