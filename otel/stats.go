package serverauthotel

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/metric"

	"github.com/serverauth/serverauth"
)

// grantStatuses are the statuses serverauth.grants reports, each always,
// so that a status that empties drops to zero instead of vanishing.
var grantStatuses = []serverauth.Status{
	serverauth.StatusActive, serverauth.StatusScopeRemoved, serverauth.StatusExpired,
	serverauth.StatusRevoked, serverauth.StatusReauthRequired, serverauth.StatusDisabled,
}

// RegisterStats registers the gauges and counters read from ex.Stats at
// each collection: serverauth.grants (by serverauth.grant.status, as the
// last complete walk of the store counted them: run Exchanger.CountGrants
// or Exchanger.ExpiringGrants from a periodic job to keep it current; no
// value is reported before the first walk), serverauth.token.cache.users,
// serverauth.refresh.backoffs, serverauth.pending_writes,
// serverauth.signing_keys.age (seconds; none before the first key fetch),
// serverauth.token.cache.hits and serverauth.previous_secret.uses.
// Unregister the result when ex is retired.
func (o *Observer) RegisterStats(ex *serverauth.Exchanger) (metric.Registration, error) {
	m := o.meter
	grants, err := m.Int64ObservableGauge("serverauth.grants",
		metric.WithUnit("{grant}"), metric.WithDescription("Stored grants by status, as the last complete walk of the store counted them."))
	users, e := m.Int64ObservableGauge("serverauth.token.cache.users",
		metric.WithUnit("{user}"), metric.WithDescription("Users whose access token is held in memory."))
	err = errors.Join(err, e)
	backoffs, e := m.Int64ObservableGauge("serverauth.refresh.backoffs",
		metric.WithUnit("{user}"), metric.WithDescription("Users inside the backoff of a failed refresh."))
	err = errors.Join(err, e)
	pending, e := m.Int64ObservableGauge("serverauth.pending_writes",
		metric.WithUnit("{record}"), metric.WithDescription("Refreshed records held in memory because the store refused them."))
	err = errors.Join(err, e)
	keyAge, e := m.Float64ObservableGauge("serverauth.signing_keys.age",
		metric.WithUnit("s"), metric.WithDescription("Time since Google's signing keys in use were fetched."))
	err = errors.Join(err, e)
	hits, e := m.Int64ObservableCounter("serverauth.token.cache.hits",
		metric.WithUnit("{call}"), metric.WithDescription("Token calls answered from memory."))
	err = errors.Join(err, e)
	prev, e := m.Int64ObservableCounter("serverauth.previous_secret.uses",
		metric.WithUnit("{refresh}"), metric.WithDescription("Refreshes Google accepted only with the previous client secret."))
	err = errors.Join(err, e)
	if err != nil {
		return nil, err
	}
	statusOpts := make(map[serverauth.Status]metric.ObserveOption, len(grantStatuses))
	for _, s := range grantStatuses {
		statusOpts[s] = metric.WithAttributes(AttrGrantStatus.String(string(s)))
	}
	return m.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		st := ex.Stats()
		if st.Grants != nil {
			for _, s := range grantStatuses {
				ob.ObserveInt64(grants, int64(st.Grants[s]), statusOpts[s])
			}
		}
		ob.ObserveInt64(users, int64(st.CachedUsers))
		ob.ObserveInt64(backoffs, int64(st.Backoffs))
		ob.ObserveInt64(pending, int64(st.PendingWrites))
		if !st.KeysFetched.IsZero() {
			ob.ObserveFloat64(keyAge, st.KeySetAge.Seconds())
		}
		ob.ObserveInt64(hits, int64(st.TokenCacheHits))
		ob.ObserveInt64(prev, int64(st.PreviousSecretUses))
		return nil
	}, grants, users, backoffs, pending, keyAge, hits, prev)
}
