package serverauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json"
	"golang.org/x/oauth2"

	"github.com/serverauth/serverauth/internal/flight"
	"github.com/serverauth/serverauth/internal/jws"
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

// tokenSlow obtains a token through the per-user single flight, as one
// observed OpToken. rejected, when set, is an access token a resource
// server refused: a stored copy of it does not count as fresh.
func (e *Exchanger) tokenSlow(ctx context.Context, userID, rejected string) (*cachedToken, error) {
	ctx, run := e.begin(ctx, OpToken)
	ct, o, err := e.tokenShared(ctx, userID, rejected)
	e.end(run, err, o)
	return ct, err
}

// tokenShared is tokenSlow's work; the Observation says how the token was
// had.
func (e *Exchanger) tokenShared(ctx context.Context, userID, rejected string) (*cachedToken, Observation, error) {
	var o Observation
	if e.cfg.Store == nil {
		return nil, o, errNoStore
	}
	if userID == "" {
		return nil, o, fmt.Errorf("%w: empty user ID", ErrNotFound)
	}
	ct, err, how := e.users.refreshes.Do(ctx, flightKey(userID, rejected != ""), refreshTimeout,
		func(ctx context.Context) (*cachedToken, error) { return e.obtain(ctx, userID, rejected) },
		func(_ *cachedToken, err error) time.Duration { return e.retainRefresh(userID, err) })
	o.Coalesced, o.Cached = how == flight.Joined, how == flight.Retained
	if err != nil {
		// A token that has not expired yet beats a temporary failure.
		if prev, ok := e.users.unexpired(userID); ok && rejected == "" && ClassOf(err).Temporary() {
			o.Reason = "kept_token"
			return prev, o, nil
		}
		return nil, o, err
	}
	if ct.fromStore {
		o.Reason = "from_store"
	}
	return ct, o, nil
}

// retainRefresh says how long a refresh outcome is shared with later
// callers: a dead grant's for a moment; a failed refresh's until the
// user's backoff ends, so that Google sees at most one request per user
// per step of it, whatever the failure (a transient one, or one that only
// an operator can fix, such as deleted_client); a success lives in the
// cache instead, and a failure of the store is not kept.
func (e *Exchanger) retainRefresh(userID string, err error) time.Duration {
	var (
		te *TokenError
		ie *IDTokenError
	)
	switch {
	case err == nil:
		e.users.succeeded(userID)
		return 0
	case errors.Is(err, ErrReauthRequired) || errors.Is(err, ErrNoRefreshToken):
		return deadGrantRetention
	case errors.As(err, &te):
		// Each attempt made inside the call was a step of the same schedule.
		return e.users.failed(userID, te.attempts, func(n int) time.Duration {
			return max(refreshBackoff(n), min(te.RetryAfter, maxRefreshBackoff))
		})
	case errors.As(err, &ie):
		return e.users.failed(userID, 1, refreshBackoff) // a refresh whose ID token was refused
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
	if err := e.usable(ctx, rec); err != nil {
		return nil, err
	}
	var h *leaseHold
	if l, ok := e.cfg.Store.(Leaser); ok {
		var ct *cachedToken
		rec, ct, err = e.leaseObserved(ctx, l, rec, rejected, epoch)
		if err != nil || ct != nil { // ct: another process refreshed meanwhile
			return ct, err
		}
		h = &leaseHold{stopRenewal: e.renewLease(ctx, l, userID)}
		h.rl, _ = l.(RecordLeaser)
		defer func() {
			h.stop()
			if !h.released {
				l.Release(context.WithoutCancel(ctx), userID, e.owner)
			}
		}()
	}
	return e.refresh(ctx, rec, epoch, h)
}

// leaseHold is the store's lease a refresh holds, renewed until stopped.
type leaseHold struct {
	rl          RecordLeaser // the store, when it can release with the write; else nil
	stopRenewal func()
	stopped     bool
	released    bool // by PutRelease
}

// stop ends the renewal, once.
func (h *leaseHold) stop() {
	if !h.stopped {
		h.stopped = true
		h.stopRenewal()
	}
}

// load reads the user's record.
func (e *Exchanger) load(ctx context.Context, userID string) (*Record, error) {
	rec, err := e.storeGet(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: user %q has no stored tokens: they must sign in with offline access first", ErrNotFound, userID)
	}
	if err != nil {
		return nil, fmt.Errorf("serverauth: reading tokens of user %q: %w", userID, err)
	}
	return rec, nil
}

// usable reports why a record cannot be refreshed, if it cannot: a dead
// grant, no refresh token, or a time-limited grant past its end. The last
// is found here, without asking Google, and recorded (StatusExpired).
func (e *Exchanger) usable(ctx context.Context, rec *Record) error {
	if !rec.Status.refreshable() {
		return &GrantError{UserID: rec.UserID, Status: rec.Status}
	}
	if len(rec.RefreshToken) == 0 {
		return fmt.Errorf("%w: user %q has no stored refresh token; they must consent again (see Exchanger.ResetConsent)", ErrNoRefreshToken, rec.UserID)
	}
	if end, idle := grantEnd(rec); !end.IsZero() && !e.cfg.Now().Before(end) {
		ge := &GrantError{UserID: rec.UserID, Status: StatusExpired, Ends: end, Idle: idle}
		e.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "serverauth: a time-limited grant has ended; not refreshing it",
			slog.String("user_id", rec.UserID), slog.Time("ended", end), slog.Bool("unused_too_long", idle))
		if rt, err := e.open(rec.UserID, fieldRefreshToken, rec.RefreshToken); err == nil {
			e.markDead(ctx, rec, rt, StatusExpired)
		}
		return ge
	}
	return nil
}

