package serverauthtest_test

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/serverauth/serverauth/serverauthtest"
)

var kidPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)

func TestJWKS(t *testing.T) {
	tests := []struct {
		name        string
		opts        serverauthtest.Options
		wantKeys    int
		wantCache   string
		wantAge     string // "" means absent
		wantExpires time.Time
	}{
		{name: "defaults", wantKeys: 2, wantCache: "public, max-age=21155, must-revalidate, no-transform", wantAge: "12", wantExpires: start.Add(21155 * time.Second)},
		{name: "three keys, custom cache", opts: serverauthtest.Options{Keys: 3, JWKSMaxAge: time.Hour, JWKSAge: 5 * time.Second}, wantKeys: 3, wantCache: "public, max-age=3600, must-revalidate, no-transform", wantAge: "5", wantExpires: start.Add(time.Hour)},
		{name: "Age zero", opts: serverauthtest.Options{JWKSAge: -1}, wantKeys: 2, wantCache: "public, max-age=21155, must-revalidate, no-transform", wantAge: "0", wantExpires: start.Add(21155 * time.Second)},
		{name: "Age omitted", opts: serverauthtest.Options{JWKSOmitAge: true}, wantKeys: 2, wantCache: "public, max-age=21155, must-revalidate, no-transform", wantExpires: start.Add(21155 * time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.opts)
			r := f.get(t, "/oauth2/v3/certs", nil)
			if r.status != 200 {
				t.Fatalf("GET certs = %d", r.status)
			}
			h := r.header
			if got := h.Get("Content-Type"); got != "application/json; charset=UTF-8" {
				t.Errorf("Content-Type = %q", got)
			}
			if got := h.Get("Cache-Control"); got != tt.wantCache {
				t.Errorf("Cache-Control = %q, want %q", got, tt.wantCache)
			}
			age, hasAge := h["Age"]
			if tt.wantAge == "" && hasAge || tt.wantAge != "" && (len(age) != 1 || age[0] != tt.wantAge) {
				t.Errorf("Age = %q (present %v), want %q", age, hasAge, tt.wantAge)
			}
			if exp, err := http.ParseTime(h.Get("Expires")); err != nil || !exp.Equal(tt.wantExpires) {
				t.Errorf("Expires = %q, want %v", h.Get("Expires"), tt.wantExpires)
			}
			var set struct{ Keys []map[string]any }
			if err := json.Unmarshal(r.raw, &set); err != nil {
				t.Fatal(err)
			}
			if len(set.Keys) != tt.wantKeys {
				t.Fatalf("JWKS has %d keys, want %d", len(set.Keys), tt.wantKeys)
			}
			for _, k := range set.Keys {
				if len(k) != 6 || k["alg"] != "RS256" || k["use"] != "sig" || k["kty"] != "RSA" || k["e"] != "AQAB" || !kidPattern.MatchString(k["kid"].(string)) {
					t.Errorf("JWK = %v, want kid, alg RS256, use sig, kty RSA, n, e AQAB", k)
				}
				n, _ := base64.RawURLEncoding.DecodeString(k["n"].(string))
				if len(n) != 256 {
					t.Errorf("modulus has %d bytes, want 256", len(n))
				}
			}
		})
	}

	t.Run("member order varies", func(t *testing.T) {
		f := newFixture(t, serverauthtest.Options{})
		seen := map[string]bool{}
		for range 10 {
			seen[string(f.get(t, "/oauth2/v3/certs", nil).raw)] = true
		}
		if len(seen) < 2 {
			t.Errorf("10 fetches gave %d distinct bodies, want several", len(seen))
		}
	})

	t.Run("SetJWKSCache", func(t *testing.T) {
		f := newFixture(t, serverauthtest.Options{})
		f.srv.SetJWKSCache(10*time.Minute, 0, true)
		r := f.get(t, "/oauth2/v1/certs", nil)
		if got := r.header.Get("Cache-Control"); got != "public, max-age=600, must-revalidate, no-transform" {
			t.Errorf("Cache-Control = %q", got)
		}
		if _, ok := r.header["Age"]; ok {
			t.Errorf("Age present, want absent")
		}
	})
}

