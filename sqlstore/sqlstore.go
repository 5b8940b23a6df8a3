package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/serverauth/serverauth"
)

// Dialect is the SQL database a [Store] talks to.
type Dialect int

// The supported dialects.
const (
	Postgres Dialect = iota + 1 // PostgreSQL 9.5 or later
	MySQL                       // MySQL 5.7 or later, MariaDB 10.3 or later
	SQLite                      // SQLite 3.24 or later
)

// String returns the dialect's name.
func (d Dialect) String() string {
	switch d {
	case Postgres:
		return "PostgreSQL"
	case MySQL:
		return "MySQL"
	case SQLite:
		return "SQLite"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

// DefaultTable is the table name used when [Config.Table] is empty.
const DefaultTable = "serverauth_tokens"

// Config configures a [Store].
type Config struct {
	// Dialect is the database's SQL dialect. It is required.
	Dialect Dialect

	// Table is the table's name: letters, digits and underscores, not
	// starting with a digit, at most 63 characters, optionally qualified by
	// a schema (PostgreSQL) or database (MySQL) name of the same form, as
	// "schema.table". It is quoted in every statement, so it is case
	// sensitive on PostgreSQL. Empty means DefaultTable.
	Table string

	// EventsTable is the table of the [serverauth.EventLedger]: the
	// security events handled (package risc). It takes a name of the same
	// form as Table. Empty means Table's name (cut to 56 characters) with
	// "_events" appended, in Table's schema.
	EventsTable string
}

var (
	_ serverauth.TokenStore        = (*Store)(nil)
	_ serverauth.Leaser            = (*Store)(nil)
	_ serverauth.RecordLeaser      = (*Store)(nil)
	_ serverauth.SignInUpdater     = (*Store)(nil)
	_ serverauth.Lister            = (*Store)(nil)
	_ serverauth.RefreshTokenIndex = (*Store)(nil)
	_ serverauth.EventLedger       = (*Store)(nil)
)

// Store is a [serverauth.TokenStore], [serverauth.Leaser],
// [serverauth.RecordLeaser], [serverauth.SignInUpdater] (PostgreSQL only),
// [serverauth.Lister], [serverauth.RefreshTokenIndex] and
// [serverauth.EventLedger] in SQL tables. It is safe for concurrent use by
// multiple goroutines, and by multiple processes sharing the database.
type Store struct {
	db      *sql.DB
	dialect Dialect
	table   string // quoted
	schema  string // the quoted schema part of table, or ""
	name    string // the table's unquoted name, without the schema
	events  string // the events table, quoted
	evName  string // the events table's unquoted name, without the schema
	evSch   string // the quoted schema part of events, or ""
	q       queries
}

// queries are the store's statements, in the dialect's placeholder syntax.
type queries struct {
	get, insert, exists, update, delete, lease, leaseState, release, users string
	leaseAt, leaseGet, updateRelease, updateSignIn                         string
	byPrefixHash, byHash                                                   string
	claimInsert, claimUpdate, claimState, finish, releaseEvent, prune      string
}

// pageSize is how many user IDs one query of Users fetches.
const pageSize = 100

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// New returns a Store keeping its records in cfg.Table of db. It checks the
// configuration only: it neither connects nor creates the table (see
// [Store.CreateTable]). The store never closes db.
func New(db *sql.DB, cfg Config) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlstore: nil *sql.DB")
	}
	switch cfg.Dialect {
	case Postgres, MySQL, SQLite:
	default:
		return nil, fmt.Errorf("sqlstore: unknown dialect %v", cfg.Dialect)
	}
	table := cfg.Table
	if table == "" {
		table = DefaultTable
	}
	quoted, schema, name, err := quoteName(cfg.Dialect, table)
	if err != nil {
		return nil, err
	}
	events := cfg.EventsTable
	if events == "" {
		events = table[:len(table)-len(name)] + name[:min(len(name), 63-len("_events"))] + "_events"
	}
	evQuoted, evSchema, evName, err := quoteName(cfg.Dialect, events)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, dialect: cfg.Dialect, table: quoted, schema: schema, name: name, events: evQuoted, evName: evName, evSch: evSchema}
	s.q = buildQueries(cfg.Dialect, s.table, s.events)
	return s, nil
}

