package serverauthtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"
	drivev3 "google.golang.org/api/drive/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/serverauth/serverauth/serverauthtest"
)

// outcome is what a raw client saw of one request.
type outcome struct {
	err     error // from Client.Do: no response at all
	status  int
	header  http.Header
	body    []byte
	readErr error // from reading the body
}

// contentType returns the response's Content-Type.
func (o outcome) contentType() string { return o.header.Get("Content-Type") }

// jsonBody decodes the body as a JSON object, nil if it is not one.
func (o outcome) jsonBody() map[string]any {
	var m map[string]any
	if json.Unmarshal(o.body, &m) != nil {
		return nil
	}
	return m
}

// apiError returns the code, status and first reason of a Google API error
// body.
func (o outcome) apiError() (code float64, status, reason string) {
	e, _ := o.jsonBody()["error"].(map[string]any)
	code, _ = e["code"].(float64)
	status, _ = e["status"].(string)
	if errs, _ := e["errors"].([]any); len(errs) > 0 {
		first, _ := errs[0].(map[string]any)
		reason, _ = first["reason"].(string)
	}
	return code, status, reason
}

// String summarises o for failure messages.
func (o outcome) String() string {
	if o.err != nil {
		return "error " + o.err.Error()
	}
	return fmt.Sprintf("%d %q %q (read error %v)", o.status, o.contentType(), o.body, o.readErr)
}

// freshClient returns a client of the fake that opens a new connection for
// every request, so that no request is replayed by the transport after a
// reset of a reused connection.
func freshClient(f *fixture) *http.Client {
	tr := f.srv.Client().Transport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// send sends req with client and reads the whole answer.
func send(client *http.Client, req *http.Request) outcome {
	res, err := client.Do(req)
	if err != nil {
		return outcome{err: err}
	}
	defer res.Body.Close()
	o := outcome{status: res.StatusCode, header: res.Header}
	o.body, o.readErr = io.ReadAll(res.Body)
	return o
}

// tokenRequest returns a POST of form to the token endpoint.
func (f *fixture) tokenRequest(form url.Values) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, f.srv.Endpoints().TokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// sendStalled sends req, which a FaultStall on e holds, and gives up once
// the fake has counted the fault: the client's context is cancelled.
func sendStalled(t *testing.T, f *fixture, client *http.Client, e serverauthtest.Endpoint, req *http.Request) outcome {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		defer cancel()
		if err := f.srv.WaitFaultCount(ctx, e, f.srv.FaultCount(e)+1); err != nil && ctx.Err() == nil {
			t.Errorf("WaitFaultCount = %v", err)
		}
	}()
	return send(client, req.WithContext(ctx))
}

// isReset reports whether err is what a client sees of a reset connection.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)
}

// wantOAuthFault checks an OAuth-style error answer.
func wantOAuthFault(status int, code, desc string) func(*testing.T, outcome) {
	return func(t *testing.T, o outcome) {
		t.Helper()
		m := o.jsonBody()
		if o.status != status || !strings.HasPrefix(o.contentType(), "application/json") || m["error"] != code || (desc != "" && m["error_description"] != desc) {
			t.Errorf("answer = %v, want %d application/json error %q %q", o, status, code, desc)
		}
	}
}

// wantSubtype checks Google's reauthentication answer with its subtype.
func wantSubtype(subtype string) func(*testing.T, outcome) {
	return func(t *testing.T, o outcome) {
		t.Helper()
		wantOAuthFault(400, "invalid_grant", "reauth related error ("+subtype+")")(t, o)
		if m := o.jsonBody(); m["error_subtype"] != subtype || m["error_uri"] == nil {
			t.Errorf("answer = %v, want error_subtype %q and an error_uri", o, subtype)
		}
	}
}

// wantAPIFault checks a Google-API-style error answer.
func wantAPIFault(status int, apiStatus, reason string) func(*testing.T, outcome) {
	return func(t *testing.T, o outcome) {
		t.Helper()
		code, gotStatus, gotReason := o.apiError()
		if o.status != status || !strings.HasPrefix(o.contentType(), "application/json") || int(code) != status || gotStatus != apiStatus || gotReason != reason {
			t.Errorf("answer = %v, want %d application/json error code %d status %q reason %q", o, status, status, apiStatus, reason)
		}
	}
}

// wantHTML checks an HTML answer containing every phrase.
func wantHTML(status int, phrases ...string) func(*testing.T, outcome) {
	return func(t *testing.T, o outcome) {
		t.Helper()
		if o.status != status || o.contentType() != "text/html; charset=UTF-8" {
			t.Errorf("answer = %v, want %d text/html", o, status)
		}
		for _, p := range phrases {
			if !strings.Contains(string(o.body), p) {
				t.Errorf("body %q lacks %q", o.body, p)
			}
		}
	}
}

// wantReset checks that the client got a reset and no response.
func wantReset(t *testing.T, o outcome) {
	t.Helper()
	if o.err == nil || !isReset(o.err) {
		t.Errorf("answer = %v, want a connection reset (ECONNRESET or EOF) and no response", o)
	}
}

// wantCancelled checks that the client gave up on a stall.
func wantCancelled(t *testing.T, o outcome) {
	t.Helper()
	if !errors.Is(o.err, context.Canceled) {
		t.Errorf("answer = %v, want context.Canceled", o)
	}
}

