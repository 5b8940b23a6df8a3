package serverauth

import (
	"context"
	"errors"
	"log/slog"
	"time"
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
	// What the Result writes over any record, sealed once for every path
	// and attempt below.
	u, err := e.signInUpdate(res)
	if err != nil {
		return &SaveError{UserID: userID, Result: res, Err: err}
	}
	saved, done, err := e.updateSignIn(ctx, u, res, pending)
	if err != nil {
		return &SaveError{UserID: userID, Result: res, Err: err}
	}
	for attempt := 0; !done; attempt++ {
		cur, err := e.storeGet(ctx, userID)
		if errors.Is(err, ErrNotFound) {
			cur, err = &Record{UserID: userID, Created: now}, nil
		}
		if err != nil {
			return &SaveError{UserID: userID, Result: res, Err: err}
		}
		rec := cur.Clone()
		if err := e.mergeResult(ctx, rec, res, u, pending); err != nil {
			return &SaveError{UserID: userID, Result: res, Err: err}
		}
		err = e.storePut(ctx, rec)
		if err == nil {
			saved = savedGrant{refreshToken: len(rec.RefreshToken) > 0, updated: rec.Updated}
			break
		}
		if !errors.Is(err, ErrVersionConflict) || attempt == maxPutAttempts-1 {
			return &SaveError{UserID: userID, Result: res, Err: err}
		}
	}
	// The grant was replaced: what memory held about the user is stale.
	e.users.invalidate(userID)
	e.users.cache.Store(userID, newCachedToken(res.Token.AccessToken, res.Token.Expiry, res.Token.Expiry.Add(-e.margin(res.Token.Expiry.Sub(saved.updated)))).entry())
	if !saved.refreshToken && !e.cfg.SignInOnly {
		return &noRefreshTokenError{}
	}
	return nil
}

// savedGrant is what Save needs of the record it saved.
type savedGrant struct {
	refreshToken bool      // it holds one
	updated      time.Time // as written
}

// updateSignIn saves a Result without a refresh token in one round trip
// when the store is a SignInUpdater (done). It is not done, with no error,
// when Save must read and write instead: the store cannot, the Result
// brings a refresh token, a rotated one is pending, the user has no record
// yet, or the stored refresh token cannot be decrypted (the merge then
// drops it).
func (e *Exchanger) updateSignIn(ctx context.Context, u *SignInUpdate, res *Result, pending *pendingWrite) (_ savedGrant, done bool, _ error) {
	up, ok := e.cfg.Store.(SignInUpdater)
	if !ok || res.Token.RefreshToken != "" || pending != nil {
		return savedGrant{}, false, nil
	}
	sctx, run := e.begin(ctx, OpStoreSave)
	rt, err := up.UpdateSignIn(sctx, u)
	switch {
	case errors.Is(err, ErrNotFound):
		e.end(run, nil, Observation{Reason: "not_found"})
		return savedGrant{}, false, nil
	case errors.Is(err, errors.ErrUnsupported):
		e.end(run, nil, Observation{Reason: "unsupported"})
		return savedGrant{}, false, nil
	}
	e.end(run, err, Observation{Reason: storeReason(err)})
	if err != nil {
		return savedGrant{}, false, err
	}
	if len(rt) > 0 {
		if _, err := e.open(u.UserID, fieldRefreshToken, rt); err != nil {
			return savedGrant{}, false, nil
		}
	}
	return savedGrant{refreshToken: len(rt) > 0, updated: u.Updated}, true, nil
}

// signInUpdate is what an exchange's Result writes over any stored record,
// whatever becomes of the refresh token.
func (e *Exchanger) signInUpdate(res *Result) (*SignInUpdate, error) {
	userID := res.UserID
	u := &SignInUpdate{UserID: userID, Expiry: res.Token.Expiry, ClientID: e.cfg.ClientID, Status: StatusActive, Updated: e.cfg.Now()}
	var err error
	if u.AccessToken, err = e.seal(userID, fieldAccessToken, res.Token.AccessToken); err != nil {
		return nil, err
	}
	if res.Profile != nil {
		if u.Profile, err = e.sealProfile(userID, res.Profile); err != nil {
			return nil, err
		}
		if res.Profile.AuthorizedParty != "" {
			u.ClientID = res.Profile.AuthorizedParty
		}
	}
	u.Scopes = append([]string(nil), res.GrantedScopes...)
	if len(missingScopes(e.cfg.Scopes, res.GrantedScopes)) > 0 {
		u.Status = StatusScopeRemoved
	}
	return u, nil
}

// mergeResult applies an exchange's outcome to the stored record: u, its
// fields that replace the stored ones, and the refresh token it brings or
// the stored one it keeps.
func (e *Exchanger) mergeResult(ctx context.Context, rec *Record, res *Result, u *SignInUpdate, pending *pendingWrite) error {
	userID := res.UserID
	switch {
	case res.Token.RefreshToken != "":
		if err := e.setRefreshToken(rec, res.Token.RefreshToken); err != nil {
			return err
		}
		rec.RefreshTokenExpiry, rec.RefreshTokenTimeout = res.RefreshTokenExpiry, res.RefreshTokenTimeout
		rec.Consented = u.Updated
	case pending != nil:
		rec.RefreshToken, rec.RefreshTokenExpiry, rec.RefreshTokenTimeout = pending.rec.RefreshToken, pending.rec.RefreshTokenExpiry, pending.rec.RefreshTokenTimeout
		rec.RefreshTokenPrefixHash, rec.RefreshTokenHash = pending.rec.RefreshTokenPrefixHash, pending.rec.RefreshTokenHash
	case rec.Status.deadToken():
		_ = e.setRefreshToken(rec, "") // dead (revoked, expired): kept only to recognise it
	case len(rec.RefreshToken) > 0:
		if _, err := e.open(userID, fieldRefreshToken, rec.RefreshToken); err != nil {
			// Undecryptable (a lost key): as good as none, so the user is
			// sent through consent instead of failing on every refresh.
			e.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "serverauth: the stored refresh token cannot be decrypted; treating it as absent", slog.String("user_id", userID))
			_ = e.setRefreshToken(rec, "")
		}
	}
	u.setFields(rec)
	return nil
}
