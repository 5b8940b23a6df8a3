package serverauthtest

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// riscFake is a fake served over plain HTTP with a receiver that records
// what it is sent.
type riscFake struct {
	g      *Google
	base   string
	clock  *Clock
	mu     sync.Mutex // guards bodies
	bodies []string
	answer int
	recv   string
}

func newRISCFake(t *testing.T) *riscFake {
	t.Helper()
	clock := NewClock(time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC))
	f := &riscFake{g: New(Options{Now: clock.Now}), clock: clock, answer: http.StatusAccepted}
	srv := httptest.NewServer(f.g)
	t.Cleanup(srv.Close)
	f.base = srv.URL
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		defer f.mu.Unlock()
		if r.Header.Get("Content-Type") != "application/secevent+jwt" || r.Method != http.MethodPost {
			t.Errorf("push: %s with Content-Type %q, want POST application/secevent+jwt", r.Method, r.Header.Get("Content-Type"))
		}
		f.bodies = append(f.bodies, string(b))
		w.WriteHeader(f.answer)
	}))
	t.Cleanup(recv.Close)
	f.recv = recv.URL
	return f
}

// bearer signs a stream API JWT with the fake's service account key,
// with claims changed by mutate.
func (f *riscFake) bearer(t *testing.T, header map[string]any, mutate func(map[string]any)) string {
	t.Helper()
	var sa struct {
		PrivateKeyID string `json:"private_key_id"`
		PrivateKey   string `json:"private_key"`
		ClientEmail  string `json:"client_email"`
	}
	if err := json.Unmarshal(f.g.RISCServiceAccountJSON(), &sa); err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(sa.PrivateKey))
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now().Unix()
	claims := map[string]any{"iss": sa.ClientEmail, "sub": sa.ClientEmail, "aud": RISCManagementAudience, "iat": now, "exp": now + 3600}
	if mutate != nil {
		mutate(claims)
	}
	h := map[string]any{"alg": "RS256", "typ": "JWT", "kid": sa.PrivateKeyID}
	for k, v := range header {
		h[k] = v
	}
	hb, _ := json.Marshal(h)
	pb, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(pb)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.(*rsa.PrivateKey), crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func (f *riscFake) call(t *testing.T, method, path, bearer, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, f.base+path, strings.NewReader(body))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	json.NewDecoder(resp.Body).Decode(&v)
	return resp.StatusCode, v
}

func TestRISCStreamAPIAuthorisation(t *testing.T) {
	f := newRISCFake(t)
	for _, tt := range []struct {
		name   string
		bearer func() string
		status int
	}{
		{"valid", func() string { return f.bearer(t, nil, nil) }, http.StatusNotFound}, // authorised; no stream yet
		{"none", func() string { return "" }, http.StatusUnauthorized},
		{"not a JWT", func() string { return "ya29.an-access-token" }, http.StatusUnauthorized},
		{"wrong aud", func() string {
			return f.bearer(t, nil, func(c map[string]any) { c["aud"] = "https://oauth2.googleapis.com/token" })
		}, http.StatusUnauthorized},
		{"wrong iss", func() string { return f.bearer(t, nil, func(c map[string]any) { c["iss"] = "someone@example.com" }) }, http.StatusUnauthorized},
		{"wrong sub", func() string { return f.bearer(t, nil, func(c map[string]any) { c["sub"] = "someone@example.com" }) }, http.StatusUnauthorized},
		{"expired", func() string {
			return f.bearer(t, nil, func(c map[string]any) { c["iat"] = c["iat"].(int64) - 7200; c["exp"] = c["exp"].(int64) - 7200 })
		}, http.StatusUnauthorized},
		{"longer than an hour", func() string { return f.bearer(t, nil, func(c map[string]any) { c["exp"] = c["exp"].(int64) + 60 }) }, http.StatusUnauthorized},
		{"issued in the future", func() string {
			return f.bearer(t, nil, func(c map[string]any) { c["iat"] = c["iat"].(int64) + 600; c["exp"] = c["exp"].(int64) + 600 })
		}, http.StatusUnauthorized},
		{"no exp", func() string { return f.bearer(t, nil, func(c map[string]any) { delete(c, "exp") }) }, http.StatusUnauthorized},
		{"another kid", func() string { return f.bearer(t, map[string]any{"kid": "0123"}, nil) }, http.StatusUnauthorized},
		{"alg HS256", func() string { return f.bearer(t, map[string]any{"alg": "HS256"}, nil) }, http.StatusUnauthorized},
		{"bad signature", func() string { b := f.bearer(t, nil, nil); return b[:len(b)-4] + "AAAA" }, http.StatusUnauthorized},
	} {
		status, body := f.call(t, http.MethodGet, "/v1beta/stream/status", tt.bearer(), "")
		if status != tt.status {
			t.Errorf("%s: GET stream/status = %d %v, want %d", tt.name, status, body, tt.status)
		}
		if status == http.StatusUnauthorized {
			if e, _ := body["error"].(map[string]any); e == nil || e["status"] != "UNAUTHENTICATED" {
				t.Errorf("%s: 401 body = %v, want a Google API error", tt.name, body)
			}
		}
	}
}