// wantTruncated checks a body cut in half.
func wantTruncated(t *testing.T, o outcome) {
	t.Helper()
	if o.err != nil || !errors.Is(o.readErr, io.ErrUnexpectedEOF) {
		t.Fatalf("answer = %v, want a response whose body ends early (io.ErrUnexpectedEOF)", o)
	}
	if o.status != 200 || !strings.HasPrefix(o.contentType(), "application/json") || json.Valid(o.body) || !strings.HasPrefix(string(o.body), "{") {
		t.Errorf("answer = %v, want 200 application/json and the start of a JSON object", o)
	}
	if got, want := len(o.body), int(o.headerInt(t, "Content-Length"))/2; got != want {
		t.Errorf("read %d bytes, want half of Content-Length, %d", got, want)
	}
}

// headerInt parses a numeric header.
func (o outcome) headerInt(t *testing.T, name string) int64 {
	t.Helper()
	var n int64
	if _, err := fmt.Sscan(o.header.Get(name), &n); err != nil {
		t.Fatalf("header %s = %q: %v", name, o.header.Get(name), err)
	}
	return n
}

// wantMalformed checks a body that is not JSON, labelled as JSON.
func wantMalformed(contains string) func(*testing.T, outcome) {
	return func(t *testing.T, o outcome) {
		t.Helper()
		if o.status != 200 || !strings.HasPrefix(o.contentType(), "application/json") || json.Valid(o.body) || o.readErr != nil || !strings.Contains(string(o.body), contains) {
			t.Errorf("answer = %v, want 200 application/json whose body is not JSON and contains %q", o, contains)
		}
	}
}

// wantMislabelled checks a real JSON body labelled as HTML.
func wantMislabelled(member string) func(*testing.T, outcome) {
	return func(t *testing.T, o outcome) {
		t.Helper()
		if o.status != 200 || o.contentType() != "text/html; charset=UTF-8" || o.jsonBody()[member] == nil {
			t.Errorf("answer = %v, want 200 text/html with a JSON body holding %q", o, member)
		}
	}
}

// TestFaultsTokenEndpoint checks what a client sees of each fault on the
// token endpoint, and whether the code it carried was consumed.
func TestFaultsTokenEndpoint(t *testing.T) {
	tests := []struct {
		kind      serverauthtest.FaultKind
		processed bool // the code is spent
		check     func(*testing.T, outcome)
	}{
		{kind: serverauthtest.FaultServerError, check: wantOAuthFault(500, "internal_failure", "Backend Error")},
		{kind: serverauthtest.FaultUnavailable, check: wantOAuthFault(503, "internal_failure", "Service Unavailable")},
		{kind: serverauthtest.FaultBadGatewayHTML, check: wantHTML(502, "That’s an error.", "Please try again in 30 seconds.")},
		{kind: serverauthtest.FaultThrottleHTML, check: wantHTML(403, "Our systems have detected unusual traffic", "automated queries")},
		{kind: serverauthtest.FaultTooManyRequests, check: wantOAuthFault(429, "rate_limit_exceeded", "")},
		{kind: serverauthtest.FaultRateLimitExceeded, check: wantAPIFault(403, "PERMISSION_DENIED", "userRateLimitExceeded")},
		{kind: serverauthtest.FaultGoogleAPIError, check: wantAPIFault(501, "UNIMPLEMENTED", "notImplemented")},
		{kind: serverauthtest.FaultReset, check: wantReset},
		{kind: serverauthtest.FaultStall, check: wantCancelled},
		{kind: serverauthtest.FaultResetAfter, processed: true, check: wantReset},
		{kind: serverauthtest.FaultTruncated, processed: true, check: wantTruncated},
		{kind: serverauthtest.FaultMalformedJSON, processed: true, check: wantMalformed(`"access_token": ya29.`)},
		{kind: serverauthtest.FaultWrongContentType, processed: true, check: wantMislabelled("access_token")},
		{kind: serverauthtest.FaultDeletedClient, check: wantOAuthFault(401, "deleted_client", "The OAuth client was deleted.")},
		{kind: serverauthtest.FaultUnauthorizedClient, check: wantOAuthFault(401, "unauthorized_client", "Unauthorized")},
		{kind: serverauthtest.FaultAdminPolicyEnforced, check: wantOAuthFault(400, "admin_policy_enforced", "")},
		{kind: serverauthtest.FaultOrgInternal, check: wantOAuthFault(403, "org_internal", "")},
		{kind: serverauthtest.FaultInvalidRapt, check: wantSubtype("invalid_rapt")},
		{kind: serverauthtest.FaultRaptRequired, check: wantSubtype("rapt_required")},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			f := newFixture(t, serverauthtest.Options{})
			client := freshClient(f)
			code := f.mint(t, serverauthtest.CodeRequest{})
			f.srv.FailNext(serverauthtest.EndpointToken, 1, serverauthtest.Fault{Kind: tt.kind})

			var o outcome
			if tt.kind == serverauthtest.FaultStall {
				o = sendStalled(t, f, client, serverauthtest.EndpointToken, f.tokenRequest(f.codeForm(code)))
			} else {
				o = send(client, f.tokenRequest(f.codeForm(code)))
			}
			tt.check(t, o)

			again := send(client, f.tokenRequest(f.codeForm(code)))
			wantExchanges := 1
			if tt.processed {
				wantExchanges = 2
				wantOAuthFault(400, "invalid_grant", "Bad Request")(t, again)
			} else if again.status != 200 || again.jsonBody()["access_token"] == nil {
				t.Errorf("second exchange = %v, want 200 with tokens: the faulted request must not consume the code", again)
			}
			if got := f.srv.CodeExchangeCount(code); got != wantExchanges {
				t.Errorf("CodeExchangeCount(code) = %d, want %d", got, wantExchanges)
			}
			if got := f.srv.RequestCount(serverauthtest.EndpointToken); got != 2 {
				t.Errorf("RequestCount(EndpointToken) = %d, want 2: a faulted request is recorded", got)
			}
			if got := f.srv.FaultCount(serverauthtest.EndpointToken); got != 1 {
				t.Errorf("FaultCount(EndpointToken) = %d, want 1", got)
			}
		})
	}
}

