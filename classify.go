package serverauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/serverauth/serverauth/internal/redact"
	"github.com/serverauth/serverauth/internal/retry"
)

// maxErrorText bounds the Google text a TokenError keeps.
const (
	maxDescription = 200
	maxErrorBody   = 512
)

// errorContext is what the classifier needs to know about the request.
type errorContext struct {
	op          Op
	redirectURI string // what the exchange sent as redirect_uri ("" = omitted)
	pkce        bool   // the exchange sent a code_verifier
	code        string // the code, to spot encoding mistakes
	clientID    string // the client the request was sent as, for hints
	// previousSecret: Config.PreviousClientSecret is set (on refresh and
	// revoke, the request already fell back to it).
	previousSecret bool
	now            time.Time
	secrets        []string // masked out of every text kept
}

// newTokenError turns a failure of a token-endpoint call (an
// *oauth2.RetrieveError, a network error, or an unreadable response) into a
// classified *TokenError with a hint.
func newTokenError(err error, ec errorContext) *TokenError {
	te := &TokenError{Op: ec.op}
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re) && re.Response != nil:
		te.retrieve = re
		te.StatusCode = re.Response.StatusCode
		te.RetryAfter = retryAfter(re.Response.Header, ec.now)
		body := re.Body
		te.Code = re.ErrorCode
		te.Description = re.ErrorDescription
		if te.Code != "" {
			te.Subtype = oauthSubtype(body)
		} else if msg, status, ok := googleAPIError(body); ok {
			te.Description = msg
			if status != "" {
				te.Description = status + ": " + msg
			}
		}
		te.Description = redact.Truncate(redact.String(te.Description, ec.secrets...), maxDescription)
		// Keep a bounded, scrubbed body: RetrieveError.Error prints it.
		re.Body = []byte(redact.Truncate(redact.String(string(body), ec.secrets...), maxErrorBody))
		re.ErrorDescription = te.Description
		te.Class = classify(te, re.Response, body)
	default:
		// No usable answer: a network failure, a timeout, or a response
		// x/oauth2 could not read (truncated or malformed JSON, no
		// access_token). All are worth retrying later.
		te.Class = ClassTransient
		te.cause = err
		if msg := err.Error(); redact.String(msg, ec.secrets...) != msg {
			te.cause = errors.New(redact.String(msg, ec.secrets...))
		}
	}
	te.sentinels = sentinelsFor(te)
	te.Hint = hintFor(te, ec)
	return te
}

// oauthSubtype reads Google's error_subtype, which x/oauth2 drops.
func oauthSubtype(body []byte) string {
	var v struct {
		Subtype string `json:"error_subtype"`
	}
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	return v.Subtype
}

// googleAPIError reads a Google-API-style {"error":{"code","message","status"}}
// body, which some front ends answer instead of an OAuth error.
func googleAPIError(body []byte) (msg, status string, ok bool) {
	var v struct {
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &v) != nil || v.Error == nil {
		return "", "", false
	}
	return v.Error.Message, v.Error.Status, true
}

// classify decides a TokenError's class from its OAuth code, HTTP status
// and body.
func classify(te *TokenError, resp *http.Response, body []byte) ErrorClass {
	switch te.Code {
	case "invalid_grant", "admin_policy_enforced", "org_internal":
		return ClassRejected
	case "invalid_client", "unauthorized_client", "deleted_client", "redirect_uri_mismatch", "invalid_request",
		"unsupported_grant_type", "invalid_scope", "unsupported_response_type", "access_denied", "invalid_token":
		return ClassMisconfigured
	case "internal_failure", "server_error", "temporarily_unavailable", "backend_error":
		return ClassTransient
	case "rate_limit_exceeded", "slow_down":
		return ClassRateLimited
	}
	status := resp.StatusCode
	html := isHTML(resp.Header, body)
	switch {
	case status == http.StatusTooManyRequests:
		return ClassRateLimited
	case html && (status == http.StatusForbidden || (status >= 300 && status < 400 && strings.Contains(resp.Header.Get("Location"), "/sorry"))):
		return ClassRateLimited
	case html && bytes.Contains(bytes.ToLower(body), []byte("automated queries")):
		return ClassRateLimited
	case status == http.StatusNotImplemented:
		return ClassMisconfigured
	case status >= 500, status == http.StatusRequestTimeout:
		return ClassTransient
	case te.Code != "":
		return ClassRejected
	case status >= 200 && status < 300:
		return ClassTransient // an unreadable success
	}
	return ClassMisconfigured
}

func isHTML(h http.Header, body []byte) bool {
	if mt, _, err := mime.ParseMediaType(h.Get("Content-Type")); err == nil && mt == "text/html" {
		return true
	}
	b := bytes.TrimSpace(body)
	return bytes.HasPrefix(b, []byte("<")) && !bytes.HasPrefix(b, []byte("<?xml"))
}

// retryAfter parses Retry-After (seconds or an HTTP date).
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// retryDecision says whether another attempt of the same call may succeed:
// only for temporary failures, after any Retry-After. An exchange is
// retried only if the request never left, since the code may be spent.
func (te *TokenError) retryDecision() retry.Decision {
	switch {
	case te.Op == OpExchange && !te.notSent:
		return retry.Stop
	case te.Class.Temporary():
		return retry.Decision{Retry: true, After: te.RetryAfter}
	}
	return retry.Stop
}

// clientName quotes a client ID for a hint, or says "this Exchanger's".
func clientName(id string) string {
	if id == "" {
		return "this Exchanger uses"
	}
	return strconv.Quote(id)
}

// isReauthSubtype reports Google's reauthentication subtypes.
func isReauthSubtype(te *TokenError) bool {
	return te.Subtype == "invalid_rapt" || te.Subtype == "rapt_required" ||
		(te.Code == "invalid_grant" && strings.Contains(te.Description, "invalid_rapt"))
}

