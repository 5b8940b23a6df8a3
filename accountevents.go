package serverauth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// The token identifier algorithms of Google's Cross-Account Protection
// token-revoked event (developers.google.com/identity/protocols/risc, "OAuth
// token identifiers"), for [Exchanger.DeleteGrantByRefreshToken].
const (
	TokenIDPrefix = "prefix"                    // the token's first 16 characters
	TokenIDHash   = "hash_base64_sha512_sha512" // base64 of SHA-512 of SHA-512 of the token
)

// This file holds what Google's account events (package risc) do to stored
// grants. None of it calls Google: Google sent the event, it knows. Each
// path that ends or changes a grant forgets what memory holds about the
// user (users.invalidate), as every other such path does.

// DeleteGrant deletes the user's stored grant, and everything this process
// holds in memory about them, without calling Google: for a grant Google
// has ended already (Cross-Account Protection's tokens-revoked and
// account-purged events). A grant the user consented to after endedAt
// (Record.Consented later than it) is newer than the event and is kept; a
// zero endedAt deletes whatever is stored. It reports whether a record was
// deleted; a user without one is not an error.
//
// Other processes sharing the store may still hand out an access token they
// cached, for at most its remaining lifetime, as after [Exchanger.Revoke];
// Google no longer honours it.
func (e *Exchanger) DeleteGrant(ctx context.Context, userID string, endedAt time.Time) (bool, error) {
	st := e.cfg.Store
	if st == nil {
		return false, errNoStore
	}
	rec, err := e.grantRecord(ctx, userID)
	if rec == nil {
		if err == nil {
			e.users.invalidate(userID) // gone: forget what memory holds
		}
		return false, err
	}
	if consentedAfter(rec, endedAt) {
		e.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "serverauth: grant kept: the user consented again after Google ended the earlier one", slog.String("user_id", userID))
		return false, nil
	}
	if err := e.storeDelete(ctx, userID); err != nil {
		return false, fmt.Errorf("serverauth: deleting tokens of user %q: %w", userID, err)
	}
	// A rotated refresh token held in memory belonged to the grant Google
	// ended: it goes with it.
	e.users.invalidate(userID)
	e.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "serverauth: grant deleted: Google ended it", slog.String("user_id", userID))
	return true, nil
}

// DeleteGrantByRefreshToken deletes, as DeleteGrant does, the stored grants
// whose current refresh token has the identifier given by Google's
// token-revoked event: alg TokenIDPrefix (the token's first 16 characters,
// matched through Record.RefreshTokenPrefixHash) or TokenIDHash (matched
// with Record.RefreshTokenHash; standard or URL-safe base64, padded or
// not). It finds them through the store's [RefreshTokenIndex] in one
// query, or else by walking a [Lister]. It returns the IDs of the users
// whose grant it deleted; an identifier that matches nothing changes
// nothing.
func (e *Exchanger) DeleteGrantByRefreshToken(ctx context.Context, alg, identifier string) ([]string, error) {
	st := e.cfg.Store
	if st == nil {
		return nil, errNoStore
	}
	var prefixHash, hash string
	switch alg {
	case TokenIDPrefix:
		if identifier == "" {
			return nil, nil
		}
		prefixHash = RefreshTokenPrefixHash(identifier)
	case TokenIDHash:
		var ok bool
		if hash, ok = canonicalTokenHash(identifier); !ok {
			e.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "serverauth: a token identifier is not the base64 of a SHA-512 digest; no grant matches it", slog.String("alg", alg))
			return nil, nil
		}
	default:
		return nil, fmt.Errorf("serverauth: unknown token identifier algorithm %q: want %q or %q", alg, TokenIDPrefix, TokenIDHash)
	}
	candidates, err := e.usersByRefreshToken(ctx, prefixHash, hash)
	if err != nil {
		return nil, err
	}
	var deleted []string
	for _, userID := range candidates {
		rec, err := e.grantRecord(ctx, userID)
		if err != nil {
			return deleted, err
		}
		if rec == nil {
			continue
		}
		// The record may have changed since the lookup: a new sign-in
		// brought another token, which Google did not revoke.
		if prefixHash != "" && rec.RefreshTokenPrefixHash != prefixHash || hash != "" && rec.RefreshTokenHash != hash {
			continue
		}
		if err := e.storeDelete(ctx, userID); err != nil {
			return deleted, fmt.Errorf("serverauth: deleting tokens of user %q: %w", userID, err)
		}
		e.users.invalidate(userID)
		deleted = append(deleted, userID)
		e.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "serverauth: grant deleted: Google revoked its refresh token", slog.String("user_id", userID))
	}
	return deleted, nil
}

// usersByRefreshToken finds the candidates for DeleteGrantByRefreshToken.
func (e *Exchanger) usersByRefreshToken(ctx context.Context, prefixHash, hash string) ([]string, error) {
	st := e.cfg.Store
	if ix, ok := st.(RefreshTokenIndex); ok {
		ids, err := ix.UsersByRefreshToken(ctx, prefixHash, hash)
		if err != nil {
			return nil, fmt.Errorf("serverauth: finding the user of a revoked refresh token: %w", err)
		}
		return ids, nil
	}
	l, ok := st.(Lister)
	if !ok {
		return nil, fmt.Errorf("%w: Config.Store (%T) can neither find a refresh token (RefreshTokenIndex) nor list its users (Lister), so a revoked token cannot be found", ErrInvalidConfig, st)
	}
	var ids []string
	for userID, err := range l.Users(ctx) {
		if err != nil {
			return nil, fmt.Errorf("serverauth: listing users to find a revoked refresh token: %w", err)
		}
		rec, err := e.grantRecord(ctx, userID)
		if err != nil {
			return nil, err
		}
		if rec == nil {
			continue
		}
		if prefixHash != "" && rec.RefreshTokenPrefixHash == prefixHash || hash != "" && rec.RefreshTokenHash == hash {
			ids = append(ids, userID)
		}
	}
	return ids, nil
}

