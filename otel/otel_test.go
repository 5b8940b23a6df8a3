package serverauthotel_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/serverauth/serverauth"
	serverauthotel "github.com/serverauth/serverauth/otel"
	"github.com/serverauth/serverauth/serverauthtest"
)

// clientSpans is the application's own instrumented HTTP client, as
// otelhttp would make it: a CLIENT span per request, a child of the span
// in the request's context.
type clientSpans struct {
	tracer trace.Tracer
	next   http.RoundTripper
}

func (c clientSpans) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, span := c.tracer.Start(req.Context(), "HTTP "+req.Method, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("url.path", req.URL.Path)))
	defer span.End()
	return c.next.RoundTrip(req.WithContext(ctx))
}

type fixture struct {
	t      *testing.T
	clock  *serverauthtest.Clock
	g      *serverauthtest.Server
	ex     *serverauth.Exchanger
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
}

func newFixture(t *testing.T, wrap ...func(*fixture, http.RoundTripper) http.RoundTripper) *fixture {
	t.Helper()
	f := &fixture{t: t}
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	obs, err := serverauthotel.New(serverauthotel.Config{TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	clock := serverauthtest.NewClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	g := serverauthtest.NewServer(serverauthtest.Options{Now: clock.Now})
	t.Cleanup(g.Close)
	cfg := g.Config()
	cfg.Now, cfg.Store, cfg.Observer = clock.Now, serverauth.NewMemoryStore(), obs
	cfg.Retry.Sleep = func(ctx context.Context, d time.Duration) error { clock.Advance(d); return ctx.Err() }
	var rt http.RoundTripper = clientSpans{tp.Tracer("app/http"), g.Client().Transport}
	for _, w := range wrap {
		rt = w(f, rt)
	}
	cfg.HTTPClient = &http.Client{Transport: rt}
	ex, err := serverauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := obs.RegisterStats(ex)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Unregister() })
	f.clock, f.g, f.ex, f.spans, f.reader = clock, g, ex, spans, reader
	return f
}

func (f *fixture) collect() metricdata.ResourceMetrics {
	f.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := f.reader.Collect(context.Background(), &rm); err != nil {
		f.t.Fatal(err)
	}
	return rm
}

// metric returns the metric named name.
func metric(t *testing.T, rm metricdata.ResourceMetrics, name string) metricdata.Metrics {
	t.Helper()
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				if sm.Scope.Name != serverauthotel.ScopeName {
					t.Errorf("%s in scope %q, want %q", name, sm.Scope.Name, serverauthotel.ScopeName)
				}
				return m
			}
		}
	}
	t.Fatalf("no metric %s", name)
	return metricdata.Metrics{}
}

func attr(set attribute.Set, k attribute.Key) string {
	v, _ := set.Value(k)
	return v.Emit()
}