// quoteName checks a table name, "table" or "schema.table", and returns it
// quoted for the dialect, its quoted schema part ("" when none) and its
// unquoted table part.
func quoteName(d Dialect, table string) (quoted, schema, name string, err error) {
	parts := strings.Split(table, ".")
	if len(parts) > 2 {
		return "", "", "", fmt.Errorf("sqlstore: invalid table name %q", table)
	}
	for i, p := range parts {
		if !identRE.MatchString(p) {
			return "", "", "", fmt.Errorf("sqlstore: invalid table name %q", table)
		}
		if d == MySQL {
			parts[i] = "`" + p + "`"
		} else {
			parts[i] = `"` + p + `"`
		}
	}
	name = strings.Trim(parts[len(parts)-1], "`\"")
	if len(parts) == 2 {
		schema = parts[0]
	}
	return strings.Join(parts, "."), schema, name, nil
}

// dataCols are the columns Put writes, in the order of [Store.args].
const dataCols = "refresh_token, access_token, expiry, refresh_token_expiry, scopes, client_id, status, created_at, updated_at, " +
	"refresh_token_prefix_hash, refresh_token_hash, consented_at, profile, refresh_token_timeout_us"

func buildQueries(d Dialect, t, ev string) queries {
	set := strings.ReplaceAll(dataCols, ",", " = ?,") + " = ?"
	q := queries{
		get:        "SELECT " + dataCols + ", version FROM " + t + " WHERE user_id = ?",
		insert:     "INSERT INTO " + t + " (user_id, " + dataCols + ", version) VALUES (?" + strings.Repeat(", ?", strings.Count(dataCols, ",")+1) + ", 1)",
		exists:     "SELECT 1 FROM " + t + " WHERE user_id = ?",
		update:     "UPDATE " + t + " SET " + set + ", version = version + 1 WHERE user_id = ? AND version = ?",
		delete:     "DELETE FROM " + t + " WHERE user_id = ?",
		lease:      "UPDATE " + t + " SET lease_owner = ?, lease_expires = ? WHERE user_id = ? AND (lease_owner IS NULL OR lease_owner = ? OR lease_expires <= ?)",
		leaseState: "SELECT lease_owner, lease_expires FROM " + t + " WHERE user_id = ?",
		release:    "UPDATE " + t + " SET lease_owner = NULL, lease_expires = NULL WHERE user_id = ? AND lease_owner = ?",
		users:      "SELECT user_id FROM " + t + " WHERE user_id > ? ORDER BY user_id LIMIT " + strconv.Itoa(pageSize),

		// LeaseGet: the lease over one version, then the row with its lease.
		leaseAt:  "UPDATE " + t + " SET lease_owner = ?, lease_expires = ? WHERE user_id = ? AND version = ? AND (lease_owner IS NULL OR lease_owner = ? OR lease_expires <= ?)",
		leaseGet: "SELECT " + dataCols + ", version, lease_owner, lease_expires FROM " + t + " WHERE user_id = ?",
		// PutRelease: update, and clear the lease if owner holds it. MySQL
		// assigns left to right with the new values, so lease_expires is
		// cleared while lease_owner still says whose it was.
		updateRelease: "UPDATE " + t + " SET " + set + ", version = version + 1, " +
			"lease_expires = CASE WHEN lease_owner = ? THEN NULL ELSE lease_expires END, " +
			"lease_owner = CASE WHEN lease_owner = ? THEN NULL ELSE lease_owner END WHERE user_id = ? AND version = ?",

		byPrefixHash: "SELECT user_id FROM " + t + " WHERE refresh_token_prefix_hash = ?",
		byHash:       "SELECT user_id FROM " + t + " WHERE refresh_token_hash = ?",

		claimInsert:  "INSERT INTO " + ev + " (event_id, owner, expires) VALUES (?, ?, ?)",
		claimUpdate:  "UPDATE " + ev + " SET owner = ?, expires = ? WHERE event_id = ? AND (expires <= ? OR owner = ?)",
		claimState:   "SELECT owner, expires FROM " + ev + " WHERE event_id = ?",
		finish:       "INSERT INTO " + ev + " (event_id, owner, expires) VALUES (?, '', ?)",
		releaseEvent: "DELETE FROM " + ev + " WHERE event_id = ? AND owner = ?",
		prune:        "DELETE FROM " + ev + " WHERE expires <= ?",
	}
	if d != MySQL {
		q.insert += " ON CONFLICT (user_id) DO NOTHING"
		q.claimInsert += " ON CONFLICT (event_id) DO NOTHING"
		q.finish += " ON CONFLICT (event_id) DO UPDATE SET owner = '', expires = excluded.expires"
	} else {
		q.claimInsert = strings.Replace(q.claimInsert, "INSERT INTO", "INSERT IGNORE INTO", 1)
		q.finish += " ON DUPLICATE KEY UPDATE owner = '', expires = VALUES(expires)"
	}
	if d == Postgres {
		// UpdateSignIn: the CASEs see the stored status (PostgreSQL
		// evaluates every SET expression on the old row).
		dead := "status NOT IN ('" + strings.Join([]string{string(serverauth.StatusActive), "", string(serverauth.StatusScopeRemoved),
			string(serverauth.StatusReauthRequired), string(serverauth.StatusDisabled)}, "', '") + "')"
		q.updateSignIn = "UPDATE " + t + " SET access_token = ?, expiry = ?, scopes = ?, client_id = ?, updated_at = ?, " +
			"created_at = COALESCE(created_at, ?), profile = COALESCE(?, profile), " +
			"refresh_token = CASE WHEN " + dead + " THEN ? ELSE refresh_token END, " +
			"refresh_token_prefix_hash = CASE WHEN " + dead + " THEN '' ELSE refresh_token_prefix_hash END, " +
			"refresh_token_hash = CASE WHEN " + dead + " THEN '' ELSE refresh_token_hash END, " +
			"status = ?, version = version + 1 WHERE user_id = ? RETURNING refresh_token"
		// One statement: PostgreSQL runs a data-modifying WITH on the
		// statement's snapshot, so the SELECT sees the row as it was before
		// the lease, and EXISTS says whether the lease was taken.
		q.leaseGet = "WITH l AS (" + q.leaseAt + " RETURNING 1) SELECT " + dataCols +
			", version, lease_owner, lease_expires, EXISTS (SELECT 1 FROM l) FROM " + t + " WHERE user_id = ?"
		q.leaseAt = ""
		for _, p := range []*string{&q.leaseGet, &q.updateRelease, &q.updateSignIn, &q.get, &q.insert, &q.exists, &q.update, &q.delete, &q.lease, &q.leaseState, &q.release, &q.users,
			&q.byPrefixHash, &q.byHash, &q.claimInsert, &q.claimUpdate, &q.claimState, &q.finish, &q.releaseEvent, &q.prune} {
			*p = numberPlaceholders(*p)
		}
	}
	return q
}

