package serverauth

import (
	"context"
	"errors"
	"log/slog"
)

// Save stores the tokens of an exchange's Result, merging with what the
// store holds: a Result without a refresh token keeps the stored one, the
// granted scopes replace the stored ones, and the grant is marked active
// (or scope_removed when a required scope is missing). Exchange calls it;
// call it yourself only to retry after a *SaveError.
//
// Without offline access configured as unneeded (Config.SignInOnly), a user
// left with no refresh token gets an error wrapping ErrNoRefreshToken, with
// the record saved all the same.
func (e *Exchanger) Save(ctx context.Context, res *Result) error {
	st := e.cfg.Store
	if st == nil {
		return errNoStore
	}
	if res == nil || res.UserID == "" || res.Token == nil {
		return errors.New("serverauth: Save needs a Result with a UserID and a Token")
	}
	userID, now := res.UserID, e.cfg.Now()
	// A rotated refresh token the store refused earlier is the grant's
	// current one: a sign-in that brings none keeps it.
	pending := e.users.pendingOf(userID)
	var saved *Record
	for attempt := 0; ; attempt++ {
		cur, err := e.storeGet(ctx, userID)
		if errors.Is(err, ErrNotFound) {
			cur, err = &Record{UserID: userID, Created: now}, nil
		}
		if err != nil {
			return &SaveError{UserID: userID, Result: res, Err: err}
		}
		rec := cur.Clone()
		if err := e.mergeResult(ctx, rec, res, pending); err != nil {
			return &SaveError{UserID: userID, Result: res, Err: err}
		}
		err = e.storePut(ctx, rec)
		if err == nil {
			saved = rec
			break
		}
		if !errors.Is(err, ErrVersionConflict) || attempt == maxPutAttempts-1 {
			return &SaveError{UserID: userID, Result: res, Err: err}
		}
	}
	// The grant was replaced: what memory held about the user is stale.
	e.users.invalidate(userID)
	e.users.cache.Store(userID, *newCachedToken(res.Token.AccessToken, res.Token.Expiry, res.Token.Expiry.Add(-e.margin(res.Token.Expiry.Sub(saved.Updated)))))
	if len(saved.RefreshToken) == 0 && !e.cfg.SignInOnly {
		return &noRefreshTokenError{}
	}
	return nil
}

// mergeResult applies an exchange's outcome to the stored record.
func (e *Exchanger) mergeResult(ctx context.Context, rec *Record, res *Result, pending *pendingWrite) error {
	var err error
	userID := res.UserID
	switch {
	case res.Token.RefreshToken != "":
	case pending != nil:
		rec.RefreshToken, rec.RefreshTokenExpiry, rec.RefreshTokenTimeout = pending.rec.RefreshToken, pending.rec.RefreshTokenExpiry, pending.rec.RefreshTokenTimeout
		rec.RefreshTokenPrefixHash, rec.RefreshTokenHash = pending.rec.RefreshTokenPrefixHash, pending.rec.RefreshTokenHash
	case !rec.Status.refreshable() && rec.Status != StatusReauthRequired && rec.Status != StatusDisabled:
		_ = e.setRefreshToken(rec, "") // dead (revoked, expired): kept only to recognise it
	case len(rec.RefreshToken) > 0:
		if _, err := e.open(userID, fieldRefreshToken, rec.RefreshToken); err != nil {
			// Undecryptable (a lost key): as good as none, so the user is
			// sent through consent instead of failing on every refresh.
			e.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "serverauth: the stored refresh token cannot be decrypted; treating it as absent", slog.String("user_id", userID))
			_ = e.setRefreshToken(rec, "")
		}
	}
	if rec.AccessToken, err = e.seal(userID, fieldAccessToken, res.Token.AccessToken); err != nil {
		return err
	}
	rec.Expiry = res.Token.Expiry
	if res.Token.RefreshToken != "" {
		if err := e.setRefreshToken(rec, res.Token.RefreshToken); err != nil {
			return err
		}
		rec.RefreshTokenExpiry, rec.RefreshTokenTimeout = res.RefreshTokenExpiry, res.RefreshTokenTimeout
		rec.Consented = e.cfg.Now()
	}
	if res.Profile != nil {
		if rec.Profile, err = e.sealProfile(userID, res.Profile); err != nil {
			return err
		}
	}
	rec.Scopes = append([]string(nil), res.GrantedScopes...)
	rec.ClientID = e.cfg.ClientID
	if res.Profile != nil && res.Profile.AuthorizedParty != "" {
		rec.ClientID = res.Profile.AuthorizedParty
	}
	rec.Status = StatusActive
	if len(missingScopes(e.cfg.Scopes, res.GrantedScopes)) > 0 {
		rec.Status = StatusScopeRemoved
	}
	rec.Updated = e.cfg.Now()
	if rec.Created.IsZero() {
		rec.Created = rec.Updated
	}
	return nil
}