// TestFaultsRefresh checks that a refresh failed before processing is not
// counted, and one failed after processing is.
func TestFaultsRefresh(t *testing.T) {
	tests := []struct {
		kind        serverauthtest.FaultKind
		wantRefresh int
	}{
		{kind: serverauthtest.FaultUnavailable, wantRefresh: 0},
		{kind: serverauthtest.FaultReset, wantRefresh: 0},
		{kind: serverauthtest.FaultResetAfter, wantRefresh: 1},
		{kind: serverauthtest.FaultTruncated, wantRefresh: 1},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			f := newFixture(t, serverauthtest.Options{})
			rt := f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{})).str("refresh_token")
			f.srv.FailNext(serverauthtest.EndpointToken, 1, serverauthtest.Fault{Kind: tt.kind})
			form := f.webCreds()
			form.Set("grant_type", "refresh_token")
			form.Set("refresh_token", rt)
			send(freshClient(f), f.tokenRequest(form))
			if got := f.srv.RefreshCount(serverauthtest.DemoUser().Sub); got != tt.wantRefresh {
				t.Errorf("RefreshCount() = %d, want %d", got, tt.wantRefresh)
			}
		})
	}
}

// TestFaultRetryAfter checks the Retry-After header of 429 and 503.
func TestFaultRetryAfter(t *testing.T) {
	tests := []struct {
		name  string
		fault serverauthtest.Fault
		want  string // "" means absent
	}{
		{name: "429 default", fault: serverauthtest.Fault{Kind: serverauthtest.FaultTooManyRequests}, want: "1"},
		{name: "429 rounded up", fault: serverauthtest.Fault{Kind: serverauthtest.FaultTooManyRequests, RetryAfter: 2500 * time.Millisecond}, want: "3"},
		{name: "503 unset", fault: serverauthtest.Fault{Kind: serverauthtest.FaultUnavailable}, want: ""},
		{name: "503 set", fault: serverauthtest.Fault{Kind: serverauthtest.FaultUnavailable, RetryAfter: 30 * time.Second}, want: "30"},
		{name: "500 never", fault: serverauthtest.Fault{Kind: serverauthtest.FaultServerError, RetryAfter: 30 * time.Second}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, serverauthtest.Options{})
			for _, e := range []serverauthtest.Endpoint{serverauthtest.EndpointToken, serverauthtest.EndpointDrive} {
				f.srv.FailNext(e, 1, tt.fault)
			}
			tok := f.postForm(t, "/token", f.codeForm("4/0Aunused"), nil)
			drive := f.get(t, "/drive/v3/files?spaces=appDataFolder", nil)
			for _, r := range []*response{tok, drive} {
				if got := r.header.Get("Retry-After"); got != tt.want {
					t.Errorf("Retry-After = %q, want %q (%d %s)", got, tt.want, r.status, r.raw)
				}
			}
		})
	}
}

// TestFailNextOrder checks that queued faults are served in order, each
// once, and then requests are answered normally.
func TestFailNextOrder(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	f.srv.FailNext(serverauthtest.EndpointToken, 2, serverauthtest.Fault{Kind: serverauthtest.FaultUnavailable})
	f.srv.FailNext(serverauthtest.EndpointToken, 0, serverauthtest.Fault{Kind: serverauthtest.FaultReset}) // no-op
	f.srv.FailNext(serverauthtest.EndpointToken, 1, serverauthtest.Fault{Kind: serverauthtest.FaultTooManyRequests})
	f.srv.FailNext(serverauthtest.EndpointRevoke, 1, serverauthtest.Fault{Kind: serverauthtest.FaultServerError})
	code := f.mint(t, serverauthtest.CodeRequest{})

	var got []int
	for range 4 {
		got = append(got, f.exchange(t, code).status)
	}
	if want := []int{503, 503, 429, 200}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	if n := f.srv.FaultCount(serverauthtest.EndpointToken); n != 3 {
		t.Errorf("FaultCount(EndpointToken) = %d, want 3", n)
	}
	if n := f.srv.FaultCount(serverauthtest.EndpointRevoke); n != 0 {
		t.Errorf("FaultCount(EndpointRevoke) = %d, want 0: the revoke fault is still queued", n)
	}
	if r := f.postForm(t, "/revoke", url.Values{"token": {"x"}}, nil); r.status != 500 {
		t.Errorf("revoke = %d %s, want 500 from the queued fault", r.status, r.raw)
	}
	f.srv.ResetCounts()
	if n := f.srv.FaultCount(serverauthtest.EndpointToken); n != 0 {
		t.Errorf("FaultCount(EndpointToken) after ResetCounts = %d, want 0", n)
	}
}

// failures sends n discovery requests and returns which failed.
func failures(t *testing.T, f *fixture, n int) []bool {
	t.Helper()
	out := make([]bool, n)
	for i := range out {
		r := f.get(t, "/.well-known/openid-configuration", nil)
		out[i] = r.status != 200
	}
	return out
}

