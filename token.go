package serverauth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// Token path bounds.
const (
	defaultRefreshMargin  = time.Minute
	defaultTokenCacheSize = 10000
	refreshTimeout        = 30 * time.Second // one refresh, detached from callers
	leaseTTL              = refreshTimeout + 5*time.Second
	maxPutAttempts        = 8
	minRefreshBackoff     = time.Second
	maxRefreshBackoff     = time.Minute
	deadGrantRetention    = 5 * time.Second // a dead grant's error is reused this long
	leasePollMin          = 10 * time.Millisecond
	leasePollMax          = 250 * time.Millisecond
	maxTrackedFailures    = 100000 // users whose failure streak is remembered
)

// cachedToken is one user's access token in memory.
type cachedToken struct {
	tok        *oauth2.Token // access token, type and expiry only
	refreshAt  time.Time     // when to stop handing it out
	authHeader string        // "Bearer <token>", built once
}

// tokenState is the Exchanger's offline-access machinery.
type tokenState struct {
	store  TokenStore
	cipher Cipher
	margin time.Duration
	owner  string // this Exchanger's lease owner ID

	mu       sync.Mutex         // guards failures and pending
	failures map[string]int     // consecutive failed refreshes per user
	pending  map[string]*Record // refreshed records whose save failed, by user
}

func newOwnerID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Token returns a valid access token for the user, refreshing it with the
// stored refresh token when it is within the refresh margin of its expiry.
// A cached token is returned from memory without touching the store; the
// returned token must not be modified and carries no refresh token.
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
// error); a *SaveError if the refreshed token could not be saved.
func (e *Exchanger) Token(ctx context.Context, userID string) (*oauth2.Token, error) {
	if ct, ok := e.cache.Load(userID); ok && e.cfg.now().Before(ct.refreshAt) {
		return ct.tok, nil
	}
	ct, err := e.tokenSlow(ctx, userID, "")
	if err != nil {
		return nil, err
	}
	return ct.tok, nil
}

// cached returns the user's cached token entry if it is still good.
func (e *Exchanger) cached(userID string) (*cachedToken, bool) {
	ct, ok := e.cache.Load(userID)
	if ok && e.cfg.now().Before(ct.refreshAt) {
		return ct, true
	}
	return nil, false
}

// fromRecord caches and returns the record's access token if it is fresh
// and not the rejected one.
func (e *Exchanger) fromRecord(rec *Record, rejected string) (*cachedToken, bool) {
	if len(rec.AccessToken) == 0 || rec.Status.NeedsConsent() && rec.Status != StatusScopeRemoved {
		return nil, false
	}
	refreshAt := rec.Expiry.Add(-e.margin(rec.Expiry.Sub(rec.Updated)))
	if !e.cfg.now().Before(refreshAt) {
		return nil, false
	}
	at, err := e.open(rec.UserID, fieldAccessToken, rec.AccessToken)
	if err != nil || at == rejected {
		return nil, false
	}
	ct := e.remember(rec.UserID, at, rec.Expiry, refreshAt)
	return ct, true
}

// margin is the refresh margin for a token of the given lifetime: the
// configured margin, at most a quarter of the lifetime.
func (e *Exchanger) margin(lifetime time.Duration) time.Duration {
	return max(min(e.tokens.margin, lifetime/4), 0)
}

// remember puts an access token in the memory cache.
func (e *Exchanger) remember(userID, accessToken string, expiry, refreshAt time.Time) *cachedToken {
	header := "Bearer " + accessToken // the token is kept once, as a slice of its header
	ct := &cachedToken{
		tok:        &oauth2.Token{AccessToken: header[len("Bearer "):], TokenType: "Bearer", Expiry: expiry},
		refreshAt:  refreshAt,
		authHeader: header,
	}
	e.cache.Store(userID, ct)
	return ct
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
	if ct, ok := s.e.cached(s.userID); ok {
		return ct.tok, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
	defer cancel()
	return s.e.Token(ctx, s.userID)
}
