package serverauthotel_test

import (
	"context"
	"fmt"
	"log"
	"sort"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/serverauth/serverauth"
	serverauthotel "github.com/serverauth/serverauth/otel"
	"github.com/serverauth/serverauth/serverauthtest"
)

// An Exchanger reporting to OpenTelemetry: here an SDK with in-memory
// exporters stands in for the application's own.
func ExampleNew() {
	spans := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	observer, err := serverauthotel.New(serverauthotel.Config{
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)),
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
	})
	if err != nil {
		log.Fatal(err)
	}
	google := serverauthtest.NewServer(serverauthtest.Options{})
	defer google.Close()
	cfg := google.Config()
	cfg.Store, cfg.Observer = serverauth.NewMemoryStore(), observer
	exchanger, err := serverauth.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := observer.RegisterStats(exchanger); err != nil {
		log.Fatal(err)
	}
	code, _ := google.MintCode(serverauthtest.CodeRequest{})
	if _, err := exchanger.Exchange(context.Background(), code); err != nil {
		log.Fatal(err)
	}

	seen := map[string]bool{}
	for _, s := range spans.Ended() {
		seen["span "+s.Name()] = true
	}
	var rm metricdata.ResourceMetrics
	reader.Collect(context.Background(), &rm)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			seen["metric "+m.Name] = true
		}
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Println(n)
	}
	// Output:
	// metric serverauth.google.requests
	// metric serverauth.operation.duration
	// metric serverauth.pending_writes
	// metric serverauth.previous_secret.uses
	// metric serverauth.refresh.backoffs
	// metric serverauth.signing_keys.age
	// metric serverauth.token.cache.hits
	// metric serverauth.token.cache.users
	// span serverauth.exchange
	// span serverauth.key_fetch
	// span serverauth.store_load
	// span serverauth.store_save
	// span serverauth.verify
}