// TestFailFraction checks that fractional faults are reproducible by seed,
// near the fraction, preceded by queued faults, and turned off by 0.
func TestFailFraction(t *testing.T) {
	const n = 200
	unavailable := serverauthtest.Fault{Kind: serverauthtest.FaultUnavailable}
	run := func(seed int64, fraction float64) []bool {
		f := newFixture(t, serverauthtest.Options{FaultSeed: seed})
		f.srv.FailFraction(serverauthtest.EndpointDiscovery, fraction, unavailable)
		return failures(t, f, n)
	}
	count := func(s []bool) int {
		c := 0
		for _, b := range s {
			if b {
				c++
			}
		}
		return c
	}

	a, b := run(0, 0.3), run(1, 0.3) // 0 means 1
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("seed 0 and seed 1 failed different requests")
	}
	if c := count(a); c < n*0.3-30 || c > n*0.3+30 {
		t.Errorf("%d of %d requests failed at fraction 0.3", c, n)
	}
	if other := run(42, 0.3); fmt.Sprint(other) == fmt.Sprint(a) {
		t.Errorf("seeds 1 and 42 failed the same requests")
	}
	if c := count(run(7, 1)); c != n {
		t.Errorf("%d of %d requests failed at fraction 1", c, n)
	}

	// Traffic elsewhere does not change an endpoint's draws.
	f := newFixture(t, serverauthtest.Options{})
	f.srv.FailFraction(serverauthtest.EndpointDiscovery, 0.3, unavailable)
	f.srv.FailFraction(serverauthtest.EndpointJWKS, 0.5, unavailable)
	var mixed []bool
	for range n {
		f.get(t, "/oauth2/v3/certs", nil)
		mixed = append(mixed, failures(t, f, 1)...)
	}
	if fmt.Sprint(mixed) != fmt.Sprint(a) {
		t.Errorf("requests to another endpoint changed the discovery endpoint's failures")
	}
	if got := f.srv.FaultCount(serverauthtest.EndpointDiscovery); got != count(a) {
		t.Errorf("FaultCount(EndpointDiscovery) = %d, want %d", got, count(a))
	}

	// Queued faults come first; fraction 0 turns it off.
	f.srv.FailFraction(serverauthtest.EndpointDiscovery, 0, serverauthtest.Fault{})
	f.srv.FailNext(serverauthtest.EndpointDiscovery, 1, serverauthtest.Fault{Kind: serverauthtest.FaultServerError})
	if r := f.get(t, "/.well-known/openid-configuration", nil); r.status != 500 {
		t.Errorf("discovery = %d, want 500 from the queued fault", r.status)
	}
	if c := count(failures(t, f, 20)); c != 0 {
		t.Errorf("%d requests failed after FailFraction(0)", c)
	}
}

// TestClearFaults checks that ClearFaults disarms queued and fractional
// faults of every endpoint and keeps the counts.
func TestClearFaults(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	f.srv.FailNext(serverauthtest.EndpointDiscovery, 5, serverauthtest.Fault{Kind: serverauthtest.FaultServerError})
	f.srv.FailFraction(serverauthtest.EndpointJWKS, 1, serverauthtest.Fault{Kind: serverauthtest.FaultServerError})
	if r := f.get(t, "/.well-known/openid-configuration", nil); r.status != 500 {
		t.Fatalf("discovery = %d, want 500", r.status)
	}
	f.srv.ClearFaults()
	for _, path := range []string{"/.well-known/openid-configuration", "/oauth2/v3/certs"} {
		if r := f.get(t, path, nil); r.status != 200 {
			t.Errorf("GET %s after ClearFaults = %d, want 200", path, r.status)
		}
	}
	if got := f.srv.FaultCount(serverauthtest.EndpointDiscovery); got != 1 {
		t.Errorf("FaultCount(EndpointDiscovery) = %d, want 1", got)
	}
}

// TestFaultsPanics checks the arguments FailNext and FailFraction refuse.
func TestFaultsPanics(t *testing.T) {
	ok := serverauthtest.Fault{Kind: serverauthtest.FaultServerError}
	tests := []struct {
		name string
		call func(g *serverauthtest.Google)
	}{
		{name: "zero kind", call: func(g *serverauthtest.Google) { g.FailNext(serverauthtest.EndpointToken, 1, serverauthtest.Fault{}) }},
		{name: "unknown kind", call: func(g *serverauthtest.Google) {
			g.FailNext(serverauthtest.EndpointToken, 1, serverauthtest.Fault{Kind: 99})
		}},
		{name: "negative count", call: func(g *serverauthtest.Google) { g.FailNext(serverauthtest.EndpointToken, -1, ok) }},
		{name: "emulator endpoint", call: func(g *serverauthtest.Google) { g.FailNext(serverauthtest.EndpointEmulator, 1, ok) }},
		{name: "unknown endpoint", call: func(g *serverauthtest.Google) { g.FailNext("tokens", 1, ok) }},
		{name: "fraction above 1", call: func(g *serverauthtest.Google) { g.FailFraction(serverauthtest.EndpointToken, 1.5, ok) }},
		{name: "negative fraction", call: func(g *serverauthtest.Google) { g.FailFraction(serverauthtest.EndpointToken, -0.1, ok) }},
		{name: "fraction with zero kind", call: func(g *serverauthtest.Google) {
			g.FailFraction(serverauthtest.EndpointToken, 0.5, serverauthtest.Fault{})
		}},
		{name: "OAuth error on Drive", call: func(g *serverauthtest.Google) {
			g.FailNext(serverauthtest.EndpointDrive, 1, serverauthtest.Fault{Kind: serverauthtest.FaultDeletedClient})
		}},
		{name: "reauth on revoke", call: func(g *serverauthtest.Google) {
			g.FailFraction(serverauthtest.EndpointRevoke, 0.5, serverauthtest.Fault{Kind: serverauthtest.FaultInvalidRapt})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("no panic")
				}
			}()
			tt.call(serverauthtest.New(serverauthtest.Options{}))
		})
	}
}

