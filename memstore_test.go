package serverauth_test

import (
	"testing"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/storetest"
)

func TestMemoryStore(t *testing.T) {
	storetest.TestTokenStore(t, func(t *testing.T) serverauth.TokenStore {
		return serverauth.NewMemoryStore()
	})
}
