package serverauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/serverauth/serverauth/internal/retry"
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

// noRefreshTokenError explains ErrNoRefreshToken after an exchange.
type noRefreshTokenError struct{}

func (*noRefreshTokenError) Error() string {
	return "serverauth: no refresh token: Google returns one only on the user's first consent to this client, and none is stored; " +
		"on the web, request the code with access_type=offline and prompt=consent; " +
		"from iOS or Android (which cannot force consent), call Exchanger.ResetConsent with this Result and have the user sign in again"
}

func (*noRefreshTokenError) Unwrap() error { return ErrNoRefreshToken }

// Revoke disconnects the user: it revokes the grant at Google (the refresh
// token, or the access token if that is all there is, in the POST body;
// RFC 7009) and then deletes the stored record and every cached token.
// Google's 400 invalid_token counts as already revoked. If Google cannot be
// reached, nothing is deleted, so the call can be retried. Revoking a user
// with no record is not an error.
func (e *Exchanger) Revoke(ctx context.Context, userID string) error {
	st := e.tokens.store
	if st == nil {
		return errNoStore
	}
	e.cache.Delete(userID)
	rec, err := st.Get(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("serverauth: reading tokens of user %q: %w", userID, err)
	}
	token, field := rec.RefreshToken, fieldRefreshToken
	if len(token) == 0 {
		token, field = rec.AccessToken, fieldAccessToken
	}
	if len(token) > 0 {
		plain, err := e.open(userID, field, token)
		if err != nil {
			return err
		}
		if err := e.revokeToken(ctx, plain); err != nil {
			return err
		}
	}
	if err := st.Delete(ctx, userID); err != nil {
		return fmt.Errorf("serverauth: deleting tokens of user %q after revoking them at Google: %w", userID, err)
	}
	e.cache.Delete(userID)
	e.refreshes.Forget(userID)
	e.logger().LogAttrs(ctx, slog.LevelInfo, "serverauth: user disconnected", slog.String("user_id", userID))
	return nil
}

// ResetConsent revokes the grant behind res, so that the user's next
// sign-in asks for consent again and Google issues a refresh token. It is
// the fix for ErrNoRefreshToken from mobile apps, which cannot request
// prompt=consent. Any stored record of the user is deleted too (revoking
// the grant killed its tokens).
func (e *Exchanger) ResetConsent(ctx context.Context, res *Result) error {
	if res == nil || res.Token == nil || res.Token.AccessToken == "" {
		return errors.New("serverauth: ResetConsent needs the Result of an exchange")
	}
	token := res.Token.RefreshToken
	if token == "" {
		token = res.Token.AccessToken
	}
	if err := e.revokeToken(ctx, token); err != nil {
		return err
	}
	if e.tokens.store != nil && res.UserID != "" {
		e.cache.Delete(res.UserID)
		if err := e.tokens.store.Delete(ctx, res.UserID); err != nil {
			return fmt.Errorf("serverauth: deleting tokens of user %q: %w", res.UserID, err)
		}
	}
	return nil
}

// revokeToken posts token to the revocation endpoint. 200, and 400
// invalid_token (already revoked or expired; Google deviates from RFC 7009
// §2.2 here), mean done.
func (e *Exchanger) revokeToken(ctx context.Context, token string) error {
	var te *TokenError
	err := e.retry.Do(ctx, func(ctx context.Context) (retry.Decision, error) {
		te = e.revokeOnce(ctx, token)
		if te == nil {
			return retry.Stop, nil
		}
		return te.retryDecision(), te
	})
	if err != nil {
		return te
	}
	return nil
}

// revokeOnce makes one revocation request.
func (e *Exchanger) revokeOnce(ctx context.Context, token string) *TokenError {
	ec := errorContext{op: opRevoke, now: e.cfg.now(), secrets: []string{token, e.creds.ClientSecret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.endpoints.RevokeURL, strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		return newTokenError(err, ec)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := e.httpClient.Do(req)
	if err != nil {
		return newTokenError(err, ec)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return newTokenError(err, ec)
	}
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	re := &oauth2.RetrieveError{Response: resp, Body: body}
	var v struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	if json.Unmarshal(body, &v) == nil {
		re.ErrorCode, re.ErrorDescription = v.Error, v.ErrorDescription
	}
	if resp.StatusCode == http.StatusBadRequest && re.ErrorCode == "invalid_token" {
		return nil
	}
	return newTokenError(re, ec)
}

// Rekey re-encrypts every stored record whose tokens are not sealed by the
// Cipher's current primary key (for a Keyring: after a new key was put
// first), so that old keys can be retired. It needs a store that implements
// Lister. It returns how many records it rewrote; run it again after an
// error to finish.
func (e *Exchanger) Rekey(ctx context.Context) (int, error) {
	l, ok := e.tokens.store.(Lister)
	if !ok {
		return 0, errors.New("serverauth: Rekey needs a Store that implements Lister")
	}
	needs := func([]byte) bool { return true }
	if r, ok := e.tokens.cipher.(interface{ NeedsRekey([]byte) bool }); ok {
		needs = r.NeedsRekey
	}
	n := 0
	for userID, err := range l.Users(ctx) {
		if err != nil {
			return n, err
		}
		rec, err := e.tokens.store.Get(ctx, userID)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		if !(len(rec.RefreshToken) > 0 && needs(rec.RefreshToken) || len(rec.AccessToken) > 0 && needs(rec.AccessToken)) {
			continue
		}
		err = e.update(ctx, rec, func(r *Record) error {
			for _, f := range []struct {
				name string
				v    *[]byte
			}{{fieldRefreshToken, &r.RefreshToken}, {fieldAccessToken, &r.AccessToken}} {
				if len(*f.v) == 0 || !needs(*f.v) {
					continue
				}
				plain, err := e.open(r.UserID, f.name, *f.v)
				if err != nil {
					return err
				}
				if *f.v, err = e.seal(r.UserID, f.name, plain); err != nil {
					return err
				}
			}
			return nil
		})
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("serverauth: rekeying user %q: %w", userID, err)
		}
		n++
	}
	return n, nil
}
