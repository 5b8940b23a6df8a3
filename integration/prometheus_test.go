package integration_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/serverauth/serverauth"
	serverauthotel "github.com/serverauth/serverauth/otel"
	"github.com/serverauth/serverauth/serverauthtest"
)

// TestPrometheusExport signs a user in and refreshes their token with the
// Prometheus wiring of the README, scrapes /metrics, and checks the names
// Prometheus sees and that no user ID, email or token is among them.
func TestPrometheusExport(t *testing.T) {
	reg := promclient.NewRegistry()
	exporter, err := prometheus.New(prometheus.WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	meters := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	observer, err := serverauthotel.New(serverauthotel.Config{MeterProvider: meters})
	if err != nil {
		t.Fatal(err)
	}
	clock := serverauthtest.NewClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	google := serverauthtest.NewServer(serverauthtest.Options{Now: clock.Now})
	defer google.Close()
	cfg := google.Config()
	cfg.Now, cfg.Store, cfg.Observer = clock.Now, serverauth.NewMemoryStore(), observer
	exchanger, err := serverauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := observer.RegisterStats(exchanger); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	code, _ := google.MintCode(serverauthtest.CodeRequest{})
	res, err := exchanger.Exchange(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	tok, err := exchanger.Token(ctx, res.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exchanger.CountGrants(ctx); err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		`serverauth_operation_duration_seconds_bucket{`,
		`serverauth_operation="refresh"`,
		`serverauth_refreshes_total{`,
		`serverauth_google_requests_total{`,
		`serverauth_grants{`,
		`serverauth_grant_status="active"`,
		`serverauth_signing_keys_age_seconds{`,
		`serverauth_token_cache_users{`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, secret := range []string{res.UserID, serverauthtest.DemoUser().Email, tok.AccessToken, res.Token.RefreshToken, google.WebClientSecret()} {
		if strings.Contains(text, secret) {
			t.Errorf("/metrics holds %q", secret)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", text)
	}
}
