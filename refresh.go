package serverauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/serverauth/serverauth/internal/retry"
	"golang.org/x/oauth2"
)

// tokenSlow obtains a token through the per-user single flight. rejected,
// when set, is an access token a resource server refused: a stored copy of
// it does not count as fresh.
func (e *Exchanger) tokenSlow(ctx context.Context, userID, rejected string) (*cachedToken, error) {
	if e.tokens.store == nil {
		return nil, errNoStore
	}
	if userID == "" {
		return nil, fmt.Errorf("%w: empty user ID", ErrNotFound)
	}
	key := userID
	if rejected != "" {
		key = userID + "\x00rejected"
	}
	ct, err, _ := e.refreshes.Do(ctx, key, refreshTimeout,
		func(ctx context.Context) (*cachedToken, error) { return e.obtain(ctx, userID, rejected) },
		func(_ *cachedToken, err error) time.Duration { return e.retainRefresh(userID, err) })
	if err != nil {
		// A token that has not expired yet beats a temporary failure.
		var te *TokenError
		if prev, ok := e.cache.Load(userID); ok && rejected == "" && errors.As(err, &te) && te.Temporary() && e.cfg.now().Before(prev.tok.Expiry) {
			return prev, nil
		}
		return nil, err
	}
	return ct, nil
}

// retainRefresh says how long a refresh outcome is shared with later
// callers: failures back off per user, dead grants are answered from memory
// for a moment, successes live in the cache instead.
func (e *Exchanger) retainRefresh(userID string, err error) time.Duration {
	ts := &e.tokens
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var te *TokenError
	switch {
	case err == nil:
		delete(ts.failures, userID)
		return 0
	case errors.Is(err, ErrReauthRequired) || errors.Is(err, ErrNoRefreshToken):
		return deadGrantRetention
	case errors.As(err, &te) && te.Temporary():
		if len(ts.failures) >= maxTrackedFailures {
			clear(ts.failures) // forgetting backoff state is harmless; growing without bound is not
		}
		// Each attempt made inside the call was a step of the same schedule:
		// the endpoint sees at most one request per user per step.
		ts.failures[userID] += max(te.attempts, 1)
		return max(refreshBackoff(ts.failures[userID]), min(te.RetryAfter, maxRefreshBackoff))
	}
	return 0
}

// refreshBackoff is the wait after the n-th consecutive failed refresh of a
// user: 1 s doubling to maxRefreshBackoff.
func refreshBackoff(n int) time.Duration {
	d := minRefreshBackoff
	for i := 1; i < n && d < maxRefreshBackoff; i++ {
		d *= 2
	}
	return min(d, maxRefreshBackoff)
}

// obtain gets a fresh token for the user: from the store if another
// process refreshed it, else by refreshing under the store's lease.
func (e *Exchanger) obtain(ctx context.Context, userID, rejected string) (*cachedToken, error) {
	st := e.tokens.store
	if err := e.flushPending(ctx, userID); err != nil {
		return nil, err
	}
	rec, err := e.load(ctx, userID)
	if err != nil {
		return nil, err
	}
	if ct, ok := e.fromRecord(rec, rejected); ok {
		return ct, nil
	}
	if err := usable(rec); err != nil {
		return nil, err
	}
	if l, ok := st.(Leaser); ok {
		var ct *cachedToken
		rec, ct, err = e.lease(ctx, l, rec, rejected)
		if err != nil || ct != nil { // ct: another process refreshed meanwhile
			return ct, err
		}
		defer l.Release(context.WithoutCancel(ctx), userID, e.tokens.owner)
	}
	return e.refresh(ctx, rec)
}

// load reads the user's record.
func (e *Exchanger) load(ctx context.Context, userID string) (*Record, error) {
	rec, err := e.tokens.store.Get(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: user %q has no stored tokens: they must sign in with offline access first", ErrNotFound, userID)
	}
	if err != nil {
		return nil, fmt.Errorf("serverauth: reading tokens of user %q: %w", userID, err)
	}
	return rec, nil
}