// grantEnd returns when the record's grant stops being refreshable: the
// earlier of its hard end (RefreshTokenExpiry) and, with an idle limit, the
// last use (Updated: every exchange and refresh writes the record) plus
// RefreshTokenTimeout. idle says the idle limit is the earlier one. Zero
// when neither is known.
func grantEnd(rec *Record) (end time.Time, idle bool) {
	end = rec.RefreshTokenExpiry
	if rec.RefreshTokenTimeout > 0 && !rec.Updated.IsZero() {
		if ie := rec.Updated.Add(rec.RefreshTokenTimeout); end.IsZero() || ie.Before(end) {
			return ie, true
		}
	}
	return end, false
}

// leaseObserved is lease as one observed OpLease.
func (e *Exchanger) leaseObserved(ctx context.Context, l Leaser, rec *Record, rejected string, epoch uint64) (*Record, *cachedToken, error) {
	lctx, run := e.begin(ctx, OpLease)
	cur, ct, attempts, err := e.lease(lctx, l, rec, rejected, epoch)
	e.end(run, err, Observation{Attempts: attempts, Coalesced: ct != nil})
	return cur, ct, err
}

// lease takes the store's lease on the user, waiting while another process
// holds it. It returns the record to refresh under the lease, or the token
// another process's refresh stored meanwhile. A caller whose cached token
// has not expired yet does not wait behind another holder: it gets that
// token at once.
func (e *Exchanger) lease(ctx context.Context, l Leaser, rec *Record, rejected string, epoch uint64) (_ *Record, _ *cachedToken, attempts int, _ error) {
	userID, owner := rec.UserID, e.owner
	rl, _ := l.(RecordLeaser)
	version := rec.Version
	wait := leasePollMin
	for {
		attempts++
		var (
			cur *Record
			got bool
			err error
		)
		if rl != nil {
			// The lease is taken only over the version read: a newer record
			// comes back instead, perhaps with another replica's token.
			cur, got, err = rl.LeaseGet(ctx, userID, owner, version, e.cfg.Now(), leaseTTL)
		} else {
			got, err = l.Lease(ctx, userID, owner, e.cfg.Now(), leaseTTL)
		}
		if err != nil {
			return nil, nil, attempts, fmt.Errorf("serverauth: leasing user %q for refresh: %w", userID, err)
		}
		if rl == nil {
			// Held or not, the record may have been refreshed since it was read.
			cur, err = e.load(ctx, userID)
		}
		var ct *cachedToken
		if err == nil {
			var fresh bool
			if ct, fresh = e.fromRecord(cur, rejected, epoch); !fresh {
				err = e.usable(ctx, cur)
			}
		}
		if err != nil || ct != nil {
			if got {
				l.Release(context.WithoutCancel(ctx), userID, owner)
			}
			return nil, ct, attempts, err
		}
		if got {
			return cur, nil, attempts, nil
		}
		version = cur.Version
		if prev, ok := e.users.unexpired(userID); ok && rejected == "" {
			return nil, prev, attempts, nil // another replica is refreshing; this token still works
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, attempts, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, leasePollMax)
	}
}

