package serverauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// epoch is where every test clock starts.
var epoch = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// claimSet builds a payload from raw JSON values in order, so tests can
// express duplicates, case variants and wrong types.
type claimSet [][2]string

func (f *fixture) baseClaims() claimSet {
	now := f.clock.Now().Unix()
	return claimSet{
		{"iss", `"https://accounts.google.com"`},
		{"azp", fmt.Sprintf("%q", f.g.IOSClientID())},
		{"aud", fmt.Sprintf("%q", f.g.WebClientID())},
		{"sub", `"109876543210987654321"`},
		{"email", `"jane.doe.demo@gmail.com"`},
		{"email_verified", `true`},
		{"name", `"Jane Doe"`},
		{"iat", fmt.Sprint(now)},
		{"exp", fmt.Sprint(now + 3600)},
	}
}

// with returns the set with name's value replaced (or appended), or removed
// when value is "".
func (c claimSet) with(name, value string) claimSet {
	out := claimSet{}
	found := false
	for _, kv := range c {
		if kv[0] == name {
			found = true
			if value == "" {
				continue
			}
			kv[1] = value
		}
		out = append(out, kv)
	}
	if !found && value != "" {
		out = append(out, [2]string{name, value})
	}
	return out
}

// plus appends a member even if the name is already there.
func (c claimSet) plus(name, value string) claimSet {
	return append(append(claimSet{}, c...), [2]string{name, value})
}

func (c claimSet) json() []byte {
	var b strings.Builder
	b.WriteByte('{')
	for i, kv := range c {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%s", kv[0], kv[1])
	}
	b.WriteByte('}')
	return []byte(b.String())
}

func (f *fixture) header() []byte {
	return []byte(fmt.Sprintf(`{"alg":"RS256","kid":%q,"typ":"JWT"}`, f.g.SigningKeyID()))
}

func (f *fixture) sign(c claimSet) string { return f.g.Sign(f.header(), c.json()) }

func wantReason(t *testing.T, err error, want serverauth.Reason) {
	t.Helper()
	if !errors.Is(err, serverauth.ErrInvalidIDToken) {
		t.Fatalf("error = %v, want ErrInvalidIDToken", err)
	}
	var ie *serverauth.IDTokenError
	if !errors.As(err, &ie) || ie.Reason != want {
		t.Fatalf("error = %v, want reason %q", err, want)
	}
}

