// Package storetest checks implementations of [serverauth.TokenStore], as
// testing/fstest checks file systems and testing/slogtest log handlers.
//
// A store's test runs [TestTokenStore] with a function that returns a fresh,
// empty store for each subtest; the optional capabilities
// [serverauth.Leaser], [serverauth.Lister], [serverauth.RefreshTokenIndex]
// and [serverauth.EventLedger] are checked when the store has them. A store for your own database is checked like this:
//
//	package mystore_test
//
//	import (
//		"testing"
//
//		"github.com/serverauth/serverauth"
//		"github.com/serverauth/serverauth/storetest"
//
//		"example.com/mystore"
//	)
//
//	func TestStore(t *testing.T) {
//		db := openTestDB(t)
//		storetest.TestTokenStore(t, func(t *testing.T) serverauth.TokenStore {
//			s := mystore.New(db, mystore.Config{Table: uniqueTableName(t)})
//			if err := s.CreateTable(t.Context()); err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { dropTable(t, s) })
//			return s
//		})
//	}
//
// It is plain package testing: it imports nothing but serverauth and the
// standard library, so a store's tests gain no assertion library and no
// fake Google.
package storetest
