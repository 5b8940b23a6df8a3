package serverauth

import (
	"io"
	"net/http"
)

// Client returns an HTTP client that authorises each request as the user,
// with the token Token(req.Context(), userID) returns. If the resource
// server answers 401, the token is refreshed once and the request retried
// once (when its body can be replayed), never more. The token is not sent
// on a redirect to another host.
//
// The client uses Config.HTTPClient's transport (http.DefaultTransport if
// nil) and no overall timeout: bound requests with their context.
func (e *Exchanger) Client(userID string) *http.Client {
	return &http.Client{Transport: &transport{e: e, userID: userID}}
}

// transport adds the user's bearer token to requests.
type transport struct {
	e      *Exchanger
	userID string
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Response != nil && req.Response.Request != nil && req.Response.Request.URL.Host != req.URL.Host {
		// A redirect to another host: do not hand it the user's token.
		return t.e.base.RoundTrip(req)
	}
	ct, ok := t.e.cached(t.userID)
	if !ok {
		var err error
		if ct, err = t.e.tokenSlow(req.Context(), t.userID, ""); err != nil {
			closeBody(req)
			return nil, err
		}
	}
	resp, err := t.e.base.RoundTrip(authorize(req, ct))
	if err != nil || resp.StatusCode != http.StatusUnauthorized || !replayable(req) {
		return resp, err
	}
	// The token was refused (revoked, or expired early): one refresh, one retry.
	t.e.cache.CompareAndDelete(t.userID, func(c *cachedToken) bool { return c == ct })
	fresh, ferr := t.e.tokenSlow(req.Context(), t.userID, ct.tok.AccessToken)
	if ferr != nil {
		return resp, nil // the 401 is the answer
	}
	retry := req
	if req.Body != nil && req.Body != http.NoBody {
		body, err := req.GetBody()
		if err != nil {
			return resp, nil
		}
		retry = req.Clone(req.Context())
		retry.Body = body
	}
	drain(resp)
	return t.e.base.RoundTrip(authorize(retry, fresh))
}

// authorize returns a shallow copy of req with the Authorization header set;
// RoundTrippers must not modify their request.
func authorize(req *http.Request, ct *cachedToken) *http.Request {
	r := new(http.Request)
	*r = *req
	r.Header = make(http.Header, len(req.Header)+1)
	for k, v := range req.Header {
		r.Header[k] = v
	}
	r.Header["Authorization"] = []string{ct.authHeader}
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