// usable reports why a record cannot be refreshed, if it cannot.
func usable(rec *Record) error {
	if rec.Status.NeedsConsent() && rec.Status != StatusScopeRemoved {
		return fmt.Errorf("%w: the grant of user %q is %s; they must sign in and consent again", ErrReauthRequired, rec.UserID, rec.Status)
	}
	if len(rec.RefreshToken) == 0 {
		return fmt.Errorf("%w: user %q has no stored refresh token; they must consent again (see Exchanger.ResetConsent)", ErrNoRefreshToken, rec.UserID)
	}
	return nil
}

// lease takes the store's lease on the user, waiting while another process
// holds it. It returns the record to refresh under the lease, or the token
// another process's refresh stored meanwhile.
func (e *Exchanger) lease(ctx context.Context, l Leaser, rec *Record, rejected string) (*Record, *cachedToken, error) {
	userID, owner := rec.UserID, e.tokens.owner
	wait := leasePollMin
	for {
		got, err := l.Lease(ctx, userID, owner, e.cfg.now(), leaseTTL)
		if err != nil {
			return nil, nil, fmt.Errorf("serverauth: leasing user %q for refresh: %w", userID, err)
		}
		// Held or not, the record may have been refreshed since it was read.
		cur, err := e.load(ctx, userID)
		var ct *cachedToken
		if err == nil {
			var fresh bool
			if ct, fresh = e.fromRecord(cur, rejected); !fresh {
				err = usable(cur)
			}
		}
		if err != nil || ct != nil {
			if got {
				l.Release(context.WithoutCancel(ctx), userID, owner)
			}
			return nil, ct, err
		}
		if got {
			return cur, nil, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, leasePollMax)
	}
}

// refresh redeems the record's refresh token at Google and saves the result.
func (e *Exchanger) refresh(ctx context.Context, rec *Record) (*cachedToken, error) {
	userID := rec.UserID
	rt, err := e.open(userID, fieldRefreshToken, rec.RefreshToken)
	if err != nil {
		return nil, err
	}
	var (
		tok      *oauth2.Token
		te       *TokenError
		start    time.Time
		attempts int
	)
	err = e.retry.Do(ctx, func(ctx context.Context) (retry.Decision, error) {
		attempts++
		start = e.cfg.now()
		t, err := e.oauthConfig("").TokenSource(e.oauth2Context(ctx), &oauth2.Token{RefreshToken: rt}).Token()
		if err != nil {
			te = newTokenError(err, errorContext{op: opRefresh, now: e.cfg.now(), secrets: []string{rt, e.creds.ClientSecret}})
			return te.retryDecision(), te
		}
		tok = t
		return retry.Stop, nil
	})
	if err != nil {
		te.attempts = attempts
		e.logger().LogAttrs(ctx, slog.LevelWarn, "serverauth: refresh failed", slog.String("user_id", userID),
			slog.String("class", te.Class.String()), slog.String("error", te.Code), slog.Int("status", te.StatusCode))
		if errors.Is(te, ErrInvalidGrant) {
			e.markDead(ctx, rec, rt, te)
		}
		return nil, te
	}
	setExpiry(tok, start)
	granted := grantedScopes(tok)
	rotated := tok.RefreshToken != "" && tok.RefreshToken != rt
	rtExpiry := refreshTokenExpiry(tok, start)
	apply := func(r *Record) error {
		sealed, err := e.seal(userID, fieldAccessToken, tok.AccessToken)
		if err != nil {
			return err
		}
		r.AccessToken, r.Expiry, r.Updated = sealed, tok.Expiry, e.cfg.now()
		if rotated {
			if r.RefreshToken, err = e.seal(userID, fieldRefreshToken, tok.RefreshToken); err != nil {
				return err
			}
		}
		if !rtExpiry.IsZero() {
			r.RefreshTokenExpiry = rtExpiry
		}
		if len(granted) > 0 {
			r.Scopes = granted
			r.Status = StatusActive
			if len(missingScopes(e.required, granted)) > 0 {
				r.Status = StatusScopeRemoved
			}
		}
		return nil
	}
	if err := e.update(ctx, rec, apply); err != nil {
		if rotated {
			// Keep the new refresh token until the store takes it.
			pending := rec.Clone()
			if apply(pending) == nil {
				e.setPending(userID, pending)
			}
		}
		return nil, &SaveError{UserID: userID, Err: err}
	}
	e.logger().LogAttrs(ctx, slog.LevelDebug, "serverauth: refreshed", slog.String("user_id", userID), slog.Bool("rotated", rotated))
	return e.remember(userID, tok.AccessToken, tok.Expiry, tok.Expiry.Add(-e.margin(tok.Expiry.Sub(start)))), nil
}