func TestRISCStreamAPI(t *testing.T) {
	f := newRISCFake(t)
	b := f.bearer(t, nil, nil)
	update := func(url string, events ...string) (int, map[string]any) {
		body, _ := json.Marshal(map[string]any{"delivery": map[string]string{"delivery_method": RISCPushDeliveryMethod, "url": url}, "events_requested": events})
		return f.call(t, http.MethodPost, "/v1beta/stream:update", b, string(body))
	}
	for _, tt := range []struct {
		name, body string
		status     int
	}{
		{"no delivery", `{"events_requested":["` + riscTypes[0] + `"]}`, 400},
		{"no url", `{"delivery":{"delivery_method":"` + RISCPushDeliveryMethod + `"},"events_requested":["` + riscTypes[0] + `"]}`, 400},
		{"no events", `{"delivery":{"delivery_method":"` + RISCPushDeliveryMethod + `","url":"` + f.recv + `"}}`, 400},
		{"poll delivery", `{"delivery":{"delivery_method":"https://schemas.openid.net/secevent/risc/delivery-method/poll","url":"` + f.recv + `"},"events_requested":["` + riscTypes[0] + `"]}`, 403},
		{"not JSON", `delivery`, 400},
	} {
		if status, body := f.call(t, http.MethodPost, "/v1beta/stream:update", b, tt.body); status != tt.status {
			t.Errorf("stream:update %s = %d %v, want %d", tt.name, status, body, tt.status)
		}
	}
	if status, _ := update("https://example.com/risc", riscTypes...); status != http.StatusForbidden {
		t.Errorf("stream:update to a host off the project's domains = %d, want 403", status)
	}
	if status, _ := update("ftp://127.0.0.1/risc", riscTypes...); status != http.StatusForbidden {
		t.Errorf("stream:update to an ftp URL = %d, want 403", status)
	}
	if status, _ := update(f.recv, "password-changed"); status != http.StatusBadRequest {
		t.Errorf("stream:update with an unknown event type = %d, want 400", status)
	}
	if status, _ := f.call(t, http.MethodPost, "/v1beta/stream/status:update", b, `{"status":"enabled"}`); status != http.StatusNotFound {
		t.Errorf("status:update without a stream = %d, want 404", status)
	}
	status, body := update(f.recv, riscTypes...)
	if status != http.StatusOK || body["delivery"].(map[string]any)["url"] != f.recv {
		t.Fatalf("stream:update = %d %v", status, body)
	}
	if status, body := f.call(t, http.MethodGet, "/v1beta/stream", b, ""); status != http.StatusOK || len(body["events_requested"].([]any)) != len(riscTypes) {
		t.Errorf("GET stream = %d %v", status, body)
	}
	if status, _ := f.call(t, http.MethodPost, "/v1beta/stream", b, ""); status != http.StatusMethodNotAllowed {
		t.Errorf("POST stream = %d, want 405", status)
	}
	if status, _ := f.call(t, http.MethodPost, "/v1beta/stream/status:update", b, `{"status":"paused"}`); status != http.StatusForbidden {
		t.Errorf("status:update paused = %d, want 403 Unsupported status", status)
	}
	if status, body := f.call(t, http.MethodPost, "/v1beta/stream/status:update", b, `{"status":"disabled"}`); status != http.StatusOK || body["status"] != "disabled" {
		t.Errorf("status:update disabled = %d %v", status, body)
	}
	if status, body := f.call(t, http.MethodGet, "/v1beta/stream/status", b, ""); status != http.StatusOK || body["status"] != "disabled" {
		t.Errorf("GET stream/status = %d %v", status, body)
	}
	// stream:update keeps the status.
	update(f.recv, riscTypes...)
	if mustStream(t, f.g).Enabled {
		t.Error("stream:update enabled a disabled stream")
	}
	f.call(t, http.MethodPost, "/v1beta/stream/status:update", b, `{"status":"enabled"}`)
	if status, _ := f.call(t, http.MethodPost, "/v1beta/stream:verify", b, `{"state":"hello"}`); status != http.StatusOK {
		t.Fatalf("stream:verify = %d", status)
	}
	if len(f.bodies) != 1 {
		t.Fatalf("stream:verify pushed %d tokens, want 1", len(f.bodies))
	}
	payload := decodeSET(t, f.bodies[0])
	ev := payload["events"].(map[string]any)[riscTypes[7]].(map[string]any)
	if ev["state"] != "hello" || payload["iss"] != "https://accounts.google.com/" || payload["aud"] != f.g.WebClientID() {
		t.Errorf("verification token = %v", payload)
	}
}

