package integration_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/internal/testenv"
	"github.com/serverauth/serverauth/sqlstore"
	"github.com/serverauth/serverauth/storetest"
)

// sqlstore against the databases, through their drivers. Its tests that
// need no database are in sqlstore/sqlstore_test.go.

// openDB opens the test database for a dialect, skipping the test when its
// service is not configured.
func openDB(t *testing.T, d sqlstore.Dialect) *sql.DB {
	t.Helper()
	var driver, dsn string
	switch d {
	case sqlstore.SQLite:
		driver = "sqlite"
		dsn = "file:" + filepath.Join(t.TempDir(), "test.db") + "?_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)"
	case sqlstore.Postgres:
		driver, dsn = "pgx", testenv.DSN(t, testenv.Postgres)
	case sqlstore.MySQL:
		driver, dsn = "mysql", testenv.DSN(t, testenv.MySQL)
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatalf("sql.Open(%q) = %v", driver, err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatalf("%v: ping: %v", d, err)
	}
	return db
}

// newSQLStore returns a store on a new table, created, and dropped when t
// ends. table is a name for [sqlstore.Config.Table], or "" for a random one.
func newSQLStore(t *testing.T, db *sql.DB, d sqlstore.Dialect, table string) *sqlstore.Store {
	t.Helper()
	if table == "" {
		table = testenv.Name("serverauth_test_")
	}
	s, err := sqlstore.New(db, sqlstore.Config{Dialect: d, Table: table})
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	if err := s.CreateTable(t.Context()); err != nil {
		t.Fatalf("CreateTable = %v", err)
	}
	t.Cleanup(func() {
		for _, name := range []string{table, table + "_events"} {
			if _, err := db.ExecContext(context.Background(), "DROP TABLE IF EXISTS "+quoteTable(d, name)); err != nil {
				t.Errorf("dropping %s: %v", name, err)
			}
		}
	})
	return s
}

// quoteTable quotes a table name, schema-qualified or not, as the store
// does (the names these tests use need no escaping).
func quoteTable(d sqlstore.Dialect, table string) string {
	q := `"`
	if d == sqlstore.MySQL {
		q = "`"
	}
	parts := strings.Split(table, ".")
	for i, p := range parts {
		parts[i] = q + p + q
	}
	return strings.Join(parts, ".")
}

var dialects = []sqlstore.Dialect{sqlstore.SQLite, sqlstore.Postgres, sqlstore.MySQL}

func TestSQLStore(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			db := openDB(t, d)
			storetest.TestTokenStore(t, func(t *testing.T) serverauth.TokenStore {
				return newSQLStore(t, db, d, "")
			})
		})
	}
}

// TestSQLStoreMySQLTextTimes runs a record through MySQL without parseTime,
// where the driver returns DATETIME columns as text.
func TestSQLStoreMySQLTextTimes(t *testing.T) {
	dsn := testenv.DSN(t, testenv.MySQL)
	dsn = strings.NewReplacer("parseTime=true&", "", "&parseTime=true", "", "?parseTime=true", "").Replace(dsn)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := newSQLStore(t, db, sqlstore.MySQL, "")
	rec := &serverauth.Record{
		UserID:  "u",
		Expiry:  time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC),
		Created: time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	if err := s.Put(t.Context(), rec); err != nil {
		t.Fatalf("Put = %v", err)
	}
	got, err := s.Get(t.Context(), "u")
	if err != nil {
		t.Fatalf("Get = %v", err)
	}
	// The store keeps microseconds, in UTC.
	truncate := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return t.UTC().Truncate(time.Microsecond)
	}
	for _, p := range [][2]time.Time{{got.Expiry, rec.Expiry}, {got.Created, rec.Created}, {got.Updated, rec.Updated}} {
		if !p[0].Equal(truncate(p[1])) {
			t.Errorf("Get returned time %v, want %v", p[0], truncate(p[1]))
		}
	}
}

// TestSQLStoreQualifiedTable checks a schema-qualified table name end to
// end.
func TestSQLStoreQualifiedTable(t *testing.T) {
	tests := []struct {
		dialect sqlstore.Dialect
		schema  string
	}{
		{sqlstore.Postgres, "public"},
		{sqlstore.MySQL, "test"},
		{sqlstore.SQLite, "main"},
	}
	for _, tt := range tests {
		t.Run(tt.dialect.String(), func(t *testing.T) {
			db := openDB(t, tt.dialect)
			s := newSQLStore(t, db, tt.dialect, tt.schema+"."+testenv.Name("Serverauth_Test_"))
			if err := s.CreateTable(t.Context()); err != nil {
				t.Fatalf("CreateTable again = %v, want nil", err)
			}
			if err := s.Put(t.Context(), &serverauth.Record{UserID: "u"}); err != nil {
				t.Fatalf("Put = %v", err)
			}
			if _, err := s.Get(t.Context(), "u"); err != nil {
				t.Fatalf("Get = %v", err)
			}
		})
	}
}