func sentinelsFor(te *TokenError) []error {
	var s []error
	switch te.Code {
	case "invalid_grant":
		s = append(s, ErrInvalidGrant)
		if isReauthSubtype(te) || te.Op == OpRefresh {
			s = append(s, ErrReauthRequired)
		}
	case "deleted_client":
		s = append(s, ErrClientDeleted)
	case "admin_policy_enforced", "org_internal":
		s = append(s, ErrAccessBlocked)
	}
	return s
}

// hintFor explains the likely cause of a TokenError to the developer.
func hintFor(te *TokenError, ec errorContext) string {
	sent := "no redirect_uri"
	if ec.redirectURI != "" {
		sent = fmt.Sprintf("redirect_uri %q", ec.redirectURI)
	}
	switch {
	case isReauthSubtype(te):
		return "the user's Workspace admin requires them to reauthenticate (invalid_rapt): have the user sign in again"
	case te.Code == "invalid_grant" && te.Op == OpRefresh:
		return "the refresh token is revoked or expired (the user removed access, it was unused for 6 months, the app is in Testing status (7-day tokens), or the user has over 100 live tokens): the user must sign in and consent again"
	case te.Code == "invalid_grant" && strings.Contains(te.Description, "Malformed"):
		h := "the code was altered on its way: codes contain '/', so one that was URL-encoded twice or decoded twice is malformed; post it exactly as the SDK returned it"
		if strings.Contains(ec.code, "%") {
			h += " (this one contains '%', so it is probably still URL-encoded)"
		}
		return h
	case te.Code == "invalid_grant" && strings.Contains(te.Description, "Missing code verifier"):
		return "the code was issued with PKCE: pass the code_verifier with WithCodeVerifier"
	case te.Code == "invalid_grant" && strings.Contains(te.Description, "not needed"):
		return "a code_verifier was sent for a code issued without PKCE (mobile server auth codes never have one): drop WithCodeVerifier"
	case te.Code == "invalid_grant" && ec.pkce && strings.Contains(strings.ToLower(te.Description), "verifier"):
		return "the code_verifier does not match the code_challenge the client sent"
	case te.Code == "invalid_grant":
		return "the code was already used, has expired (codes live minutes), or was issued to another client: each code can be exchanged once; make sure the app posts it once and nothing else redeems it"
	case te.Code == "redirect_uri_mismatch":
		return "the exchange sent " + sent + ": codes from iOS and Android apps must be exchanged with no redirect_uri (leave Config.RedirectURL empty), Google Identity Services popup codes with \"postmessage\", and redirect-mode codes with the exact registered URI used in the authorization request (WithRedirectURL)"
	case te.Code == "deleted_client":
		return "the OAuth client " + clientName(ec.clientID) + " was deleted in its Google Cloud project (Google deletes clients left unused for months): an operator must restore it in the Google Cloud console (Google Auth Platform > Clients, deleted clients can be restored for a while) or create a new web client and configure its ID and secret; until then no sign-in or refresh can work"
	case te.Code == "admin_policy_enforced":
		return "the user's Google Workspace admin blocks this app or one of its scopes: the admin must allow the app (Admin console > Security > Access and data control > API controls > App access control); signing in again cannot change it"
	case te.Code == "org_internal":
		return "the app's OAuth consent screen has the Internal user type, so only users of its Google Workspace organization may use it: make the audience External (Google Auth Platform > Audience) to admit others"
	case te.Code == "invalid_client" && ec.op == OpExchange && ec.previousSecret:
		return "the client ID or secret is wrong, or the code was issued for another client; a code exchange uses only Config.ClientSecret (a code is sent once, so it is never retried with PreviousClientSecret): check that the new secret is the one the web client shows in the Google Cloud console"
	case te.Code == "invalid_client" && ec.previousSecret:
		return "Google refused both Config.ClientSecret and Config.PreviousClientSecret: the client ID or both secrets are wrong; use the web (server) client's current client_secret.json"
	case te.Code == "invalid_client":
		return "the client ID or secret is wrong, or the code was issued for another client: use the web (server) client's client_secret.json, the same client the app names as its server client ID (iOS GIDServerClientID, Android requestServerAuthCode)"
	case te.Code == "unauthorized_client" && te.Op == OpRefresh:
		return "the refresh token was issued to a different OAuth client than " + clientName(ec.clientID) + ", or this client may not use refresh tokens: refresh with the same web client that exchanged the code; a grant stored under another client ID needs the user to sign in again (this error is permanent and never retried)"
	case te.Code == "unauthorized_client":
		return "the refresh token or code belongs to a different OAuth client: refresh with the same web client that exchanged the code"
	case te.Code == "invalid_scope":
		return "a requested scope is unknown or was not granted to this refresh token"
	case te.Code == "invalid_request" || te.Code == "unsupported_grant_type":
		return "Google refused the request's form; check Endpoints.TokenURL and that nothing rewrites the request"
	case te.Class == ClassRateLimited:
		if te.RetryAfter > 0 {
			return fmt.Sprintf("Google is throttling this client: retry after %s", te.RetryAfter)
		}
		return "Google is throttling this client: slow down and retry later"
	case te.Class == ClassMisconfigured && te.Code == "":
		return "the endpoint did not answer like Google's OAuth token endpoint: check Endpoints.TokenURL and any proxy in between"
	case te.Class == ClassTransient && te.Op == OpExchange:
		return "Google's token endpoint failed; the code may already be spent, so have the user sign in again rather than re-posting it"
	case te.Class == ClassTransient:
		return "Google's token endpoint failed temporarily: retry later"
	}
	return ""
}
