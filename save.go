package serverauth

import (
	"context"
	"errors"
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
	st := e.tokens.store
	if st == nil {
		return errNoStore
	}
	if res == nil || res.UserID == "" || res.Token == nil {
		return errors.New("serverauth: Save needs a Result with a UserID and a Token")
	}
	userID, now := res.UserID, e.cfg.now()
	var saved *Record
	for attempt := 0; ; attempt++ {
		cur, err := st.Get(ctx, userID)
		if errors.Is(err, ErrNotFound) {
			cur, err = &Record{UserID: userID, Created: now}, nil
		}
		if err != nil {
			return &SaveError{UserID: userID, Result: res, Err: err}
		}
		rec := cur.Clone()
		if err := e.mergeResult(rec, res); err != nil {
			return &SaveError{UserID: userID, Result: res, Err: err}
		}
		err = st.Put(ctx, rec)
		if err == nil {
			saved = rec
			break
		}
		if !errors.Is(err, ErrVersionConflict) || attempt == maxPutAttempts-1 {
			return &SaveError{UserID: userID, Result: res, Err: err}
		}
	}
	// What other calls knew about this user is stale now.
	e.refreshes.Forget(userID)
	e.refreshes.Forget(userID + "\x00rejected")
	e.remember(userID, res.Token.AccessToken, res.Token.Expiry, res.Token.Expiry.Add(-e.margin(res.Token.Expiry.Sub(saved.Updated))))
	if len(saved.RefreshToken) == 0 && !e.cfg.SignInOnly {
		return &noRefreshTokenError{}
	}
	return nil
}

// mergeResult applies an exchange's outcome to the stored record.
func (e *Exchanger) mergeResult(rec *Record, res *Result) error {
	var err error
	userID := res.UserID
	if rec.AccessToken, err = e.seal(userID, fieldAccessToken, res.Token.AccessToken); err != nil {
		return err
	}
	rec.Expiry = res.Token.Expiry
	if res.Token.RefreshToken != "" {
		if rec.RefreshToken, err = e.seal(userID, fieldRefreshToken, res.Token.RefreshToken); err != nil {
			return err
		}
		rec.RefreshTokenExpiry = res.RefreshTokenExpiry
	}
	rec.Scopes = append([]string(nil), res.GrantedScopes...)
	rec.ClientID = e.creds.ClientID
	if res.Profile != nil && res.Profile.AuthorizedParty != "" {
		rec.ClientID = res.Profile.AuthorizedParty
	}
	rec.Status = StatusActive
	if len(missingScopes(e.required, res.GrantedScopes)) > 0 {
		rec.Status = StatusScopeRemoved
	}
	rec.Updated = e.cfg.now()
	if rec.Created.IsZero() {
		rec.Created = rec.Updated
	}
	return nil
}