func TestVerifyIDTokenAcceptancePolicy(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	now := f.clock.Now().Unix()
	at := func(d time.Duration) string { return fmt.Sprint(now + int64(d/time.Second)) }
	leeway := serverauth.DefaultLeeway
	web := fmt.Sprintf("%q", f.g.WebClientID())
	tests := []struct {
		name   string
		claims claimSet
		want   serverauth.Reason // "" = accepted
	}{
		{"valid, https issuer", f.baseClaims(), ""},
		{"valid, bare issuer", f.baseClaims().with("iss", `"accounts.google.com"`), ""},
		{"issuer http", f.baseClaims().with("iss", `"http://accounts.google.com"`), serverauth.ReasonIssuer},
		{"issuer trailing slash", f.baseClaims().with("iss", `"https://accounts.google.com/"`), serverauth.ReasonIssuer},
		{"issuer other", f.baseClaims().with("iss", `"https://evil.example"`), serverauth.ReasonIssuer},
		{"issuer missing", f.baseClaims().with("iss", ""), serverauth.ReasonIssuer},
		{"aud one-element array", f.baseClaims().with("aud", "["+web+"]"), ""},
		{"aud two-element array", f.baseClaims().with("aud", "["+web+`,"other"]`), serverauth.ReasonAudience},
		{"aud other client", f.baseClaims().with("aud", `"my_app_name"`), serverauth.ReasonAudience},
		{"aud iOS client", f.baseClaims().with("aud", fmt.Sprintf("%q", f.g.IOSClientID())), serverauth.ReasonAudience},
		{"aud missing", f.baseClaims().with("aud", ""), serverauth.ReasonAudience},
		{"aud empty array", f.baseClaims().with("aud", "[]"), serverauth.ReasonAudience},
		{"aud not a string", f.baseClaims().with("aud", "42"), serverauth.ReasonMalformed},
		{"azp absent", f.baseClaims().with("azp", ""), ""},
		{"azp server client", f.baseClaims().with("azp", web), ""},
		{"azp Android client", f.baseClaims().with("azp", fmt.Sprintf("%q", f.g.AndroidClientID())), ""},
		{"azp unknown client", f.baseClaims().with("azp", `"999-other.apps.googleusercontent.com"`), serverauth.ReasonPresenter},
		{"azp service account id", f.baseClaims().with("azp", `"117293812739812739812"`), serverauth.ReasonPresenter},
		{"sub missing", f.baseClaims().with("sub", ""), serverauth.ReasonSubject},
		{"sub empty", f.baseClaims().with("sub", `""`), serverauth.ReasonSubject},
		{"sub too long", f.baseClaims().with("sub", `"`+strings.Repeat("1", 256)+`"`), serverauth.ReasonSubject},
		{"sub 255 chars", f.baseClaims().with("sub", `"`+strings.Repeat("1", 255)+`"`), ""},
		{"sub non-ASCII", f.baseClaims().with("sub", `"10987é"`), serverauth.ReasonSubject},
		{"sub number", f.baseClaims().with("sub", `109876543210987654321`), serverauth.ReasonMalformed},
		{"exp missing", f.baseClaims().with("exp", ""), serverauth.ReasonMissingClaim},
		{"iat missing", f.baseClaims().with("iat", ""), serverauth.ReasonMissingClaim},
		{"exp string", f.baseClaims().with("exp", `"`+at(time.Hour)+`"`), serverauth.ReasonMalformed},
		{"exp null", f.baseClaims().with("exp", `null`), serverauth.ReasonMissingClaim},
		{"expired beyond leeway", f.baseClaims().with("iat", at(-2*time.Hour)).with("exp", at(-leeway-time.Second)), serverauth.ReasonExpired},
		{"expired within leeway", f.baseClaims().with("iat", at(-time.Hour)).with("exp", at(-leeway+time.Second)), ""},
		{"expired exactly at exp plus leeway", f.baseClaims().with("iat", at(-time.Hour)).with("exp", at(-leeway)), serverauth.ReasonExpired},
		{"azp null", f.baseClaims().with("azp", "null"), serverauth.ReasonMalformed},
		{"at_hash null", f.baseClaims().plus("at_hash", "null"), serverauth.ReasonMalformed},
		{"nbf null", f.baseClaims().plus("nbf", "null"), serverauth.ReasonMalformed},
		{"nonce null", f.baseClaims().plus("nonce", "null"), serverauth.ReasonMalformed},
		{"hd null", f.baseClaims().plus("hd", "null"), serverauth.ReasonMalformed},
		{"iat in future beyond leeway", f.baseClaims().with("iat", at(leeway+time.Second)).with("exp", at(time.Hour)), serverauth.ReasonIssuedInFuture},
		{"iat in future within leeway", f.baseClaims().with("iat", at(leeway-time.Second)).with("exp", at(time.Hour)), ""},
		{"nbf in future", f.baseClaims().with("nbf", at(leeway+time.Second)), serverauth.ReasonNotYetValid},
		{"nbf within leeway", f.baseClaims().with("nbf", at(leeway-time.Second)), ""},
		{"nbf string", f.baseClaims().with("nbf", `"0"`), serverauth.ReasonMalformed},
		{"exp equals iat", f.baseClaims().with("exp", at(0)), serverauth.ReasonLifetime},
		{"lifetime over an hour plus leeway", f.baseClaims().with("exp", at(time.Hour+leeway+time.Second)), serverauth.ReasonLifetime},
		{"lifetime an hour plus leeway", f.baseClaims().with("exp", at(time.Hour+leeway)), ""},
		{"exp negative", f.baseClaims().with("iat", "-10").with("exp", "-5"), serverauth.ReasonMalformed},
		{"exp huge", f.baseClaims().with("exp", "1e300"), serverauth.ReasonMalformed},
		{"duplicate aud, attacker first", f.baseClaims().with("aud", `"attacker"`).plus("aud", web), serverauth.ReasonMalformed},
		{"duplicate aud, attacker last", f.baseClaims().plus("aud", `"attacker"`), serverauth.ReasonMalformed},
		{"duplicate sub", f.baseClaims().plus("sub", `"1"`), serverauth.ReasonMalformed},
		{"case-variant AUD does not override", f.baseClaims().plus("AUD", `"attacker"`), ""},
		{"case-variant Aud does not satisfy", f.baseClaims().with("aud", "").plus("Aud", web), serverauth.ReasonAudience},
		{"case-variant ISS does not satisfy", f.baseClaims().with("iss", "").plus("ISS", `"https://accounts.google.com"`), serverauth.ReasonIssuer},
		{"email_verified as string", f.baseClaims().with("email_verified", `"true"`), serverauth.ReasonMalformed},
		{"service account email", f.baseClaims().with("email", `"robot@my-proj.iam.gserviceaccount.com"`).with("azp", ""), serverauth.ReasonServiceAccount},
		{"legacy service account email", f.baseClaims().with("email", `"123-compute@developer.gserviceaccount.com"`).with("azp", ""), serverauth.ReasonServiceAccount},
		{"not a service account", f.baseClaims().with("email", `"me@notgserviceaccount.com"`), ""},
		{"payload not an object", claimSet{}, serverauth.ReasonIssuer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := f.sign(tt.claims)
			p, err := f.e.VerifyIDToken(context.Background(), raw)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("VerifyIDToken(%s) = %v, want accepted", tt.claims.json(), err)
				}
				if p.Subject == "" {
					t.Errorf("accepted profile has no subject")
				}
				return
			}
			if p != nil {
				t.Errorf("VerifyIDToken returned a profile with an error")
			}
			wantReason(t, err, tt.want)
			if strings.Contains(err.Error(), raw) || strings.Contains(err.Error(), strings.Split(raw, ".")[1]) {
				t.Errorf("error %q contains the token", err)
			}
		})
	}
	if n := f.g.RequestCount(serverauthtest.EndpointJWKS); n != 1 {
		t.Errorf("JWKS fetched %d times for %d verifications, want 1", n, len(tests))
	}
}