func TestPEMCertsMatchJWKS(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{Keys: 3})
	jwks := f.jwks(t)
	r := f.get(t, "/oauth2/v1/certs", nil)
	var certs map[string]string
	if err := json.Unmarshal(r.raw, &certs); err != nil {
		t.Fatal(err)
	}
	if len(certs) != len(jwks) {
		t.Fatalf("PEM endpoint has %d certs, JWKS %d keys", len(certs), len(jwks))
	}
	for kid, p := range certs {
		block, _ := pem.Decode([]byte(p))
		if block == nil || block.Type != "CERTIFICATE" {
			t.Fatalf("cert %s is not a PEM certificate", kid)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatalf("x509.ParseCertificate = %v", err)
		}
		if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil || cert.Subject.String() != cert.Issuer.String() {
			t.Errorf("cert %s is not self-signed: %v", kid, err)
		}
		pub, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok || jwks[kid] == nil || !pub.Equal(jwks[kid]) {
			t.Errorf("cert %s carries a key that is not the JWKS key %s", kid, kid)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	published := func() []string {
		var ids []string
		for kid := range f.jwks(t) {
			ids = append(ids, kid)
		}
		slices.Sort(ids)
		return ids
	}
	idKid := func() string {
		tok := f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{Prompt: "consent"})).str("id_token")
		return f.verifyJWT(t, tok).header["kid"].(string)
	}
	first := f.srv.SigningKeyID()
	if got := idKid(); got != first {
		t.Errorf("ID token kid = %s, want the signing key %s", got, first)
	}
	if n := len(published()); n != 2 {
		t.Errorf("published %d keys, want 2", n)
	}

	added := f.srv.AddKey()
	if !slices.Contains(published(), added) || f.srv.SigningKeyID() != first || idKid() != first {
		t.Errorf("AddKey: want %s published but not signing", added)
	}

	rotated := f.srv.RotateKey()
	if !slices.Contains(published(), rotated) || !slices.Contains(published(), first) || f.srv.SigningKeyID() != rotated || idKid() != rotated {
		t.Errorf("RotateKey: want %s published and signing, %s still published", rotated, first)
	}

	old := f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{Prompt: "consent"})).str("id_token")
	f.srv.RetireKey(rotated)
	if slices.Contains(published(), rotated) {
		t.Errorf("RetireKey: %s still published", rotated)
	}
	if f.srv.SigningKeyID() == rotated {
		t.Errorf("RetireKey: retired key still signing")
	}
	wantOAuthError(t, f.get(t, "/tokeninfo?id_token="+old, nil), 400, "invalid_token", "Invalid Value")

	f.srv.UseKey(added)
	if idKid() != added {
		t.Errorf("UseKey(%s): ID tokens not signed with it", added)
	}
	if got := f.srv.PublishedKeyIDs(); len(got) != 3 {
		t.Errorf("PublishedKeyIDs() = %v, want 3 keys", got)
	}
}

