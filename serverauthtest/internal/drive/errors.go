package drive

import (
	"fmt"
	"net/http"
)

// apiError is a Google-API-style error response: the legacy errors[] array
// plus status and, where Google sends them, details.
type apiError struct {
	Code    int         `json:"code"`
	Message string      `json:"message"`
	Errors  []errorItem `json:"errors"`
	Status  string      `json:"status,omitempty"`
	Details []any       `json:"details,omitempty"`

	header http.Header // extra response headers, such as WWW-Authenticate
}

// errorItem is one entry of errors[].
type errorItem struct {
	Message      string `json:"message"`
	Domain       string `json:"domain"`
	Reason       string `json:"reason"`
	Location     string `json:"location,omitempty"`
	LocationType string `json:"locationType,omitempty"`
}

// errorInfo is a google.rpc.ErrorInfo detail.
type errorInfo struct {
	Type     string            `json:"@type"`
	Reason   string            `json:"reason"`
	Domain   string            `json:"domain"`
	Metadata map[string]string `json:"metadata"`
}

// errorBody is Google's {"error": {...}} envelope.
type errorBody struct {
	Error *apiError `json:"error"`
}

// ErrorBody returns, for JSON encoding, the body of a Google API error with
// a single item: {"error":{"code":…,"message":…,"errors":[{"message":…,
// "domain":"global","reason":…}],"status":…}}. Drive answers in this shape,
// and so do Google's other JSON APIs.
func ErrorBody(code int, reason, msg string) any {
	return errorBody{newError(code, reason, msg)}
}

// newError returns an error whose message and single item's message are msg.
func newError(code int, reason, msg string) *apiError {
	return &apiError{
		Code:    code,
		Message: msg,
		Errors:  []errorItem{{Message: msg, Domain: "global", Reason: reason}},
		Status:  rpcStatus(code),
	}
}

// at sets the location of e's item.
func (e *apiError) at(location, locationType string) *apiError {
	e.Errors[0].Location, e.Errors[0].LocationType = location, locationType
	return e
}

// rpcStatus maps an HTTP status to the google.rpc.Code name Google sends.
func rpcStatus(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusRequestEntityTooLarge:
		return "OUT_OF_RANGE"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusInternalServerError:
		return "INTERNAL"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	}
	return ""
}

// errorInfoFor returns the ErrorInfo detail for reason on rpc.
func errorInfoFor(reason, rpc string) []any {
	return []any{errorInfo{
		Type:     errorInfoType,
		Reason:   reason,
		Domain:   "googleapis.com",
		Metadata: map[string]string{"method": rpcPrefix + rpc, "service": serviceName},
	}}
}

func errNotFound(id string) *apiError {
	return newError(http.StatusNotFound, "notFound", "File not found: "+id+".").at("fileId", "parameter")
}

func errInvalid(location, msg string) *apiError {
	return newError(http.StatusBadRequest, "invalid", msg).at(location, "parameter")
}

func errBadQuery() *apiError { return errInvalid("q", "Invalid Value") }

func errAppDataOnly() *apiError {
	return newError(http.StatusForbidden, "notSupportedForAppDataFolderFiles", "Method not supported for files within the Application Data folder.")
}

func errFolderItself() *apiError {
	return newError(http.StatusForbidden, "insufficientFilePermissions", "The user does not have sufficient permissions for this file.")
}

func errNoMethod() *apiError {
	return newError(http.StatusNotFound, "notFound", "Method not found.")
}

func errMethod(allow string) *apiError {
	e := newError(http.StatusMethodNotAllowed, "httpMethodNotAllowed", "HTTP method not allowed.")
	e.header = http.Header{"Allow": {allow}}
	return e
}

func errUnimplemented(method, path string) *apiError {
	return newError(http.StatusNotImplemented, "notImplemented", fmt.Sprintf("serverauthtest: the Drive emulator does not implement %s /drive/v3/%s.", method, path))
}

func errLoginRequired(rpc string) *apiError {
	e := newError(http.StatusUnauthorized, "required", "Login Required.").at("Authorization", "header")
	e.Message = "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
	e.Details = errorInfoFor("CREDENTIALS_MISSING", rpc)
	e.header = http.Header{"Www-Authenticate": {authRealm}}
	return e
}

func errInvalidCredentials() *apiError {
	e := newError(http.StatusUnauthorized, "authError", "Invalid Credentials").at("Authorization", "header")
	e.header = http.Header{"Www-Authenticate": {authRealm + `, error="invalid_token"`}}
	return e
}

func errInsufficientScope(rpc string) *apiError {
	e := newError(http.StatusForbidden, "insufficientPermissions", "Insufficient Permission")
	e.Message = "Request had insufficient authentication scopes."
	e.Details = errorInfoFor("ACCESS_TOKEN_SCOPE_INSUFFICIENT", rpc)
	e.header = http.Header{"Www-Authenticate": {authRealm + `, error="insufficient_scope", scope="` + scopeFull + " " + scopeAppData + `"`}}
	return e
}
