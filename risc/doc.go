// Package risc receives Google's Cross-Account Protection security events
// (developers.google.com/identity/protocols/risc) and acts on them for a
// [serverauth.Exchanger]: when a user's Google account is hijacked,
// disabled or disconnected from the app, Google pushes a Security Event
// Token (a SET, RFC 8417) to the backend's receiver (RFC 8935 push
// delivery), and the [Receiver] deletes or disables the user's stored grant
// and calls the app's hook to end sessions.
//
//	rc, err := risc.NewReceiver(risc.Config{
//		Exchanger: exchanger,
//		OnEvent: func(ctx context.Context, ev *risc.Event) error {
//			return sessions.EndAll(ctx, ev.Subject) // the app's own
//		},
//	})
//	mux.Handle("POST /google/security-events", rc)
//
// Register the receiver's URL with Google's RISC API (stream:update),
// authorised by a service account of the project: cmd/riscstream does it.
//
// # Verification
//
// Every token is verified as Google's guide requires before anything is
// read from it: the issuer and the signing keys' URL come from the RISC
// configuration document (Config.ConfigurationURL), cached like the
// ID-token keys (Cache-Control max-age − Age, clamped to 5 minutes – 24
// hours; an unknown kid triggers one refetch at most every 60 s, after
// which the token is refused with invalid_key); the token must be a strict
// compact JWS signed RS256 (no duplicate JSON members, nothing but
// base64url; typ, if present, secevent+jwt or JWT); iss must equal the
// document's issuer exactly ("https://accounts.google.com/", with the
// trailing slash the ID-token issuer lacks); aud must be one of
// Config.Audiences; exp is not checked, since SETs describe past events;
// iat may not lie in the future (beyond Config.Leeway) nor further back
// than Config.DedupeWindow, past which a redelivery could no longer be told
// from a new event; jti must be present; events must hold exactly one
// event, an object, whose subject has the shape its type defines (iss-sub
// or id_token_claims of the token's issuer for the user events,
// oauth_token for token-revoked).
//
// A valid token is answered 202 Accepted once it has been handled; an
// invalid one 400 with an RFC 8935 error body, {"err": "invalid_request" |
// "invalid_key" | "invalid_issuer" | "invalid_audience" |
// "authentication_failed", "description": "…"}, which Google does not
// redeliver. A bad token never gets a 5xx. When the keys or the store
// cannot be reached, or the action or the hook fails, the answer is 5xx
// and Google redelivers the event (for a limited time: a receiver down for
// long misses events). The body is capped at [MaxBodySize].
//
// # Exactly once
//
// Google redelivers an event until it hears 202, and may deliver one twice.
// The Receiver records each event's jti in an [serverauth.EventLedger]: the
// Exchanger's store when it has one (every store of this module does), so
// the record is shared by every replica, or else this process's memory. An
// event is claimed for a minute before it is handled and marked done only
// after the library's action and OnEvent both succeeded; a failure releases
// the claim, so the redelivery runs both again. When two replicas receive
// the same event at once, the second waits for the first's outcome (about
// 3 s) and then answers 503 if it is still running. A replica that takes
// longer than its claim lets another start, so actions and OnEvent must be
// idempotent: the library's are.
//
// # What each event does
//
//   - tokens-revoked (the user removed the app's access) and account-purged
//     (the account is gone): the user's stored grant is deleted, with no
//     call to Google, which revoked it already ([serverauth.Exchanger.DeleteGrant]).
//     A grant the user consented to after the event (later than its iat
//     plus Config.Leeway) is newer and kept.
//   - token-revoked: the grant whose current refresh token has the
//     identifier in the event (its first 16 characters, or its double
//     SHA-512) is found through the store's [serverauth.RefreshTokenIndex]
//     and deleted ([serverauth.Exchanger.DeleteGrantByRefreshToken]);
//     Event.Subject is its user. The store keeps only digests of the token,
//     never a part of it.
//   - account-disabled (reason hijacking, bulk-account or none): the grant is
//     marked [serverauth.StatusDisabled], so Token fails at once with
//     ErrReauthRequired without calling Google, until the user signs in again
//     ([serverauth.Exchanger.DisableGrant]).
//   - account-enabled: the mark is lifted to StatusReauthRequired: offline
//     access resumes at the user's next sign-in, once the account's holder
//     has proven themselves again ([serverauth.Exchanger.EnableGrant]).
//   - sessions-revoked and account-credential-change-required: no token
//     action; the hook decides (Google requires ending the user's sessions
//     on sessions-revoked).
//   - verification: the state is logged; nothing else.
//   - an event type this package does not know is passed to the hook.
//
// Then OnEvent runs, once per event, with the [Event]. What the app's hook
// should do, after Google's guide: on sessions-revoked, tokens-revoked and
// account-disabled with reason hijacking, end the user's sessions; on
// account-disabled without a reason, also turn off Sign in with Google and
// account recovery by the Google email for the user, until
// account-enabled; on account-credential-change-required and bulk-account,
// watch the account for suspicious activity.
package risc