func TestIDTokenShape(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	u := serverauthtest.DemoUser()
	code := f.mint(t, serverauthtest.CodeRequest{User: u, Scopes: []string{"openid", "email", "profile", "drive.appdata"}, Nonce: "abc"})
	tok := f.mustExchange(t, code)
	j := f.verifyJWT(t, tok.str("id_token"))
	if want := `{"alg":"RS256","kid":"` + f.srv.SigningKeyID() + `","typ":"JWT"}`; j.rawHeader != want {
		t.Errorf("header = %s, want %s", j.rawHeader, want)
	}
	sum := sha256.Sum256([]byte(tok.str("access_token")))
	want := map[string]any{
		"iss": "https://accounts.google.com", "azp": f.srv.IOSClientID(), "aud": f.srv.WebClientID(), "sub": u.Sub,
		"email": u.Email, "email_verified": true, "at_hash": base64.RawURLEncoding.EncodeToString(sum[:16]), "nonce": "abc",
		"name": u.Name, "picture": u.Picture, "given_name": u.GivenName, "family_name": u.FamilyName, "locale": u.Locale,
		"iat": json.Number("1773500966"), "exp": json.Number("1773504566"),
	}
	if len(j.claims) != len(want) {
		t.Errorf("claims = %v, want exactly %v", j.claims, want)
	}
	for k, v := range want {
		if j.claims[k] != v {
			t.Errorf("claim %s = %#v, want %#v", k, j.claims[k], v)
		}
	}
	if got := serverauthtest.AtHash(tok.str("access_token")); got != want["at_hash"] {
		t.Errorf("AtHash() = %q, want %q", got, want["at_hash"])
	}
	if !strings.Contains(string(j.rawClaims), `"email_verified":true`) {
		t.Errorf("email_verified is not a JSON boolean: %s", j.rawClaims)
	}

	t.Run("claims by scope", func(t *testing.T) {
		tests := []struct {
			name    string
			scopes  []string
			user    serverauthtest.User
			present []string
			absent  []string
		}{
			{name: "openid only", scopes: []string{"openid"}, present: []string{"sub", "at_hash"}, absent: []string{"email", "email_verified", "name", "picture", "locale", "hd", "nonce"}},
			{name: "email", scopes: []string{"openid", "email"}, present: []string{"email", "email_verified"}, absent: []string{"name", "given_name"}},
			{name: "profile", scopes: []string{"profile"}, present: []string{"name", "given_name", "family_name", "picture", "locale"}, absent: []string{"email"}},
			{name: "workspace user", scopes: []string{"openid"}, user: serverauthtest.User{Sub: "1", HostedDomain: "corp.example"}, present: []string{"hd"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				j := f.verifyJWT(t, f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{User: tt.user, Scopes: tt.scopes})).str("id_token"))
				for _, c := range tt.present {
					if _, ok := j.claims[c]; !ok {
						t.Errorf("claim %s absent, want present", c)
					}
				}
				for _, c := range tt.absent {
					if _, ok := j.claims[c]; ok {
						t.Errorf("claim %s present, want absent", c)
					}
				}
			})
		}
	})
}

func TestIDTokenAZP(t *testing.T) {
	tests := []struct {
		name    string
		opts    serverauthtest.Options
		origin  serverauthtest.Origin
		wantAZP string // "-" means absent
		mobile  string // which default ID to expect: "ios", "android", "web"
	}{
		{name: "iOS presenter (default)", origin: serverauthtest.OriginIOS, mobile: "ios"},
		{name: "Android presenter (default)", origin: serverauthtest.OriginAndroid, mobile: "android"},
		{name: "iOS AZPServer", opts: serverauthtest.Options{MobileAZP: serverauthtest.AZPServer}, origin: serverauthtest.OriginIOS, mobile: "web"},
		{name: "Android AZPNone", opts: serverauthtest.Options{MobileAZP: serverauthtest.AZPNone}, origin: serverauthtest.OriginAndroid, wantAZP: "-"},
		{name: "web popup", opts: serverauthtest.Options{MobileAZP: serverauthtest.AZPNone}, origin: serverauthtest.OriginWebPopup, mobile: "web"},
		{name: "web redirect", origin: serverauthtest.OriginWebRedirect, mobile: "web"},
		{name: "issuer without scheme", opts: serverauthtest.Options{Issuer: "accounts.google.com"}, origin: serverauthtest.OriginIOS, mobile: "ios"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.opts)
			want := map[string]string{"ios": f.srv.IOSClientID(), "android": f.srv.AndroidClientID(), "web": f.srv.WebClientID()}[tt.mobile]
			req := serverauthtest.CodeRequest{Origin: tt.origin}
			extra := []string{}
			switch tt.origin {
			case serverauthtest.OriginWebPopup:
				extra = []string{"redirect_uri", "postmessage"}
			case serverauthtest.OriginWebRedirect:
				req.RedirectURI = serverauthtest.DefaultRedirectURI
				extra = []string{"redirect_uri", serverauthtest.DefaultRedirectURI}
			}
			r := f.mustExchange(t, f.mint(t, req), extra...)
			j := f.verifyJWT(t, r.str("id_token"))
			azp, ok := j.claims["azp"]
			if tt.wantAZP == "-" {
				if ok {
					t.Errorf("azp = %v, want absent", azp)
				}
			} else if azp != want {
				t.Errorf("azp = %v, want %s", azp, want)
			}
			if j.claims["aud"] != f.srv.WebClientID() {
				t.Errorf("aud = %v, want the web client", j.claims["aud"])
			}
			wantIss := "https://accounts.google.com"
			if tt.opts.Issuer != "" {
				wantIss = tt.opts.Issuer
			}
			if j.claims["iss"] != wantIss {
				t.Errorf("iss = %v, want %s", j.claims["iss"], wantIss)
			}
			// The refreshed ID token has the same azp.
			if rt := r.str("refresh_token"); rt != "" {
				j2 := f.verifyJWT(t, f.refresh(t, rt).str("id_token"))
				if j2.claims["azp"] != j.claims["azp"] {
					t.Errorf("refreshed azp = %v, want %v", j2.claims["azp"], j.claims["azp"])
				}
			}
		})
	}
}