// TestSpansAndMetrics signs a user in, refreshes their token, has a
// refresh refused and checks the spans (names, kind, nesting around the
// application's HTTP client spans, attributes) and the metrics (names,
// units, attributes), and that no user ID, email, token, code or secret
// appears in any of them.
func TestSpansAndMetrics(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	code, err := f.g.MintCode(serverauthtest.CodeRequest{Scopes: []string{"openid", "email", "profile", "drive.appdata"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.ex.Exchange(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2 * time.Hour)
	tok, err := f.ex.Token(ctx, res.UserID)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2 * time.Hour)
	f.g.FailNext(serverauthtest.EndpointToken, 1, serverauthtest.Fault{Kind: serverauthtest.FaultDeletedClient})
	if _, err := f.ex.Token(ctx, res.UserID); !errors.Is(err, serverauth.ErrClientDeleted) {
		t.Fatalf("Token = %v, want ErrClientDeleted", err)
	}
	if _, err := f.ex.CountGrants(ctx); err != nil {
		t.Fatal(err)
	}

	spans := f.spans.Ended()
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byID[s.SpanContext().SpanID()] = s
	}
	parentName := func(s sdktrace.ReadOnlySpan) string {
		if p, ok := byID[s.Parent().SpanID()]; ok {
			return p.Name()
		}
		return ""
	}
	names := map[string]int{}
	var refreshes []sdktrace.ReadOnlySpan
	for _, s := range spans {
		names[s.Name()]++
		if s.InstrumentationScope().Name != serverauthotel.ScopeName {
			continue
		}
		if s.SpanKind() != trace.SpanKindInternal {
			t.Errorf("span %s is of kind %s, want internal", s.Name(), s.SpanKind())
		}
		op := attr(attribute.NewSet(s.Attributes()...), serverauthotel.AttrOperation)
		if s.Name() != "serverauth."+op {
			t.Errorf("span %s has serverauth.operation %q", s.Name(), op)
		}
		if s.Name() == "serverauth.refresh" {
			refreshes = append(refreshes, s)
		}
	}
	for _, want := range []string{"serverauth.exchange", "serverauth.verify", "serverauth.key_fetch", "serverauth.store_load",
		"serverauth.store_save", "serverauth.token", "serverauth.lease", "serverauth.refresh"} {
		if names[want] == 0 {
			t.Errorf("no span %s; spans: %v", want, names)
		}
	}
	if len(refreshes) != 2 {
		t.Fatalf("%d refresh spans, want 2", len(refreshes))
	}
	// The first refresh: under the Token call's span, around the HTTP span.
	ok := refreshes[0]
	if got := parentName(ok); got != "serverauth.token" {
		t.Errorf("refresh span's parent = %q, want serverauth.token", got)
	}
	var httpUnderRefresh bool
	for _, s := range spans {
		if s.SpanKind() == trace.SpanKindClient && s.Parent().SpanID() == ok.SpanContext().SpanID() {
			httpUnderRefresh = true
		}
	}
	if !httpUnderRefresh {
		t.Error("the refresh's HTTP client span is not the refresh span's child")
	}
	set := attribute.NewSet(ok.Attributes()...)
	if attr(set, serverauthotel.AttrAttempts) != "1" || ok.Status().Code == codes.Error {
		t.Errorf("successful refresh span: attributes %v, status %v", ok.Attributes(), ok.Status())
	}
	// The refused refresh: error status and error.type.
	bad := refreshes[1]
	set = attribute.NewSet(bad.Attributes()...)
	if bad.Status().Code != codes.Error || attr(set, serverauthotel.AttrErrorType) != "deleted_client" || attr(set, serverauthotel.AttrErrorClass) != "misconfigured" {
		t.Errorf("refused refresh span: attributes %v, status %v", bad.Attributes(), bad.Status())
	}

	rm := f.collect()
	dur := metric(t, rm, "serverauth.operation.duration")
	hist, isHist := dur.Data.(metricdata.Histogram[float64])
	if dur.Unit != "s" || !isHist {
		t.Fatalf("serverauth.operation.duration: unit %q, data %T", dur.Unit, dur.Data)
	}
	var okRefresh, badRefresh uint64
	for _, dp := range hist.DataPoints {
		if attr(dp.Attributes, serverauthotel.AttrOperation) != "refresh" {
			continue
		}
		switch attr(dp.Attributes, serverauthotel.AttrErrorType) {
		case "":
			okRefresh += dp.Count
		case "deleted_client":
			badRefresh += dp.Count
		}
	}
	if okRefresh != 1 || badRefresh != 1 {
		t.Errorf("duration histogram: %d ok refreshes, %d deleted_client ones; want 1 and 1", okRefresh, badRefresh)
	}
	sum := func(name string, match func(attribute.Set) bool) int64 {
		m := metric(t, rm, name)
		var n int64
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, dp := range d.DataPoints {
				if match(dp.Attributes) {
					n += dp.Value
				}
			}
		case metricdata.Gauge[int64]:
			for _, dp := range d.DataPoints {
				if match(dp.Attributes) {
					n += dp.Value
				}
			}
		default:
			t.Errorf("%s: data %T", name, m.Data)
		}
		return n
	}
	all := func(attribute.Set) bool { return true }
	if n := sum("serverauth.refreshes", all); n != 2 {
		t.Errorf("serverauth.refreshes = %d, want 2", n)
	}
	if n := sum("serverauth.refreshes", func(s attribute.Set) bool { return attr(s, serverauthotel.AttrErrorType) == "deleted_client" }); n != 1 {
		t.Errorf("serverauth.refreshes{error.type=deleted_client} = %d, want 1", n)
	}
	if n := sum("serverauth.google.requests", func(s attribute.Set) bool { return attr(s, serverauthotel.AttrOperation) == "refresh" }); n != 2 {
		t.Errorf("serverauth.google.requests{refresh} = %d, want 2", n)
	}
	if n := sum("serverauth.grants", func(s attribute.Set) bool { return attr(s, serverauthotel.AttrGrantStatus) == "active" }); n != 1 {
		t.Errorf("serverauth.grants{active} = %d, want 1", n)
	}
	if n := sum("serverauth.grants", func(s attribute.Set) bool { return attr(s, serverauthotel.AttrGrantStatus) == "revoked" }); n != 0 {
		t.Errorf("serverauth.grants{revoked} = %d, want 0", n)
	}
	if n := sum("serverauth.token.cache.users", all); n != 1 {
		t.Errorf("serverauth.token.cache.users = %d, want 1", n)
	}
	if n := sum("serverauth.refresh.backoffs", all); n != 1 {
		t.Errorf("serverauth.refresh.backoffs = %d, want 1 (the refused refresh)", n)
	}
	age := metric(t, rm, "serverauth.signing_keys.age")
	if g, ok := age.Data.(metricdata.Gauge[float64]); !ok || len(g.DataPoints) != 1 || g.DataPoints[0].Value != (4*time.Hour).Seconds() || age.Unit != "s" {
		t.Errorf("serverauth.signing_keys.age = %+v", age)
	}

	// Nothing secret or personal anywhere.
	var dump strings.Builder
	for _, s := range spans {
		if s.InstrumentationScope().Name != serverauthotel.ScopeName {
			continue
		}
		fmt.Fprintf(&dump, "%s %v %v %v %v\n", s.Name(), s.Attributes(), s.Events(), s.Status(), s.Links())
	}
	fmt.Fprintf(&dump, "%+v", rm)
	for _, secret := range []string{res.UserID, serverauthtest.DemoUser().Email, serverauthtest.DemoUser().Name, tok.AccessToken,
		res.Token.AccessToken, res.Token.RefreshToken, code, f.g.WebClientSecret()} {
		if strings.Contains(dump.String(), secret) {
			t.Errorf("telemetry holds %q", secret)
		}
	}
}

