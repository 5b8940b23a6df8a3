package serverauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// TestRefreshUpdatesProfile: a refresh's ID token is verified and its
// profile claims replace the stored ones (the email changed; sub did not),
// as Profile shows.
func TestRefreshUpdatesProfile(t *testing.T) {
	f, rec, _ := observedFixture(t, serverauthtest.Options{})
	ctx := context.Background()
	res := f.signIn(serverauthtest.CodeRequest{})
	p, err := f.e.Profile(ctx, res.UserID)
	if err != nil || p.Email != serverauthtest.DemoUser().Email || p.Subject != res.UserID {
		t.Fatalf("Profile after sign-in = %+v, %v", p, err)
	}
	u := serverauthtest.DemoUser()
	u.Email, u.Name = "jane.new@example.com", "Jane N. Doe"
	f.g.UpdateUser(u)
	f.clock.Advance(2 * time.Hour)
	if _, err := f.e.Token(ctx, res.UserID); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.of(serverauth.OpVerify)); n != 2 {
		t.Errorf("%d verifications, want 2: the refresh's ID token is verified", n)
	}
	p, err = f.e.Profile(ctx, res.UserID)
	if err != nil || p.Email != u.Email || p.Name != u.Name || p.Subject != res.UserID {
		t.Fatalf("Profile after the refresh = %+v, %v; want the new email and name", p, err)
	}
	if _, err := f.e.Profile(ctx, "nobody"); !errors.Is(err, serverauth.ErrNotFound) {
		t.Errorf("Profile(nobody) = %v, want ErrNotFound", err)
	}
}

// idTokenClaims are the claims of an ID token a test crafts.
type idTokenClaims struct {
	Iss   string `json:"iss"`
	Azp   string `json:"azp,omitempty"`
	Aud   string `json:"aud"`
	Sub   string `json:"sub"`
	Email string `json:"email,omitempty"`
	Iat   int64  `json:"iat"`
	Exp   int64  `json:"exp"`
}

// TestRefreshedIDTokenMustMatchGrant: a refresh whose ID token names
// another grant (OpenID Connect Core §12.2), or fails verification, is
// refused whole: the stored record stays as it was, and the error says
// why. A time check failing (this clock may be off) only keeps the stored
// profile.
func TestRefreshedIDTokenMustMatchGrant(t *testing.T) {
	demo := serverauthtest.DemoUser()
	tests := []struct {
		name       string
		token      func(g *serverauthtest.Server, now time.Time) string
		wantReason serverauth.Reason // "" means the refresh is taken
	}{
		{"another user", func(g *serverauthtest.Server, _ time.Time) string {
			return g.IDToken(serverauthtest.User{Sub: "100000000000000000999", Email: "mallory@example.com"}, g.IOSClientID())
		}, serverauth.ReasonGrantMismatch},
		{"another presenter", func(g *serverauthtest.Server, _ time.Time) string {
			return g.IDToken(demo, g.AndroidClientID())
		}, serverauth.ReasonGrantMismatch},
		{"no presenter where there was one", func(g *serverauthtest.Server, _ time.Time) string {
			return g.IDToken(demo, "")
		}, serverauth.ReasonGrantMismatch},
		{"forged signature", func(g *serverauthtest.Server, now time.Time) string {
			return g.SignUnpublished(header(g), claimsJSON(idTokenClaims{Iss: serverauthtest.DefaultIssuer, Azp: g.IOSClientID(), Aud: g.WebClientID(), Sub: demo.Sub, Iat: now.Unix(), Exp: now.Add(time.Hour).Unix()}))
		}, serverauth.ReasonSignature},
		{"another user, issued in the future", func(g *serverauthtest.Server, now time.Time) string {
			return g.Sign(header(g), claimsJSON(idTokenClaims{Iss: serverauthtest.DefaultIssuer, Azp: g.IOSClientID(), Aud: g.WebClientID(), Sub: "100000000000000000999", Iat: now.Add(time.Hour).Unix(), Exp: now.Add(2 * time.Hour).Unix()}))
		}, serverauth.ReasonGrantMismatch},
		{"same user, issued in the future", func(g *serverauthtest.Server, now time.Time) string {
			return g.Sign(header(g), claimsJSON(idTokenClaims{Iss: serverauthtest.DefaultIssuer, Azp: g.IOSClientID(), Aud: g.WebClientID(), Sub: demo.Sub, Email: "changed@example.com", Iat: now.Add(time.Hour).Unix(), Exp: now.Add(2 * time.Hour).Unix()}))
		}, ""},
		{"same user, the other issuer spelling", func(g *serverauthtest.Server, now time.Time) string {
			return g.Sign(header(g), claimsJSON(idTokenClaims{Iss: "accounts.google.com", Azp: g.IOSClientID(), Aud: g.WebClientID(), Sub: demo.Sub, Email: demo.Email, Iat: now.Unix(), Exp: now.Add(time.Hour).Unix()}))
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &tokenProxy{}
			f := newStoreFixture(t, serverauthtest.Options{})
			e := f.newReplica(withTokenProxy(t, f.g, p))
			ctx := context.Background()
			res, err := e.Exchange(ctx, f.mint(serverauthtest.CodeRequest{Scopes: []string{"openid", "email", "drive.appdata"}}))
			if err != nil {
				t.Fatal(err)
			}
			before, _ := f.store.Get(ctx, res.UserID)
			f.clock.Advance(2 * time.Hour)
			p.set(func(gt string, v map[string]any) {
				if gt == "refresh_token" {
					v["id_token"] = tt.token(f.g, f.clock.Now())
				}
			})
			_, err = e.Token(ctx, res.UserID)
			after, _ := f.store.Get(ctx, res.UserID)
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("Token = %v, want the refresh taken", err)
				}
				if after.Version == before.Version {
					t.Error("the refresh was not saved")
				}
				if p, _ := e.Profile(ctx, res.UserID); p.Email != demo.Email {
					t.Errorf("stored email = %q, want the verified one %q kept", p.Email, demo.Email)
				}
				return
			}
			var ie *serverauth.IDTokenError
			if !errors.As(err, &ie) || ie.Reason != tt.wantReason || serverauth.ClassOf(err) != serverauth.ClassRejected {
				t.Fatalf("Token = %v, want an *IDTokenError with reason %s, rejected", err, tt.wantReason)
			}
			if after.Version != before.Version || string(after.AccessToken) != string(before.AccessToken) || after.Status != serverauth.StatusActive {
				t.Errorf("the stored record changed (version %d to %d, status %s): it must be kept", before.Version, after.Version, after.Status)
			}
			if serverauth.ErrorReason(err) != "id_token_"+string(tt.wantReason) {
				t.Errorf("ErrorReason = %q", serverauth.ErrorReason(err))
			}
		})
	}
}