// numberPlaceholders turns each ? into $1, $2, … The statements hold no ?
// other than placeholders.
func numberPlaceholders(q string) string {
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// createTableSQL returns the dialect's CREATE TABLE statement for table,
// which must already be quoted as needed. The package doc shows each with
// DefaultTable.
func createTableSQL(d Dialect, table, name string) string {
	var cols, suffix string
	switch d {
	case Postgres:
		cols = `
	user_id              TEXT COLLATE "C" PRIMARY KEY,
	refresh_token        BYTEA NOT NULL,
	access_token         BYTEA NOT NULL,
	expiry               TIMESTAMPTZ,
	refresh_token_expiry TIMESTAMPTZ,
	scopes               TEXT NOT NULL,
	client_id            TEXT NOT NULL,
	status               TEXT NOT NULL,
	created_at           TIMESTAMPTZ,
	updated_at           TIMESTAMPTZ,
	version              BIGINT NOT NULL,
	lease_owner          TEXT,
	lease_expires        TIMESTAMPTZ,
	refresh_token_prefix_hash TEXT NOT NULL DEFAULT '',
	refresh_token_hash   TEXT NOT NULL DEFAULT '',
	consented_at         TIMESTAMPTZ,
	profile              BYTEA,
	refresh_token_timeout_us BIGINT NOT NULL DEFAULT 0`
	case MySQL:
		cols = `
	user_id              VARBINARY(1020) NOT NULL PRIMARY KEY,
	refresh_token        LONGBLOB NOT NULL,
	access_token         LONGBLOB NOT NULL,
	expiry               DATETIME(6) NULL,
	refresh_token_expiry DATETIME(6) NULL,
	scopes               MEDIUMTEXT NOT NULL,
	client_id            TEXT NOT NULL,
	status               TEXT NOT NULL,
	created_at           DATETIME(6) NULL,
	updated_at           DATETIME(6) NULL,
	version              BIGINT NOT NULL,
	lease_owner          VARBINARY(1020) NULL,
	lease_expires        DATETIME(6) NULL,
	refresh_token_prefix_hash VARBINARY(100) NOT NULL DEFAULT '',
	refresh_token_hash   VARBINARY(100) NOT NULL DEFAULT '',
	consented_at         DATETIME(6) NULL,
	profile              LONGBLOB NULL,
	refresh_token_timeout_us BIGINT NOT NULL DEFAULT 0,
	KEY ` + "`" + name + "_prefix_hash_idx` (refresh_token_prefix_hash),\n\tKEY `" + name + "_hash_idx`" + ` (refresh_token_hash)`
		suffix = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
	case SQLite:
		cols = `
	user_id              TEXT NOT NULL PRIMARY KEY,
	refresh_token        BLOB NOT NULL,
	access_token         BLOB NOT NULL,
	expiry               INTEGER,
	refresh_token_expiry INTEGER,
	scopes               TEXT NOT NULL,
	client_id            TEXT NOT NULL,
	status               TEXT NOT NULL,
	created_at           INTEGER,
	updated_at           INTEGER,
	version              INTEGER NOT NULL,
	lease_owner          TEXT,
	lease_expires        INTEGER,
	refresh_token_prefix_hash TEXT NOT NULL DEFAULT '',
	refresh_token_hash   TEXT NOT NULL DEFAULT '',
	consented_at         INTEGER,
	profile              BLOB,
	refresh_token_timeout_us INTEGER NOT NULL DEFAULT 0`
	}
	return "CREATE TABLE IF NOT EXISTS " + table + " (" + cols + "\n)" + suffix
}

// addedColumns are the columns later versions of the schema added, with
// their definitions per dialect, for [Store.CreateTable] to add to a table
// created before them.
var addedColumns = []struct {
	name                string
	postgres, my, sqlit string
	indexed             bool
}{
	{"refresh_token_prefix_hash", "TEXT NOT NULL DEFAULT ''", "VARBINARY(100) NOT NULL DEFAULT ''", "TEXT NOT NULL DEFAULT ''", true},
	{"refresh_token_hash", "TEXT NOT NULL DEFAULT ''", "VARBINARY(100) NOT NULL DEFAULT ''", "TEXT NOT NULL DEFAULT ''", true},
	{"consented_at", "TIMESTAMPTZ", "DATETIME(6) NULL", "INTEGER", false},
	{"profile", "BYTEA", "LONGBLOB NULL", "BLOB", false},
	{"refresh_token_timeout_us", "BIGINT NOT NULL DEFAULT 0", "BIGINT NOT NULL DEFAULT 0", "INTEGER NOT NULL DEFAULT 0", false},
}

// CreateTable creates the store's tables, records and events, with the
// schema shown in the package documentation, unless they exist already. An
// existing table gets the columns (and their indexes) that later versions
// of the schema added, so upgrading needs no hand-written migration; other
// columns are left alone.
func (s *Store) CreateTable(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, createTableSQL(s.dialect, s.table, s.name)); err != nil {
		return fmt.Errorf("sqlstore: create table: %w", err)
	}
	if err := s.createEvents(ctx); err != nil {
		return err
	}
	for _, c := range addedColumns {
		if _, err := s.db.ExecContext(ctx, "SELECT "+c.name+" FROM "+s.table+" WHERE 1 = 0"); err == nil {
			continue
		}
		def := map[Dialect]string{Postgres: c.postgres, MySQL: c.my, SQLite: c.sqlit}[s.dialect]
		stmt := "ALTER TABLE " + s.table + " ADD COLUMN " + c.name + " " + def
		if c.indexed && s.dialect == MySQL {
			stmt += ", ADD INDEX " + s.indexName(c.name) + " (" + c.name + ")"
		}
		if _, err := s.db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("sqlstore: create table: adding column %s: %w", c.name, err)
		}
	}
	if s.dialect == MySQL {
		return nil // indexed in CREATE TABLE or with the column
	}
	for _, c := range addedColumns {
		if !c.indexed {
			continue
		}
		// PostgreSQL creates an index in its table's schema; SQLite wants
		// the schema on the index's name instead.
		name, table := s.indexName(c.name), s.table
		if s.dialect == SQLite && s.schema != "" {
			name, table = s.schema+"."+name, `"`+s.name+`"`
		}
		if _, err := s.db.ExecContext(ctx, "CREATE INDEX IF NOT EXISTS "+name+" ON "+table+" ("+c.name+")"); err != nil {
			return fmt.Errorf("sqlstore: create table: indexing %s: %w", c.name, err)
		}
	}
	return nil
}

