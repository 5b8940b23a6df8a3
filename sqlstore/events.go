package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/serverauth/serverauth"
)

// createEventsSQL returns the dialect's CREATE TABLE statement for the
// events table, which must already be quoted as needed.
func createEventsSQL(d Dialect, table string) string {
	var cols, suffix string
	switch d {
	case Postgres:
		cols = `
	event_id TEXT COLLATE "C" PRIMARY KEY,
	owner    TEXT NOT NULL,
	expires  TIMESTAMPTZ NOT NULL`
	case MySQL:
		cols = `
	event_id VARBINARY(1020) NOT NULL PRIMARY KEY,
	owner    VARBINARY(1020) NOT NULL,
	expires  DATETIME(6) NOT NULL,
	KEY expires_idx (expires)`
		suffix = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
	case SQLite:
		cols = `
	event_id TEXT NOT NULL PRIMARY KEY,
	owner    TEXT NOT NULL,
	expires  INTEGER NOT NULL`
	}
	return "CREATE TABLE IF NOT EXISTS " + table + " (" + cols + "\n)" + suffix
}

// createEvents creates the events table and, but on MySQL (where CREATE
// TABLE has it), its index on expires.
func (s *Store) createEvents(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, createEventsSQL(s.dialect, s.events)); err != nil {
		return fmt.Errorf("sqlstore: create table: events: %w", err)
	}
	if s.dialect == MySQL {
		return nil
	}
	name, table := `"`+s.evName+`_expires_idx"`, s.events
	if s.dialect == SQLite && s.evSch != "" {
		name, table = s.evSch+"."+name, `"`+s.evName+`"`
	}
	if _, err := s.db.ExecContext(ctx, "CREATE INDEX IF NOT EXISTS "+name+" ON "+table+" (expires)"); err != nil {
		return fmt.Errorf("sqlstore: create table: indexing the events table: %w", err)
	}
	return nil
}

// UsersByRefreshToken implements [serverauth.RefreshTokenIndex] with one
// query on the indexed refresh_token_prefix_hash or refresh_token_hash
// column.
func (s *Store) UsersByRefreshToken(ctx context.Context, prefixHash, hash string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: users by refresh token: %w", err)
	}
	q, arg := s.q.byPrefixHash, prefixHash
	switch {
	case (prefixHash == "") == (hash == ""):
		return nil, errors.New("sqlstore: users by refresh token: give exactly one of prefixHash and hash")
	case hash != "":
		q, arg = s.q.byHash, hash
	}
	if checkText(arg) != nil {
		return nil, nil // no stored identifier is like it
	}
	rows, err := s.db.QueryContext(ctx, q, arg)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: users by refresh token: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlstore: users by refresh token: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: users by refresh token: %w", err)
	}
	return ids, nil
}

// ClaimEvent implements [serverauth.EventLedger]: an INSERT that creates
// the claim when the event is new; else an UPDATE that takes an expired
// claim (or finished event) or extends owner's own; else a SELECT that
// tells a claim held by another owner from a finished event.
func (s *Store) ClaimEvent(ctx context.Context, eventID, owner string, now time.Time, ttl time.Duration) (serverauth.EventClaim, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("sqlstore: claim event: %w", err)
	}
	if err := checkID(eventID); err != nil {
		return 0, fmt.Errorf("sqlstore: claim event: event ID: %w", err)
	}
	if err := checkID(owner); err != nil {
		return 0, fmt.Errorf("sqlstore: claim event: owner: %w", err)
	}
	if ttl <= 0 {
		return 0, errors.New("sqlstore: claim event: ttl must be positive")
	}
	expires, at := truncate(now.Add(ttl)), truncate(now)
	for range 3 { // a row pruned between the statements: start again
		res, err := s.db.ExecContext(ctx, s.q.claimInsert, eventID, owner, s.timeArg(expires))
		if err != nil {
			return 0, fmt.Errorf("sqlstore: claim event: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return 0, fmt.Errorf("sqlstore: claim event: %w", err)
		} else if n == 1 {
			return serverauth.EventClaimed, nil
		}
		res, err = s.db.ExecContext(ctx, s.q.claimUpdate, owner, s.timeArg(expires), eventID, s.timeArg(at), owner)
		if err != nil {
			return 0, fmt.Errorf("sqlstore: claim event: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return 0, fmt.Errorf("sqlstore: claim event: %w", err)
		} else if n == 1 {
			return serverauth.EventClaimed, nil
		}
		var (
			holder string
			until  nullTime
		)
		err = s.db.QueryRowContext(ctx, s.q.claimState, eventID).Scan(&holder, &until)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue
		case err != nil:
			return 0, fmt.Errorf("sqlstore: claim event: %w", err)
		case holder == "":
			return serverauth.EventDone, nil
		case holder == owner && until.t.Equal(expires):
			return serverauth.EventClaimed, nil // MySQL counts an unchanged row as not affected
		}
		return serverauth.EventBusy, nil
	}
	return 0, errors.New("sqlstore: claim event: the event's row keeps vanishing")
}

// FinishEvent implements [serverauth.EventLedger] with one upsert, and
// then deletes the rows whose time has passed (expired claims and events
// finished longer ago than their keep time).
func (s *Store) FinishEvent(ctx context.Context, eventID, owner string, now time.Time, keep time.Duration) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlstore: finish event: %w", err)
	}
	if err := checkID(eventID); err != nil {
		return fmt.Errorf("sqlstore: finish event: event ID: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, s.q.finish, eventID, s.timeArg(truncate(now.Add(keep)))); err != nil {
		return fmt.Errorf("sqlstore: finish event: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, s.q.prune, s.timeArg(truncate(now))); err != nil {
		return fmt.Errorf("sqlstore: finish event: pruning: %w", err)
	}
	return nil
}

// ReleaseEvent implements [serverauth.EventLedger]: it deletes owner's
// claim; a finished event's row, whose owner is empty, stays.
func (s *Store) ReleaseEvent(ctx context.Context, eventID, owner string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlstore: release event: %w", err)
	}
	if checkID(eventID) != nil || checkID(owner) != nil {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, s.q.releaseEvent, eventID, owner); err != nil {
		return fmt.Errorf("sqlstore: release event: %w", err)
	}
	return nil
}