// canonicalTokenHash returns a hash_base64_sha512_sha512 identifier in the
// form RefreshTokenHash gives (standard, padded base64), accepting any
// base64 alphabet and padding; ok is false unless it decodes to 64 bytes.
func canonicalTokenHash(id string) (string, bool) {
	raw := strings.TrimRight(id, "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.Strict().DecodeString(raw); err == nil && len(b) == 64 {
			return base64.StdEncoding.EncodeToString(b), true
		}
	}
	return "", false
}

// DisableGrant marks the user's stored grant StatusDisabled, for Google's
// account-disabled event (a hijacked or abusive account): Token then fails
// with ErrReauthRequired at once, without calling Google, and
// SignInWithIDToken refuses the user. The sealed refresh token is kept but
// not used; the cached access token is forgotten. The user's next sign-in
// with a code makes the grant active again (Google lets only the account's
// holder sign in). A grant the user consented to after disabledAt is newer
// than the event and is left alone; a zero disabledAt disables whatever is
// stored. It reports whether it changed a record.
//
// Other processes sharing the store may hand out an access token they
// cached, for at most its remaining lifetime; their next refresh sees the
// mark.
func (e *Exchanger) DisableGrant(ctx context.Context, userID string, disabledAt time.Time) (bool, error) {
	st := e.cfg.Store
	if st == nil {
		return false, errNoStore
	}
	// A rotated refresh token held in memory is the grant's current one:
	// write it first, so the mark lands on it.
	if err := e.flushPending(ctx, userID); err != nil {
		return false, err
	}
	rec, err := e.grantRecord(ctx, userID)
	if rec == nil {
		if err == nil {
			e.users.invalidate(userID) // gone: forget what memory holds
		}
		return false, err
	}
	var newer, changed bool
	err = e.update(ctx, rec, func(r *Record) error {
		newer, changed = consentedAfter(r, disabledAt), false
		if newer || r.Status == StatusDisabled && len(r.AccessToken) == 0 {
			return errStaleUpdate // newer than the event, or disabled already
		}
		r.Status, r.AccessToken, r.Updated = StatusDisabled, nil, e.cfg.Now()
		changed = true
		return nil
	})
	switch {
	case errors.Is(err, errStaleUpdate):
	case errors.Is(err, ErrNotFound):
		newer, changed = false, false // deleted meanwhile: nothing left to disable
	case err != nil:
		return false, fmt.Errorf("serverauth: disabling the grant of user %q: %w", userID, err)
	}
	if newer {
		e.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "serverauth: grant left alone: the user consented again after Google disabled the account", slog.String("user_id", userID))
		return false, nil
	}
	if p := e.users.invalidate(userID); p != nil {
		// A refresh finished meanwhile and its write is held: it carries
		// the mark too, so writing it later does not lift it.
		p.rec.Status, p.rec.AccessToken = StatusDisabled, nil
		e.users.park(userID, p)
	}
	if changed {
		e.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "serverauth: grant disabled: Google disabled the account", slog.String("user_id", userID))
	}
	return changed, nil
}

// EnableGrant lifts DisableGrant's mark, for Google's account-enabled
// event: a grant in StatusDisabled moves to StatusReauthRequired, so that
// Token keeps failing with ErrReauthRequired until the user's next sign-in
// (which makes it active). After a possible hijacking, offline access
// resumes only once the account's holder has signed in again. Other states
// are left alone. It reports whether it changed a record.
func (e *Exchanger) EnableGrant(ctx context.Context, userID string) (bool, error) {
	st := e.cfg.Store
	if st == nil {
		return false, errNoStore
	}
	rec, err := e.grantRecord(ctx, userID)
	if rec == nil {
		return false, err
	}
	err = e.update(ctx, rec, func(r *Record) error {
		if r.Status != StatusDisabled {
			return errStaleUpdate
		}
		r.Status, r.Updated = StatusReauthRequired, e.cfg.Now()
		return nil
	})
	switch {
	case errors.Is(err, errStaleUpdate), errors.Is(err, ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("serverauth: enabling the grant of user %q: %w", userID, err)
	}
	e.users.invalidate(userID)
	e.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "serverauth: grant enabled: Google enabled the account; the next sign-in restores it", slog.String("user_id", userID))
	return true, nil
}

// consentedAfter reports whether the user consented to rec's grant after t
// (a zero t: never).
func consentedAfter(rec *Record, t time.Time) bool {
	return !t.IsZero() && rec.Consented.After(t)
}

// keepDisabled keeps a disabled grant disabled across a write that would
// mark it active (a refresh that was under way when Google's event came).
func keepDisabled(prev Status, r *Record) {
	if prev == StatusDisabled {
		r.Status = StatusDisabled
	}
}

// grantRecord reads userID's record for an account event: nil, with no
// error, when the store holds none.
func (e *Exchanger) grantRecord(ctx context.Context, userID string) (*Record, error) {
	rec, err := e.storeGet(ctx, userID)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("serverauth: reading tokens of user %q: %w", userID, err)
	}
	return rec, nil
}
