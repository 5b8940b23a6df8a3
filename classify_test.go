package serverauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func retrieveErr(status int, contentType, body string, hdr ...string) *oauth2.RetrieveError {
	h := http.Header{"Content-Type": {contentType}}
	for i := 0; i+1 < len(hdr); i += 2 {
		h.Set(hdr[i], hdr[i+1])
	}
	re := &oauth2.RetrieveError{Response: &http.Response{StatusCode: status, Header: h}, Body: []byte(body)}
	// What x/oauth2 fills in from a JSON OAuth error.
	if strings.HasPrefix(body, `{"error":"`) {
		code := body[len(`{"error":"`):]
		re.ErrorCode = code[:strings.IndexByte(code, '"')]
		if i := strings.Index(body, `"error_description":"`); i >= 0 {
			d := body[i+len(`"error_description":"`):]
			re.ErrorDescription = d[:strings.IndexByte(d, '"')]
		}
	}
	return re
}

func TestTokenErrorClassification(t *testing.T) {
	const jsonCT = "application/json; charset=utf-8"
	tests := []struct {
		name         string
		op           Op
		err          error
		ec           errorContext
		wantClass    ErrorClass
		wantIs       []error
		wantNotIs    []error
		wantInString []string
	}{
		{
			name: "code reused", op: OpExchange,
			err:       retrieveErr(400, jsonCT, `{"error":"invalid_grant","error_description":"Bad Request"}`),
			wantClass: ClassRejected, wantIs: []error{ErrInvalidGrant}, wantNotIs: []error{ErrReauthRequired},
			wantInString: []string{"invalid_grant", "already used", "HTTP 400"},
		},
		{
			name: "malformed code", op: OpExchange, ec: errorContext{code: "4%2F0Abc"},
			err:       retrieveErr(400, jsonCT, `{"error":"invalid_grant","error_description":"Malformed auth code."}`),
			wantClass: ClassRejected, wantIs: []error{ErrInvalidGrant},
			wantInString: []string{"URL-encoded twice", "contains '%'"},
		},
		{
			name: "missing verifier", op: OpExchange,
			err:       retrieveErr(400, jsonCT, `{"error":"invalid_grant","error_description":"Missing code verifier."}`),
			wantClass: ClassRejected, wantInString: []string{"WithCodeVerifier"},
		},
		{
			name: "verifier not needed", op: OpExchange,
			err:       retrieveErr(400, jsonCT, `{"error":"invalid_grant","error_description":"code_verifier or verifier is not needed."}`),
			wantClass: ClassRejected, wantInString: []string{"drop WithCodeVerifier"},
		},
		{
			name: "reauth subtype", op: OpExchange,
			err:       retrieveErr(400, jsonCT, `{"error":"invalid_grant","error_description":"reauth related error (invalid_rapt)","error_uri":"https://support.google.com/a/answer/9368756","error_subtype":"invalid_rapt"}`),
			wantClass: ClassRejected, wantIs: []error{ErrInvalidGrant, ErrReauthRequired},
			wantInString: []string{"invalid_grant/invalid_rapt", "reauthenticate"},
		},
		{
			name: "rapt_required subtype", op: OpRefresh,
			err:       retrieveErr(400, jsonCT, `{"error":"invalid_grant","error_description":"x","error_subtype":"rapt_required"}`),
			wantClass: ClassRejected, wantIs: []error{ErrReauthRequired},
		},
		{
			name: "revoked on refresh", op: OpRefresh,
			err:       retrieveErr(400, jsonCT, `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`),
			wantClass: ClassRejected, wantIs: []error{ErrInvalidGrant, ErrReauthRequired},
			wantInString: []string{"consent again"},
		},
		{
			name: "redirect mismatch, none sent", op: OpExchange,
			err:       retrieveErr(400, jsonCT, `{"error":"redirect_uri_mismatch","error_description":"Bad Request"}`),
			wantClass: ClassMisconfigured, wantNotIs: []error{ErrInvalidGrant},
			wantInString: []string{"sent no redirect_uri", "postmessage", "iOS and Android"},
		},
		{
			name: "redirect mismatch, one sent", op: OpExchange, ec: errorContext{redirectURI: "https://app.example/cb"},
			err:       retrieveErr(400, jsonCT, `{"error":"redirect_uri_mismatch","error_description":"Bad Request"}`),
			wantClass: ClassMisconfigured, wantInString: []string{`redirect_uri "https://app.example/cb"`},
		},
		{
			name: "wrong secret", op: OpExchange,
			err:       retrieveErr(401, jsonCT, `{"error":"invalid_client","error_description":"Unauthorized"}`),
			wantClass: ClassMisconfigured, wantInString: []string{"client ID or secret"},
		},
		{
			name: "other client's refresh token", op: OpRefresh,
			err:       retrieveErr(401, jsonCT, `{"error":"unauthorized_client","error_description":"Unauthorized"}`),
			wantClass: ClassMisconfigured, wantInString: []string{"same web client"},
		},
		{
			name: "deleted client", op: OpRefresh, ec: errorContext{clientID: "web.apps.googleusercontent.com"},
			err:       retrieveErr(401, jsonCT, `{"error":"deleted_client","error_description":"The OAuth client was deleted."}`),
			wantClass: ClassMisconfigured, wantIs: []error{ErrClientDeleted}, wantNotIs: []error{ErrReauthRequired, ErrInvalidGrant},
			wantInString: []string{"deleted_client", `"web.apps.googleusercontent.com" was deleted`, "restore it"},
		},
		{
			name: "admin policy", op: OpRefresh,
			err:       retrieveErr(400, jsonCT, `{"error":"admin_policy_enforced","error_description":"x"}`),
			wantClass: ClassRejected, wantIs: []error{ErrAccessBlocked}, wantNotIs: []error{ErrReauthRequired},
			wantInString: []string{"Admin console", "cannot change it"},
		},
		{
			name: "org internal", op: OpExchange,
			err:       retrieveErr(403, jsonCT, `{"error":"org_internal","error_description":"x"}`),
			wantClass: ClassRejected, wantIs: []error{ErrAccessBlocked},
			wantInString: []string{"Internal user type", "External"},
		},
		{
			name: "wrong secret during a rotation, exchange", op: OpExchange, ec: errorContext{previousSecret: true},
			err:       retrieveErr(401, jsonCT, `{"error":"invalid_client","error_description":"Unauthorized"}`),
			wantClass: ClassMisconfigured, wantInString: []string{"never retried with PreviousClientSecret"},
		},
		{
			name: "both secrets refused, refresh", op: OpRefresh, ec: errorContext{previousSecret: true},
			err:       retrieveErr(401, jsonCT, `{"error":"invalid_client","error_description":"Unauthorized"}`),
			wantClass: ClassMisconfigured, wantInString: []string{"refused both"},
		},
		{
			name: "internal failure", op: OpRefresh,
			err:       retrieveErr(500, jsonCT, `{"error":"internal_failure","error_description":"Backend Error"}`),
			wantClass: ClassTransient,
		},
		{
			name: "HTML 502", op: OpRefresh,
			err:       retrieveErr(502, "text/html; charset=UTF-8", `<!DOCTYPE html><html><title>Error 502 (Server Error)!!1</title><p>That’s an error. Please try again later.`),
			wantClass: ClassTransient, wantInString: []string{"transient response", "HTTP 502"},
		},
		{
			name: "HTML 403 throttle", op: OpRefresh,
			err:       retrieveErr(403, "text/html", `<html><body>Our systems have detected unusual traffic ... automated queries</body></html>`),
			wantClass: ClassRateLimited,
		},
		{
			name: "429 with Retry-After", op: OpRefresh,
			err:       retrieveErr(429, jsonCT, `{"error":"rate_limit_exceeded"}`, "Retry-After", "30"),
			wantClass: ClassRateLimited, wantInString: []string{"retry after 30s"},
		},
		{
			name: "Google-API style 501", op: OpExchange,
			err:       retrieveErr(501, jsonCT, `{"error":{"code":501,"message":"Operation is not implemented, or supported, or enabled.","status":"UNIMPLEMENTED"}}`),
			wantClass: ClassMisconfigured, wantInString: []string{"Endpoints.TokenURL"},
		},
		{
			name: "Google-API style 503", op: OpRefresh,
			err:       retrieveErr(503, jsonCT, `{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE"}}`),
			wantClass: ClassTransient,
		},
		{
			name: "network error", op: OpExchange,
			err:       &url.Error{Op: "Post", URL: "https://oauth2.googleapis.com/token", Err: errors.New("connection reset by peer")},
			wantClass: ClassTransient, wantInString: []string{"no response", "connection reset"},
		},
		{
			name: "unreadable success", op: OpRefresh,
			err:       errors.New("oauth2: cannot parse json: unexpected end of JSON input"),
			wantClass: ClassTransient,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.ec.op = tt.op
			tt.ec.now = time.Unix(0, 0)
			te := newTokenError(tt.err, tt.ec)
			if te.Class != tt.wantClass {
				t.Errorf("Class = %s, want %s", te.Class, tt.wantClass)
			}
			var err error = te
			for _, s := range tt.wantIs {
				if !errors.Is(err, s) {
					t.Errorf("errors.Is(%v, %v) = false, want true", err, s)
				}
			}
			for _, s := range tt.wantNotIs {
				if errors.Is(err, s) {
					t.Errorf("errors.Is(%v, %v) = true, want false", err, s)
				}
			}
			var re *oauth2.RetrieveError
			if _, isRE := tt.err.(*oauth2.RetrieveError); isRE != errors.As(err, &re) {
				t.Errorf("errors.As(*oauth2.RetrieveError) = %v, want %v", !isRE, isRE)
			}
			for _, s := range tt.wantInString {
				if !strings.Contains(te.Error(), s) {
					t.Errorf("Error() = %q, want it to mention %q", te.Error(), s)
				}
			}
			if te.Class.Temporary() != (tt.wantClass == ClassTransient || tt.wantClass == ClassRateLimited) {
				t.Errorf("Temporary() = %v for class %s", te.Class.Temporary(), te.Class)
			}
		})
	}
}