// TestFaultsKeyEndpoints checks JWKS and PEM outages.
func TestFaultsKeyEndpoints(t *testing.T) {
	tests := []struct {
		fault serverauthtest.Fault
		check func(*testing.T, outcome)
	}{
		{fault: serverauthtest.Fault{Kind: serverauthtest.FaultServerError}, check: wantAPIFault(500, "INTERNAL", "backendError")},
		{fault: serverauthtest.Fault{Kind: serverauthtest.FaultUnavailable, RetryAfter: 2 * time.Second}, check: func(t *testing.T, o outcome) {
			wantAPIFault(503, "UNAVAILABLE", "backendError")(t, o)
			if got := o.header.Get("Retry-After"); got != "2" {
				t.Errorf("Retry-After = %q, want 2", got)
			}
		}},
		{fault: serverauthtest.Fault{Kind: serverauthtest.FaultBadGatewayHTML}, check: wantHTML(502, "try again in 30 seconds")},
		{fault: serverauthtest.Fault{Kind: serverauthtest.FaultThrottleHTML}, check: wantHTML(403, "automated queries")},
		{fault: serverauthtest.Fault{Kind: serverauthtest.FaultTooManyRequests}, check: wantAPIFault(429, "RESOURCE_EXHAUSTED", "rateLimitExceeded")},
		{fault: serverauthtest.Fault{Kind: serverauthtest.FaultReset}, check: wantReset},
		{fault: serverauthtest.Fault{Kind: serverauthtest.FaultStall}, check: wantCancelled},
		{fault: serverauthtest.Fault{Kind: serverauthtest.FaultTruncated}, check: wantTruncated},
		{fault: serverauthtest.Fault{Kind: serverauthtest.FaultMalformedJSON}, check: wantMalformed(`": `)},
	}
	for _, e := range []struct {
		endpoint serverauthtest.Endpoint
		path     string
		member   string // a member of the healthy body
	}{
		{serverauthtest.EndpointJWKS, "/oauth2/v3/certs", "keys"},
		{serverauthtest.EndpointPEM, "/oauth2/v1/certs", ""},
	} {
		for _, tt := range tests {
			t.Run(string(e.endpoint)+"/"+tt.fault.Kind.String(), func(t *testing.T) {
				f := newFixture(t, serverauthtest.Options{})
				client := freshClient(f)
				f.srv.FailNext(e.endpoint, 1, tt.fault)
				req, _ := http.NewRequest(http.MethodGet, f.srv.URL+e.path, nil)
				var o outcome
				if tt.fault.Kind == serverauthtest.FaultStall {
					o = sendStalled(t, f, client, e.endpoint, req)
				} else {
					o = send(client, req)
				}
				tt.check(t, o)
				healthy := send(client, req.Clone(context.Background()))
				if healthy.status != 200 || healthy.jsonBody() == nil || (e.member != "" && healthy.jsonBody()[e.member] == nil) {
					t.Errorf("next request = %v, want the key set", healthy)
				}
			})
		}
	}
}

// TestFaultResetReplayedGET pins what FaultReset documents: Go's transport
// replays a GET whose reused connection is reset, so one reset is invisible
// to the client and two are not.
func TestFaultResetReplayedGET(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	client := f.srv.Client() // keep-alive
	get := func() outcome {
		req, _ := http.NewRequest(http.MethodGet, f.srv.Endpoints().JWKSURL, nil)
		return send(client, req)
	}
	if o := get(); o.status != 200 { // opens the connection to reuse
		t.Fatalf("first GET = %v", o)
	}
	reset := serverauthtest.Fault{Kind: serverauthtest.FaultReset}
	f.srv.FailNext(serverauthtest.EndpointJWKS, 1, reset)
	if o := get(); o.status != 200 {
		t.Errorf("GET after one reset = %v, want 200 from the transport's replay", o)
	}
	if got := f.srv.RequestCount(serverauthtest.EndpointJWKS); got != 3 {
		t.Errorf("RequestCount(EndpointJWKS) = %d, want 3 (first, reset, replay)", got)
	}
	f.srv.FailNext(serverauthtest.EndpointJWKS, 2, reset)
	wantReset(t, get())
	if got := f.srv.FaultCount(serverauthtest.EndpointJWKS); got != 3 {
		t.Errorf("FaultCount(EndpointJWKS) = %d, want 3", got)
	}
}

// TestFaultStallEnds checks the other ends of a stall: its cap, ClearFaults
// and Server.Close. The client then sees the connection close.
func TestFaultStallEnds(t *testing.T) {
	tests := []struct {
		name  string
		stall time.Duration
		end   func(f *fixture)
	}{
		{name: "cap", stall: time.Nanosecond, end: func(*fixture) {}},
		{name: "ClearFaults", end: func(f *fixture) { f.srv.ClearFaults() }},
		{name: "Close", end: func(f *fixture) { f.srv.Close(); f.srv.ClearFaults() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, serverauthtest.Options{})
			client := freshClient(f)
			f.srv.FailNext(serverauthtest.EndpointToken, 1, serverauthtest.Fault{Kind: serverauthtest.FaultStall, Stall: tt.stall})
			code := f.mint(t, serverauthtest.CodeRequest{})
			done := make(chan outcome, 1)
			go func() { done <- send(client, f.tokenRequest(f.codeForm(code))) }()
			if err := f.srv.WaitFaultCount(t.Context(), serverauthtest.EndpointToken, 1); err != nil {
				t.Fatal(err)
			}
			tt.end(f)
			if o := <-done; !errors.Is(o.err, io.EOF) {
				t.Errorf("answer = %v, want io.EOF", o)
			}
			if got := f.srv.CodeExchangeCount(code); got != 0 {
				t.Errorf("CodeExchangeCount(code) = %d, want 0", got)
			}
		})
	}
}

