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

	"github.com/serverauth/serverauth/internal/retry"
	"golang.org/x/oauth2"
)

// Revoke disconnects the user: it revokes the grant at Google (the refresh
// token, or the access token if that is all there is, in the POST body;
// RFC 7009) and then deletes the stored record and every token held in
// memory. A rotated refresh token this process holds because the store
// refused it (see SaveError) is revoked too. Google's 400 invalid_token
// counts as already revoked. If Google cannot be reached, nothing is
// deleted, so the call can be retried. If the stored token cannot be
// decrypted, the record is deleted all the same and the error (wrapping
// ErrDecrypt) says the grant could not be revoked at Google. Revoking a
// user with no record is not an error. The record is read again after each
// revocation, and a token stored meanwhile (a refresh's rotated refresh
// token, a new sign-in's grant) is revoked too before the record is
// deleted, so that no live grant is left behind with nobody holding it.
func (e *Exchanger) Revoke(ctx context.Context, userID string) error {
	st := e.cfg.Store
	if st == nil {
		return errNoStore
	}
	// First what exists only in memory: once the record is gone, nothing
	// else would name this token.
	if err := e.revokePending(ctx, userID); err != nil {
		return err
	}
	rec, err := e.storeGet(ctx, userID)
	switch {
	case errors.Is(err, ErrNotFound):
		e.users.invalidate(userID)
		return nil
	case err != nil:
		return fmt.Errorf("serverauth: reading tokens of user %q: %w", userID, err)
	}
	var (
		revokeErr error
		gone      bool // deleted meanwhile by another caller
	)
	for round := 1; ; round++ {
		field, token := revocable(rec)
		revokeErr = e.revokeSealed(ctx, userID, field, token)
		if revokeErr != nil && !errors.Is(revokeErr, ErrDecrypt) {
			return revokeErr // Google unreachable: keep the record so the call can be retried
		}
		// The record read may be older than the grant: a refresh on
		// another goroutine or replica may have rotated its refresh token
		// (the revoked one was then already dead, and the live one would be
		// deleted unrevoked), or the user may have signed in again. Whatever
		// is stored now must be revoked before it is deleted.
		cur, err := e.storeGet(ctx, userID)
		if gone = errors.Is(err, ErrNotFound); gone {
			break
		}
		if err != nil {
			return fmt.Errorf("serverauth: reading tokens of user %q: %w", userID, err)
		}
		if e.sameRevocable(rec, cur) || round == maxRevokeRounds {
			break
		}
		rec = cur
	}
	// A write landing between the last read and the delete is lost
	// unrevoked; with the reads above that takes a new sign-in completing
	// in that instant (a rotation by a refresh of the revoked grant leaves
	// only dead tokens, since revoking one token ends the whole grant).
	if !gone {
		if err := e.storeDelete(ctx, userID); err != nil {
			return fmt.Errorf("serverauth: deleting tokens of user %q: %w", userID, err)
		}
	}
	e.users.invalidate(userID)
	if revokeErr != nil {
		// The token cannot be read back (a lost or wrong key), so it cannot
		// be revoked; keeping the record would block the user for nothing.
		e.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "serverauth: user deleted locally; their grant could not be revoked at Google", slog.String("user_id", userID))
		return fmt.Errorf("serverauth: user %q was deleted here, but their grant could not be revoked at Google because the stored token cannot be decrypted; they can remove the app's access at https://myaccount.google.com/permissions: %w", userID, revokeErr)
	}
	e.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "serverauth: user disconnected", slog.String("user_id", userID))
	return nil
}

// maxRevokeRounds bounds how many successive stored grants Revoke revokes
// while the record keeps changing under it.
const maxRevokeRounds = 4

// revocable returns the token of rec that revoking its grant takes: the
// refresh token, or the access token when there is none.
func revocable(rec *Record) (field string, sealed []byte) {
	if len(rec.RefreshToken) == 0 {
		return fieldAccessToken, rec.AccessToken
	}
	return fieldRefreshToken, rec.RefreshToken
}

// sameRevocable reports whether a and b, two reads of one user's record,
// hold the same token to revoke. Sealed bytes differ on every seal, so the
// tokens are compared opened; one that cannot be opened counts as the same
// (revoking it again would fail the same way).
func (e *Exchanger) sameRevocable(a, b *Record) bool {
	fa, sa := revocable(a)
	fb, sb := revocable(b)
	if fa != fb {
		return false
	}
	if len(sa) == 0 || len(sb) == 0 {
		return len(sa) == len(sb)
	}
	pa, erra := e.open(a.UserID, fa, sa)
	pb, errb := e.open(b.UserID, fb, sb)
	if erra != nil || errb != nil {
		return true
	}
	return tokenHash(pa) == tokenHash(pb)
}