// indexName returns the quoted name of the index on column.
func (s *Store) indexName(column string) string {
	n := s.name + "_" + strings.TrimPrefix(column, "refresh_token_") + "_idx"
	if s.dialect == MySQL {
		return "`" + n + "`"
	}
	return `"` + n + `"`
}

// Get returns the record stored for userID, or an error wrapping
// [serverauth.ErrNotFound].
func (s *Store) Get(ctx context.Context, userID string) (*serverauth.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: get: %w", err)
	}
	if checkID(userID) != nil {
		return nil, fmt.Errorf("sqlstore: get: %w", serverauth.ErrNotFound)
	}
	var r row
	err := s.db.QueryRowContext(ctx, s.q.get, userID).Scan(r.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: get: %w", serverauth.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: get: %w", err)
	}
	rec, err := r.record(userID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: get: %w", err)
	}
	return rec, nil
}

// Put stores rec if the stored version is rec.Version (0: no record may
// exist yet), and then sets rec.Version to the new version. Otherwise it
// returns an error wrapping [serverauth.ErrVersionConflict]. The lease
// columns are left alone. Put refuses a record outside the limits in the
// package documentation.
func (s *Store) Put(ctx context.Context, rec *serverauth.Record) error {
	return s.put(ctx, rec, "")
}

