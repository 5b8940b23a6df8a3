// Package testenv tells tests where the external services they need are
// (PostgreSQL, MySQL, Redis) and skips them when the services are not
// configured.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
)

// RequireServices is the environment variable that turns a missing service
// into a test failure instead of a skip. CI sets it to 1.
const RequireServices = "SERVERAUTH_REQUIRE_SERVICES"

// The environment variables holding the test services' addresses.
const (
	Postgres = "SERVERAUTH_TEST_POSTGRES" // e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable
	MySQL    = "SERVERAUTH_TEST_MYSQL"    // e.g. root@tcp(127.0.0.1:3306)/test?parseTime=true
	Redis    = "SERVERAUTH_TEST_REDIS"    // e.g. redis://127.0.0.1:6379/0
)

// DSN returns the value of the environment variable name. When it is unset
// or empty, DSN skips the test, or fails it if RequireServices is set to 1.
func DSN(t testing.TB, name string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	if os.Getenv(RequireServices) == "1" {
		t.Fatalf("%s is not set, and %s=1 requires the service", name, RequireServices)
	}
	t.Skipf("%s is not set; set it to run this test against the service", name)
	return ""
}

// Name returns prefix followed by 16 random hex digits: a name for a table
// or key prefix no other test run uses.
func Name(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}
