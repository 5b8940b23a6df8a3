// Package serverauthotel reports what a serverauth.Exchanger does as
// OpenTelemetry spans and metrics. It depends on the OpenTelemetry API
// only: the application picks and configures the SDK and its exporters.
//
//	obs, err := serverauthotel.New(serverauthotel.Config{}) // the global providers
//	cfg.Observer = obs
//	exchanger, err := serverauth.New(cfg)
//	reg, err := obs.RegisterStats(exchanger) // the gauges; reg.Unregister() on shutdown
//
// Each operation of the library (a code exchange, a refresh, a revocation,
// an ID-token verification, a key fetch, a store call, a lease, a Drive
// request) becomes one span of kind INTERNAL named "serverauth.<op>", for
// example "serverauth.refresh". The operation runs under that span's
// context, so the spans of an instrumented HTTP client (the one in
// serverauth.Config.HTTPClient, wrapped with otelhttp, say) and of an
// instrumented store driver become its children, and nested operations
// nest: a Token call's "serverauth.token" span holds the store load, the
// lease and the "serverauth.refresh", which holds the POST to Google.
//
// Metrics, named by the OpenTelemetry semantic-convention rules:
//
//   - serverauth.operation.duration, a histogram in seconds, with
//     serverauth.operation and, for a failure, error.type;
//   - serverauth.refreshes, refreshes sent to Google, with error.type for
//     the failed ones;
//   - serverauth.coalesced, calls that shared another caller's work, by
//     serverauth.operation;
//   - serverauth.google.requests, requests sent to Google (retries
//     included), by serverauth.operation;
//   - from Exchanger.Stats, once RegisterStats is called:
//     serverauth.grants (a gauge, by serverauth.grant.status, from the
//     last complete walk of the store), serverauth.token.cache.users,
//     serverauth.refresh.backoffs, serverauth.pending_writes,
//     serverauth.signing_keys.age (seconds), and the counters
//     serverauth.token.cache.hits and serverauth.previous_secret.uses.
//
// No attribute, span name or event carries a token, a code, an email
// address, a user ID or error text: only the operation, a reason from a
// small fixed set (serverauth.ErrorReason) and counts.
package serverauthotel