// PutRelease implements [serverauth.RecordLeaser]: Put, clearing owner's
// lease in the same statement when the record is stored.
func (s *Store) PutRelease(ctx context.Context, rec *serverauth.Record, owner string) error {
	if checkID(owner) != nil {
		return s.put(ctx, rec, "") // owner can hold no lease
	}
	return s.put(ctx, rec, owner)
}

// put is Put, releasing owner's lease with an update when owner is not "".
// A new record (version 0) has no lease to release.
func (s *Store) put(ctx context.Context, rec *serverauth.Record, owner string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlstore: put: %w", err)
	}
	if err := checkRecord(rec); err != nil {
		return fmt.Errorf("sqlstore: put: %w", err)
	}
	args := s.args(rec)
	var (
		res sql.Result
		err error
	)
	if rec.Version == 0 {
		res, err = s.db.ExecContext(ctx, s.q.insert, append([]any{rec.UserID}, args...)...)
		if err != nil && s.dialect == MySQL && ctx.Err() == nil {
			// Most likely a duplicate key. Tell it from other failures by
			// looking, rather than by the driver's error numbers.
			var one int
			switch qerr := s.db.QueryRowContext(ctx, s.q.exists, rec.UserID).Scan(&one); {
			case qerr == nil:
				return fmt.Errorf("sqlstore: put: %w", serverauth.ErrVersionConflict)
			case !errors.Is(qerr, sql.ErrNoRows):
				err = qerr
			}
		}
	} else if owner != "" {
		res, err = s.db.ExecContext(ctx, s.q.updateRelease, append(args, owner, owner, rec.UserID, rec.Version)...)
	} else {
		res, err = s.db.ExecContext(ctx, s.q.update, append(args, rec.UserID, rec.Version)...)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: put: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlstore: put: %w", err)
	}
	if n != 1 {
		return fmt.Errorf("sqlstore: put: %w", serverauth.ErrVersionConflict)
	}
	rec.Version++
	return nil
}