func TestVerifyIDTokenHeaderAndSignature(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	claims := f.baseClaims().json()
	kid := f.g.SigningKeyID()
	valid := f.sign(f.baseClaims())
	parts := strings.Split(valid, ".")
	tests := []struct {
		name string
		raw  string
		want serverauth.Reason
	}{
		{"alg none", f.g.Sign([]byte(`{"alg":"none","kid":"`+kid+`"}`), claims), serverauth.ReasonHeader},
		{"alg HS256", f.g.Sign([]byte(`{"alg":"HS256","kid":"`+kid+`"}`), claims), serverauth.ReasonHeader},
		{"alg ES256", f.g.Sign([]byte(`{"alg":"ES256","kid":"`+kid+`"}`), claims), serverauth.ReasonHeader},
		{"no kid", f.g.Sign([]byte(`{"alg":"RS256"}`), claims), serverauth.ReasonHeader},
		{"jku", f.g.Sign([]byte(`{"alg":"RS256","kid":"`+kid+`","jku":"https://evil.example/certs"}`), claims), serverauth.ReasonHeader},
		{"embedded jwk", f.g.Sign([]byte(`{"alg":"RS256","kid":"`+kid+`","jwk":{"kty":"RSA"}}`), claims), serverauth.ReasonHeader},
		{"crit", f.g.Sign([]byte(`{"alg":"RS256","kid":"`+kid+`","crit":["exp"]}`), claims), serverauth.ReasonHeader},
		{"typ other", f.g.Sign([]byte(`{"alg":"RS256","kid":"`+kid+`","typ":"at+jwt"}`), claims), serverauth.ReasonHeader},
		{"duplicate kid", f.g.Sign([]byte(`{"alg":"RS256","kid":"x","kid":"`+kid+`"}`), claims), serverauth.ReasonMalformed},
		{"attacker key, published kid", f.g.SignUnpublished(f.header(), claims), serverauth.ReasonSignature},
		{"payload swapped", parts[0] + "." + strings.Split(f.sign(f.baseClaims().with("sub", `"666"`)), ".")[1] + "." + parts[2], serverauth.ReasonSignature},
		{"padding", parts[0] + "." + parts[1] + "." + parts[2] + "==", serverauth.ReasonMalformed},
		{"whitespace", parts[0] + "." + parts[1] + "\n." + parts[2], serverauth.ReasonMalformed},
		{"JSON serialization", `{"protected":"` + parts[0] + `","payload":"` + parts[1] + `","signature":"` + parts[2] + `"}`, serverauth.ReasonMalformed},
		{"empty", "", serverauth.ReasonMalformed},
		{"oversized", parts[0] + "." + strings.Repeat("A", 17<<10) + "." + parts[2], serverauth.ReasonMalformed},
	}
	if _, err := f.e.VerifyIDToken(context.Background(), valid); err != nil {
		t.Fatalf("VerifyIDToken(valid) = %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.e.VerifyIDToken(context.Background(), tt.raw)
			wantReason(t, err, tt.want)
		})
	}
	// A bad signature with a known kid never refetches keys (policy).
	if n := f.g.RequestCount(serverauthtest.EndpointJWKS); n != 1 {
		t.Errorf("JWKS fetched %d times, want 1: no refetch on a bad signature", n)
	}
}

