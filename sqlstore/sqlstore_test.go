package sqlstore

import (
	"database/sql"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/serverauth/serverauth"
)

// The tests against the databases (the conformance suite on each dialect,
// MySQL without parseTime, schema-qualified tables) are in the integration
// module's sqlstore_test.go, which brings the drivers; these need none.

var dialects = []Dialect{SQLite, Postgres, MySQL}

func TestNew(t *testing.T) {
	db := &sql.DB{} // never used
	tests := []struct {
		name      string
		cfg       Config
		wantTable string // quoted; "" means New fails
	}{
		{"default table postgres", Config{Dialect: Postgres}, `"serverauth_tokens"`},
		{"default table mysql", Config{Dialect: MySQL}, "`serverauth_tokens`"},
		{"default table sqlite", Config{Dialect: SQLite}, `"serverauth_tokens"`},
		{"mixed case kept", Config{Dialect: Postgres, Table: "Tokens_2"}, `"Tokens_2"`},
		{"qualified", Config{Dialect: MySQL, Table: "app.tokens"}, "`app`.`tokens`"},
		{"63 characters", Config{Dialect: SQLite, Table: "t" + strings.Repeat("x", 62)}, `"t` + strings.Repeat("x", 62) + `"`},
		{"no dialect", Config{Table: "t"}, ""},
		{"unknown dialect", Config{Dialect: 9}, ""},
		{"64 characters", Config{Dialect: SQLite, Table: strings.Repeat("x", 64)}, ""},
		{"leading digit", Config{Dialect: Postgres, Table: "1tokens"}, ""},
		{"quote", Config{Dialect: Postgres, Table: `to"kens`}, ""},
		{"backtick", Config{Dialect: MySQL, Table: "to`kens"}, ""},
		{"space", Config{Dialect: MySQL, Table: "my tokens"}, ""},
		{"injection", Config{Dialect: SQLite, Table: "t; DROP TABLE users"}, ""},
		{"three parts", Config{Dialect: Postgres, Table: "a.b.c"}, ""},
		{"empty part", Config{Dialect: Postgres, Table: "a."}, ""},
		{"hyphen", Config{Dialect: Postgres, Table: "server-auth"}, ""},
		{"non-ASCII", Config{Dialect: Postgres, Table: "tökens"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(db, tt.cfg)
			if tt.wantTable == "" {
				if err == nil || !strings.HasPrefix(err.Error(), "sqlstore: ") {
					t.Errorf("New(%+v) = %v, want a sqlstore error", tt.cfg, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%+v) = %v, want nil", tt.cfg, err)
			}
			if s.table != tt.wantTable {
				t.Errorf("New(%+v) table = %s, want %s", tt.cfg, s.table, tt.wantTable)
			}
		})
	}
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{Dialect: Postgres}, `"serverauth_tokens_events"`},
		{Config{Dialect: MySQL, Table: "app.tokens"}, "`app`.`tokens_events`"},
		{Config{Dialect: SQLite, Table: "t" + strings.Repeat("x", 62)}, `"t` + strings.Repeat("x", 55) + `_events"`},
		{Config{Dialect: Postgres, Table: "tokens", EventsTable: "other.seen"}, `"other"."seen"`},
	} {
		s, err := New(db, tt.cfg)
		if err != nil || s.events != tt.want {
			t.Errorf("New(%+v) events table = %v, %v; want %s", tt.cfg, s, err, tt.want)
		}
	}
	if _, err := New(db, Config{Dialect: Postgres, EventsTable: "bad name"}); err == nil {
		t.Error("New with a bad EventsTable = nil error")
	}
	if _, err := New(nil, Config{Dialect: SQLite}); err == nil {
		t.Errorf("New(nil) = nil error, want an error")
	}
}

func TestPutRefuses(t *testing.T) {
	s, err := New(&sql.DB{}, Config{Dialect: SQLite}) // refused before any query
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		rec  serverauth.Record
	}{
		{"empty user ID", serverauth.Record{}},
		{"user ID of 256 characters", serverauth.Record{UserID: strings.Repeat("x", 256)}},
		{"user ID not UTF-8", serverauth.Record{UserID: "\xff"}},
		{"user ID with NUL", serverauth.Record{UserID: "a\x00b"}},
		{"scope with space", serverauth.Record{UserID: "u", Scopes: []string{"a b"}}},
		{"empty scope", serverauth.Record{UserID: "u", Scopes: []string{""}}},
		{"client ID with NUL", serverauth.Record{UserID: "u", ClientID: "\x00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Put(t.Context(), &tt.rec)
			if err == nil || !strings.HasPrefix(err.Error(), "sqlstore: put: ") {
				t.Errorf("Put = %v, want a sqlstore error", err)
			}
		})
	}
}

// TestDocSchema keeps the schemas in the package documentation identical
// to the statements CreateTable runs.
func TestDocSchema(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Join(strings.Fields(strings.ReplaceAll(string(src), "//", " ")), " ")
	for _, d := range dialects {
		ddl := strings.Join(strings.Fields(createTableSQL(d, DefaultTable, DefaultTable)), " ")
		if !strings.Contains(doc, ddl) {
			t.Errorf("doc.go lacks the %v schema:\n%s", d, createTableSQL(d, DefaultTable, DefaultTable))
		}
		ddl = strings.Join(strings.Fields(createEventsSQL(d, DefaultTable+"_events")), " ")
		if !strings.Contains(doc, ddl) {
			t.Errorf("doc.go lacks the %v events schema:\n%s", d, createEventsSQL(d, DefaultTable+"_events"))
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add("openid email https://www.googleapis.com/auth/drive.appdata", "2025-03-14 15:09:26.535897", int64(1741964966535897))
	f.Add("", "1000-01-01 00:00:00", int64(0))
	f.Add("  a\tb\n", "9999-12-31 23:59:59.999999999", int64(-62135596800000000))
	f.Add("x", "0000-00-00 00:00:00", int64(-1))
	f.Fuzz(func(t *testing.T, scopes, mysqlTime string, micros int64) {
		// Scopes: what decodes must encode and decode to the same.
		dec := decodeScopes(scopes)
		rec := &serverauth.Record{UserID: "u", Scopes: dec}
		if checkText(scopes) == nil {
			if err := checkRecord(rec); err != nil {
				t.Fatalf("checkRecord refuses decoded scopes %q: %v", dec, err)
			}
		}
		if again := decodeScopes(encodeScopes(dec)); !slices.Equal(again, dec) {
			t.Fatalf("decodeScopes(encodeScopes(%q)) = %q", dec, again)
		}

		// Times: SQLite's microseconds and MySQL's text.
		s := &Store{dialect: SQLite}
		var n nullTime
		if err := n.Scan(micros); err != nil {
			t.Fatalf("Scan(%d) = %v", micros, err)
		}
		if !n.t.IsZero() {
			var back nullTime
			if err := back.Scan(s.timeArg(truncate(n.t))); err != nil || !back.t.Equal(n.t) {
				t.Fatalf("Scan(timeArg(%v)) = %v, %v", n.t, back.t, err)
			}
		}
		if err := n.Scan([]byte(mysqlTime)); err != nil || n.t.IsZero() {
			return
		}
		var back nullTime
		if err := back.Scan(truncate(n.t).Format(mysqlLayout)); err != nil || !back.t.Equal(truncate(n.t)) {
			t.Fatalf("Scan(%q) then formatting and scanning again = %v, %v; want %v", mysqlTime, back.t, err, truncate(n.t))
		}
	})
}
