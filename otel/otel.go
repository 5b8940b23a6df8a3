package serverauthotel

import (
	"context"
	"errors"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/serverauth/serverauth"
)

// ScopeName is the instrumentation scope of the tracer and meter.
const ScopeName = "github.com/serverauth/serverauth/otel"

// Attribute keys.
const (
	AttrOperation   = attribute.Key("serverauth.operation")    // the Op, e.g. "refresh"
	AttrErrorType   = attribute.Key("error.type")              // a failure's reason, e.g. "invalid_grant"
	AttrReason      = attribute.Key("serverauth.reason")       // a success's note, e.g. "from_store"
	AttrAttempts    = attribute.Key("serverauth.attempts")     // requests sent to Google (spans)
	AttrCached      = attribute.Key("serverauth.cached")       // answered from memory
	AttrCoalesced   = attribute.Key("serverauth.coalesced")    // shared another caller's work
	AttrErrorClass  = attribute.Key("serverauth.error.class")  // the ErrorClass of a failure (spans)
	AttrGrantStatus = attribute.Key("serverauth.grant.status") // a grant's Status (serverauth.grants)
)

// durationBuckets are the histogram's bounds in seconds: the HTTP
// client-duration buckets of the semantic conventions, which fit calls to
// Google and to a store alike.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// Config configures an Observer. The zero value uses the global providers.
type Config struct {
	// TracerProvider makes the spans. Nil means otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// MeterProvider makes the metrics. Nil means otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
}

// Observer is a serverauth.Observer that records OpenTelemetry spans and
// metrics. Make it with New; it is safe for concurrent use.
type Observer struct {
	tracer    trace.Tracer
	meter     metric.Meter
	duration  metric.Float64Histogram
	refreshes metric.Int64Counter
	coalesced metric.Int64Counter
	requests  metric.Int64Counter

	names sync.Map // Op → span name
	attrs sync.Map // attrKey → metric.MeasurementOption
}

var _ serverauth.Observer = (*Observer)(nil)

// New returns an Observer recording to the configured providers.
func New(cfg Config) (*Observer, error) {
	tp, mp := cfg.TracerProvider, cfg.MeterProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	o := &Observer{
		tracer: tp.Tracer(ScopeName),
		meter:  mp.Meter(ScopeName),
	}
	var err, e error
	o.duration, err = o.meter.Float64Histogram("serverauth.operation.duration",
		metric.WithUnit("s"), metric.WithDescription("Duration of serverauth operations."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	o.refreshes, e = o.meter.Int64Counter("serverauth.refreshes",
		metric.WithUnit("{refresh}"), metric.WithDescription("Refreshes of access tokens sent to Google."))
	err = errors.Join(err, e)
	o.coalesced, e = o.meter.Int64Counter("serverauth.coalesced",
		metric.WithUnit("{call}"), metric.WithDescription("Calls that shared another caller's exchange, refresh or lease instead of doing their own."))
	err = errors.Join(err, e)
	o.requests, e = o.meter.Int64Counter("serverauth.google.requests",
		metric.WithUnit("{request}"), metric.WithDescription("Requests sent to Google, retries included."))
	err = errors.Join(err, e)
	if err != nil {
		return nil, err
	}
	return o, nil
}

// Start begins the operation's span, of kind INTERNAL, as a child of the
// span in ctx, and returns ctx with it.
func (o *Observer) Start(ctx context.Context, op serverauth.Op) context.Context {
	ctx, _ = o.tracer.Start(ctx, o.spanName(op), trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(AttrOperation.String(string(op))))
	return ctx
}

// End ends the span Start began and records the metrics.
func (o *Observer) End(ctx context.Context, obs serverauth.Observation) {
	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		attrs := make([]attribute.KeyValue, 0, 5)
		if obs.Attempts > 0 {
			attrs = append(attrs, AttrAttempts.Int(obs.Attempts))
		}
		if obs.Cached {
			attrs = append(attrs, AttrCached.Bool(true))
		}
		if obs.Coalesced {
			attrs = append(attrs, AttrCoalesced.Bool(true))
		}
		if obs.Outcome == serverauth.OutcomeError {
			attrs = append(attrs, AttrErrorType.String(obs.Reason))
			if obs.Class != 0 {
				attrs = append(attrs, AttrErrorClass.String(obs.Class.String()))
			}
			span.SetStatus(codes.Error, obs.Reason)
		} else if obs.Reason != "" {
			attrs = append(attrs, AttrReason.String(obs.Reason))
		}
		span.SetAttributes(attrs...)
	}
	span.End()

	opt := o.measurement(obs)
	o.duration.Record(ctx, obs.Duration.Seconds(), opt)
	switch {
	case obs.Op == serverauth.OpRefresh:
		o.refreshes.Add(ctx, 1, o.errorOnly(obs))
	}
	if obs.Coalesced {
		o.coalesced.Add(ctx, 1, o.opOnly(obs.Op))
	}
	if obs.Attempts > 0 && sendsToGoogle(obs.Op) {
		o.requests.Add(ctx, int64(obs.Attempts), o.opOnly(obs.Op))
	}
}

// sendsToGoogle reports whether op's Attempts count requests to Google
// (OpLease's count its asks of the store).
func sendsToGoogle(op serverauth.Op) bool {
	switch op {
	case serverauth.OpExchange, serverauth.OpRefresh, serverauth.OpRevoke, serverauth.OpKeyFetch, serverauth.OpDrive:
		return true
	}
	return false
}

func (o *Observer) spanName(op serverauth.Op) string {
	if n, ok := o.names.Load(op); ok {
		return n.(string)
	}
	n := "serverauth." + string(op)
	o.names.Store(op, n)
	return n
}

// attrKey names a cached attribute set.
type attrKey struct {
	kind   byte // 'd' duration, 'e' error only, 'o' operation only
	op     serverauth.Op
	reason string
}

// cached returns the measurement option for k, building it once: the
// labels are few (operations × reasons), and building them costs
// allocations on every call otherwise.
func (o *Observer) cached(k attrKey, build func() []attribute.KeyValue) metric.MeasurementOption {
	if v, ok := o.attrs.Load(k); ok {
		return v.(metric.MeasurementOption)
	}
	v, _ := o.attrs.LoadOrStore(k, metric.WithAttributeSet(attribute.NewSet(build()...)))
	return v.(metric.MeasurementOption)
}

func (o *Observer) measurement(obs serverauth.Observation) metric.MeasurementOption {
	reason := ""
	if obs.Outcome == serverauth.OutcomeError {
		reason = obs.Reason
	}
	return o.cached(attrKey{'d', obs.Op, reason}, func() []attribute.KeyValue {
		kv := []attribute.KeyValue{AttrOperation.String(string(obs.Op))}
		if reason != "" {
			kv = append(kv, AttrErrorType.String(reason))
		}
		return kv
	})
}

func (o *Observer) errorOnly(obs serverauth.Observation) metric.MeasurementOption {
	reason := ""
	if obs.Outcome == serverauth.OutcomeError {
		reason = obs.Reason
	}
	return o.cached(attrKey{'e', "", reason}, func() []attribute.KeyValue {
		if reason == "" {
			return nil
		}
		return []attribute.KeyValue{AttrErrorType.String(reason)}
	})
}

func (o *Observer) opOnly(op serverauth.Op) metric.MeasurementOption {
	return o.cached(attrKey{'o', op, ""}, func() []attribute.KeyValue {
		return []attribute.KeyValue{AttrOperation.String(string(op))}
	})
}