// TestWaitFaultCount checks that the wait ends with its context.
func TestWaitFaultCount(t *testing.T) {
	g := serverauthtest.New(serverauthtest.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := g.WaitFaultCount(ctx, serverauthtest.EndpointToken, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitFaultCount(cancelled) = %v, want context.Canceled", err)
	}
	if err := g.WaitFaultCount(ctx, serverauthtest.EndpointToken, 0); err != nil {
		t.Errorf("WaitFaultCount(n=0) = %v, want nil", err)
	}
}

// TestFaultsOtherEndpoints checks the error shapes of the remaining
// endpoints.
func TestFaultsOtherEndpoints(t *testing.T) {
	tests := []struct {
		endpoint serverauthtest.Endpoint
		method   string
		path     string
		kind     serverauthtest.FaultKind
		check    func(*testing.T, outcome)
	}{
		{serverauthtest.EndpointUserInfo, http.MethodGet, "/v1/userinfo", serverauthtest.FaultServerError, wantAPIFault(500, "INTERNAL", "backendError")},
		{serverauthtest.EndpointTokenInfo, http.MethodGet, "/tokeninfo?access_token=x", serverauthtest.FaultUnavailable, wantAPIFault(503, "UNAVAILABLE", "backendError")},
		{serverauthtest.EndpointRevoke, http.MethodPost, "/revoke?token=x", serverauthtest.FaultServerError, wantOAuthFault(500, "internal_failure", "Backend Error")},
		{serverauthtest.EndpointRevoke, http.MethodPost, "/revoke?token=x", serverauthtest.FaultTooManyRequests, wantOAuthFault(429, "rate_limit_exceeded", "")},
		{serverauthtest.EndpointDiscovery, http.MethodGet, "/.well-known/openid-configuration", serverauthtest.FaultWrongContentType, wantMislabelled("issuer")},
		{serverauthtest.EndpointAuth, http.MethodGet, "/o/oauth2/v2/auth", serverauthtest.FaultServerError, wantHTML(500, "That’s an error.")},
		{serverauthtest.EndpointAuth, http.MethodGet, "/o/oauth2/v2/auth", serverauthtest.FaultTooManyRequests, wantHTML(429, "automated queries")},
		{serverauthtest.EndpointAuth, http.MethodGet, "/o/oauth2/v2/auth", serverauthtest.FaultOrgInternal, wantHTML(403, "Access blocked", "Error 403: org_internal")},
		{serverauthtest.EndpointAuth, http.MethodGet, "/o/oauth2/v2/auth", serverauthtest.FaultAdminPolicyEnforced, wantHTML(400, "Access blocked", "Error 400: admin_policy_enforced")},
		{serverauthtest.EndpointRevoke, http.MethodPost, "/revoke?token=x", serverauthtest.FaultDeletedClient, wantOAuthFault(401, "deleted_client", "The OAuth client was deleted.")},
	}
	for _, tt := range tests {
		t.Run(string(tt.endpoint)+"/"+tt.kind.String(), func(t *testing.T) {
			f := newFixture(t, serverauthtest.Options{})
			f.srv.FailNext(tt.endpoint, 1, serverauthtest.Fault{Kind: tt.kind})
			req, _ := http.NewRequest(tt.method, f.srv.URL+tt.path, nil)
			tt.check(t, send(freshClient(f), req))
		})
	}
}

// bearerTransport adds an access token to requests.
type bearerTransport struct {
	token string
	base  http.RoundTripper
}

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}