func TestTokenErrorScrubsSecrets(t *testing.T) {
	const secret, code = "GOCSPX-very-secret", "4/0AX4XfWsecretcode"
	re := retrieveErr(502, "text/html", "<html>echo: client_secret="+secret+"&code="+code+" ya29.a0leaked "+strings.Repeat("x", 2000)+"</html>")
	te := newTokenError(re, errorContext{op: OpExchange, code: code, secrets: []string{code, secret}})
	var got *oauth2.RetrieveError
	if !errors.As(te, &got) {
		t.Fatal("no RetrieveError")
	}
	for _, s := range []string{te.Error(), got.Error(), string(got.Body)} {
		for _, leak := range []string{secret, code, "ya29.a0leaked"} {
			if strings.Contains(s, leak) {
				t.Errorf("%q leaks %q", s, leak)
			}
		}
	}
	if len(got.Body) > maxErrorBody+20 {
		t.Errorf("body kept = %d bytes, want at most about %d", len(got.Body), maxErrorBody)
	}
}

func TestTokenErrorKeepsContextErrors(t *testing.T) {
	te := newTokenError(&url.Error{Op: "Post", URL: "u", Err: context.DeadlineExceeded}, errorContext{op: OpRefresh})
	if !errors.Is(te, context.DeadlineExceeded) {
		t.Errorf("errors.Is(%v, DeadlineExceeded) = false", te)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		v    string
		want time.Duration
	}{
		{"120", 2 * time.Minute},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"soon", 0},
		{"", 0},
	} {
		if got := retryAfter(http.Header{"Retry-After": {tt.v}}, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tt.v, got, tt.want)
		}
	}
}