func TestVerifyIDTokenUnknownKidRefetchesOnceAndRotation(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	ctx := context.Background()
	if _, err := f.e.VerifyIDToken(ctx, f.sign(f.baseClaims())); err != nil {
		t.Fatal(err)
	}
	f.g.RotateKey()
	// A token from the new key: one refetch finds it.
	if _, err := f.e.VerifyIDToken(ctx, f.sign(f.baseClaims())); err != nil {
		t.Fatalf("token of a rotated-in key = %v, want accepted", err)
	}
	if n := f.g.RequestCount(serverauthtest.EndpointJWKS); n != 2 {
		t.Fatalf("JWKS fetches = %d, want 2", n)
	}
	// Forged kids within the minute: no network.
	for i := 0; i < 50; i++ {
		_, err := f.e.VerifyIDToken(ctx, f.g.Sign([]byte(fmt.Sprintf(`{"alg":"RS256","kid":"forged%d"}`, i)), f.baseClaims().json()))
		wantReason(t, err, serverauth.ReasonUnknownKey)
	}
	if n := f.g.RequestCount(serverauthtest.EndpointJWKS); n != 2 {
		t.Fatalf("JWKS fetches after 50 forged kids = %d, want 2", n)
	}
	// A retired key's tokens stop verifying once the keys are refetched.
	old := f.g.SigningKeyID()
	tok := f.sign(f.baseClaims())
	f.g.RotateKey()
	f.g.RetireKey(old)
	f.clock.Advance(serverauthtest.DefaultJWKSMaxAge)
	_, err := f.e.VerifyIDToken(ctx, tok)
	wantReason(t, err, serverauth.ReasonUnknownKey)
}

func TestVerifyIDTokenKeysUnavailableIsTemporary(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{}, func(c *serverauth.Config) {
		c.Endpoints.JWKSURL = c.Endpoints.TokenURL + "/nothing-here"
	})
	_, err := f.e.VerifyIDToken(context.Background(), f.sign(f.baseClaims()))
	wantReason(t, err, serverauth.ReasonKeysUnavailable)
	var ie *serverauth.IDTokenError
	if !errors.As(err, &ie) || !ie.Class.Temporary() {
		t.Errorf("Class.Temporary() = false for %v", err)
	}
}

func TestVerifyIDTokenHostedDomain(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{}, func(c *serverauth.Config) { c.HostedDomain = "example.com" })
	ctx := context.Background()
	if _, err := f.e.VerifyIDToken(ctx, f.sign(f.baseClaims().with("hd", `"example.com"`))); err != nil {
		t.Fatalf("hd example.com = %v, want accepted", err)
	}
	for _, hd := range []string{"", `"other.com"`, `"EXAMPLE.COM"`} {
		_, err := f.e.VerifyIDToken(ctx, f.sign(f.baseClaims().with("hd", hd)))
		wantReason(t, err, serverauth.ReasonHostedDomain)
	}
}