// TestFaultsDrive checks Drive's error shapes through the Drive client, and
// which faults leave the file created.
func TestFaultsDrive(t *testing.T) {
	tests := []struct {
		kind       serverauthtest.FaultKind
		wantCode   int    // of the *googleapi.Error; 0: not a googleapi.Error
		wantReason string // errors[0].reason
		wantFile   bool   // the create was processed
	}{
		{kind: serverauthtest.FaultServerError, wantCode: 500, wantReason: "backendError"},
		{kind: serverauthtest.FaultUnavailable, wantCode: 503, wantReason: "backendError"},
		{kind: serverauthtest.FaultTooManyRequests, wantCode: 429, wantReason: "rateLimitExceeded"},
		{kind: serverauthtest.FaultRateLimitExceeded, wantCode: 403, wantReason: "userRateLimitExceeded"},
		{kind: serverauthtest.FaultGoogleAPIError, wantCode: 501, wantReason: "notImplemented"},
		{kind: serverauthtest.FaultBadGatewayHTML, wantCode: 502},
		{kind: serverauthtest.FaultThrottleHTML, wantCode: 403},
		{kind: serverauthtest.FaultReset},
		{kind: serverauthtest.FaultResetAfter, wantFile: true},
		{kind: serverauthtest.FaultTruncated, wantFile: true},
		{kind: serverauthtest.FaultMalformedJSON, wantFile: true},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			f := newFixture(t, serverauthtest.Options{})
			access := f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{Scopes: []string{"openid", "drive.appdata"}})).str("access_token")
			hc := &http.Client{Transport: bearerTransport{access, freshClient(f).Transport}}
			svc, err := drivev3.NewService(t.Context(), option.WithHTTPClient(hc), option.WithEndpoint(f.srv.Endpoints().DriveURL))
			if err != nil {
				t.Fatal(err)
			}
			f.srv.FailNext(serverauthtest.EndpointDrive, 1, serverauthtest.Fault{Kind: tt.kind})
			_, err = svc.Files.Create(&drivev3.File{Name: "state.json", Parents: []string{"appDataFolder"}}).Context(t.Context()).Do()
			if err == nil {
				t.Fatal("Files.Create succeeded, want an error")
			}
			var ge *googleapi.Error
			isAPI := errors.As(err, &ge)
			switch {
			case tt.wantCode == 0 && isAPI:
				t.Errorf("Files.Create = %v (code %d), want a transport or decoding error", err, ge.Code)
			case tt.wantCode != 0 && !isAPI:
				t.Errorf("Files.Create = %v, want a *googleapi.Error", err)
			case tt.wantCode != 0 && ge.Code != tt.wantCode:
				t.Errorf("googleapi.Error.Code = %d, want %d", ge.Code, tt.wantCode)
			case tt.wantReason != "" && (len(ge.Errors) == 0 || ge.Errors[0].Reason != tt.wantReason):
				t.Errorf("googleapi.Error.Errors = %+v, want reason %q", ge.Errors, tt.wantReason)
			}
			wantFiles := 0
			if tt.wantFile {
				wantFiles = 1
			}
			if got := len(f.srv.DriveFiles(serverauthtest.DemoUser().Sub)); got != wantFiles {
				t.Errorf("len(DriveFiles()) = %d, want %d", got, wantFiles)
			}
			if tt.kind == serverauthtest.FaultTooManyRequests && ge != nil && ge.Header.Get("Retry-After") != "1" {
				t.Errorf("Retry-After = %q, want 1", ge.Header.Get("Retry-After"))
			}
		})
	}
}

// TestFaultsHTTP2 checks what FaultReset and FaultTruncated do when the fake
// is served over HTTP/2, where connections cannot be hijacked: the stream
// is reset.
func TestFaultsHTTP2(t *testing.T) {
	g := serverauthtest.New(serverauthtest.Options{})
	ts := httptest.NewUnstartedServer(g)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)
	for _, kind := range []serverauthtest.FaultKind{serverauthtest.FaultReset, serverauthtest.FaultResetAfter, serverauthtest.FaultTruncated} {
		t.Run(kind.String(), func(t *testing.T) {
			g.FailNext(serverauthtest.EndpointJWKS, 1, serverauthtest.Fault{Kind: kind})
			req, _ := http.NewRequest(http.MethodGet, ts.URL+"/oauth2/v3/certs", nil)
			res, err := ts.Client().Do(req)
			if err == nil {
				if res.ProtoMajor != 2 {
					t.Fatalf("served over %s, want HTTP/2", res.Proto)
				}
				_, err = io.ReadAll(res.Body)
				res.Body.Close()
			}
			if err == nil {
				t.Errorf("%v over HTTP/2: no error", kind)
			}
		})
	}
}

// TestFaultsConcurrent arms, clears and serves faults from many goroutines
// (run with -race).
func TestFaultsConcurrent(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	client := f.srv.Client()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 10 {
				switch (i + j) % 4 {
				case 0:
					f.srv.FailNext(serverauthtest.EndpointDiscovery, 1, serverauthtest.Fault{Kind: serverauthtest.FaultServerError})
				case 1:
					f.srv.FailFraction(serverauthtest.EndpointDiscovery, 0.5, serverauthtest.Fault{Kind: serverauthtest.FaultUnavailable})
				case 2:
					f.srv.ClearFaults()
				case 3:
					_ = f.srv.FaultCount(serverauthtest.EndpointDiscovery)
				}
				res, err := client.Get(f.srv.URL + "/.well-known/openid-configuration")
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		})
	}
	wg.Wait()
	if got, max := f.srv.FaultCount(serverauthtest.EndpointDiscovery), f.srv.RequestCount(serverauthtest.EndpointDiscovery); got > max {
		t.Errorf("FaultCount = %d > Count = %d", got, max)
	}
}