// TestCoalescedCounter: a caller that shares another caller's refresh is
// counted by serverauth.coalesced, and its token span says so.
func TestCoalescedCounter(t *testing.T) {
	var once sync.Once
	joined := make(chan error, 1)
	user := serverauthtest.DemoUser().Sub
	f := newFixture(t, func(f *fixture, next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/token") && f.ex.Stats().Ops[serverauth.OpExchange].Count > 0 {
				// While this refresh is in flight another caller comes,
				// joins it, and gives up at once (its context is done).
				once.Do(func() {
					ctx, cancel := context.WithCancel(context.Background())
					cancel()
					_, err := f.ex.Token(ctx, user)
					joined <- err
				})
			}
			return next.RoundTrip(req)
		})
	})
	ctx := context.Background()
	code, _ := f.g.MintCode(serverauthtest.CodeRequest{})
	if _, err := f.ex.Exchange(ctx, code); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2 * time.Hour)
	if _, err := f.ex.Token(ctx, user); err != nil {
		t.Fatal(err)
	}
	if err := <-joined; !errors.Is(err, context.Canceled) {
		t.Fatalf("joining caller = %v", err)
	}
	rm := f.collect()
	m := metric(t, rm, "serverauth.coalesced")
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok || len(sum.DataPoints) != 1 || sum.DataPoints[0].Value != 1 || attr(sum.DataPoints[0].Attributes, serverauthotel.AttrOperation) != "token" {
		t.Errorf("serverauth.coalesced = %+v, want 1 for token", m.Data)
	}
	var coalescedSpans int
	for _, s := range f.spans.Ended() {
		if s.Name() == "serverauth.token" && attr(attribute.NewSet(s.Attributes()...), serverauthotel.AttrCoalesced) == "true" {
			coalescedSpans++
		}
	}
	if coalescedSpans != 1 {
		t.Errorf("%d token spans marked coalesced, want 1", coalescedSpans)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestGlobalProvidersByDefault: the zero Config takes the global
// providers (no-ops unless the application installed an SDK).
func TestGlobalProvidersByDefault(t *testing.T) {
	obs, err := serverauthotel.New(serverauthotel.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := obs.Start(context.Background(), serverauth.OpRefresh)
	obs.End(ctx, serverauth.Observation{Op: serverauth.OpRefresh, Outcome: serverauth.OutcomeOK, Attempts: 1})
}
