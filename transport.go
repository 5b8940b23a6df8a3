package serverauth

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Client returns an HTTP client that authorises each request as the user,
// with the token Token(req.Context(), userID) returns. If the resource
// server answers 401, the token is refreshed once and the request retried
// once (when its body can be replayed), never more; if that refresh finds
// the grant dead, the request fails with an error wrapping
// ErrReauthRequired instead of the 401. Transient failures of requests that
// can safely be repeated are retried under Config.Retry. A redirect to
// another origin (scheme, host or port) is not followed: the 3xx response
// is returned, and the token never leaves the origin it was sent to.
//
// The client uses Config.HTTPClient's transport (http.DefaultTransport if
// nil) and no overall timeout: bound requests with their context.
func (e *Exchanger) Client(userID string) *http.Client {
	return &http.Client{Transport: &transport{e: e, userID: userID}, CheckRedirect: sameOriginRedirects}
}

// observedTransport is Client's transport with each request observed as
// op (OpDrive for the Drive client).
func (e *Exchanger) observedTransport(userID string, op Op) http.RoundTripper {
	return &transport{e: e, userID: userID, op: op}
}

// sameOriginRedirects follows at most 10 redirects, and none to another
// origin: the caller gets that 3xx response instead.
func sameOriginRedirects(req *http.Request, via []*http.Request) error {
	if !sameOrigin(req.URL, via[0].URL) {
		return http.ErrUseLastResponse
	}
	if len(via) >= 10 {
		return errors.New("serverauth: stopped after 10 redirects")
	}
	return nil
}

// transport adds the user's bearer token to requests.
type transport struct {
	e      *Exchanger
	userID string
	op     Op // when set, each request is one observed operation
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.op == "" {
		resp, _, err := t.roundTrip(req)
		return resp, err
	}
	ctx, run := t.e.begin(req.Context(), t.op)
	if ctx != req.Context() {
		req = req.WithContext(ctx)
	}
	resp, attempts, err := t.roundTrip(req)
	o := Observation{Attempts: attempts}
	ferr := err
	if err == nil && resp.StatusCode >= http.StatusBadRequest {
		ferr = errHTTPStatus
		o.Reason = strconv.Itoa(resp.StatusCode)
	}
	t.e.end(run, ferr, o)
	return resp, err
}

// errHTTPStatus marks an observed request answered with an error status.
var errHTTPStatus = errors.New("serverauth: error status")

// roundTrip sends req with the user's token and reports the requests made.
func (t *transport) roundTrip(req *http.Request) (*http.Response, int, error) {
	attempts := 0
	if req.Response != nil && req.Response.Request != nil && !sameOrigin(req.Response.Request.URL, req.URL) {
		// A redirect to another origin (the client's own policy refuses
		// those; this guards a caller's CheckRedirect): no token.
		resp, err := t.e.base.RoundTrip(req)
		return resp, 1, err
	}
	var tok *tokenFacts
	if te, ok := t.e.users.cached(t.userID); ok {
		tok = &te.tokenFacts
	} else {
		ct, err := t.e.tokenSlow(req.Context(), t.userID, "")
		if err != nil {
			closeBody(req)
			return nil, attempts, err
		}
		tok = &ct.tokenFacts
	}
	resp, err := t.send(req, tok.authHeader, &attempts)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || !replayable(req) {
		return resp, attempts, err
	}
	// The token was refused (revoked, or expired early): one refresh, one retry.
	t.e.users.cache.CompareAndDelete(t.userID, func(te *tokenEntry) bool { return te.authHeader == tok.authHeader })
	fresh, ferr := t.e.tokenSlow(req.Context(), t.userID, tok.accessToken())
	switch {
	case errors.Is(ferr, ErrReauthRequired) || errors.Is(ferr, ErrNoRefreshToken) || errors.Is(ferr, ErrNotFound):
		// The grant is gone: say so with the typed error, not a bare 401.
		drain(resp)
		return nil, attempts, ferr
	case ferr != nil:
		return resp, attempts, nil // the 401 is the answer
	}
	again, err := rewind(req)
	if err != nil {
		return resp, attempts, nil
	}
	drain(resp)
	resp, err = t.send(again, fresh.authHeader, &attempts)
	return resp, attempts, err
}

// send makes the request with the token, retrying transient failures
// (network errors, 5xx, 408, 429, Drive's rate-limit 403s) under the
// Exchanger's retry policy when the request can safely be repeated.
func (t *transport) send(req *http.Request, header string, attempts *int) (*http.Response, error) {
	a := t.e.retry.Start()
	for {
		*attempts++
		resp, err := t.e.base.RoundTrip(authorize(req, header))
		after, transient := transientFailure(resp, err, t.e.cfg.Now())
		if !transient || !idempotent(req) || !replayable(req) {
			return resp, err
		}
		wait, ok := a.Next(req.Context(), after)
		if !ok {
			return resp, err
		}
		next, rerr := rewind(req)
		if rerr != nil {
			return resp, err
		}
		if resp != nil {
			drain(resp)
		}
		if err := a.Sleep(req.Context(), wait); err != nil {
			closeBody(next)
			return nil, err
		}
		req = next
	}
}

// transientFailure reports whether a response or transport error is worth
// another attempt, and the server's Retry-After.
func transientFailure(resp *http.Response, err error, now time.Time) (time.Duration, bool) {
	if err != nil {
		return 0, true // a network error; the request context is checked by the policy
	}
	switch resp.StatusCode {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable,
		http.StatusGatewayTimeout, http.StatusRequestTimeout, http.StatusTooManyRequests:
		return retryAfter(resp.Header, now), true
	case http.StatusForbidden:
		// Drive's per-user and project rate limits answer 403.
		peek, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<10))
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(peek), resp.Body), resp.Body}
		if bytes.Contains(peek, []byte(`"userRateLimitExceeded"`)) || bytes.Contains(peek, []byte(`"rateLimitExceeded"`)) {
			return retryAfter(resp.Header, now), true
		}
	}
	return 0, false
}

type readCloser struct {
	io.Reader
	io.Closer
}

// idempotent reports whether repeating req cannot do harm. Drive's PATCH
// updates set content and fields to given values, so repeating them is safe;
// POST (create) is not repeated.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodPatch:
		return true
	}
	return false
}

// rewind returns a copy of req with a fresh body, for another attempt.
func rewind(req *http.Request) (*http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Body = body
	return r, nil
}

// authorize returns a shallow copy of req with the Authorization header
// set to header; RoundTrippers must not modify their request.
func authorize(req *http.Request, header string) *http.Request {
	r := new(http.Request)
	*r = *req
	r.Header = make(http.Header, len(req.Header)+1)
	for k, v := range req.Header {
		r.Header[k] = v
	}
	r.Header["Authorization"] = []string{header}
	return r
}

func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// drain reads a little of a discarded response so its connection can be
// reused, then closes it.
func drain(resp *http.Response) {
	io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
}
