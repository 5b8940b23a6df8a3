package bench

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/filestore"
	"github.com/serverauth/serverauth/internal/testenv"
	"github.com/serverauth/serverauth/redisstore"
	"github.com/serverauth/serverauth/sqlstore"
)

// storeUsers is how many records each store benchmark works over.
const storeUsers = 100

// backend opens an empty store of one kind for a benchmark, and arranges
// its cleanup. Services come from the SERVERAUTH_TEST_* variables and the
// benchmark is skipped when one is unset.
type backend struct {
	name string
	open func(b *testing.B) serverauth.TokenStore
}

var backends = []backend{
	{"memory", func(*testing.B) serverauth.TokenStore { return serverauth.NewMemoryStore() }},
	{"file", func(b *testing.B) serverauth.TokenStore {
		s, err := filestore.New(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		return s
	}},
	{"sqlite", func(b *testing.B) serverauth.TokenStore {
		dsn := "file:" + filepath.Join(b.TempDir(), "bench.db") + "?_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)"
		s, _ := openSQL(b, "sqlite", dsn, sqlstore.SQLite)
		return s
	}},
	{"postgres", func(b *testing.B) serverauth.TokenStore {
		s, _ := openSQL(b, "pgx", testenv.DSN(b, testenv.Postgres), sqlstore.Postgres)
		return s
	}},
	{"mysql", func(b *testing.B) serverauth.TokenStore {
		s, _ := openSQL(b, "mysql", testenv.DSN(b, testenv.MySQL), sqlstore.MySQL)
		return s
	}},
	{"redis", func(b *testing.B) serverauth.TokenStore {
		s, _ := openRedis(b, testenv.DSN(b, testenv.Redis))
		return s
	}},
}

// openSQL returns a sqlstore on a table of its own, dropped at the end, and
// the table's name.
func openSQL(tb testing.TB, driver, dsn string, d sqlstore.Dialect) (*sqlstore.Store, string) {
	tb.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	table := testenv.Name("serverauth_bench_")
	s, err := sqlstore.New(db, sqlstore.Config{Dialect: d, Table: table})
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.CreateTable(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { dropTables(tb, db, table) })
	return s, table
}

// dropTables drops a sqlstore table and the events table CreateTable made
// beside it.
func dropTables(tb testing.TB, db *sql.DB, table string) {
	for _, t := range []string{table, table + "_events"} {
		if _, err := db.Exec("DROP TABLE IF EXISTS " + t); err != nil {
			tb.Errorf("dropping %s: %v", t, err)
		}
	}
}

// openRedis returns a redisstore under a prefix of its own, whose keys are
// deleted at the end, and the prefix.
func openRedis(tb testing.TB, url string) (*redisstore.Store, string) {
	tb.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatal(err)
	}
	c := redis.NewClient(opts)
	tb.Cleanup(func() { c.Close() })
	prefix := testenv.Name("serverauth_bench:") + ":"
	s, err := redisstore.New(c, redisstore.Config{Prefix: prefix})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return s, prefix
}

// sealer seals and opens token fields as the Exchanger does above the
// store: a Keyring (AES-256-GCM), the user and field as associated data.
type sealer struct{ k *serverauth.Keyring }

func newSealer(tb testing.TB) sealer {
	tb.Helper()
	key, err := serverauth.GenerateKey(1)
	if err != nil {
		tb.Fatal(err)
	}
	k, err := serverauth.NewKeyring(key)
	if err != nil {
		tb.Fatal(err)
	}
	return sealer{k}
}

func ad(userID, field string) []byte { return []byte(userID + "\x00" + field) }

func (s sealer) seal(tb testing.TB, userID, field, token string) []byte {
	ct, err := s.k.Encrypt([]byte(token), ad(userID, field))
	if err != nil {
		tb.Fatal(err)
	}
	return ct
}

func (s sealer) open(tb testing.TB, userID, field string, ct []byte) string {
	pt, err := s.k.Decrypt(ct, ad(userID, field))
	if err != nil {
		tb.Fatal(err)
	}
	return string(pt)
}