// markDead records that the user's grant is dead (invalid_grant on
// refresh): the refresh token is wiped, except on reauthentication, where
// the grant survives a fresh sign-in. Best effort: the caller already has
// the refresh's error to report.
func (e *Exchanger) markDead(ctx context.Context, rec *Record, usedRT string, te *TokenError) {
	status := StatusRevoked
	switch {
	case isReauthSubtype(te):
		status = StatusReauthRequired
	case !rec.RefreshTokenExpiry.IsZero() && !e.cfg.now().Before(rec.RefreshTokenExpiry):
		status = StatusExpired
	}
	err := e.update(ctx, rec, func(r *Record) error {
		// If the user signed in again meanwhile, the stored grant is new.
		if cur, err := e.open(r.UserID, fieldRefreshToken, r.RefreshToken); err != nil || cur != usedRT {
			return errStaleUpdate
		}
		r.Status, r.AccessToken, r.Updated = status, nil, e.cfg.now()
		if status != StatusReauthRequired {
			r.RefreshToken = nil
		}
		return nil
	})
	e.cache.Delete(rec.UserID)
	if err != nil && !errors.Is(err, errStaleUpdate) {
		e.logger().LogAttrs(ctx, slog.LevelWarn, "serverauth: could not record a dead grant", slog.String("user_id", rec.UserID), slog.String("error", err.Error()))
	}
}

// errStaleUpdate stops an update whose premise no longer holds.
var errStaleUpdate = errors.New("serverauth: record changed; update not applied")

// update applies change to rec and stores it, re-reading and re-applying on
// version conflicts.
func (e *Exchanger) update(ctx context.Context, rec *Record, change func(*Record) error) error {
	st := e.tokens.store
	for attempt := 0; ; attempt++ {
		next := rec.Clone()
		if err := change(next); err != nil {
			return err
		}
		err := st.Put(ctx, next)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrVersionConflict) || attempt == maxPutAttempts-1 {
			return err
		}
		cur, gerr := st.Get(ctx, rec.UserID)
		if gerr != nil {
			return gerr // ErrNotFound: deleted meanwhile (revoked); never resurrect
		}
		rec = cur
	}
}

func (e *Exchanger) setPending(userID string, rec *Record) {
	e.tokens.mu.Lock()
	e.tokens.pending[userID] = rec
	e.tokens.mu.Unlock()
}

// flushPending writes a refreshed record whose save failed earlier (it
// holds a rotated refresh token Google will not give again).
func (e *Exchanger) flushPending(ctx context.Context, userID string) error {
	e.tokens.mu.Lock()
	p := e.tokens.pending[userID]
	e.tokens.mu.Unlock()
	if p == nil {
		return nil
	}
	cur, err := e.tokens.store.Get(ctx, userID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return &SaveError{UserID: userID, Err: err}
	}
	base := cur
	if base == nil {
		base = &Record{UserID: userID}
	}
	err = e.update(ctx, base, func(r *Record) error {
		v := r.Version
		*r = *p.Clone()
		r.Version = v
		return nil
	})
	if err != nil {
		return &SaveError{UserID: userID, Err: err}
	}
	e.tokens.mu.Lock()
	if e.tokens.pending[userID] == p {
		delete(e.tokens.pending, userID)
	}
	e.tokens.mu.Unlock()
	return nil
}