func TestVerifyIDTokenLeewayConfig(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{}, func(c *serverauth.Config) { c.Leeway = 5 * time.Minute })
	now := f.clock.Now().Unix()
	tok := f.sign(f.baseClaims().with("iat", fmt.Sprint(now-3600-240)).with("exp", fmt.Sprint(now-240)))
	if _, err := f.e.VerifyIDToken(context.Background(), tok); err != nil {
		t.Fatalf("expired 4 min ago with 5 min leeway = %v, want accepted", err)
	}
}

func TestVerifyIDTokenServiceAccountsOptIn(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{}, func(c *serverauth.Config) { c.InsecureAllowServiceAccounts = true })
	if _, err := f.e.VerifyIDToken(context.Background(), f.sign(f.baseClaims().with("email", `"robot@p.iam.gserviceaccount.com"`))); err != nil {
		t.Fatalf("service account with InsecureAllowServiceAccounts = %v, want accepted", err)
	}
}

func TestVerifyIDTokenPresenterNotAllowed(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{}, func(c *serverauth.Config) { c.AllowedClientIDs = nil })
	_, err := f.e.VerifyIDToken(context.Background(), f.g.IDToken(serverauthtest.DemoUser(), f.g.IOSClientID()))
	wantReason(t, err, serverauth.ReasonPresenter)
}

func TestProfileFromFakeIDToken(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	u := serverauthtest.DemoUser()
	u.HostedDomain = "example.com"
	p, err := f.e.VerifyIDToken(context.Background(), f.g.IDToken(u, f.g.AndroidClientID()))
	if err != nil {
		t.Fatal(err)
	}
	want := serverauth.Profile{
		Subject: u.Sub, Email: u.Email, EmailVerified: true, Name: u.Name, GivenName: u.GivenName,
		FamilyName: u.FamilyName, Picture: u.Picture, Locale: u.Locale, HostedDomain: "example.com",
		AuthorizedParty: f.g.AndroidClientID(), Audience: f.g.WebClientID(), Issuer: "https://accounts.google.com",
		IssuedAt: epoch, Expiry: epoch.Add(time.Hour),
	}
	got := *p
	if got.Subject != want.Subject || got.Email != want.Email || !got.EmailVerified || got.Name != want.Name ||
		got.GivenName != want.GivenName || got.FamilyName != want.FamilyName || got.Picture != want.Picture ||
		got.Locale != want.Locale || got.HostedDomain != want.HostedDomain || got.AuthorizedParty != want.AuthorizedParty ||
		got.Audience != want.Audience || got.Issuer != want.Issuer || !got.IssuedAt.Equal(want.IssuedAt) || !got.Expiry.Equal(want.Expiry) {
		t.Errorf("Profile = %+v\nwant %+v", got, want)
	}
	var extra struct {
		Azp string `json:"azp"`
		Iat int64  `json:"iat"`
	}
	if err := p.Claims(&extra); err != nil || extra.Azp != f.g.AndroidClientID() || extra.Iat != epoch.Unix() {
		t.Errorf("Claims = %+v, %v", extra, err)
	}
}

// TestVerifyIDTokenPresenterNamedInLog: the refused azp is a client ID, not
// a secret, and the operator needs it to fix Config.AllowedClientIDs: the
// log says it.
func TestVerifyIDTokenPresenterNamedInLog(t *testing.T) {
	var buf bytes.Buffer
	f := newFixture(t, serverauthtest.Options{}, func(c *serverauth.Config) {
		c.AllowedClientIDs = nil
		c.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	_, err := f.e.VerifyIDToken(context.Background(), f.g.IDToken(serverauthtest.DemoUser(), f.g.IOSClientID()))
	wantReason(t, err, serverauth.ReasonPresenter)
	var line struct {
		Reason string `json:"reason"`
		Azp    string `json:"azp"`
	}
	for l := range bytes.Lines(buf.Bytes()) {
		if bytes.Contains(l, []byte("ID token refused")) {
			json.Unmarshal(l, &line)
		}
	}
	if line.Azp != f.g.IOSClientID() || line.Reason != string(serverauth.ReasonPresenter) {
		t.Fatalf("log = %s, want reason %s with azp %s", buf.Bytes(), serverauth.ReasonPresenter, f.g.IOSClientID())
	}
}