// renewLease extends the lease every e.renew (leaseRenewEvery) until stop
// is called, so that a refresh slower than leaseTTL keeps it while a
// crashed holder loses it quickly.
func (e *Exchanger) renewLease(ctx context.Context, l Leaser, userID string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(e.renew)
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

// refresh redeems the record's refresh token at Google and saves the result,
// releasing h (nil without a lease) with the write when the store can.
func (e *Exchanger) refresh(ctx context.Context, rec *Record, epoch uint64, h *leaseHold) (*cachedToken, error) {
	userID := rec.UserID
	rt, err := e.open(userID, fieldRefreshToken, rec.RefreshToken)
	if err != nil {
		return nil, err
	}
	rctx, run := e.begin(ctx, OpRefresh)
	tok, start, attempts, err := e.redeem(rctx, rec, rt)
	var profile *Profile
	if err == nil {
		profile, err = e.checkRefreshedIDToken(rctx, rec, tok)
	}
	e.end(run, err, Observation{Attempts: attempts})
	if err != nil {
		return nil, err
	}
	setExpiry(tok, start)
	granted := grantedScopes(tok)
	rotated := tok.RefreshToken != "" && tok.RefreshToken != rt
	limits := parseGrantLimits(tok, start)
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
		applyLimits(r, limits, rotated)
		if len(granted) > 0 {
			r.Scopes = granted
		}
		if profile != nil {
			if err := e.setProfile(r, profile); err != nil {
				return err
			}
		}
		prev := r.Status
		r.Status = StatusActive // it just worked
		if len(missingScopes(e.cfg.Scopes, r.Scopes)) > 0 {
			r.Status = StatusScopeRemoved
		}
		keepDisabled(prev, r) // Google disabled the account meanwhile
		return nil
	}
	ct := newCachedToken(tok.AccessToken, tok.Expiry, tok.Expiry.Add(-e.margin(tok.Expiry.Sub(start))))
	err = e.updateHolding(ctx, rec, apply, h)
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

// applyLimits records a refresh response's grant limits. Its hard end
// replaces the stored one for a rotated refresh token (a new token, whose
// limits this response states) and otherwise can only bring it earlier: a
// limit left out of a response says nothing, and one a later response
// adds applies from then on. An idle limit replaces the stored one.
func applyLimits(r *Record, l grantLimits, rotated bool) {
	switch {
	case rotated && !l.end.IsZero():
		r.RefreshTokenExpiry = l.end
	case !rotated:
		r.RefreshTokenExpiry = earliest(r.RefreshTokenExpiry, l.end)
	}
	if l.timeout > 0 {
		r.RefreshTokenTimeout = l.timeout
	}
}

// redeem sends the refresh token to Google's token endpoint, retrying
// temporary failures under the retry policy. A refusal with invalid_client
// under the current client secret is sent once more, at once, with
// Config.PreviousClientSecret when there is one. It returns the token,
// when the successful request was sent, and the requests made.
func (e *Exchanger) redeem(ctx context.Context, rec *Record, rt string) (*oauth2.Token, time.Time, int, error) {
	var (
		tok      *oauth2.Token
		te       *TokenError
		start    time.Time
		attempts int
		previous bool // the refresh that worked used the previous secret
	)
	secrets := []string{rt, e.cfg.ClientSecret}
	if e.cfg.PreviousClientSecret != "" {
		secrets = append(secrets, e.cfg.PreviousClientSecret)
	}
	send := func(ctx context.Context, secret string) (*oauth2.Token, error) {
		attempts++
		start = e.cfg.Now()
		return e.oauthConfig("", secret).TokenSource(e.oauth2Context(ctx), &oauth2.Token{RefreshToken: rt}).Token()
	}
	err := e.retry.Do(ctx, func(ctx context.Context) (retry.Decision, error) {
		t, err := send(ctx, e.cfg.ClientSecret)
		fellBack := false
		if err != nil && e.cfg.PreviousClientSecret != "" && oauthCode(err) == "invalid_client" {
			fellBack = true
			if t, err = send(ctx, e.cfg.PreviousClientSecret); err == nil {
				previous = true
			}
		}
		if err != nil {
			te = newTokenError(err, errorContext{op: OpRefresh, clientID: e.cfg.ClientID, previousSecret: fellBack, now: e.cfg.Now(), secrets: secrets})
			return te.retryDecision(), te
		}
		tok = t
		return retry.Stop, nil
	})
	if err != nil {
		te.attempts = attempts
		e.hintTesting(te, rec)
		level := slog.LevelWarn
		if errors.Is(te, ErrClientDeleted) {
			level = slog.LevelError // only an operator can fix it
		}
		e.cfg.Logger.LogAttrs(ctx, level, "serverauth: refresh failed", slog.String("user_id", rec.UserID),
			slog.String("class", te.Class.String()), slog.String("error", te.Code), slog.Int("status", te.StatusCode), slog.String("fix", te.Hint))
		if errors.Is(te, ErrInvalidGrant) {
			status := StatusRevoked
			switch end, _ := grantEnd(rec); {
			case isReauthSubtype(te):
				status = StatusReauthRequired
			case !end.IsZero() && !e.cfg.Now().Before(end):
				status = StatusExpired
			}
			e.markDead(ctx, rec, rt, status)
		}
		return nil, start, attempts, te
	}
	e.noteSecret(ctx, previous)
	return tok, start, attempts, nil
}

// checkRefreshedIDToken verifies the ID token a refresh returned, if any,
// and requires it to name the same grant as the stored record (OpenID
// Connect Core §12.2): the same iss, sub and aud, and the same azp, or
// none when the original had none. It returns the new profile to store,
// nil when there is none to take.
//
// A token that fails verification, or names another grant, refuses the
// whole response: the stored record is kept, nothing of the response is
// used, and the error says why (an *IDTokenError; ReasonGrantMismatch for
// a mismatch). Two failures say nothing against the response and only
// keep its profile out: a time check (this server's clock may be off) and
// Google's signing keys being unavailable. The refresh is then taken as a
// refresh without an ID token is, provided the token's claims, read
// unverified, still name the same grant.
func (e *Exchanger) checkRefreshedIDToken(ctx context.Context, rec *Record, tok *oauth2.Token) (*Profile, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, nil
	}
	p, err := e.verify(ctx, raw, verifyOptions{accessToken: tok.AccessToken})
	var ie *IDTokenError
	switch {
	case errors.As(err, &ie) && unprovenOnly(ie.Reason):
		claimed, ok := unverifiedIdentity(raw)
		if err = e.sameGrant(rec, claimed); !ok || err == nil {
			e.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "serverauth: the ID token of a refresh could not be verified; the refresh is taken and the stored profile kept",
				slog.String("user_id", rec.UserID), slog.String("reason", string(ie.Reason)), slog.String("detail", ie.Detail))
			return nil, nil
		}
	case err == nil:
		err = e.sameGrant(rec, p)
	}
	if err != nil {
		e.cfg.Logger.LogAttrs(ctx, slog.LevelError, "serverauth: the ID token of a refresh was refused; the refresh is discarded and the stored grant kept",
			append(refusalAttrs(err), slog.String("user_id", rec.UserID))...)
		return nil, err
	}
	return p, nil
}

