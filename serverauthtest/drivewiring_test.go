package serverauthtest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/serverauth/serverauth/serverauthtest"
)

// TestDriveWiring checks that the Drive emulator sees the fake's access
// tokens: live ones with their user, project and scopes; revoked and
// expired ones not at all.
func TestDriveWiring(t *testing.T) {
	create := func(t *testing.T, f *fixture, access string) *response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, f.srv.Endpoints().DriveURL+"files", strings.NewReader(`{"name":"state.json","parents":["appDataFolder"]}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+access)
		return f.do(t, req)
	}
	tests := []struct {
		name       string
		scopes     []string
		act        func(f *fixture, access string)
		wantStatus int
		wantFiles  int
	}{
		{name: "live token", scopes: []string{"openid", "drive.appdata"}, act: func(*fixture, string) {}, wantStatus: 200, wantFiles: 1},
		{name: "revoked token", scopes: []string{"openid", "drive.appdata"}, act: func(f *fixture, _ string) { f.srv.RevokeUser(serverauthtest.DemoUser().Sub) }, wantStatus: 401},
		{name: "expired token", scopes: []string{"openid", "drive.appdata"}, act: func(f *fixture, _ string) { f.clock.Advance(serverauthtest.DefaultAccessTokenLifetime) }, wantStatus: 401},
		{name: "no drive scope", scopes: []string{"openid", "email"}, act: func(*fixture, string) {}, wantStatus: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, serverauthtest.Options{})
			access := f.mustExchange(t, f.mint(t, serverauthtest.CodeRequest{Scopes: tt.scopes})).str("access_token")
			tt.act(f, access)
			if r := create(t, f, access); r.status != tt.wantStatus {
				t.Errorf("create = %d %s, want %d", r.status, r.raw, tt.wantStatus)
			}
			if got := len(f.srv.DriveFiles(serverauthtest.DemoUser().Sub)); got != tt.wantFiles {
				t.Errorf("len(DriveFiles()) = %d, want %d", got, tt.wantFiles)
			}
			if got := f.srv.RequestCount(serverauthtest.EndpointDrive); got != 1 {
				t.Errorf("RequestCount(EndpointDrive) = %d, want 1", got)
			}
		})
	}
}