// revokePending revokes the rotated refresh token held in memory for the
// user, if any (see SaveError); it stays held until invalidate drops it.
func (e *Exchanger) revokePending(ctx context.Context, userID string) error {
	if p := e.users.pendingOf(userID); p != nil {
		return e.revokeSealed(ctx, userID, fieldRefreshToken, p.rec.RefreshToken)
	}
	return nil
}

// revokeSealed opens a sealed token of the user and revokes it; an empty
// one is nothing to do.
func (e *Exchanger) revokeSealed(ctx context.Context, userID, field string, sealed []byte) error {
	if len(sealed) == 0 {
		return nil
	}
	plain, err := e.open(userID, field, sealed)
	if err != nil {
		return err
	}
	return e.revokeToken(ctx, plain)
}

// revokeQuietly revokes refreshToken, or accessToken when there is none,
// logging a failure: for tokens that must not outlive a grant that already
// ended, where the caller has nothing better to report.
func (e *Exchanger) revokeQuietly(ctx context.Context, userID, refreshToken, accessToken string) {
	token := refreshToken
	if token == "" {
		token = accessToken
	}
	if token == "" {
		return
	}
	if err := e.revokeToken(context.WithoutCancel(ctx), token); err != nil {
		e.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "serverauth: revoking a token of a disconnected user failed", slog.String("user_id", userID), slog.String("error", err.Error()))
	}
}

// ResetConsent revokes the grant behind res, so that the user's next
// sign-in asks for consent again and Google issues a refresh token. It is
// the fix for ErrNoRefreshToken from mobile apps, which cannot request
// prompt=consent. Any stored record of the user is deleted too (revoking
// the grant killed its tokens), and so is every token held in memory, a
// pending rotated refresh token included, which is revoked as well.
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
	if res.UserID == "" {
		return nil
	}
	if err := e.revokePending(ctx, res.UserID); err != nil {
		return err
	}
	if e.cfg.Store != nil {
		if err := e.storeDelete(ctx, res.UserID); err != nil {
			return fmt.Errorf("serverauth: deleting tokens of user %q: %w", res.UserID, err)
		}
	}
	e.users.invalidate(res.UserID)
	return nil
}

// revokeToken posts token to the revocation endpoint, as one observed
// OpRevoke. 200, and 400 invalid_token (already revoked or expired; Google
// deviates from RFC 7009 §2.2 here), mean done. The request carries no
// client credentials: Google's revocation endpoint needs none (RFC 7009
// §2.1 leaves client authentication to the server), so neither a rotated
// secret nor a wrong one can keep a user from being disconnected.
func (e *Exchanger) revokeToken(ctx context.Context, token string) error {
	ctx, run := e.begin(ctx, OpRevoke)
	var (
		te       *TokenError
		already  bool
		attempts int
	)
	err := e.retry.Do(ctx, func(ctx context.Context) (retry.Decision, error) {
		attempts++
		already, te = e.revokeOnce(ctx, token)
		if te == nil {
			return retry.Stop, nil
		}
		return te.retryDecision(), te
	})
	o := Observation{Attempts: attempts}
	if err != nil {
		e.end(run, te, o)
		if errors.Is(te, ErrClientDeleted) {
			e.cfg.Logger.LogAttrs(ctx, slog.LevelError, "serverauth: revoke failed", slog.String("error", te.Code), slog.String("fix", te.Hint))
		}
		return te
	}
	if already {
		o.Reason = "already_revoked"
	}
	e.end(run, nil, o)
	return nil
}

// revokeOnce makes one revocation request; already reports Google's
// answer that the token was dead before.
func (e *Exchanger) revokeOnce(ctx context.Context, token string) (already bool, _ *TokenError) {
	ec := errorContext{op: OpRevoke, clientID: e.cfg.ClientID, now: e.cfg.Now(), secrets: []string{token, e.cfg.ClientSecret, e.cfg.PreviousClientSecret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.Endpoints.RevokeURL, strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		return false, newTokenError(err, ec)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := e.cfg.HTTPClient.Do(req)
	if err != nil {
		return false, newTokenError(err, ec)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return false, newTokenError(err, ec)
	}
	if resp.StatusCode == http.StatusOK {
		return false, nil
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
		return true, nil
	}
	return false, newTokenError(re, ec)
}