func mustStream(t *testing.T, g *Google) RISCStream {
	t.Helper()
	s, ok := g.GetRISCStream()
	if !ok {
		t.Fatal("no stream")
	}
	return s
}

// decodeSET returns a token's payload, unverified.
func decodeSET(t *testing.T, set string) map[string]any {
	t.Helper()
	parts := strings.Split(set, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", set)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRISCConfigurationAndKeys(t *testing.T) {
	f := newRISCFake(t)
	resp, err := http.Get(f.base + RISCConfigurationPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if doc["issuer"] != "https://accounts.google.com/" || doc["jwks_uri"] != f.base+RISCKeysPath {
		t.Errorf("RISC configuration = %v", doc)
	}
	keys := func(path string) string {
		resp, err := http.Get(f.base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	risc, idt := keys(RISCKeysPath), keys("/oauth2/v3/certs")
	if !strings.Contains(risc, f.g.RISCKeyID()) || strings.Contains(idt, f.g.RISCKeyID()) || strings.Contains(risc, f.g.SigningKeyID()) {
		t.Error("the RISC keys and the ID-token keys are not separate sets")
	}
	old := f.g.RISCKeyID()
	kid := f.g.RotateRISCKey()
	if risc := keys(RISCKeysPath); !strings.Contains(risc, old) || !strings.Contains(risc, kid) || f.g.RISCKeyID() != kid {
		t.Error("RotateRISCKey did not publish the new key beside the old one and sign with it")
	}
}

func TestSendRISCEvent(t *testing.T) {
	f := newRISCFake(t)
	ctx := context.Background()
	if _, err := f.g.SendRISCEvent(ctx, RISCEvent{Type: "sessions-revoked", Sub: "1"}); err == nil {
		t.Error("SendRISCEvent without a stream = nil error")
	}
	if err := f.g.SetRISCStream(RISCStream{URL: "https://example.com/risc"}); err == nil {
		t.Error("SetRISCStream to a host off loopback = nil error")
	}
	if err := f.g.SetRISCStream(RISCStream{URL: f.recv, EventsRequested: riscTypes[:2]}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.g.SendRISCEvent(ctx, RISCEvent{Type: "sessions-revoked", Sub: "1"}); err == nil {
		t.Error("SendRISCEvent to a disabled stream = nil error")
	}
	f.g.SetRISCStream(RISCStream{URL: f.recv, EventsRequested: riscTypes[:2], Enabled: true})
	for _, ev := range []RISCEvent{
		{Type: "account-disabled", Sub: "1"},             // not requested
		{Type: "password-changed", Sub: "1"},             // unknown
		{Type: "sessions-revoked"},                       // no sub
		{Type: "sessions-revoked", Sub: "1", Forge: "x"}, // unknown forgery
	} {
		if _, err := f.g.SendRISCEvent(ctx, ev); err == nil {
			t.Errorf("SendRISCEvent(%+v) = nil error", ev)
		}
	}
	d, err := f.g.SendRISCEvent(ctx, RISCEvent{Type: "sessions-revoked", Sub: "1", Email: "a@example.com"})
	if err != nil || d.Status != http.StatusAccepted || d.ID == "" {
		t.Fatalf("SendRISCEvent = %+v, %v", d, err)
	}
	r, err := f.g.RedeliverRISCEvent(ctx, d.ID)
	if err != nil || r.ID != d.ID || len(f.bodies) != 2 || f.bodies[0] != f.bodies[1] {
		t.Errorf("RedeliverRISCEvent = %+v, %v; want the same token again", r, err)
	}
	sub := decodeSET(t, f.bodies[0])["events"].(map[string]any)[riscTypes[0]].(map[string]any)["subject"].(map[string]any)
	if sub["subject_type"] != "id_token_claims" || sub["email"] != "a@example.com" || sub["sub"] != "1" {
		t.Errorf("subject = %v", sub)
	}
	if _, err := f.g.RedeliverRISCEvent(ctx, "unknown"); err == nil {
		t.Error("RedeliverRISCEvent(unknown) = nil error")
	}
	// The receiver's refusal is reported, not an error.
	f.answer = http.StatusBadRequest
	if d, err := f.g.SendRISCEvent(ctx, RISCEvent{Type: "sessions-revoked", Sub: "1"}); err != nil || d.Status != http.StatusBadRequest {
		t.Errorf("delivery refused = %+v, %v", d, err)
	}
	if n := len(f.g.RISCDeliveries()); n != 3 {
		t.Errorf("RISCDeliveries has %d entries, want 3", n)
	}
}

// TestRISCTokenEventsActOnTheFake: token-revoked and tokens-revoked revoke
// at the fake what they report revoked.
func TestRISCTokenEventsActOnTheFake(t *testing.T) {
	f := newRISCFake(t)
	ctx := context.Background()
	f.g.SetRISCStream(RISCStream{URL: f.recv, EventsRequested: riscTypes, Enabled: true})
	code, _ := f.g.MintCode(CodeRequest{Prompt: "consent"})
	resp, err := http.PostForm(f.base+"/token", map[string][]string{"grant_type": {"authorization_code"}, "code": {code},
		"client_id": {f.g.WebClientID()}, "client_secret": {f.g.WebClientSecret()}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		RefreshToken string `json:"refresh_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if _, err := f.g.SendRISCEvent(ctx, RISCEvent{Type: "token-revoked", TokenIdentifierAlg: "hash_base64_sha512_sha512", RefreshToken: tok.RefreshToken}); err != nil {
		t.Fatal(err)
	}
	subject := decodeSET(t, f.bodies[0])["events"].(map[string]any)[riscTypes[2]].(map[string]any)["subject"].(map[string]any)
	if subject["subject_type"] != "oauth_token" || subject["token_type"] != "refresh_token" || subject["token"] == "" || strings.Contains(f.bodies[0], tok.RefreshToken[:16]) {
		t.Errorf("token subject = %v", subject)
	}
	if _, err := f.g.SendRISCEvent(ctx, RISCEvent{Type: "token-revoked", Sub: DemoUser().Sub}); err == nil {
		t.Error("token-revoked for a user whose token was just revoked = nil error, want no live token")
	}
	resp, _ = http.PostForm(f.base+"/token", map[string][]string{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken},
		"client_id": {f.g.WebClientID()}, "client_secret": {f.g.WebClientSecret()}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("refresh with a token token-revoked named = %d, want 400 invalid_grant", resp.StatusCode)
	}
}

func TestEmulatorRISCControls(t *testing.T) {
	f := newRISCFake(t)
	f.g.SetRISCStream(RISCStream{URL: f.recv, EventsRequested: riscTypes, Enabled: true})
	post := func(path, body string) (int, map[string]any) {
		resp, err := http.Post(f.base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, v
	}
	status, d := post("/emulator/risc/events", `{"type":"account-disabled","sub":"42","reason":"hijacking"}`)
	if status != http.StatusOK || d["status"] != float64(http.StatusAccepted) || d["jti"] == "" {
		t.Fatalf("POST /emulator/risc/events = %d %v", status, d)
	}
	ev := decodeSET(t, f.bodies[0])["events"].(map[string]any)[riscTypes[3]].(map[string]any)
	if ev["reason"] != "hijacking" {
		t.Errorf("event = %v", ev)
	}
	if status, r := post("/emulator/risc/redeliver", `{"jti":"`+d["jti"].(string)+`"}`); status != http.StatusOK || r["jti"] != d["jti"] {
		t.Errorf("POST /emulator/risc/redeliver = %d %v", status, r)
	}
	if status, _ := post("/emulator/risc/events", `{"type":"nope"}`); status != http.StatusBadRequest {
		t.Errorf("unknown type = %d, want 400", status)
	}
	if status, _ := post("/emulator/risc/events", `{"type":"verification","extra":1}`); status != http.StatusBadRequest {
		t.Errorf("unknown field = %d, want 400", status)
	}
	resp, err := http.Get(f.base + "/emulator/risc/service-account")
	if err != nil {
		t.Fatal(err)
	}
	var sa map[string]string
	json.NewDecoder(resp.Body).Decode(&sa)
	resp.Body.Close()
	if sa["type"] != "service_account" || sa["client_email"] != f.g.RISCServiceAccountEmail() || !strings.Contains(sa["private_key"], "PRIVATE KEY") {
		t.Errorf("service account = %v", sa)
	}
	resp, _ = http.Get(f.base + "/emulator/risc/deliveries")
	var ds []RISCDelivery
	json.NewDecoder(resp.Body).Decode(&ds)
	resp.Body.Close()
	if len(ds) != 2 {
		t.Errorf("deliveries = %v, want 2", ds)
	}
}