// TestEmulatorFaults checks the HTTP control of faults.
func TestEmulatorFaults(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	control := func(method, body string) *response {
		req, _ := http.NewRequest(method, f.srv.URL+"/emulator/faults", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		return f.do(t, req)
	}

	r := control(http.MethodPost, `{"endpoint":"token","kind":"unavailable","count":2,"fraction":0,"retry_after_seconds":1}`)
	if r.status != 200 || r.str("endpoint") != "token" || fmt.Sprint(r.json["queued"]) != "2" {
		t.Fatalf("POST /emulator/faults = %d %s, want 200 with queued 2", r.status, r.raw)
	}
	code := f.mint(t, serverauthtest.CodeRequest{})
	for i := range 2 {
		if r := f.exchange(t, code); r.status != 503 || r.header.Get("Retry-After") != "1" {
			t.Errorf("exchange %d = %d Retry-After %q, want 503 with Retry-After 1", i, r.status, r.header.Get("Retry-After"))
		}
	}
	f.mustExchange(t, code)

	r = control(http.MethodPost, `{"endpoint":"jwks","kind":"stall","fraction":1,"stall_seconds":0.000001}`)
	if r.status != 200 || r.str("fraction_kind") != "stall" {
		t.Fatalf("POST fraction = %d %s", r.status, r.raw)
	}
	r = control(http.MethodGet, "")
	var jwks map[string]any
	for _, s := range r.json["faults"].([]any) {
		if m := s.(map[string]any); m["endpoint"] == "jwks" {
			jwks = m
		}
	}
	if fmt.Sprint(jwks["fraction"]) != "1" {
		t.Errorf("GET /emulator/faults = %s, want jwks at fraction 1", r.raw)
	}
	if o := send(freshClient(f), must(http.NewRequest(http.MethodGet, f.srv.Endpoints().JWKSURL, nil))); o.err == nil {
		t.Errorf("JWKS under a stall = %v, want the connection closed", o)
	}
	if r := control(http.MethodDelete, ""); r.status != 200 {
		t.Errorf("DELETE /emulator/faults = %d %s", r.status, r.raw)
	}
	if r := f.get(t, "/oauth2/v3/certs", nil); r.status != 200 {
		t.Errorf("JWKS after DELETE = %d, want 200", r.status)
	}
	if got := f.srv.FaultCount(serverauthtest.EndpointToken); got != 2 {
		t.Errorf("FaultCount(EndpointToken) = %d, want 2", got)
	}

	bad := []struct {
		name, method, body, field string
		status                    int
	}{
		{name: "unknown kind", body: `{"endpoint":"token","kind":"boom","count":1}`, field: "kind:"},
		{name: "missing kind", body: `{"endpoint":"token","count":1}`, field: "kind:"},
		{name: "unknown endpoint", body: `{"endpoint":"tokens","kind":"reset","count":1}`, field: "endpoint:"},
		{name: "emulator endpoint", body: `{"endpoint":"emulator","kind":"reset","count":1}`, field: "endpoint:"},
		{name: "OAuth kind elsewhere", body: `{"endpoint":"jwks","kind":"deleted_client","count":1}`, field: "kind:"},
		{name: "negative count", body: `{"endpoint":"token","kind":"reset","count":-1}`, field: "count:"},
		{name: "nothing to do", body: `{"endpoint":"token","kind":"reset"}`, field: "count:"},
		{name: "fraction above 1", body: `{"endpoint":"token","kind":"reset","fraction":1.5}`, field: "fraction:"},
		{name: "negative retry", body: `{"endpoint":"token","kind":"too_many_requests","count":1,"retry_after_seconds":-1}`, field: "retry_after_seconds:"},
		{name: "negative stall", body: `{"endpoint":"token","kind":"stall","count":1,"stall_seconds":-1}`, field: "stall_seconds:"},
		{name: "unknown field", body: `{"endpoint":"token","kind":"reset","count":1,"times":2}`, field: `"times"`},
		{name: "count not a number", body: `{"endpoint":"token","kind":"reset","count":"2"}`, field: "count"},
		{name: "not JSON", body: `endpoint=token`, field: "bad JSON"},
		{name: "wrong method", method: http.MethodPut, body: `{}`, field: "GET, POST or DELETE", status: 405},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			method, status := tt.method, tt.status
			if method == "" {
				method, status = http.MethodPost, 400
			}
			r := control(method, tt.body)
			if r.status != status || r.str("error") != "invalid_request" || !strings.Contains(r.str("error_description"), tt.field) {
				t.Errorf("%s %s = %d %s, want %d invalid_request naming %s", method, tt.body, r.status, r.raw, status, tt.field)
			}
		})
	}
	if got := f.srv.FaultCount(serverauthtest.EndpointToken); got != 2 {
		t.Errorf("FaultCount(EndpointToken) = %d after bad requests, want 2 (nothing armed)", got)
	}
	// Turning a fraction off needs no kind.
	if r := control(http.MethodPost, `{"endpoint":"drive","fraction":0}`); r.status != 200 {
		t.Errorf("POST fraction 0 without kind = %d %s, want 200", r.status, r.raw)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestFaultsWithOAuth2 checks that x/oauth2 surfaces the faults as errors.
func TestFaultsWithOAuth2(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	cfg := oauth2.Config{ClientID: f.srv.WebClientID(), ClientSecret: f.srv.WebClientSecret(), Endpoint: oauth2.Endpoint{TokenURL: f.srv.Endpoints().TokenURL, AuthStyle: oauth2.AuthStyleInParams}}
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, freshClient(f))
	tests := []struct {
		kind       serverauthtest.FaultKind
		wantStatus int // of the *oauth2.RetrieveError; 0: not one
	}{
		{kind: serverauthtest.FaultUnavailable, wantStatus: 503},
		{kind: serverauthtest.FaultBadGatewayHTML, wantStatus: 502},
		{kind: serverauthtest.FaultGoogleAPIError, wantStatus: 501},
		{kind: serverauthtest.FaultTruncated},
		{kind: serverauthtest.FaultMalformedJSON},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			code := f.mint(t, serverauthtest.CodeRequest{})
			f.srv.FailNext(serverauthtest.EndpointToken, 1, serverauthtest.Fault{Kind: tt.kind})
			_, err := cfg.Exchange(ctx, code)
			var re *oauth2.RetrieveError
			switch {
			case err == nil:
				t.Fatalf("Exchange succeeded, want an error")
			case tt.wantStatus != 0 && (!errors.As(err, &re) || re.Response.StatusCode != tt.wantStatus):
				t.Errorf("Exchange = %v, want a RetrieveError with status %d", err, tt.wantStatus)
			case tt.wantStatus == 0 && errors.As(err, &re):
				t.Errorf("Exchange = %v, want a transport or decoding error", err)
			}
		})
	}
}