func header(g *serverauthtest.Server) []byte {
	return []byte(`{"alg":"RS256","kid":"` + g.SigningKeyID() + `","typ":"JWT"}`)
}

func claimsJSON(c idTokenClaims) []byte {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return b
}

// TestRefreshedIDTokenMatchChecks checks each comparison on its own: a
// record written before profiles were kept has only its user ID and
// client to compare with; one whose original ID token had no azp must not
// get one from a refresh.
func TestRefreshedIDTokenMatchChecks(t *testing.T) {
	demo := serverauthtest.DemoUser()
	tests := []struct {
		name        string
		opts        serverauthtest.Options
		dropProfile bool
		token       func(g *serverauthtest.Server) string
	}{
		{"old record, another user", serverauthtest.Options{}, true, func(g *serverauthtest.Server) string {
			return g.IDToken(serverauthtest.User{Sub: "100000000000000000999", Email: "mallory@example.com"}, g.IOSClientID())
		}},
		{"old record, another presenter", serverauthtest.Options{}, true, func(g *serverauthtest.Server) string {
			return g.IDToken(demo, g.AndroidClientID())
		}},
		{"azp where the original had none", serverauthtest.Options{MobileAZP: serverauthtest.AZPNone}, false, func(g *serverauthtest.Server) string {
			return g.IDToken(demo, g.WebClientID())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &tokenProxy{}
			f := newStoreFixture(t, tt.opts)
			e := f.newReplica(withTokenProxy(t, f.g, p))
			ctx := context.Background()
			res, err := e.Exchange(ctx, f.mint(serverauthtest.CodeRequest{Scopes: []string{"openid", "email", "drive.appdata"}}))
			if err != nil {
				t.Fatal(err)
			}
			if tt.dropProfile {
				r, _ := f.store.Get(ctx, res.UserID)
				r.Profile = nil
				if err := f.store.Put(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			f.clock.Advance(2 * time.Hour)
			p.set(func(gt string, v map[string]any) {
				if gt == "refresh_token" {
					v["id_token"] = tt.token(f.g)
				}
			})
			_, err = e.Token(ctx, res.UserID)
			var ie *serverauth.IDTokenError
			if !errors.As(err, &ie) || ie.Reason != serverauth.ReasonGrantMismatch {
				t.Fatalf("Token = %v, want ReasonGrantMismatch", err)
			}
		})
	}
}