// Delete removes userID's record and any lease on it. Deleting a user that
// is not stored is not an error.
func (s *Store) Delete(ctx context.Context, userID string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlstore: delete: %w", err)
	}
	if checkID(userID) != nil {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, s.q.delete, userID); err != nil {
		return fmt.Errorf("sqlstore: delete: %w", err)
	}
	return nil
}

// Lease implements [serverauth.Leaser]: it grants owner the lease on userID
// until now+ttl, and reports true, unless another owner holds a lease that
// has not expired by now (a lease expires at its expiry instant). Lease
// returns an error wrapping [serverauth.ErrNotFound] for a user without a
// record, and an error for an owner outside the limits in the package
// documentation or a ttl that is not positive.
func (s *Store) Lease(ctx context.Context, userID, owner string, now time.Time, ttl time.Duration) (bool, error) {
	if err := checkLease(ctx, userID, owner, ttl); err != nil {
		return false, err
	}
	expires := truncate(now.Add(ttl))
	res, err := s.db.ExecContext(ctx, s.q.lease, owner, s.timeArg(expires), userID, owner, s.timeArg(truncate(now)))
	if err != nil {
		return false, fmt.Errorf("sqlstore: lease: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlstore: lease: %w", err)
	}
	if n == 1 {
		return true, nil
	}
	// Nothing updated: no such user, a lease held by another owner, or
	// (MySQL, which counts changed rows) owner renewing with an identical
	// expiry.
	var (
		holder sql.NullString
		until  nullTime
	)
	err = s.db.QueryRowContext(ctx, s.q.leaseState, userID).Scan(&holder, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("sqlstore: lease: %w", serverauth.ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("sqlstore: lease: %w", err)
	}
	return holder.Valid && holder.String == owner && until.t.Equal(expires), nil
}

// UpdateSignIn implements [serverauth.SignInUpdater] on PostgreSQL, in one
// UPDATE … RETURNING refresh_token statement. On MySQL and SQLite, which cannot return the
// updated row from an UPDATE (SQLite only from 3.35), it changes nothing and
// returns an error wrapping [errors.ErrUnsupported]: the Exchanger then reads
// and writes the record.
func (s *Store) UpdateSignIn(ctx context.Context, u *serverauth.SignInUpdate) ([]byte, error) {
	if s.q.updateSignIn == "" {
		return nil, fmt.Errorf("sqlstore: update sign-in on %v: %w", s.dialect, errors.ErrUnsupported)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: update sign-in: %w", err)
	}
	if checkID(u.UserID) != nil {
		return nil, fmt.Errorf("sqlstore: update sign-in: %w", serverauth.ErrNotFound)
	}
	check := &serverauth.Record{UserID: u.UserID, Scopes: u.Scopes, ClientID: u.ClientID, Status: u.Status}
	if err := checkRecord(check); err != nil {
		return nil, fmt.Errorf("sqlstore: update sign-in: %w", err)
	}
	var rt []byte
	err := s.db.QueryRowContext(ctx, s.q.updateSignIn,
		nonNil(u.AccessToken), s.timeArg(truncate(u.Expiry)), encodeScopes(u.Scopes), u.ClientID, s.timeArg(truncate(u.Updated)),
		s.timeArg(truncate(u.Updated)), nullable(u.Profile), []byte{}, string(u.Status), u.UserID).Scan(&rt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: update sign-in: %w", serverauth.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: update sign-in: %w", err)
	}
	return rt, nil
}