func TestErrorReason(t *testing.T) {
	const jsonCT = "application/json"
	tokenErr := func(op Op, err error) error { return newTokenError(err, errorContext{op: op}) }
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{tokenErr(OpRefresh, retrieveErr(400, jsonCT, `{"error":"invalid_grant"}`)), "invalid_grant"},
		{tokenErr(OpRefresh, retrieveErr(400, jsonCT, `{"error":"invalid_grant","error_subtype":"rapt_required"}`)), "rapt_required"},
		{tokenErr(OpRefresh, retrieveErr(401, jsonCT, `{"error":"deleted_client"}`)), "deleted_client"},
		{tokenErr(OpRefresh, retrieveErr(400, jsonCT, `{"error":"user-109876@example.com"}`)), "rejected"}, // an unknown code never becomes a label
		{tokenErr(OpRefresh, retrieveErr(503, jsonCT, `{"error":"internal_failure"}`)), "transient"},
		{tokenErr(OpRefresh, errors.New("connection refused")), "no_response"},
		{tokenErr(OpRefresh, retrieveErr(429, jsonCT, `{"error":"rate_limit_exceeded"}`)), "rate_limited"},
		{newIDTokenError(ReasonExpired, "", nil), "id_token_expired"},
		{&GrantError{UserID: "u", Status: StatusRevoked}, "grant_revoked"},
		{&GrantError{UserID: "u", Status: StatusExpired, Ends: time.Unix(1, 0)}, "grant_expired"},
		{&SaveError{UserID: "u", Err: errors.New("db down")}, "store_error"},
		{fmt.Errorf("x: %w", ErrNotFound), "not_found"},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), "timeout"},
		{errors.New("user 109876543210987654321 failed"), "error"},
	}
	for _, tt := range tests {
		if got := ErrorReason(tt.err); got != tt.want {
			t.Errorf("ErrorReason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
