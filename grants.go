package serverauth

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"
)

// ErrNoProfile is returned by [Exchanger.Profile] for a user whose record
// holds no profile (written before profiles were kept, or by a sign-in
// without an ID token's profile): the next sign-in stores one.
var ErrNoProfile = errors.New("serverauth: no stored profile")

// Profile returns the user's profile claims as last verified: those of the
// ID token of their latest sign-in or, when newer, of a refresh that
// returned one (a refreshed ID token must name the same user, OpenID
// Connect Core §12.2, but its email, name or picture may have changed;
// Subject never does). It reads the store, not Google. The Profile holds
// the claims only: its Claims method reports that it has no verified
// payload.
//
// Errors: ErrNotFound (wrapped) for a user with no record; ErrNoProfile
// for a record without a profile; ErrDecrypt (wrapped) when the Cipher
// cannot open it.
func (e *Exchanger) Profile(ctx context.Context, userID string) (*Profile, error) {
	if e.cfg.Store == nil {
		return nil, errNoStore
	}
	rec, err := e.load(ctx, userID)
	if err != nil {
		return nil, err
	}
	if len(rec.Profile) == 0 {
		return nil, fmt.Errorf("%w for user %q: it is stored at their next sign-in", ErrNoProfile, userID)
	}
	return e.openProfile(userID, rec.Profile)
}

// Grant is the health of one stored grant, as [Exchanger.Grants] reports
// it. It holds no token.
type Grant struct {
	UserID   string
	ClientID string   // the OAuth client the user signed in with (azp)
	Scopes   []string // granted, normalised

	// Status is the stored status, except that a grant whose end (Ends)
	// has passed is StatusExpired even before the library recorded it.
	Status Status

	// Consented is when the user consented to the stored refresh token
	// (zero for records from before it was kept); Updated when the grant
	// was last used or written.
	Consented time.Time
	Updated   time.Time

	// Ends is when the grant stops being refreshable: the earliest of a
	// time-limited grant's end (refresh_token_expires_in,
	// authorization_expires_in) and, with an idle limit
	// (refresh_token_timeout), Updated plus that limit. Zero when no limit
	// is known. Idle says the idle limit is the earlier one: using the
	// grant (any refresh) moves Ends on.
	Ends time.Time
	Idle bool

	stored Status // Status as stored
}

// Reconsent says, for a report, what the app must do to keep acting for the
// user, or "" when nothing is needed.
func (g *Grant) Reconsent() string {
	scopes := "the same scopes"
	if len(g.Scopes) > 0 {
		scopes = strings.Join(g.Scopes, " ")
	}
	again := "have the user sign in again with access_type=offline and prompt=consent for " + scopes
	switch {
	case g.Status == StatusScopeRemoved:
		return again + ", and grant every required scope"
	case g.Status.NeedsConsent() && g.Idle:
		return again + " (the grant went unused past its idle limit)"
	case g.Status == StatusExpired && !g.Ends.IsZero():
		return again + "; their last grant was for a limited time, and the consent screen lets them allow ongoing access"
	case g.Status.NeedsConsent():
		return again
	case g.Idle && !g.Ends.IsZero():
		return "use the grant before " + g.Ends.UTC().Format(time.RFC3339) + " (a refresh restarts its idle limit), or " + again + " after"
	case !g.Ends.IsZero():
		return "before " + g.Ends.UTC().Format(time.RFC3339) + ", " + again + "; the user granted access for a limited time, and the consent screen lets them allow ongoing access"
	}
	return ""
}

// Grants walks every stored grant and yields its health, for offline jobs
// and dashboards. It needs a Store that implements Lister; it reads each
// record once and writes nothing. An error (the store's, or the context's
// end) is yielded last and ends the walk; a record deleted during the walk
// is skipped. A walk that reaches the end records its counts by status in
// Stats.Grants.
func (e *Exchanger) Grants(ctx context.Context) iter.Seq2[*Grant, error] {
	return func(yield func(*Grant, error) bool) {
		l, ok := e.cfg.Store.(Lister)
		if !ok {
			yield(nil, fmt.Errorf("%w: Grants needs a Store that implements Lister (MemoryStore, filestore, sqlstore and redisstore do)", ErrInvalidConfig))
			return
		}
		counts := make(map[Status]int)
		for userID, err := range l.Users(ctx) {
			if err != nil {
				yield(nil, err)
				return
			}
			rec, err := e.storeGet(ctx, userID)
			if errors.Is(err, ErrNotFound) {
				continue // deleted since it was listed
			}
			if err != nil {
				yield(nil, fmt.Errorf("serverauth: reading the grant of user %q: %w", userID, err))
				return
			}
			g := e.grantOf(rec)
			counts[g.Status]++
			if !yield(g, nil) {
				return
			}
		}
		e.stats.setGrants(counts, e.cfg.Now())
	}
}

// ExpiringGrants yields the grants that stop being refreshable within the
// window from now, sooner first within what the store lists (it does not
// sort): live time-limited grants whose end falls before now + within,
// those whose end has already passed included. Dead grants (revoked,
// expired, reauthentication required) are not yielded: Grants reports them.
// Like Grants it needs a Lister and records the counts of a complete walk.
func (e *Exchanger) ExpiringGrants(ctx context.Context, within time.Duration) iter.Seq2[*Grant, error] {
	return func(yield func(*Grant, error) bool) {
		horizon := e.cfg.Now().Add(within)
		for g, err := range e.Grants(ctx) {
			if err != nil {
				yield(nil, err)
				return
			}
			if g.Ends.IsZero() || !g.Ends.Before(horizon) || !g.stored.refreshable() {
				continue
			}
			if !yield(g, nil) {
				return
			}
		}
	}
}

// CountGrants walks the store (see Grants) and returns the grants by
// status; Stats.Grants keeps the result for gauges.
func (e *Exchanger) CountGrants(ctx context.Context) (map[Status]int, error) {
	counts := make(map[Status]int)
	for g, err := range e.Grants(ctx) {
		if err != nil {
			return counts, err
		}
		counts[g.Status]++
	}
	return counts, nil
}

// grantOf describes a record's grant.
func (e *Exchanger) grantOf(rec *Record) *Grant {
	end, idle := grantEnd(rec)
	g := &Grant{
		UserID: rec.UserID, ClientID: rec.ClientID, Scopes: append([]string(nil), rec.Scopes...),
		Status: rec.Status, Consented: rec.Consented, Updated: rec.Updated, Ends: end, Idle: idle,
		stored: rec.Status,
	}
	if g.Status == "" {
		g.Status = StatusActive
	}
	if !end.IsZero() && !e.cfg.Now().Before(end) && rec.Status.refreshable() {
		g.Status = StatusExpired
	}
	return g
}