func TestIDTokenHelperAndSigning(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{IDTokenLifetime: 30 * time.Minute})
	j := f.verifyJWT(t, f.srv.IDToken(serverauthtest.DemoUser(), f.srv.AndroidClientID()))
	if j.claims["aud"] != f.srv.WebClientID() || j.claims["azp"] != f.srv.AndroidClientID() || j.claims["email"] != serverauthtest.DemoUser().Email {
		t.Errorf("IDToken claims = %v", j.claims)
	}
	iat, _ := j.claims["iat"].(json.Number).Int64()
	exp, _ := j.claims["exp"].(json.Number).Int64()
	if iat != start.Unix() || exp-iat != 1800 {
		t.Errorf("IDToken iat, exp = %d, %d, want %d and 30 min later", iat, exp, start.Unix())
	}
	if _, ok := j.claims["at_hash"]; ok {
		t.Errorf("IDToken has at_hash without an access token")
	}

	header := []byte(`{"alg":"RS256","kid":"` + f.srv.SigningKeyID() + `","typ":"JWT"}`)
	payload := []byte(`{"sub":"1","sub":"2","exp":"soon"}`) // duplicate names and odd types survive
	tok := f.srv.Sign(header, payload)
	parts := strings.Split(tok, ".")
	if got, _ := base64.RawURLEncoding.DecodeString(parts[1]); string(got) != string(payload) {
		t.Errorf("Sign re-encoded the payload: %s", got)
	}
	f.verifyJWT(t, tok)

	other := f.srv.AddKey()
	f.verifyJWT(t, f.srv.SignWithKey(other, []byte(`{"alg":"RS256","kid":"`+other+`"}`), []byte(`{}`)))

	forged := f.srv.SignUnpublished(header, payload)
	if forged == tok || strings.Split(forged, ".")[2] == parts[2] {
		t.Errorf("SignUnpublished signed with the published key")
	}
}

func TestKeysDifferAcrossServers(t *testing.T) {
	a := newFixture(t, serverauthtest.Options{})
	b := newFixture(t, serverauthtest.Options{})
	tok := a.srv.IDToken(serverauthtest.DemoUser(), "")
	if r := b.get(t, "/tokeninfo?id_token="+tok, nil); r.status != 400 {
		t.Errorf("server B accepted server A's token: %d %s", r.status, r.raw)
	}
	if r := a.get(t, "/tokeninfo?id_token="+tok, nil); r.status != 200 {
		t.Errorf("server A rejected its own token: %d %s", r.status, r.raw)
	}
}