// storeRecords fills st with storeUsers sealed records and returns them,
// each with its stored version.
func storeRecords(b *testing.B, st serverauth.TokenStore, s sealer) []*serverauth.Record {
	b.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	recs := make([]*serverauth.Record, storeUsers)
	for i := range recs {
		id := userID(i)
		recs[i] = &serverauth.Record{
			UserID:       id,
			RefreshToken: s.seal(b, id, "refresh_token", fakeToken("1//0", i, refreshTokenSize)),
			AccessToken:  s.seal(b, id, "access_token", fakeToken("ya29.", i, accessTokenSize)),
			Expiry:       now.Add(time.Hour),
			Scopes:       []string{"openid", serverauth.ScopeEmail, serverauth.ScopeProfile, serverauth.ScopeDriveAppData},
			ClientID:     "123456789012-2p6r0t4v8x1z3b5d7f9h1j3l5n7q9s0u.apps.googleusercontent.com",
			Status:       serverauth.StatusActive,
			Created:      now,
			Updated:      now,
		}
		if err := st.Put(ctx, recs[i]); err != nil {
			b.Fatal(err)
		}
	}
	return recs
}

// BenchmarkStore measures each backend's operations on a store of 100
// users, cycling through them:
//
//   - op=Get: read a record; with seal=yes, then decrypt both token fields
//     (a Keyring), as reading tokens from an encrypted store costs.
//   - op=Put: write a record back with the version the caller holds (the
//     write of a read-modify-write; the read is Get); with seal=yes, encrypt
//     both token fields first.
//   - op=Lease+Release: take and give back the refresh lease.
//
// The encryption overhead of an operation is its seal=yes time over its
// seal=no time.
func BenchmarkStore(b *testing.B) {
	for _, be := range backends {
		b.Run("backend="+be.name, func(b *testing.B) {
			st := be.open(b)
			s := newSealer(b)
			recs := storeRecords(b, st, s)
			ctx := context.Background()
			next := func(i *int) *serverauth.Record {
				r := recs[*i]
				if *i++; *i == len(recs) {
					*i = 0
				}
				return r
			}

			b.Run("op=Get/seal=no", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if _, err := st.Get(ctx, next(&i).UserID); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("op=Get/seal=yes", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					r, err := st.Get(ctx, next(&i).UserID)
					if err != nil {
						b.Fatal(err)
					}
					s.open(b, r.UserID, "refresh_token", r.RefreshToken)
					s.open(b, r.UserID, "access_token", r.AccessToken)
				}
			})
			b.Run("op=Put/seal=no", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					r := next(&i)
					r.Updated = r.Updated.Add(time.Second)
					if err := st.Put(ctx, r); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("op=Put/seal=yes", func(b *testing.B) {
				rts, ats := make([]string, len(recs)), make([]string, len(recs))
				for i := range recs {
					rts[i], ats[i] = fakeToken("1//0", i, refreshTokenSize), fakeToken("ya29.", i, accessTokenSize)
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					j := i
					r := next(&i)
					r.RefreshToken = s.seal(b, r.UserID, "refresh_token", rts[j])
					r.AccessToken = s.seal(b, r.UserID, "access_token", ats[j])
					r.Updated = r.Updated.Add(time.Second)
					if err := st.Put(ctx, r); err != nil {
						b.Fatal(err)
					}
				}
			})
			l, ok := st.(serverauth.Leaser)
			if !ok {
				return
			}
			b.Run("op=Lease+Release/seal=no", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					id := next(&i).UserID
					got, err := l.Lease(ctx, id, "bench-owner", time.Now(), 35*time.Second)
					if err != nil || !got {
						b.Fatalf("Lease = %v, %v; want true", got, err)
					}
					if err := l.Release(ctx, id, "bench-owner"); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkSeal is the Keyring's cost per token field: AES-256-GCM of a
// 150-byte refresh token and a 250-byte access token.
func BenchmarkSeal(b *testing.B) {
	s := newSealer(b)
	id := userID(1)
	for _, tc := range []struct {
		field string
		size  int
	}{{"refresh_token", refreshTokenSize}, {"access_token", accessTokenSize}} {
		tok := fakeToken("t", 1, tc.size)
		ct := s.seal(b, id, tc.field, tok)
		b.Run("op=encrypt/field="+tc.field, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.seal(b, id, tc.field, tok)
			}
		})
		b.Run("op=decrypt/field="+tc.field, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.open(b, id, tc.field, ct)
			}
		})
	}
}
