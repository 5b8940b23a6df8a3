package serverauth

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"time"

	"github.com/serverauth/serverauth/internal/redact"
)

// ErrNotFound is returned by a [TokenStore] for a user it does not hold.
var ErrNotFound = errors.New("serverauth: user not found in store")

// ErrVersionConflict is returned by [TokenStore.Put] when the stored record's
// version is not the one the caller read: another writer got there first.
var ErrVersionConflict = errors.New("serverauth: record version conflict")

// Status is a stored grant's health.
type Status string

const (
	// StatusActive: the refresh token is believed to work.
	StatusActive Status = "active"
	// StatusRevoked: Google answered invalid_grant on refresh (the user or an
	// admin revoked access, the account was deleted, or Google dropped the
	// token). The dead refresh token stays, sealed, only so that a refresh
	// that redeemed it elsewhere can recognise the record; it is never sent
	// for refresh again. The user must consent again.
	StatusRevoked Status = "revoked"
	// StatusExpired: the refresh token outlived its refresh_token_expires_in
	// (time-based access) or was unused too long. Kept like a revoked one;
	// consent again.
	StatusExpired Status = "expired"
	// StatusReauthRequired: Google demands reauthentication (invalid_rapt,
	// rapt_required); the user must sign in again.
	StatusReauthRequired Status = "reauth_required"
	// StatusScopeRemoved: a required scope is no longer granted. The refresh
	// token still works for the scopes that remain.
	StatusScopeRemoved Status = "scope_removed"
	// StatusDisabled: Google reported the account disabled (Cross-Account
	// Protection's account-disabled event, for example after a hijacking;
	// see Exchanger.DisableGrant). The refresh token stays, sealed, but is
	// not used: Token fails with ErrReauthRequired without calling Google
	// until the user signs in again, which makes the grant active.
	StatusDisabled Status = "disabled"
)

// NeedsConsent reports whether the user must sign in and consent again
// before the backend can act for them as configured.
func (s Status) NeedsConsent() bool { return s != StatusActive && s != "" }

// refreshable reports whether a grant in this state may be refreshed: it is
// alive, perhaps with fewer scopes than required.
func (s Status) refreshable() bool { return !s.NeedsConsent() || s == StatusScopeRemoved }

// Record is what a [TokenStore] keeps for one user. The token fields are
// sealed by the Exchanger's [Cipher] before they reach the store and are
// opaque bytes to it; a store persists every field as given and returns
// them unchanged, with these allowances: times keep at least microsecond
// precision, a zero time stays zero, the location is not kept (UTC comes
// back), and years lie in 1000–9999; nil and empty slices are equivalent.
// User IDs are non-empty UTF-8 without NUL, up to 255 bytes, compared byte
// for byte. Scopes never contain spaces.
type Record struct {
	UserID string // the ID token's sub; the key

	RefreshToken []byte    // sealed refresh token; empty when there is none
	AccessToken  []byte    // sealed latest access token; may be empty
	Expiry       time.Time // the access token's expiry

	// RefreshTokenExpiry is when the refresh token stops working, for
	// time-limited grants: the earliest end Google's responses stated
	// (refresh_token_expires_in, authorization_expires_in); zero when none
	// did. The library refreshes no grant past it.
	RefreshTokenExpiry time.Time

	// RefreshTokenTimeout is the grant's idle limit (refresh_token_timeout):
	// the refresh token dies when unused this long, counted from Updated
	// (every exchange and refresh writes the record). Zero when none is
	// known. Stores keep it to the microsecond.
	RefreshTokenTimeout time.Duration

	Scopes   []string // granted scopes, normalised, as Google reported them last
	ClientID string   // the OAuth client that presented the code (azp)

	// RefreshTokenPrefixHash and RefreshTokenHash identify the refresh
	// token without revealing it, for Google's Cross-Account Protection
	// token-revoked events, which name a token rather than a user: see
	// [RefreshTokenPrefixHash] and [RefreshTokenHash]. Both are empty when
	// RefreshToken is. Stores able to find a record by them should index
	// them.
	RefreshTokenPrefixHash string
	RefreshTokenHash       string

	// Consented is when the user last consented to offline access: the
	// time of the code exchange that delivered the stored refresh token.
	// Zero for records written before it was kept.
	Consented time.Time

	// Profile holds the profile claims of the user's latest verified ID
	// token (email, name, picture, hosted domain), sealed like the tokens:
	// personal data stays encrypted at rest. Empty when none was kept.
	Profile []byte

	Status Status // health of the grant

	Created time.Time // first stored
	Updated time.Time // last written

	// Version is the record's version for optimistic concurrency: 0 for a
	// record not yet stored, then 1, 2, … as the store accepts writes.
	Version int64
}

