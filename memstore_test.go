package serverauth_test

import (
	"testing"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

func TestMemoryStore(t *testing.T) {
	serverauthtest.TestTokenStore(t, func(t *testing.T) serverauth.TokenStore {
		return serverauth.NewMemoryStore()
	})
}
