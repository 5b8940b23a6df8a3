package serverauthtest_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/serverauth/serverauth/serverauthtest"
)

// TestXOAuth2Client shows that a standard client, golang.org/x/oauth2,
// exchanges and refreshes against the fake.
func TestXOAuth2Client(t *testing.T) {
	tests := []struct {
		name  string
		style oauth2.AuthStyle
	}{
		{name: "AuthStyleInParams", style: oauth2.AuthStyleInParams},
		{name: "AuthStyleInHeader", style: oauth2.AuthStyleInHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, serverauthtest.Options{})
			cfg := oauth2.Config{
				ClientID:     f.srv.WebClientID(),
				ClientSecret: f.srv.WebClientSecret(),
				Endpoint:     oauth2.Endpoint{TokenURL: f.srv.Endpoints().TokenURL, AuthStyle: tt.style},
				Scopes:       []string{"openid", "email", "drive.appdata"},
			}
			ctx := context.WithValue(t.Context(), oauth2.HTTPClient, f.srv.Client())
			code := f.mint(t, serverauthtest.CodeRequest{Scopes: cfg.Scopes})
			tok, err := cfg.Exchange(ctx, code)
			if err != nil {
				t.Fatalf("Exchange() = %v", err)
			}
			if got := f.srv.CodeExchangeCount(code); got != 1 {
				t.Errorf("CodeExchangeCount() = %d, want 1", got)
			}
			if tok.AccessToken == "" || tok.RefreshToken == "" || tok.TokenType != "Bearer" || tok.Extra("id_token") == nil {
				t.Errorf("Exchange() = %+v, want access, refresh and ID tokens", tok)
			}
			f.verifyJWT(t, tok.Extra("id_token").(string))

			// Force a refresh without waiting: x/oauth2 reads the real clock.
			stale := *tok
			stale.Expiry = time.Now().Add(-time.Minute)
			fresh, err := cfg.TokenSource(ctx, &stale).Token()
			if err != nil {
				t.Fatalf("TokenSource().Token() = %v", err)
			}
			if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken != tok.RefreshToken {
				t.Errorf("refreshed token = %+v, want a new access token and the old refresh token", fresh)
			}
			if got := f.srv.RefreshCount(serverauthtest.DemoUser().Sub); got != 1 {
				t.Errorf("RefreshCount() = %d, want 1", got)
			}
			req, _ := http.NewRequest(http.MethodGet, f.srv.UserInfoURL(), nil)
			fresh.SetAuthHeader(req)
			if r := f.do(t, req); r.status != 200 || r.str("email") != serverauthtest.DemoUser().Email {
				t.Errorf("userinfo with the refreshed token = %d %s", r.status, r.raw)
			}

			f.srv.RevokeUser(serverauthtest.DemoUser().Sub)
			_, err = cfg.TokenSource(ctx, &stale).Token()
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || re.ErrorDescription != "Token has been expired or revoked." {
				t.Errorf("refresh after RevokeUser = %v, want invalid_grant", err)
			}
		})
	}
}