// Clone returns a deep copy of r.
func (r *Record) Clone() *Record {
	c := *r
	c.RefreshToken = append([]byte(nil), r.RefreshToken...)
	c.AccessToken = append([]byte(nil), r.AccessToken...)
	c.Scopes = append([]string(nil), r.Scopes...)
	c.Profile = append([]byte(nil), r.Profile...)
	return &c
}

// TokenStore persists users' token records. Implementations must be safe for
// concurrent use by multiple goroutines and, for stores shared by several
// processes, by multiple processes. Every method honours ctx cancellation.
//
// [github.com/serverauth/serverauth/storetest.TestTokenStore] checks an implementation against this
// contract.
type TokenStore interface {
	// Get returns the record stored for userID, or an error wrapping
	// ErrNotFound when there is none. The caller owns the returned record.
	Get(ctx context.Context, userID string) (*Record, error)

	// Put stores rec if the stored version equals rec.Version (0: no record
	// may exist yet) and then sets rec.Version to the new version, one
	// higher. Otherwise it stores nothing, leaves rec.Version unchanged and
	// returns an error wrapping ErrVersionConflict (or the store's own
	// error). The store must not keep a reference to rec. Put does not
	// disturb a lease on the record.
	Put(ctx context.Context, rec *Record) error

	// Delete removes userID's record and any lease on it. Deleting a user
	// that is not stored is not an error.
	Delete(ctx context.Context, userID string) error
}

// Leaser is an optional [TokenStore] capability: a lease with expiry on one
// user's record, which elects a single refresher among processes sharing the
// store. Stores shared between processes should implement it; without it,
// each process refreshes on its own.
type Leaser interface {
	// Lease grants owner the lease on userID until now+ttl and reports true
	// if nobody else holds it (no lease, or one whose expiry is at or before
	// now) or owner already holds it (the lease is then extended). It
	// reports false, without error, when another owner holds an unexpired
	// lease. Times are the caller's clock, so all processes sharing a store
	// compare the same kind of time. Lease on a user without a record
	// returns an error wrapping ErrNotFound; an empty owner or a ttl not
	// above zero is an error.
	Lease(ctx context.Context, userID, owner string, now time.Time, ttl time.Duration) (bool, error)

	// Release ends owner's lease on userID. Releasing a lease that owner
	// does not hold (expired, taken over, never held), or on a user without
	// a record, is not an error and leaves any other owner's lease alone.
	Release(ctx context.Context, userID, owner string) error
}

// RecordLeaser is an optional [Leaser] capability: the lease taken with the
// record read, and the record written with the lease released, each in one
// round trip. A refresh under a lease then costs a shared store three round
// trips (Get, LeaseGet, PutRelease) instead of five (Get, Lease, Get, Put,
// Release), and a replica waiting behind another's refresh one per poll
// instead of two.
type RecordLeaser interface {
	Leaser

	// LeaseGet returns the record stored for userID and takes owner's lease
	// on it as Lease does, but only if the stored version is version (the
	// one the caller read): a record written since then may hold what the
	// caller was about to fetch, so it is returned with no lease taken.
	// held reports whether owner holds the lease when LeaseGet returns. A
	// user without a record returns an error wrapping ErrNotFound; an empty
	// owner or a ttl not above zero is an error.
	LeaseGet(ctx context.Context, userID, owner string, version int64, now time.Time, ttl time.Duration) (rec *Record, held bool, err error)

	// PutRelease stores rec as Put does and, if it was stored, ends owner's
	// lease on rec.UserID in the same step (as Release would). When Put is
	// refused (ErrVersionConflict) or fails, the lease is left as it was.
	PutRelease(ctx context.Context, rec *Record, owner string) error
}