// LeaseGet implements [serverauth.RecordLeaser]: it takes owner's lease on
// userID as Lease does if the stored version is version, and returns the
// record. On PostgreSQL this is one statement; on MySQL and SQLite, the
// lease's UPDATE and then the SELECT.
func (s *Store) LeaseGet(ctx context.Context, userID, owner string, version int64, now time.Time, ttl time.Duration) (*serverauth.Record, bool, error) {
	if err := checkLease(ctx, userID, owner, ttl); err != nil {
		return nil, false, err
	}
	now = truncate(now)
	expires := truncate(now.Add(ttl))
	var (
		r      row
		holder sql.NullString
		until  nullTime
		taken  bool
		err    error
	)
	dest := append(r.dest(), &holder, &until)
	if s.dialect == Postgres {
		err = s.db.QueryRowContext(ctx, s.q.leaseGet, owner, s.timeArg(expires), userID, version, owner, s.timeArg(now), userID).
			Scan(append(dest, &taken)...)
	} else {
		if _, err = s.db.ExecContext(ctx, s.q.leaseAt, owner, s.timeArg(expires), userID, version, owner, s.timeArg(now)); err == nil {
			err = s.db.QueryRowContext(ctx, s.q.leaseGet, userID).Scan(dest...)
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, fmt.Errorf("sqlstore: lease: %w", serverauth.ErrNotFound)
	}
	if err != nil {
		return nil, false, fmt.Errorf("sqlstore: lease: %w", err)
	}
	rec, err := r.record(userID)
	if err != nil {
		return nil, false, fmt.Errorf("sqlstore: lease: %w", err)
	}
	// Taken now (PostgreSQL says so; the others' SELECT shows it), or
	// owner's own unexpired lease from before.
	held := taken || holder.Valid && holder.String == owner && until.t.After(now)
	return rec, held, nil
}

// checkLease checks the arguments of Lease and LeaseGet: a live context, an
// owner within the limits, a positive ttl, and a user ID that can be stored
// (else ErrNotFound: no such user).
func checkLease(ctx context.Context, userID, owner string, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlstore: lease: %w", err)
	}
	if err := checkID(owner); err != nil {
		return fmt.Errorf("sqlstore: lease: owner: %w", err)
	}
	if ttl <= 0 {
		return errors.New("sqlstore: lease: ttl must be positive")
	}
	if checkID(userID) != nil {
		return fmt.Errorf("sqlstore: lease: %w", serverauth.ErrNotFound)
	}
	return nil
}

// Release implements [serverauth.Leaser]: it ends owner's lease on userID.
// Releasing a lease that owner does not hold, or on a user without a record,
// is not an error.
func (s *Store) Release(ctx context.Context, userID, owner string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlstore: release: %w", err)
	}
	if checkID(userID) != nil || checkID(owner) != nil {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, s.q.release, userID, owner); err != nil {
		return fmt.Errorf("sqlstore: release: %w", err)
	}
	return nil
}

// Users implements [serverauth.Lister]. It pages through the table in
// user_id order, one query per 100 users, and holds no connection while it
// yields, so the caller may use the store inside the loop.
func (s *Store) Users(ctx context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		after := ""
		for {
			if err := ctx.Err(); err != nil {
				yield("", fmt.Errorf("sqlstore: users: %w", err))
				return
			}
			page, err := s.usersPage(ctx, after)
			if err != nil {
				yield("", fmt.Errorf("sqlstore: users: %w", err))
				return
			}
			for _, id := range page {
				if err := ctx.Err(); err != nil {
					yield("", fmt.Errorf("sqlstore: users: %w", err))
					return
				}
				if !yield(id, nil) {
					return
				}
			}
			if len(page) < pageSize {
				return
			}
			after = page[len(page)-1]
		}
	}
}

func (s *Store) usersPage(ctx context.Context, after string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, s.q.users, after)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	page := make([]string, 0, pageSize)
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		page = append(page, id)
	}
	return page, rows.Err()
}