// unprovenOnly reports whether a refusal leaves a refreshed ID token
// unproven rather than wrong: a time check, which a skewed clock here
// fails, or keys that could not be fetched.
func unprovenOnly(r Reason) bool {
	switch r {
	case ReasonKeysUnavailable, ReasonExpired, ReasonIssuedInFuture, ReasonNotYetValid:
		return true
	}
	return false
}

// unverifiedIdentity reads the identity claims of an ID token without
// verifying it, to compare them with the grant when verification could
// not finish. It reports false, with an empty Profile, for a token it
// cannot read.
func unverifiedIdentity(raw string) (*Profile, bool) {
	tok, err := jws.Parse(raw)
	if err != nil {
		return &Profile{}, false
	}
	var c claims
	if json.Unmarshal(tok.UnverifiedPayload, &c) != nil || len(c.Aud) != 1 {
		return &Profile{}, false
	}
	p := &Profile{Subject: c.Sub, Issuer: c.Iss, Audience: c.Aud[0]}
	if c.Azp.set {
		p.AuthorizedParty = c.Azp.v
	}
	return p, true
}

// sameGrant checks a refreshed ID token's identity against the stored
// grant: its sub is the record's user, its aud the server client (the
// verifier checked that), its azp the grant's presenting client, and,
// when the original profile is stored, its iss and azp as there. Google's
// two issuer spellings name the same issuer.
func (e *Exchanger) sameGrant(rec *Record, p *Profile) error {
	mismatch := func(claim string) error {
		return idErr(ReasonGrantMismatch, "its %s differs from the ID token the grant was made with (OpenID Connect Core §12.2)", claim)
	}
	if p.Subject != rec.UserID {
		return mismatch("sub")
	}
	presenter := p.AuthorizedParty
	if presenter == "" {
		presenter = e.cfg.ClientID
	}
	if rec.ClientID != "" && presenter != rec.ClientID {
		return mismatch("azp")
	}
	if len(rec.Profile) == 0 {
		return nil
	}
	orig, err := e.openProfile(rec.UserID, rec.Profile)
	if err != nil {
		return nil // an unreadable stored profile proves nothing either way; the checks above hold
	}
	switch {
	case orig.Subject != "" && orig.Subject != p.Subject:
		return mismatch("sub")
	case orig.Issuer != "" && !sameIssuer(orig.Issuer, p.Issuer):
		return mismatch("iss")
	case orig.Audience != "" && orig.Audience != p.Audience:
		return mismatch("aud")
	case orig.Issuer != "" && orig.AuthorizedParty != p.AuthorizedParty:
		return mismatch("azp")
	}
	return nil
}