// SignInUpdate is what a sign-in that brought no refresh token (a returning
// user: Google sends one only on consent) writes over the user's record;
// see [SignInUpdater]. Its token fields are sealed, as in a Record.
type SignInUpdate struct {
	UserID      string
	AccessToken []byte    // sealed
	Expiry      time.Time // the access token's
	Profile     []byte    // sealed profile claims; nil keeps the stored ones
	Scopes      []string  // granted, normalised
	ClientID    string
	Status      Status // StatusActive, or StatusScopeRemoved when a required scope is missing
	Updated     time.Time
}

// SignInUpdater is an optional [TokenStore] capability: a sign-in without
// a refresh token applied to the stored record in one round trip, where
// Save would otherwise read the record (for the refresh token it keeps)
// and write it back.
type SignInUpdater interface {
	// UpdateSignIn sets the stored record's AccessToken, Expiry, Scopes,
	// ClientID, Status and Updated to u's, its Profile to u.Profile unless
	// that is nil, and its Created to u.Updated if it was zero; it bumps
	// Version and keeps every other field as stored, with one exception: a
	// record whose stored Status is neither StatusActive, "",
	// StatusScopeRemoved, StatusReauthRequired nor StatusDisabled (its
	// refresh token is dead: revoked or expired) also loses its
	// RefreshToken, RefreshTokenPrefixHash and RefreshTokenHash. It returns
	// the sealed refresh token the record keeps (empty when none): all the
	// caller needs, and far less to send back than the record. For a user
	// without a record it
	// stores nothing and returns an error wrapping ErrNotFound. A lease on
	// the record is left alone. A store that can do this in one step only
	// on some databases returns an error wrapping errors.ErrUnsupported on
	// the others, changing nothing: the caller then reads and writes.
	UpdateSignIn(ctx context.Context, u *SignInUpdate) (refreshToken []byte, err error)
}

// ApplyTo applies u to r as [SignInUpdater.UpdateSignIn] does, version
// aside: stores that update records in memory can use it.
func (u *SignInUpdate) ApplyTo(r *Record) {
	if r.Status.deadToken() {
		r.RefreshToken, r.RefreshTokenPrefixHash, r.RefreshTokenHash = nil, "", ""
	}
	u.setFields(r)
}

// setFields sets the fields u replaces.
func (u *SignInUpdate) setFields(r *Record) {
	r.AccessToken, r.Expiry = append([]byte(nil), u.AccessToken...), u.Expiry
	if u.Profile != nil {
		r.Profile = append([]byte(nil), u.Profile...)
	}
	r.Scopes = append([]string(nil), u.Scopes...)
	r.ClientID, r.Status, r.Updated = u.ClientID, u.Status, u.Updated
	if r.Created.IsZero() {
		r.Created = u.Updated
	}
}

// deadToken reports whether a grant in this state holds a refresh token
// that is dead (revoked, expired, or a state this version does not know),
// kept only to recognise the record: a new sign-in drops it. A grant that
// needs reauthentication or was disabled keeps its token, which works
// again once the user signs in.
func (s Status) deadToken() bool {
	return !s.refreshable() && s != StatusReauthRequired && s != StatusDisabled
}

// Lister is an optional [TokenStore] capability: walking every stored user,
// for offline jobs and for re-encrypting records under a new key.
type Lister interface {
	// Users yields each user ID stored for the whole walk exactly once, in
	// no particular order; users added or removed meanwhile may or may not
	// appear. An error ends the walk and is yielded last.
	Users(ctx context.Context) iter.Seq2[string, error]
}

