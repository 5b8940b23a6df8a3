package integration_test

import (
	"context"
	"database/sql"
	"log"
	"net/http"
	"os"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/sqlstore"
)

// README: "Configure it for production", with the PostgreSQL driver its
// sql.Open names. Compiled, not run: it needs Google, a database and a key.
// It is here rather than beside the README's other blocks in the root
// package's readme_test.go, whose TestReadmeCode finds it here, so that the
// driver stays out of the root module.
func Example_production() {
	ctx := context.Background()
	keyring, err := serverauth.ParseKeyring(os.Getenv("SERVERAUTH_TOKEN_KEYS")) // "2:base64…,1:base64…", primary first
	if err != nil {
		log.Fatal(err)
	}
	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	store, err := sqlstore.New(db, sqlstore.Config{Dialect: sqlstore.Postgres})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.CreateTable(ctx); err != nil { // or run the schema in a migration
		log.Fatal(err)
	}
	cfg := serverauth.Config{
		ClientSecretsFile: "client_secret.json", // the WEB client's, from Google Cloud console
		AllowedClientIDs: []string{
			"1234-ios.apps.googleusercontent.com",     // your iOS client ID
			"1234-android.apps.googleusercontent.com", // your Android client ID
		},
		Scopes: []string{"email", "drive.appdata"},
		Store:  store,
		Cipher: keyring,
	}
	backend, err := newBackend(cfg)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{
		Addr:              ":8443",
		Handler:           backend,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	log.Fatal(srv.ListenAndServeTLS("cert.pem", "key.pem"))
}

// newBackend stands in for the README's minimal backend, which the root
// package's readme_test.go holds and runs (Example_backend): the production
// block needs only its signature.
func newBackend(cfg serverauth.Config) (http.Handler, error) {
	if _, err := serverauth.New(cfg); err != nil {
		return nil, err
	}
	return http.NewServeMux(), nil
}
