// Package sqlstore is a [serverauth.TokenStore] in one table of a SQL
// database reached through database/sql: PostgreSQL, MySQL or MariaDB, or
// SQLite. It also implements [serverauth.Leaser], [serverauth.RecordLeaser],
// [serverauth.SignInUpdater] (in one statement on PostgreSQL; elsewhere it
// says errors.ErrUnsupported and the Exchanger reads and writes),
// [serverauth.Lister], [serverauth.RefreshTokenIndex] and
// [serverauth.EventLedger]. Every replica of a backend can share the
// tables.
//
// The store uses the *sql.DB it is given and never closes it. Register and
// open the driver yourself, for example github.com/jackc/pgx/v5/stdlib or
// github.com/lib/pq for PostgreSQL, github.com/go-sql-driver/mysql for MySQL
// and MariaDB, modernc.org/sqlite or github.com/mattn/go-sqlite3 for SQLite.
//
// Size the pool: during a refresh storm every replica may open one
// connection per user it is refreshing, and several uncapped replicas can
// exceed the database's connection limit (PostgreSQL's default is 100). A
// db.SetMaxOpenConns of 10 to 20 per replica is plenty; waiting for a pooled
// connection is cheap next to a call to Google. Set db.SetMaxIdleConns to
// the same number: database/sql keeps only 2 idle connections by default,
// so under load it closes every connection beyond them after each
// statement and opens a new one for the next (a new PostgreSQL backend
// each time). In a refresh wave of 10 000 users over four replicas that
// made each store write take 34 ms instead of 1.7 ms, and the wave 1.45×
// as long.
//
//	db.SetMaxOpenConns(20)
//	db.SetMaxIdleConns(20)
//
// # Schema
//
// [Store.CreateTable] creates the table if it does not exist; or create it
// yourself, in a migration, with the statement for your database below. The
// table name is configurable ([Config.Table]); the columns are not. Times
// are stored in UTC to the microsecond (finer digits are dropped); NULL
// stands for the zero time. Scopes are stored space-separated, which OAuth
// scopes allow since they never contain spaces. version counts accepted
// writes; lease_owner and lease_expires hold the [serverauth.Leaser] lease
// and are NULL when there is none. refresh_token_prefix_hash and
// refresh_token_hash identify the stored refresh token for Google's
// Cross-Account Protection token-revoked events (see
// [serverauth.Record.RefreshTokenHash]): digests, never the token or any
// part of it, indexed so that finding the grant an event names is one
// query. consented_at is when the user last consented; profile holds their
// sealed profile claims (NULL when none); refresh_token_timeout_us is the
// grant's idle limit in microseconds (0: none known). CreateTable adds
// these columns and the indexes to a table created by an earlier version.
//
// PostgreSQL (9.5 or later). user_id uses the "C" collation so that IDs
// compare byte by byte:
//
//	CREATE TABLE IF NOT EXISTS serverauth_tokens (
//		user_id              TEXT COLLATE "C" PRIMARY KEY,
//		refresh_token        BYTEA NOT NULL,
//		access_token         BYTEA NOT NULL,
//		expiry               TIMESTAMPTZ,
//		refresh_token_expiry TIMESTAMPTZ,
//		scopes               TEXT NOT NULL,
//		client_id            TEXT NOT NULL,
//		status               TEXT NOT NULL,
//		created_at           TIMESTAMPTZ,
//		updated_at           TIMESTAMPTZ,
//		version              BIGINT NOT NULL,
//		lease_owner          TEXT,
//		lease_expires        TIMESTAMPTZ,
//		refresh_token_prefix_hash TEXT NOT NULL DEFAULT '',
//		refresh_token_hash   TEXT NOT NULL DEFAULT '',
//		consented_at         TIMESTAMPTZ,
//		profile              BYTEA,
//		refresh_token_timeout_us BIGINT NOT NULL DEFAULT 0
//	)
//	CREATE INDEX IF NOT EXISTS serverauth_tokens_prefix_hash_idx ON serverauth_tokens (refresh_token_prefix_hash)
//	CREATE INDEX IF NOT EXISTS serverauth_tokens_hash_idx ON serverauth_tokens (refresh_token_hash)
//
// MySQL (5.7 or later) and MariaDB (10.3 or later). user_id and
// lease_owner are VARBINARY, not VARCHAR, so that IDs differing only in case,
// accents or trailing spaces stay distinct whatever the server's collation;
// 1020 bytes hold 255 characters of any UTF-8. Times are DATETIME(6) in UTC:
// open the DB with the driver's default loc=UTC (with go-sql-driver/mysql,
// parseTime=true is recommended but not required).
//
//	CREATE TABLE IF NOT EXISTS serverauth_tokens (
//		user_id              VARBINARY(1020) NOT NULL PRIMARY KEY,
//		refresh_token        LONGBLOB NOT NULL,
//		access_token         LONGBLOB NOT NULL,
//		expiry               DATETIME(6) NULL,
//		refresh_token_expiry DATETIME(6) NULL,
//		scopes               MEDIUMTEXT NOT NULL,
//		client_id            TEXT NOT NULL,
//		status               TEXT NOT NULL,
//		created_at           DATETIME(6) NULL,
//		updated_at           DATETIME(6) NULL,
//		version              BIGINT NOT NULL,
//		lease_owner          VARBINARY(1020) NULL,
//		lease_expires        DATETIME(6) NULL,
//		refresh_token_prefix_hash VARBINARY(100) NOT NULL DEFAULT '',
//		refresh_token_hash   VARBINARY(100) NOT NULL DEFAULT '',
//		consented_at         DATETIME(6) NULL,
//		profile              LONGBLOB NULL,
//		refresh_token_timeout_us BIGINT NOT NULL DEFAULT 0,
//		KEY `serverauth_tokens_prefix_hash_idx` (refresh_token_prefix_hash),
//		KEY `serverauth_tokens_hash_idx` (refresh_token_hash)
//	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
//
// SQLite (3.24 or later). Times are INTEGER microseconds since the Unix
// epoch, UTC, which keeps comparisons in SQL exact and cheap:
//
//	CREATE TABLE IF NOT EXISTS serverauth_tokens (
//		user_id              TEXT NOT NULL PRIMARY KEY,
//		refresh_token        BLOB NOT NULL,
//		access_token         BLOB NOT NULL,
//		expiry               INTEGER,
//		refresh_token_expiry INTEGER,
//		scopes               TEXT NOT NULL,
//		client_id            TEXT NOT NULL,
//		status               TEXT NOT NULL,
//		created_at           INTEGER,
//		updated_at           INTEGER,
//		version              INTEGER NOT NULL,
//		lease_owner          TEXT,
//		lease_expires        INTEGER,
//		refresh_token_prefix_hash TEXT NOT NULL DEFAULT '',
//		refresh_token_hash   TEXT NOT NULL DEFAULT '',
//		consented_at         INTEGER,
//		profile              BLOB,
//		refresh_token_timeout_us INTEGER NOT NULL DEFAULT 0
//	)
//	CREATE INDEX IF NOT EXISTS serverauth_tokens_prefix_hash_idx ON serverauth_tokens (refresh_token_prefix_hash)
//	CREATE INDEX IF NOT EXISTS serverauth_tokens_hash_idx ON serverauth_tokens (refresh_token_hash)
//
// With SQLite, concurrent writers on a pool of connections see "database is
// locked" unless the database has a busy timeout (with modernc.org/sqlite,
// add _pragma=busy_timeout(5000) to the DSN; WAL mode helps too), or the
// pool is limited to one connection with db.SetMaxOpenConns(1). Do not use
// a plain ":memory:" database with a pool: each connection gets its own.
//
// The events table holds the [serverauth.EventLedger]: the IDs (jti) of the
// Cross-Account Protection events a receiver claimed or handled (package
// risc), so that a redelivered event is acted on once by all replicas.
// owner is the replica holding the claim, or empty once the event was
// handled; expires is when the claim, or the memory of the handled event,
// ends. Rows whose time has passed are deleted as events are finished. Its
// name is [Config.EventsTable]; CreateTable creates it.
//
// PostgreSQL:
//
//	CREATE TABLE IF NOT EXISTS serverauth_tokens_events (
//		event_id TEXT COLLATE "C" PRIMARY KEY,
//		owner    TEXT NOT NULL,
//		expires  TIMESTAMPTZ NOT NULL
//	)
//	CREATE INDEX IF NOT EXISTS serverauth_tokens_events_expires_idx ON serverauth_tokens_events (expires)
//
// MySQL and MariaDB:
//
//	CREATE TABLE IF NOT EXISTS serverauth_tokens_events (
//		event_id VARBINARY(1020) NOT NULL PRIMARY KEY,
//		owner    VARBINARY(1020) NOT NULL,
//		expires  DATETIME(6) NOT NULL,
//		KEY expires_idx (expires)
//	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
//
// SQLite:
//
//	CREATE TABLE IF NOT EXISTS serverauth_tokens_events (
//		event_id TEXT NOT NULL PRIMARY KEY,
//		owner    TEXT NOT NULL,
//		expires  INTEGER NOT NULL
//	)
//	CREATE INDEX IF NOT EXISTS serverauth_tokens_events_expires_idx ON serverauth_tokens_events (expires)
//
// # Statements
//
// Each operation is one statement, so the store needs no transactions:
// Put inserts when rec.Version is 0 (PostgreSQL and SQLite: INSERT … ON
// CONFLICT DO NOTHING, where no row inserted means a version conflict;
// MySQL: a plain INSERT, and a failed insert of a user who exists is a
// version conflict) and otherwise updates WHERE user_id = ? AND version = ?,
// where no row updated means a version conflict; Put never touches the lease
// columns. Lease is one UPDATE … WHERE user_id = ? AND (lease_owner IS NULL
// OR lease_owner = ? OR lease_expires <= ?), followed, when it updates
// nothing, by a SELECT telling a held lease from a missing user. Users pages
// through the table in user_id order, 100 rows per query.
// UsersByRefreshToken is one SELECT on an indexed identifier column.
// ClaimEvent inserts the event's row (ON CONFLICT DO NOTHING; MySQL: INSERT
// IGNORE); when it exists, an UPDATE … WHERE event_id = ? AND (expires <= ?
// OR owner = ?) takes an expired claim or extends the owner's own, and
// when that updates nothing, a SELECT tells a claim held by another replica
// from a handled event. FinishEvent is one upsert.
//
// # Limits
//
// User IDs and lease owners are 1 to 255 characters of valid UTF-8 without
// NUL; scopes must not contain white space; text fields must be valid UTF-8
// without NUL. Put refuses other records; Get and Lease report such a user
// as not found. MySQL stores times in the years 1000 to 9999 only.
package sqlstore
