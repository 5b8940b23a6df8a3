package serverauth

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fuzz targets for everything that parses outside input. Run one longer
// with, for example:
//
//	go test -run '^$' -fuzz '^FuzzVerifyIDToken$' -fuzztime 5m .

var (
	fuzzKeyOnce sync.Once
	fuzzKey     *rsa.PrivateKey
)

func fuzzSigningKey() *rsa.PrivateKey {
	fuzzKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		fuzzKey = k
	})
	return fuzzKey
}

// roundTripFunc answers requests in memory.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func response(status int, contentType, body string) *http.Response {
	return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {contentType}}, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}
}

// fuzzExchanger is an Exchanger whose JWKS is the fuzz key and whose token
// endpoint answers with tokenAnswer, all in memory.
func fuzzExchanger(tb testing.TB, tokenAnswer func() *http.Response) *Exchanger {
	pub := fuzzSigningKey().PublicKey
	jwks := fmt.Sprintf(`{"keys":[{"kty":"RSA","kid":"fuzz","use":"sig","alg":"RS256","n":%q,"e":"AQAB"}]}`,
		base64.RawURLEncoding.EncodeToString(pub.N.Bytes()))
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Body != nil {
			io.Copy(io.Discard, r.Body)
		}
		if strings.HasSuffix(r.URL.Path, "/certs") {
			resp := response(200, "application/json", jwks)
			resp.Header.Set("Cache-Control", "max-age=3600")
			return resp, nil
		}
		return tokenAnswer(), nil
	})}
	e, err := New(Config{
		ClientID: "web.apps.googleusercontent.com", ClientSecret: "GOCSPX-fuzz-secret",
		AllowedClientIDs: []string{"ios.apps.googleusercontent.com"},
		HTTPClient:       client,
		Now:              func() time.Time { return time.Unix(1_800_000_000, 0) },
		Retry:            RetryPolicy{MaxAttempts: 1},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func signRaw(header, payload []byte) string {
	in := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
	sum := sha256.Sum256([]byte(in))
	sig, _ := rsa.SignPKCS1v15(rand.Reader, fuzzSigningKey(), crypto.SHA256, sum[:])
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// FuzzVerifyIDToken signs arbitrary payloads with the published key, so the
// fuzzer reaches the claim checks, and checks that whatever is accepted
// satisfies the acceptance policy.
func FuzzVerifyIDToken(f *testing.F) {
	now := int64(1_800_000_000)
	f.Add([]byte(`{"alg":"RS256","kid":"fuzz"}`), []byte(fmt.Sprintf(`{"iss":"https://accounts.google.com","aud":"web.apps.googleusercontent.com","azp":"ios.apps.googleusercontent.com","sub":"1","iat":%d,"exp":%d}`, now, now+3600)))
	f.Add([]byte(`{"alg":"RS256","kid":"fuzz","typ":"JWT"}`), []byte(fmt.Sprintf(`{"iss":"accounts.google.com","aud":["web.apps.googleusercontent.com"],"sub":"2","iat":%d,"exp":%d,"nbf":%d,"email_verified":true}`, now, now+60, now)))
	f.Add([]byte(`{"alg":"RS256","kid":"fuzz"}`), []byte(`{"aud":"a","aud":"b"}`))
	f.Add([]byte(`{"alg":"none","kid":"fuzz"}`), []byte(`{}`))
	e := fuzzExchanger(f, func() *http.Response { return response(500, "text/plain", "") })
	f.Fuzz(func(t *testing.T, header, payload []byte) {
		p, err := e.VerifyIDToken(context.Background(), signRaw(header, payload))
		if err != nil {
			var ie *IDTokenError
			if !errors.As(err, &ie) || !errors.Is(err, ErrInvalidIDToken) || ie.Reason == "" {
				t.Fatalf("error %v is not a typed IDTokenError", err)
			}
			return
		}
		var c struct {
			Iss string          `json:"iss"`
			Aud json.RawMessage `json:"aud"`
			Azp *string         `json:"azp"`
			Exp float64         `json:"exp"`
			Iat float64         `json:"iat"`
		}
		if err := json.Unmarshal(payload, &c); err != nil {
			t.Fatalf("accepted a payload encoding/json cannot read: %v", err)
		}
		switch {
		case c.Iss != issuerHTTPS && c.Iss != issuerBare:
			t.Fatalf("accepted iss %q", c.Iss)
		case string(c.Aud) != `"web.apps.googleusercontent.com"` && string(c.Aud) != `["web.apps.googleusercontent.com"]`:
			t.Fatalf("accepted aud %s", c.Aud)
		case c.Azp != nil && *c.Azp != "web.apps.googleusercontent.com" && *c.Azp != "ios.apps.googleusercontent.com":
			t.Fatalf("accepted azp %q", *c.Azp)
		case p.Subject == "" || c.Exp <= c.Iat || c.Exp-c.Iat > 3660 || float64(now) >= c.Exp+60:
			t.Fatalf("accepted sub %q exp %v iat %v", p.Subject, c.Exp, c.Iat)
		}
	})
}

// FuzzParseClientSecrets feeds arbitrary files to the client_secret.json
// reader.
func FuzzParseClientSecrets(f *testing.F) {
	f.Add([]byte(`{"web":{"client_id":"w","client_secret":"GOCSPX-s","redirect_uris":["https://x/cb"]}}`))
	f.Add([]byte(`{"installed":{"client_id":"d","client_secret":"s","token_uri":"https://accounts.google.com/o/oauth2/token"}}`))
	f.Add([]byte(`<?xml version="1.0"?><plist></plist>`))
	f.Add([]byte(`{"project_info":{}}`))
	f.Add([]byte(`{"web":{"client_id":"w"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cs, err := parseClientSecrets(data, "fuzz.json")
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "fuzz.json") {
				t.Fatalf("error %v does not wrap ErrInvalidConfig and name the file", err)
			}
			return
		}
		if cs.ClientID == "" || cs.ClientSecret == "" || (cs.Kind != "web" && cs.Kind != "installed") {
			t.Fatalf("accepted %+v", cs)
		}
	})
}

// FuzzTokenResponse feeds arbitrary token-endpoint answers to Exchange: it
// must classify every failure and never leak the code or the secret.
func FuzzTokenResponse(f *testing.F) {
	f.Add(200, "application/json", `{"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer","scope":"openid email"}`)
	f.Add(200, "application/json", `{"access_token":"ya29.x","expires_in":"3599","scope":"https://www.googleapis.com/auth/drive.appdata","refresh_token_expires_in":604799}`)
	f.Add(400, "application/json", `{"error":"invalid_grant","error_description":"Bad Request"}`)
	f.Add(400, "application/json", `{"error":"invalid_grant","error_subtype":"invalid_rapt"}`)
	f.Add(502, "text/html", `<html>That’s an error.</html>`)
	f.Add(501, "application/json", `{"error":{"code":501,"status":"UNIMPLEMENTED"}}`)
	f.Add(200, "text/plain", `access_token=ya29.x&expires_in=3599`)
	f.Add(200, "application/json", `{"access_token":"ya29.x","id_token":"a.b.c","scope":"openid"}`)
	f.Fuzz(func(t *testing.T, status int, contentType, body string) {
		if status < 100 || status > 999 {
			status = 200
		}
		e := fuzzExchanger(t, func() *http.Response { return response(status, contentType, body) })
		const code = "4/0AfuzzCodeValue"
		res, err := e.Exchange(context.Background(), code)
		if err == nil {
			if res == nil || res.UserID == "" || res.Token == nil || res.Token.AccessToken == "" {
				t.Fatalf("success without a user or token: %v", res)
			}
			return
		}
		var (
			te *TokenError
			ie *IDTokenError
			se *ScopeError
		)
		if !errors.As(err, &te) && !errors.As(err, &ie) && !errors.As(err, &se) {
			t.Fatalf("unclassified error %T: %v", err, err)
		}
		for _, leak := range []string{code, "GOCSPX-fuzz-secret"} {
			if strings.Contains(err.Error(), leak) {
				t.Fatalf("error leaks %q: %v", leak, err)
			}
		}
	})
}

// FuzzSignInHandler feeds arbitrary bodies to the sign-in endpoint: it must
// answer a known status with a JSON error or profile, never panic, and never
// echo the body.
func FuzzSignInHandler(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "code=4%2F0Aabc")
	f.Add("application/json", `{"code":"4/0Aabc"}`)
	f.Add("application/json", `{"id_token":"eyJ.eyJ.sig"}`)
	f.Add("application/json", `{"code":`)
	f.Add("multipart/form-data; boundary=x", "--x\r\n")
	f.Add("", "code=a&code=b")
	e := fuzzExchanger(f, func() *http.Response {
		return response(400, "application/json", `{"error":"invalid_grant","error_description":"Bad Request"}`)
	})
	h, err := e.SignInHandler(HandlerConfig{})
	if err != nil {
		f.Fatal(err)
	}
	allowed := map[int]bool{200: true, 400: true, 401: true, 403: true, 413: true, 415: true, 500: true, 502: true, 503: true}
	f.Fuzz(func(t *testing.T, contentType, body string) {
		req := httptest.NewRequest(http.MethodPost, "/signin", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("X-Requested-With", "x")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !allowed[rec.Code] {
			t.Fatalf("status %d", rec.Code)
		}
		var v map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("response %q is not JSON", rec.Body)
		}
		if len(body) >= 8 && strings.Contains(rec.Body.String(), body) {
			t.Fatalf("response echoes the body: %s", rec.Body)
		}
	})
}
