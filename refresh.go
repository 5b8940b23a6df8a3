package serverauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/oauth2"

	"github.com/serverauth/serverauth/internal/retry"
)

// Refresh bounds.
const (
	refreshTimeout = 30 * time.Second // one refresh, detached from callers
	// leaseTTL is short and renewed while the refresh runs, so a holder that
	// crashed stalls the other replicas' callers for that user at most this
	// long, and callers with a still valid token do not wait at all.
	leaseTTL           = 10 * time.Second
	leaseRenewEvery    = leaseTTL / 3
	maxPutAttempts     = 8
	minRefreshBackoff  = time.Second
	maxRefreshBackoff  = time.Minute
	deadGrantRetention = 5 * time.Second // a dead grant's error is reused this long
	leasePollMin       = 10 * time.Millisecond
	leasePollMax       = 250 * time.Millisecond
)

// tokenSlow obtains a token through the per-user single flight. rejected,
// when set, is an access token a resource server refused: a stored copy of
// it does not count as fresh.
func (e *Exchanger) tokenSlow(ctx context.Context, userID, rejected string) (*cachedToken, error) {
	if e.cfg.Store == nil {
		return nil, errNoStore
	}
	if userID == "" {
		return nil, fmt.Errorf("%w: empty user ID", ErrNotFound)
	}
	ct, err, _ := e.users.refreshes.Do(ctx, flightKey(userID, rejected != ""), refreshTimeout,
		func(ctx context.Context) (*cachedToken, error) { return e.obtain(ctx, userID, rejected) },
		func(_ *cachedToken, err error) time.Duration { return e.retainRefresh(userID, err) })
	if err != nil {
		// A token that has not expired yet beats a temporary failure.
		if prev, ok := e.users.unexpired(userID); ok && rejected == "" && ClassOf(err).Temporary() {
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
	var te *TokenError
	switch {
	case err == nil:
		e.users.succeeded(userID)
		return 0
	case errors.Is(err, ErrReauthRequired) || errors.Is(err, ErrNoRefreshToken):
		return deadGrantRetention
	case errors.As(err, &te) && te.Class.Temporary():
		// Each attempt made inside the call was a step of the same schedule:
		// the endpoint sees at most one request per user per step.
		n := e.users.failed(userID, te.attempts)
		return max(refreshBackoff(n), min(te.RetryAfter, maxRefreshBackoff))
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
	epoch := e.users.begin()
	defer e.users.end(epoch)
	if err := e.flushPending(ctx, userID); err != nil {
		return nil, err
	}
	rec, err := e.load(ctx, userID)
	if err != nil {
		return nil, err
	}
	if ct, ok := e.fromRecord(rec, rejected, epoch); ok {
		return ct, nil
	}
	if err := usable(rec); err != nil {
		return nil, err
	}
	if l, ok := e.cfg.Store.(Leaser); ok {
		var ct *cachedToken
		rec, ct, err = e.lease(ctx, l, rec, rejected, epoch)
		if err != nil || ct != nil { // ct: another process refreshed meanwhile
			return ct, err
		}
		stop := e.renewLease(ctx, l, userID)
		defer func() {
			stop()
			l.Release(context.WithoutCancel(ctx), userID, e.owner)
		}()
	}
	return e.refresh(ctx, rec, epoch)
}

// load reads the user's record.
func (e *Exchanger) load(ctx context.Context, userID string) (*Record, error) {
	rec, err := e.cfg.Store.Get(ctx, userID)
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
	if !rec.Status.refreshable() {
		return fmt.Errorf("%w: the grant of user %q is %s; they must sign in and consent again", ErrReauthRequired, rec.UserID, rec.Status)
	}
	if len(rec.RefreshToken) == 0 {
		return fmt.Errorf("%w: user %q has no stored refresh token; they must consent again (see Exchanger.ResetConsent)", ErrNoRefreshToken, rec.UserID)
	}
	return nil
}

// lease takes the store's lease on the user, waiting while another process
// holds it. It returns the record to refresh under the lease, or the token
// another process's refresh stored meanwhile. A caller whose cached token
// has not expired yet does not wait behind another holder: it gets that
// token at once.
func (e *Exchanger) lease(ctx context.Context, l Leaser, rec *Record, rejected string, epoch uint64) (*Record, *cachedToken, error) {
	userID, owner := rec.UserID, e.owner
	wait := leasePollMin
	for {
		got, err := l.Lease(ctx, userID, owner, e.cfg.Now(), leaseTTL)
		if err != nil {
			return nil, nil, fmt.Errorf("serverauth: leasing user %q for refresh: %w", userID, err)
		}
		// Held or not, the record may have been refreshed since it was read.
		cur, err := e.load(ctx, userID)
		var ct *cachedToken
		if err == nil {
			var fresh bool
			if ct, fresh = e.fromRecord(cur, rejected, epoch); !fresh {
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
		if prev, ok := e.users.unexpired(userID); ok && rejected == "" {
			return nil, prev, nil // another replica is refreshing; this token still works
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

// renewLease extends the lease every leaseRenewEvery until stop is called,
// so that a refresh slower than leaseTTL keeps it while a crashed holder
// loses it quickly.
func (e *Exchanger) renewLease(ctx context.Context, l Leaser, userID string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(leaseRenewEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				held, err := l.Lease(ctx, userID, e.owner, e.cfg.Now(), leaseTTL)
				if ctx.Err() != nil {
					return // the refresh timed out; it reports that itself
				}
				if err != nil || !held {
					// Lost (this process was paused past the lease): the
					// refresh's write still lands only over the record it
					// started from.
					e.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "serverauth: refresh lease lost", slog.String("user_id", userID))
					return
				}
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// refresh redeems the record's refresh token at Google and saves the result.
func (e *Exchanger) refresh(ctx context.Context, rec *Record, epoch uint64) (*cachedToken, error) {
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
		start = e.cfg.Now()
		t, err := e.oauthConfig("").TokenSource(e.oauth2Context(ctx), &oauth2.Token{RefreshToken: rt}).Token()
		if err != nil {
			te = newTokenError(err, errorContext{op: OpRefresh, now: e.cfg.Now(), secrets: []string{rt, e.cfg.ClientSecret}})
			return te.retryDecision(), te
		}
		tok = t
		return retry.Stop, nil
	})
	if err != nil {
		te.attempts = attempts
		e.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "serverauth: refresh failed", slog.String("user_id", userID),
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
	redeemed := tokenHash(rt)
	apply := func(r *Record) error {
		// Only over the record this refresh redeemed: one that still holds
		// the same refresh token, alive or marked dead because another
		// replica's use of it failed meanwhile. Anything newer wins.
		if !e.holds(r, redeemed) {
			return errStaleUpdate
		}
		sealed, err := e.seal(userID, fieldAccessToken, tok.AccessToken)
		if err != nil {
			return err
		}
		r.AccessToken, r.Expiry, r.Updated = sealed, tok.Expiry, e.cfg.Now()
		if rotated {
			if err := e.setRefreshToken(r, tok.RefreshToken); err != nil {
				return err
			}
		}
		if !rtExpiry.IsZero() {
			r.RefreshTokenExpiry = rtExpiry
		}
		if len(granted) > 0 {
			r.Scopes = granted
		}
		r.Status = StatusActive // it just worked
		if len(missingScopes(e.cfg.Scopes, r.Scopes)) > 0 {
			r.Status = StatusScopeRemoved
		}
		return nil
	}
	ct := newCachedToken(tok.AccessToken, tok.Expiry, tok.Expiry.Add(-e.margin(tok.Expiry.Sub(start))))
	err = e.update(ctx, rec, apply)
	switch {
	case err == nil:
		e.users.remember(userID, epoch, ct)
		e.cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "serverauth: refreshed", slog.String("user_id", userID), slog.Bool("rotated", rotated))
		return ct, nil
	case errors.Is(err, errStaleUpdate):
		// A newer grant is stored (a new sign-in, or another replica's
		// refresh): it wins. The token just obtained still works, but is
		// not cached over the newer one. A rotated refresh token is dropped,
		// not revoked: revoking it would end the newer grant too.
		e.cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "serverauth: refresh superseded by a newer record", slog.String("user_id", userID))
		return ct, nil
	case errors.Is(err, ErrNotFound):
		// The user was disconnected while the refresh ran: what it got must
		// not outlive the grant.
		e.revokeQuietly(ctx, userID, tok.RefreshToken, tok.AccessToken)
		return nil, fmt.Errorf("%w: user %q was disconnected while their token was refreshed", ErrNotFound, userID)
	}
	// The store failed, and may or may not have taken the write. A rotated
	// refresh token exists nowhere else: keep it until the store takes it.
	if rotated {
		p := rec.Clone()
		if apply(p) == nil {
			e.users.park(userID, &pendingWrite{rec: p, redeemed: redeemed})
		}
	}
	return nil, &SaveError{UserID: userID, Err: err, kept: rotated}
}

// holds reports whether r still holds the refresh token whose hash is
// redeemed.
func (e *Exchanger) holds(r *Record, redeemed [32]byte) bool {
	if len(r.RefreshToken) == 0 {
		return false
	}
	rt, err := e.open(r.UserID, fieldRefreshToken, r.RefreshToken)
	return err == nil && tokenHash(rt) == redeemed
}

// markDead records that the user's grant is dead (invalid_grant on
// refresh). The dead refresh token stays in the record, sealed: it is how a
// refresh that redeemed it on another replica recognises the record as its
// own (see refresh), and it revokes harmlessly. Best effort: the caller
// already has the refresh's error to report.
func (e *Exchanger) markDead(ctx context.Context, rec *Record, usedRT string, te *TokenError) {
	status := StatusRevoked
	switch {
	case isReauthSubtype(te):
		status = StatusReauthRequired
	case !rec.RefreshTokenExpiry.IsZero() && !e.cfg.Now().Before(rec.RefreshTokenExpiry):
		status = StatusExpired
	}
	used := tokenHash(usedRT)
	err := e.update(ctx, rec, func(r *Record) error {
		// If the user signed in again meanwhile, the stored grant is new.
		if !e.holds(r, used) {
			return errStaleUpdate
		}
		r.Status, r.AccessToken, r.Updated = status, nil, e.cfg.Now()
		return nil
	})
	if p := e.users.invalidate(rec.UserID); p != nil {
		e.users.park(rec.UserID, p) // a newer refresh's token; flushPending decides
	}
	if err != nil && !errors.Is(err, errStaleUpdate) {
		e.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "serverauth: could not record a dead grant", slog.String("user_id", rec.UserID), slog.String("error", err.Error()))
	}
}

// errStaleUpdate stops an update whose premise no longer holds.
var errStaleUpdate = errors.New("serverauth: record changed; update not applied")

// update applies change to rec and stores it, re-reading and re-applying on
// version conflicts. A record deleted meanwhile is never recreated: update
// then returns an error wrapping ErrNotFound.
func (e *Exchanger) update(ctx context.Context, rec *Record, change func(*Record) error) error {
	st := e.cfg.Store
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

// flushPending writes the user's pending record (a rotated refresh token
// whose save failed), but only over the record it was refreshed from: if
// the store holds anything newer (another replica refreshed or the user
// signed in again, or the failed save did commit after all), that wins and
// the pending copy is dropped. If the user's record is gone (disconnected
// by another replica), the pending refresh token is revoked, not written.
func (e *Exchanger) flushPending(ctx context.Context, userID string) error {
	p := e.users.pendingOf(userID)
	if p == nil {
		return nil
	}
	cur, err := e.cfg.Store.Get(ctx, userID)
	if err == nil {
		err = e.update(ctx, cur, func(r *Record) error {
			if !e.holds(r, p.redeemed) {
				return errStaleUpdate
			}
			v := r.Version
			*r = *p.rec.Clone()
			r.Version = v
			return nil
		})
	}
	switch {
	case err == nil, errors.Is(err, errStaleUpdate):
	case errors.Is(err, ErrNotFound):
		if rt, oerr := e.open(userID, fieldRefreshToken, p.rec.RefreshToken); oerr == nil {
			e.revokeQuietly(ctx, userID, rt, "")
		}
	default:
		return &SaveError{UserID: userID, Err: err, kept: true}
	}
	e.users.unpark(userID, p)
	return nil
}

// Flush writes every refreshed record still held in memory because the
// store refused it (see SaveError), with the same care as a refresh: only
// over the record it was refreshed from. Call it on graceful shutdown,
// after the last request: a rotated refresh token that was never written is
// lost with the process. It returns the errors of the writes that failed;
// those records stay held, so Flush can be called again.
func (e *Exchanger) Flush(ctx context.Context) error {
	if e.cfg.Store == nil {
		return nil
	}
	var errs []error
	for _, userID := range e.users.pendingUsers() {
		if err := e.flushPending(ctx, userID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