// sameIssuer compares issuers, Google's two spellings being one.
func sameIssuer(a, b string) bool {
	norm := func(s string) string {
		if s == issuerBare {
			return issuerHTTPS
		}
		return s
	}
	return norm(a) == norm(b)
}

// setProfile stores a refreshed ID token's profile claims in r: the email,
// name and picture may have changed; sub cannot have (sameGrant).
func (e *Exchanger) setProfile(r *Record, p *Profile) error {
	sealed, err := e.sealProfile(r.UserID, p)
	if err != nil {
		return err
	}
	r.Profile = sealed
	return nil
}

// testingPublishingWindow brackets "about seven days after consent": the
// lifetime of refresh tokens of apps whose consent screen is External and
// in Testing publishing status, as a refresh some time after their end
// finds them.
const (
	testingGrantLifetime = 7 * 24 * time.Hour
	testingWindowBefore  = time.Hour
	testingWindowAfter   = 2 * 24 * time.Hour
)

// hintTesting adds the "Testing" publishing status to the hint of a grant
// that died about seven days after consent.
func (e *Exchanger) hintTesting(te *TokenError, rec *Record) {
	if te.Code != "invalid_grant" || isReauthSubtype(te) || rec.Consented.IsZero() {
		return
	}
	age := e.cfg.Now().Sub(rec.Consented)
	if age < testingGrantLifetime-testingWindowBefore || age > testingGrantLifetime+testingWindowAfter {
		return
	}
	client := strconv.Quote(e.cfg.ClientID)
	if rec.ClientID != "" && rec.ClientID != e.cfg.ClientID {
		client += " (the user signed in with " + strconv.Quote(rec.ClientID) + ")"
	}
	te.Hint = fmt.Sprintf("the grant died %.1f days after consent: the OAuth consent screen of the Cloud project of client %s is probably in \"Testing\" publishing status, "+
		"where the grants of External apps expire seven days after consent; publish the app (Google Auth Platform > Audience > Publish app, \"In production\") "+
		"and have the user sign in and consent again", age.Hours()/24, client)
}

