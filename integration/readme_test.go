package integration_test

import (
	"context"
	"database/sql"
	"log"
	"net/http"
	"os"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/serverauth/serverauth"
	serverauthotel "github.com/serverauth/serverauth/otel"
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
	db.SetMaxOpenConns(20) // a bound per replica, and as many kept open between statements:
	db.SetMaxIdleConns(20) // database/sql keeps 2 by default and reopens the rest under load
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

// README: "Metrics and traces", exporting to Prometheus through
// OpenTelemetry. Compiled, not run (it registers globally);
// TestPrometheusExport runs the same wiring.
func Example_prometheus() {
	var cfg serverauth.Config // as in "Configure it for production"

	exporter, err := prometheus.New() // go.opentelemetry.io/otel/exporters/prometheus
	if err != nil {
		log.Fatal(err)
	}
	meters := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	otel.SetMeterProvider(meters) // or pass it in serverauthotel.Config only
	observer, err := serverauthotel.New(serverauthotel.Config{MeterProvider: meters})
	if err != nil {
		log.Fatal(err)
	}
	cfg.Observer = observer
	exchanger, err := serverauth.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := observer.RegisterStats(exchanger); err != nil { // the gauges
		log.Fatal(err)
	}
	http.Handle("/metrics", promhttp.Handler()) // serverauth_operation_duration_seconds, serverauth_refreshes_total, …
}
