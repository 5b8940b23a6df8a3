package serverauthtest_test

import (
	"testing"

	"github.com/serverauth/serverauth/serverauthtest"
)

const driveAppData = "https://www.googleapis.com/auth/drive.appdata"

// TestIncludeGrantedScopes: incremental authorization. A second consent for
// more scopes with include_granted_scopes=true yields tokens for everything
// granted so far, and the first consent's refresh token covers the new
// scope too; without it, the new code's tokens carry only what it asked for.
func TestIncludeGrantedScopes(t *testing.T) {
	for _, include := range []bool{true, false} {
		f := newFixture(t, serverauthtest.Options{})
		first := f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{Origin: serverauthtest.OriginWebPopup, Scopes: []string{"openid", "email"}}), "redirect_uri", "postmessage")
		rt := first.str("refresh_token")
		if rt == "" {
			t.Fatal("the first consent returned no refresh token")
		}
		second := f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{
			Origin: serverauthtest.OriginWebPopup, Scopes: []string{"openid", driveAppData}, IncludeGrantedScopes: include,
		}), "redirect_uri", "postmessage")
		if second.str("refresh_token") != "" {
			t.Errorf("include=%v: a second consent without prompt=consent returned a refresh token", include)
		}
		refreshed := f.refresh(t, rt)
		if include {
			if !sameSet(second.str("scope"), "openid", "https://www.googleapis.com/auth/userinfo.email", driveAppData) {
				t.Errorf("include_granted_scopes: the new tokens' scope = %q, want every scope granted", second.str("scope"))
			}
			if !sameSet(refreshed.str("scope"), "openid", "https://www.googleapis.com/auth/userinfo.email", driveAppData) {
				t.Errorf("include_granted_scopes: refreshing the first refresh token gives scope %q, want the new scope too", refreshed.str("scope"))
			}
		} else {
			if !sameSet(second.str("scope"), "openid", driveAppData) {
				t.Errorf("without include_granted_scopes: the new tokens' scope = %q, want only what was asked", second.str("scope"))
			}
			if !sameSet(refreshed.str("scope"), "openid", "https://www.googleapis.com/auth/userinfo.email") {
				t.Errorf("without include_granted_scopes: refreshing the first refresh token gives scope %q, want the first grant's", refreshed.str("scope"))
			}
		}
	}
}
