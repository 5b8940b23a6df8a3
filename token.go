package serverauth

import (
	"context"
	"math"
	"time"

	"golang.org/x/oauth2"
)

// cachedToken is one user's access token in memory. The token cache keeps
// it by value, and Token hands out a pointer to its tok: immutable once
// published, so callers share it without a copy.
type cachedToken struct {
	refreshAt  int64        // when to stop handing it out, Unix nanoseconds; first, beside the cache's key
	tok        oauth2.Token // access token, type and expiry only
	authHeader string       // "Bearer <token>", built once
	fromStore  bool         // read from the store, not refreshed here
}

// newCachedToken builds a cache entry; the token is kept once, as a slice
// of its header.
func newCachedToken(accessToken string, expiry, refreshAt time.Time) *cachedToken {
	header := "Bearer " + accessToken
	return &cachedToken{
		tok:        oauth2.Token{AccessToken: header[len("Bearer "):], TokenType: "Bearer", Expiry: expiry},
		refreshAt:  unixNanos(refreshAt),
		authHeader: header,
	}
}

// usableAt reports whether the token may still be handed out at now.
func (ct *cachedToken) usableAt(now time.Time) bool { return unixNanos(now) < ct.refreshAt }

// unixNanos is t in Unix nanoseconds, clamped to the int64 range (beyond
// years 1678 to 2262, where t.UnixNano is undefined).
func unixNanos(t time.Time) int64 {
	const limit = math.MaxInt64/int64(time.Second) - 1
	switch s := t.Unix(); {
	case s < -limit:
		return math.MinInt64
	case s > limit:
		return math.MaxInt64
	default:
		return s*1e9 + int64(t.Nanosecond())
	}
}

// Token returns a valid access token for the user, refreshing it with the
// stored refresh token when it is within the refresh margin of its expiry.
// A cached token is returned from memory without touching the store or
// allocating: callers for the same user share one *oauth2.Token, which
// must not be modified, and which carries no refresh token.
//
// Concurrent callers for one user share one refresh, each able to give up
// through its own ctx; the refresh runs detached, with its own timeout, and
// is saved before it is returned. With a store shared by several processes
// that offers a Leaser, one process refreshes and the others read its
// result from the store.
//
// Errors: ErrNotFound (wrapped) when the user has no stored tokens;
// ErrReauthRequired when the grant is dead (revoked, expired, reauth
// demanded), without calling Google; a *TokenError for a failed refresh
// (failures back off per user, and callers in the backoff share the last
// error); a *SaveError if the refreshed token could not be saved (it is
// kept in memory and written by the next call for the user or by Flush).
func (e *Exchanger) Token(ctx context.Context, userID string) (*oauth2.Token, error) {
	if ct, ok := e.users.cached(userID); ok {
		return &ct.tok, nil
	}
	ct, err := e.tokenSlow(ctx, userID, "")
	if err != nil {
		return nil, err
	}
	return &ct.tok, nil
}

// fromRecord returns the record's access token, cached unless the user was
// invalidated since epoch, if it is fresh and not the rejected one.
func (e *Exchanger) fromRecord(rec *Record, rejected string, epoch uint64) (*cachedToken, bool) {
	if len(rec.AccessToken) == 0 || !rec.Status.refreshable() {
		return nil, false
	}
	refreshAt := rec.Expiry.Add(-e.margin(rec.Expiry.Sub(rec.Updated)))
	if !e.cfg.Now().Before(refreshAt) {
		return nil, false
	}
	at, err := e.open(rec.UserID, fieldAccessToken, rec.AccessToken)
	if err != nil || at == rejected {
		return nil, false
	}
	ct := newCachedToken(at, rec.Expiry, refreshAt)
	ct.fromStore = true
	e.users.remember(rec.UserID, epoch, ct)
	return ct, true
}

// margin is the refresh margin for a token of the given lifetime: the
// configured margin, at most a quarter of the lifetime.
func (e *Exchanger) margin(lifetime time.Duration) time.Duration {
	return max(min(e.cfg.RefreshMargin, lifetime/4), 0)
}

// TokenSource returns an oauth2.TokenSource for the user, backed by Token.
// Its Token method has no context: a refresh it triggers runs with a 30 s
// timeout, detached from any caller. Tokens are cached by the Exchanger,
// so there is no need to wrap it in oauth2.ReuseTokenSource.
func (e *Exchanger) TokenSource(userID string) oauth2.TokenSource {
	return &userTokenSource{e: e, userID: userID}
}

type userTokenSource struct {
	e      *Exchanger
	userID string
}

func (s *userTokenSource) Token() (*oauth2.Token, error) {
	if ct, ok := s.e.users.cached(s.userID); ok {
		return &ct.tok, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
	defer cancel()
	return s.e.Token(ctx, s.userID)
}
