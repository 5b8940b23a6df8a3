package serverauth

import (
	"context"
	"math"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// tokenFacts is one user's access token as memory keeps it: immutable,
// copied by value, and without an *oauth2.Token, which is built when asked
// for (see tokenEntry).
type tokenFacts struct {
	refreshAt  int64  // when to stop handing it out, Unix nanoseconds; first, beside the cache's key
	expiry     int64  // the token's expiry, Unix nanoseconds; noExpiry when it has none
	authHeader string // "Bearer <token>", built once; the token is its tail
}

// bearer is the Authorization header's scheme prefix for an access token.
const bearer = "Bearer "

// noExpiry is tokenFacts.expiry for a token without one (a zero Expiry).
const noExpiry = math.MinInt64

// cachedToken is a token as the slow path obtained it.
type cachedToken struct {
	tokenFacts
	fromStore bool // read from the store, not refreshed here
}

// tokenEntry is the token cache's value: the facts and, once a Token call
// served from memory asked for it, the *oauth2.Token that later calls
// share. Most of a large population is read about once per token lifetime
// (the read that loads it), so those users keep no oauth2.Token at all:
// 80 bytes of entry beside the header string, against 176 with one inline.
// The entry is replaced when the token is, so the shared token never
// outlives its facts.
type tokenEntry struct {
	tokenFacts
	shared atomic.Pointer[oauth2.Token]
}

// newCachedToken builds a token for the cache; the token is kept once, as
// a slice of its header.
func newCachedToken(accessToken string, expiry, refreshAt time.Time) *cachedToken {
	exp := int64(noExpiry)
	if !expiry.IsZero() {
		exp = unixNanos(expiry)
	}
	return &cachedToken{tokenFacts: tokenFacts{
		refreshAt:  unixNanos(refreshAt),
		expiry:     exp,
		authHeader: bearer + accessToken,
	}}
}

// entry is the cache's value for ct; a composite literal, so that the
// atomic field is never copied.
func (ct *cachedToken) entry() tokenEntry { return tokenEntry{tokenFacts: ct.tokenFacts} }

// accessToken is the token itself, a slice of its header.
func (f *tokenFacts) accessToken() string { return f.authHeader[len(bearer):] }

// expiryTime is the token's expiry as oauth2.Token carries it.
func (f *tokenFacts) expiryTime() time.Time {
	if f.expiry == noExpiry {
		return time.Time{}
	}
	return time.Unix(0, f.expiry)
}

// unexpiredAt reports whether the token has not expired at now. A token
// without an expiry never counts as unexpired (noExpiry is below every
// time): its age is unknown, so it is not kept past a failed refresh.
func (f *tokenFacts) unexpiredAt(now time.Time) bool { return unixNanos(now) < f.expiry }

// newToken returns a new *oauth2.Token for the facts: access token, type
// and expiry, no refresh token.
func (f *tokenFacts) newToken() *oauth2.Token {
	return &oauth2.Token{AccessToken: f.accessToken(), TokenType: "Bearer", Expiry: f.expiryTime()}
}

// token returns the entry's shared *oauth2.Token, building it the first
// time; racing first calls may each build one, and one of them is kept.
func (te *tokenEntry) token() *oauth2.Token {
	if t := te.shared.Load(); t != nil {
		return t
	}
	t := te.newToken()
	if te.shared.CompareAndSwap(nil, t) {
		return t
	}
	return te.shared.Load()
}

// usableAt reports whether the token may still be handed out at now.
func (f *tokenFacts) usableAt(now time.Time) bool { return unixNanos(now) < f.refreshAt }

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
// A cached token is returned from memory without touching the store; the
// first call served from memory builds the *oauth2.Token that later calls
// share without allocating. It must not be modified, and it carries no
// refresh token.
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
	if te, ok := e.users.cached(userID); ok {
		return te.token(), nil
	}
	ct, err := e.tokenSlow(ctx, userID, "")
	if err != nil {
		return nil, err
	}
	return ct.newToken(), nil
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
	if te, ok := s.e.users.cached(s.userID); ok {
		return te.token(), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
	defer cancel()
	return s.e.Token(ctx, s.userID)
}
