package risc

import (
	"log/slog"
	"time"
)

// The event types Google's Cross-Account Protection sends
// (developers.google.com/identity/protocols/risc, "Supported event types"),
// and account-purged, which the OpenID RISC Event Types 1.0 define. What the
// Receiver does with each is in the package documentation.
const (
	TypeSessionsRevoked                 = "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked"
	TypeTokensRevoked                   = "https://schemas.openid.net/secevent/oauth/event-type/tokens-revoked"
	TypeTokenRevoked                    = "https://schemas.openid.net/secevent/oauth/event-type/token-revoked"
	TypeAccountDisabled                 = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
	TypeAccountEnabled                  = "https://schemas.openid.net/secevent/risc/event-type/account-enabled"
	TypeAccountPurged                   = "https://schemas.openid.net/secevent/risc/event-type/account-purged"
	TypeAccountCredentialChangeRequired = "https://schemas.openid.net/secevent/risc/event-type/account-credential-change-required"
	TypeVerification                    = "https://schemas.openid.net/secevent/risc/event-type/verification"
)

// EventTypes lists every event type above, in that order: what a stream
// registered for everything the Receiver understands requests.
func EventTypes() []string {
	return []string{
		TypeSessionsRevoked, TypeTokensRevoked, TypeTokenRevoked, TypeAccountDisabled,
		TypeAccountEnabled, TypeAccountPurged, TypeAccountCredentialChangeRequired, TypeVerification,
	}
}

// Reasons Google gives for account-disabled. An event may carry another
// reason, or none.
const (
	ReasonHijacking   = "hijacking"    // the account was taken over
	ReasonBulkAccount = "bulk-account" // the account was made in bulk (spam, abuse)
)

// Event is one verified security event, as [Config.OnEvent] receives it.
// Nothing in it is a secret: the token named by a token-revoked event is
// never exposed, not even its identifier.
type Event struct {
	ID   string // the SET's jti: unique to the stream, the same on every redelivery
	Type string // one of the Type… constants, or a type this package does not know

	// Subject is the Google user ID (the ID token's sub) the event is about.
	// For token-revoked, whose subject is a token, it is the user whose
	// stored grant held that token, or "" when no stored grant did.
	Subject string

	Email    string    // the user's email, when the event's subject carries it (id_token_claims)
	Reason   string    // account-disabled's reason: ReasonHijacking, ReasonBulkAccount, another or ""
	IssuedAt time.Time // the SET's iat: when Google issued it, about when the event happened
	State    string    // verification's state: the string given to stream:verify
}

// LogValue implements slog.LogValuer.
func (e *Event) LogValue() slog.Value {
	if e == nil {
		return slog.StringValue("<nil>")
	}
	attrs := []slog.Attr{slog.String("id", e.ID), slog.String("type", e.Type), slog.String("user_id", e.Subject)}
	if e.Reason != "" {
		attrs = append(attrs, slog.String("reason", e.Reason))
	}
	if e.State != "" {
		attrs = append(attrs, slog.String("state", e.State))
	}
	return slog.GroupValue(append(attrs, slog.Time("issued_at", e.IssuedAt))...)
}