// RefreshTokenIndex is an optional [TokenStore] capability: finding users by
// the identifiers of their current refresh token, for Google's
// Cross-Account Protection token-revoked events, which name a token rather
// than a user (package risc). A store that implements it indexes
// Record.RefreshTokenPrefixHash and Record.RefreshTokenHash, so that a
// lookup is one indexed query; without it, Exchanger.DeleteGrantByRefreshToken
// walks a [Lister].
type RefreshTokenIndex interface {
	// UsersByRefreshToken returns the IDs of the users whose record has
	// RefreshTokenPrefixHash equal to prefixHash, when prefixHash is not
	// empty, or else RefreshTokenHash equal to hash; exactly one of the two
	// is given. No match is an empty result, not an error. The order is
	// unspecified.
	UsersByRefreshToken(ctx context.Context, prefixHash, hash string) ([]string, error)
}

// EventClaim is the outcome of [EventLedger.ClaimEvent].
type EventClaim int

const (
	// EventClaimed: the caller holds the claim on the event now. It acts,
	// then calls FinishEvent, or ReleaseEvent if it failed.
	EventClaimed EventClaim = iota + 1
	// EventBusy: another owner holds an unexpired claim: it is handling the
	// event right now.
	EventBusy
	// EventDone: the event was handled, within the time FinishEvent kept it.
	EventDone
)

// EventLedger is an optional [TokenStore] capability: a record of the
// security events a receiver has handled, by event ID, so that an event
// delivered again (Google redelivers until it hears 202) is acted on once
// by all the processes sharing the store (package risc). Times are the
// caller's clock, as for [Leaser]. Event IDs are 1 to 255 printable ASCII
// characters; owners are non-empty.
type EventLedger interface {
	// ClaimEvent claims eventID for owner until now+ttl. It reports
	// EventClaimed when nobody held it (never seen, its claim expired at or
	// before now, released, or done with the keep time passed) or owner
	// already held it (the claim is extended); EventBusy when another owner
	// holds an unexpired claim; EventDone when it was finished and is kept
	// past now. A ttl not above zero is an error.
	ClaimEvent(ctx context.Context, eventID, owner string, now time.Time, ttl time.Duration) (EventClaim, error)

	// FinishEvent records eventID as handled until now+keep, whoever holds
	// its claim (a slow owner's claim may have expired and been taken; the
	// event was handled all the same). Later claims report EventDone until
	// then; the store may forget it afterwards.
	FinishEvent(ctx context.Context, eventID, owner string, now time.Time, keep time.Duration) error

	// ReleaseEvent drops owner's claim on eventID, so that the next
	// delivery may claim it at once. Releasing a claim owner does not hold
	// (expired and taken, finished, never held) is not an error and changes
	// nothing.
	ReleaseEvent(ctx context.Context, eventID, owner string) error
}

// String shows the record without its sealed tokens.
func (r *Record) String() string {
	if r == nil {
		return "<nil>"
	}
	return fmt.Sprintf("serverauth.Record{UserID:%q RefreshToken:%s AccessToken:%s Expiry:%s Scopes:%q ClientID:%q Status:%s Version:%d}",
		r.UserID, redact.Present(len(r.RefreshToken) > 0), redact.Present(len(r.AccessToken) > 0), r.Expiry.Format("2006-01-02T15:04:05Z07:00"), r.Scopes, r.ClientID, r.Status, r.Version)
}

// GoString is String.
func (r *Record) GoString() string { return r.String() }

// LogValue implements slog.LogValuer without the sealed tokens.
func (r *Record) LogValue() slog.Value {
	if r == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(slog.String("user_id", r.UserID), slog.String("status", string(r.Status)),
		slog.Bool("refresh_token", len(r.RefreshToken) > 0), slog.Int64("version", r.Version))
}
