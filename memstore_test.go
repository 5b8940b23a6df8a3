package serverauth_test

import (
	"errors"
	"testing"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/storetest"
)

func TestMemoryStore(t *testing.T) {
	storetest.TestTokenStore(t, func(t *testing.T) serverauth.TokenStore {
		return serverauth.NewMemoryStore()
	})
}

// The zero MemoryStore is a working, empty store.
func TestZeroMemoryStore(t *testing.T) {
	storetest.TestTokenStore(t, func(t *testing.T) serverauth.TokenStore {
		return new(serverauth.MemoryStore)
	})
}

// The zero Keyring has no key: it refuses to seal, and New refuses it,
// instead of panicking or storing tokens unencrypted.
func TestZeroKeyring(t *testing.T) {
	var k serverauth.Keyring
	if _, err := k.Encrypt([]byte("x"), nil); err == nil {
		t.Error("zero Keyring.Encrypt = nil error, want one")
	}
	if _, err := k.Decrypt([]byte{1, 0, 0, 0, 1}, nil); !errors.Is(err, serverauth.ErrDecrypt) {
		t.Errorf("zero Keyring.Decrypt = %v, want ErrDecrypt", err)
	}
	_, err := serverauth.New(serverauth.Config{ClientID: "w", ClientSecret: "s", Store: serverauth.NewMemoryStore(), Cipher: &k})
	var ce *serverauth.ConfigError
	if !errors.As(err, &ce) || ce.Field != "Cipher" {
		t.Errorf("New with a zero Keyring = %v, want a ConfigError for Cipher", err)
	}
}