// oldSchema is the table as sqlstore created it before the refresh-token
// identifiers, consent time and profile columns, per dialect.
var oldSchema = map[sqlstore.Dialect]string{
	sqlstore.Postgres: `(user_id TEXT COLLATE "C" PRIMARY KEY, refresh_token BYTEA NOT NULL, access_token BYTEA NOT NULL,
		expiry TIMESTAMPTZ, refresh_token_expiry TIMESTAMPTZ, scopes TEXT NOT NULL, client_id TEXT NOT NULL, status TEXT NOT NULL,
		created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ, version BIGINT NOT NULL, lease_owner TEXT, lease_expires TIMESTAMPTZ)`,
	sqlstore.MySQL: `(user_id VARBINARY(1020) NOT NULL PRIMARY KEY, refresh_token LONGBLOB NOT NULL, access_token LONGBLOB NOT NULL,
		expiry DATETIME(6) NULL, refresh_token_expiry DATETIME(6) NULL, scopes MEDIUMTEXT NOT NULL, client_id TEXT NOT NULL,
		status TEXT NOT NULL, created_at DATETIME(6) NULL, updated_at DATETIME(6) NULL, version BIGINT NOT NULL,
		lease_owner VARBINARY(1020) NULL, lease_expires DATETIME(6) NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	sqlstore.SQLite: `(user_id TEXT NOT NULL PRIMARY KEY, refresh_token BLOB NOT NULL, access_token BLOB NOT NULL,
		expiry INTEGER, refresh_token_expiry INTEGER, scopes TEXT NOT NULL, client_id TEXT NOT NULL, status TEXT NOT NULL,
		created_at INTEGER, updated_at INTEGER, version INTEGER NOT NULL, lease_owner TEXT, lease_expires INTEGER)`,
}

// TestSQLStoreUpgradesOldTable: CreateTable on a table of the earlier
// schema adds the new columns and indexes, keeps the rows, and the store
// then round-trips the new fields.
func TestSQLStoreUpgradesOldTable(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.String(), func(t *testing.T) {
			db := openDB(t, d)
			table := testenv.Name("serverauth_old_")
			q := quoteTable(d, table)
			ctx := t.Context()
			if _, err := db.ExecContext(ctx, "CREATE TABLE "+q+" "+oldSchema[d]); err != nil {
				t.Fatalf("creating the old table: %v", err)
			}
			t.Cleanup(func() {
				db.ExecContext(context.Background(), "DROP TABLE "+q)
				db.ExecContext(context.Background(), "DROP TABLE IF EXISTS "+quoteTable(d, table+"_events"))
			})
			s, err := sqlstore.New(db, sqlstore.Config{Dialect: d, Table: table})
			if err != nil {
				t.Fatal(err)
			}
			// A row written by the old version, through a store that cannot
			// write it now: insert by hand.
			ins := "INSERT INTO " + q + " (user_id, refresh_token, access_token, scopes, client_id, status, version) VALUES (?, ?, ?, ?, ?, ?, 1)"
			if d == sqlstore.Postgres {
				ins = "INSERT INTO " + q + " (user_id, refresh_token, access_token, scopes, client_id, status, version) VALUES ($1, $2, $3, $4, $5, $6, 1)"
			}
			if _, err := db.ExecContext(ctx, ins, "old", []byte("sealed-rt"), []byte{}, "openid email", "client", "active"); err != nil {
				t.Fatalf("inserting an old row: %v", err)
			}
			if _, err := s.Get(ctx, "old"); err == nil {
				t.Fatal("Get on the old table before CreateTable succeeded; the test does not exercise the upgrade")
			}
			for range 2 { // the second run finds everything in place
				if err := s.CreateTable(ctx); err != nil {
					t.Fatalf("CreateTable on the old table = %v", err)
				}
			}
			old, err := s.Get(ctx, "old")
			if err != nil {
				t.Fatalf("Get(old) after the upgrade = %v", err)
			}
			if string(old.RefreshToken) != "sealed-rt" || old.RefreshTokenHash != "" || !old.Consented.IsZero() || len(old.Profile) != 0 {
				t.Errorf("old row after the upgrade = %v, Consented %v, Profile %d bytes", old, old.Consented, len(old.Profile))
			}
			now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
			old.RefreshTokenPrefixHash, old.RefreshTokenHash = serverauth.RefreshTokenPrefixHash("1//0abc"), serverauth.RefreshTokenHash("1//0abc")
			old.Consented, old.Profile = now, []byte{0, 1, 2}
			if err := s.Put(ctx, old); err != nil {
				t.Fatalf("Put with the new fields = %v", err)
			}
			got, err := s.Get(ctx, "old")
			if err != nil {
				t.Fatal(err)
			}
			if got.RefreshTokenHash != old.RefreshTokenHash || got.RefreshTokenPrefixHash != old.RefreshTokenPrefixHash || !got.Consented.Equal(now) || string(got.Profile) != "\x00\x01\x02" {
				t.Errorf("new fields did not round-trip: %q %q %v %x", got.RefreshTokenPrefixHash, got.RefreshTokenHash, got.Consented, got.Profile)
			}
			var n int
			var countIdx string
			switch d {
			case sqlstore.Postgres:
				countIdx = "SELECT count(*) FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE '%refresh_token_%hash%'"
			case sqlstore.MySQL:
				countIdx = "SELECT count(*) FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ? AND column_name LIKE 'refresh_token_%hash'"
			case sqlstore.SQLite:
				countIdx = "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql LIKE '%refresh_token_%hash%'"
			}
			if err := db.QueryRowContext(ctx, countIdx, table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 2 {
				t.Errorf("%d indexes on the refresh-token identifiers, want 2", n)
			}
		})
	}
}