// oauthCode returns the OAuth error code of an x/oauth2 error, if any.
func oauthCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

// secretInUse remembers which client secret Google last accepted for a
// refresh, so that the log says it when it changes: 0 none yet, 1 the
// current one, 2 the previous one.
type secretInUse struct{ v atomic.Int32 }

// noteSecret records the secret a successful refresh used and, when a
// previous secret is configured, logs a change of the secret in use.
func (e *Exchanger) noteSecret(ctx context.Context, previous bool) {
	if e.cfg.PreviousClientSecret == "" {
		return
	}
	now := int32(1)
	if previous {
		now = 2
		e.stats.previousSecret.Add(1)
	}
	if e.secret.v.Swap(now) == now {
		return
	}
	if previous {
		e.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "serverauth: client secret in use: Config.PreviousClientSecret; Google refused Config.ClientSecret (invalid_client): check that it is a secret of this client in the Google Cloud console, and keep the previous one until it works",
			slog.String("client_id", e.cfg.ClientID), slog.String("secret", "previous"))
		return
	}
	e.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "serverauth: client secret in use: Config.ClientSecret; once every replica says so and Stats.PreviousSecretUses stops growing, delete the previous secret in the Google Cloud console and clear Config.PreviousClientSecret",
		slog.String("client_id", e.cfg.ClientID), slog.String("secret", "current"))
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

// markDead records that the user's grant is dead, with status: Google
// answered invalid_grant on refresh, or a time-limited grant is past its
// end. The dead refresh token stays in the record, sealed: it is how a
// refresh that redeemed it on another replica recognises the record as its
// own (see refresh), and it revokes harmlessly. Best effort: the caller
// already has the error to report.
func (e *Exchanger) markDead(ctx context.Context, rec *Record, usedRT string, status Status) {
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
	return e.updateHolding(ctx, rec, change, nil)
}

// updateHolding is update under the lease h (nil: none). With a
// RecordLeaser, the first write releases the lease with it; the renewal is
// stopped first, or it could take the lease again after the release.
func (e *Exchanger) updateHolding(ctx context.Context, rec *Record, change func(*Record) error, h *leaseHold) error {
	for attempt := 0; ; attempt++ {
		next := rec.Clone()
		if err := change(next); err != nil {
			return err
		}
		var err error
		if h != nil && h.rl != nil && !h.released {
			h.stop()
			if err = e.storePutRelease(ctx, h.rl, next); err == nil {
				h.released = true
			}
		} else {
			err = e.storePut(ctx, next)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrVersionConflict) || attempt == maxPutAttempts-1 {
			return err
		}
		cur, gerr := e.storeGet(ctx, rec.UserID)
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
	cur, err := e.storeGet(ctx, userID)
	if err == nil {
		err = e.update(ctx, cur, func(r *Record) error {
			if !e.holds(r, p.redeemed) {
				return errStaleUpdate
			}
			v, prev := r.Version, r.Status
			*r = *p.rec.Clone()
			r.Version = v
			keepDisabled(prev, r)
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
