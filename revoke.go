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
