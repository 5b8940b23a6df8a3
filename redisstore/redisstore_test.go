package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/internal/testenv"
	"github.com/serverauth/serverauth/storetest"
)

// clusterEnv names a comma-separated list of Redis Cluster node addresses,
// e.g. 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003. Like the other
// services, the cluster is skipped when it is unset, and a failure when
// testenv.RequireServices is 1: CI (.ci/run) starts one.
const clusterEnv = "SERVERAUTH_TEST_REDIS_CLUSTER"

func openClient(t *testing.T) redis.UniversalClient {
	t.Helper()
	opts, err := redis.ParseURL(testenv.DSN(t, testenv.Redis))
	if err != nil {
		t.Fatalf("%s: %v", testenv.Redis, err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("redis ping: %v", err)
	}
	return c
}

// newTestStore returns a store under a prefix of its own, whose keys are
// deleted when t ends. The prefix holds characters special to SCAN MATCH.
func newTestStore(t *testing.T, c redis.UniversalClient) *Store {
	t.Helper()
	s, err := New(c, Config{Prefix: testenv.Name(`serverauthtest:[*?\]:`) + ":"})
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	t.Cleanup(func() {
		// Every key under the prefix: the users' hashes, the index sets and
		// the events.
		ctx := context.Background()
		scan := func(ctx context.Context, node redis.Cmdable) error {
			iter := node.Scan(ctx, 0, escapeGlob(s.prefix)+"*", scanCount).Iterator()
			for iter.Next(ctx) {
				if err := c.Del(ctx, iter.Val()).Err(); err != nil {
					return err
				}
			}
			return iter.Err()
		}
		var err error
		if cc, ok := c.(*redis.ClusterClient); ok {
			err = cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return scan(ctx, node) })
		} else {
			err = scan(ctx, c)
		}
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return s
}

func TestStore(t *testing.T) {
	c := openClient(t)
	storetest.TestTokenStore(t, func(t *testing.T) serverauth.TokenStore {
		return newTestStore(t, c)
	})
}

func TestCluster(t *testing.T) {
	addrs := testenv.DSN(t, clusterEnv)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(addrs, ",")})
	t.Cleanup(func() { c.Close() })
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("redis cluster ping: %v", err)
	}
	storetest.TestTokenStore(t, func(t *testing.T) serverauth.TokenStore {
		return newTestStore(t, c)
	})
}

func TestNew(t *testing.T) {
	if _, err := New(nil, Config{}); err == nil || !strings.HasPrefix(err.Error(), "redisstore: ") {
		t.Errorf("New(nil) = %v, want a redisstore error", err)
	}
	s, err := New(redis.NewClient(&redis.Options{}), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Prefix(); got != DefaultPrefix {
		t.Errorf("Prefix() = %q, want %q", got, DefaultPrefix)
	}
}

func TestLayout(t *testing.T) {
	c := openClient(t)
	s := newTestStore(t, c)
	ctx := t.Context()
	rec := &serverauth.Record{UserID: "109876543210987654321", RefreshToken: []byte{0, 1}, Scopes: []string{"openid"}, Status: serverauth.StatusActive,
		RefreshTokenPrefixHash: "pfx", RefreshTokenHash: "hsh"}
	if err := s.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lease(ctx, rec.UserID, "replica-1", time.UnixMilli(1000), time.Second); err != nil {
		t.Fatal(err)
	}
	got, err := c.HGetAll(ctx, s.Prefix()+rec.UserID).Result()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"version":       "1",
		"record":        `{"format":1,"refresh_token":"AAE=","scopes":["openid"],"refresh_token_prefix_hash":"pfx","refresh_token_hash":"hsh","status":"active"}`,
		"rt_ids":        "pfx hsh",
		"lease_owner":   "replica-1",
		"lease_expires": "2000",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("field %s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("hash has fields %v, want %v", slices.Sorted(mapKeys(got)), slices.Sorted(mapKeys(want)))
	}
	if ttl, err := c.PTTL(ctx, s.Prefix()+rec.UserID).Result(); err != nil || ttl != -1 {
		t.Errorf("PTTL = %v, %v; want -1 (no expiry)", ttl, err)
	}
}

// TestPutIndexesChangedIdentifiersOnly: a write that keeps the stored
// refresh token's identifiers (a refresh that did not rotate) is one round
// trip; one that changes them, or over a record written before rt_ids
// existed, adds the user to the index sets first; lookups find the user
// either way.
func TestPutIndexesChangedIdentifiersOnly(t *testing.T) {
	c := openClient(t)
	var trips tripCount
	c.AddHook(&trips)
	s := newTestStore(t, c)
	ctx := t.Context()
	// Load the script into the server's cache first (EVALSHA, then EVAL).
	if err := s.Put(ctx, &serverauth.Record{UserID: "u0", RefreshToken: []byte{0}, RefreshTokenPrefixHash: "p0", RefreshTokenHash: "h0"}); err != nil {
		t.Fatal(err)
	}
	rec := &serverauth.Record{UserID: "u1", RefreshToken: []byte{1}, RefreshTokenPrefixHash: "p1", RefreshTokenHash: "h1"}
	step := func(name string, wantTrips int64, prefix string) {
		t.Helper()
		before := trips.n.Load()
		if err := s.Put(ctx, rec); err != nil {
			t.Fatalf("%s: Put = %v", name, err)
		}
		if n := trips.n.Load() - before; n != wantTrips {
			t.Errorf("%s: Put took %d round trips, want %d", name, n, wantTrips)
		}
		if ids, err := s.UsersByRefreshToken(ctx, prefix, ""); err != nil || !slices.Equal(ids, []string{"u1"}) {
			t.Errorf("%s: UsersByRefreshToken(%q) = %q, %v; want [u1]", name, prefix, ids, err)
		}
	}
	step("new record", 2, "p1")       // index, then script
	step("same identifiers", 1, "p1") // script only
	rec.RefreshTokenPrefixHash, rec.RefreshTokenHash = "p2", "h2"
	step("new identifiers", 3, "p2") // script refuses, index, script
	if err := c.HDel(ctx, s.Prefix()+"u1", "rt_ids").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Del(ctx, s.prefixIndexKey("p2")).Err(); err != nil {
		t.Fatal(err)
	}
	step("record without rt_ids", 3, "p2")
}

// tripCount counts a client's round trips: commands and pipelines.
type tripCount struct{ n atomic.Int64 }

func (r *tripCount) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *tripCount) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmd)
	}
}

func (r *tripCount) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmds)
	}
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestBadValues(t *testing.T) {
	c := openClient(t)
	s := newTestStore(t, c)
	const secret = "c2VjcmV0" // base64 of a token
	tests := []struct {
		name    string
		fields  []any
		wantErr string
	}{
		{"no version", []any{"record", `{"format":1}`}, "bad version"},
		{"version zero", []any{"version", "0", "record", `{"format":1}`}, "bad version"},
		{"no record", []any{"version", "1"}, "JSON syntax error"},
		{"truncated", []any{"version", "1", "record", `{"format":1,"refresh_token":"` + secret}, "JSON syntax error"},
		{"future format", []any{"version", "1", "record", `{"format":2,"refresh_token":"` + secret + `"}`}, "format 2"},
		{"wrong type", []any{"version", "1", "record", `{"format":"1"}`}, "unexpected JSON value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := strings.ReplaceAll(tt.name, " ", "-")
			if err := c.HSet(t.Context(), s.key(id), tt.fields...).Err(); err != nil {
				t.Fatal(err)
			}
			_, err := s.Get(t.Context(), id)
			if err == nil || errors.Is(err, serverauth.ErrNotFound) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Get = %v, want an error about %q", err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "redisstore: ") || strings.Contains(err.Error(), secret) {
				t.Errorf("Get error %q: want the package prefix and no token", err)
			}
		})
	}
	// A key of another type under the prefix is not a user.
	if err := c.Set(t.Context(), s.key("a-string"), "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Del(context.Background(), s.key("a-string")) })
	for id, err := range s.Users(t.Context()) {
		if err != nil || id == "a-string" {
			t.Errorf("Users yielded %q, %v", id, err)
		}
	}
}

func TestInvalidInput(t *testing.T) {
	s, err := New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), Config{}) // refused before any command
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	tests := []struct {
		name string
		call func() error
	}{
		{"empty user ID", func() error { return s.Put(ctx, &serverauth.Record{}) }},
		{"scope not UTF-8", func() error { return s.Put(ctx, &serverauth.Record{UserID: "u", Scopes: []string{"\xff"}}) }},
		{"client ID not UTF-8", func() error { return s.Put(ctx, &serverauth.Record{UserID: "u", ClientID: "\xff"}) }},
		{"time out of range", func() error {
			return s.Put(ctx, &serverauth.Record{UserID: "u", Expiry: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
		}},
		{"empty owner", func() error { _, err := s.Lease(ctx, "u", "", time.Now(), time.Minute); return err }},
		{"zero ttl", func() error { _, err := s.Lease(ctx, "u", "a", time.Now(), 0); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || !strings.HasPrefix(err.Error(), "redisstore: ") || strings.Contains(err.Error(), "127.0.0.1:1") {
				t.Errorf("error = %v, want a redisstore error raised before contacting Redis", err)
			}
		})
	}
}

func TestEscapeGlob(t *testing.T) {
	tests := []struct{ in, want string }{
		{"serverauth:", "serverauth:"},
		{`a*b?c[d]e\f`, `a\*b\?c\[d\]e\\f`},
		{"", ""},
	}
	for _, tt := range tests {
		if got := escapeGlob(tt.in); got != tt.want {
			t.Errorf("escapeGlob(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	full, err := encodeRecord(&serverauth.Record{
		UserID: "u", RefreshToken: []byte{0, 1, 0xff}, AccessToken: []byte("a"),
		Expiry: time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC), Scopes: []string{"openid", "email"},
		ClientID: "c", Status: serverauth.StatusRevoked, Created: time.Unix(0, 0),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("3", full)
	f.Add("1", []byte(`{"format":1}`))
	f.Add("1", []byte(`{"format":1,"expiry":"2025-01-01T00:00:00+05:30","scopes":[]}`))
	f.Add("0", []byte(`{"format":1}`))
	f.Add("9223372036854775807", []byte(`{"format":2}`))
	f.Fuzz(func(t *testing.T, version string, data []byte) {
		rec, err := decodeRecord("u", version, data)
		if err != nil {
			return
		}
		enc, err := encodeRecord(rec)
		if err != nil {
			t.Fatalf("encodeRecord of a decoded record = %v", err)
		}
		again, err := decodeRecord("u", version, enc)
		if err != nil {
			t.Fatalf("decodeRecord(encodeRecord(r)) = %v\n%s", err, enc)
		}
		if d := diff(again, rec); d != "" {
			t.Fatalf("decodeRecord(encodeRecord(r)) differs from r: %s", d)
		}
	})
}

func diff(a, b *serverauth.Record) string {
	var d []string
	if a.UserID != b.UserID || a.Version != b.Version || a.ClientID != b.ClientID || a.Status != b.Status {
		d = append(d, fmt.Sprintf("%q %d %q %q vs %q %d %q %q", a.UserID, a.Version, a.ClientID, a.Status, b.UserID, b.Version, b.ClientID, b.Status))
	}
	if string(a.RefreshToken) != string(b.RefreshToken) || string(a.AccessToken) != string(b.AccessToken) {
		d = append(d, "tokens")
	}
	if !slices.Equal(a.Scopes, b.Scopes) {
		d = append(d, fmt.Sprintf("scopes %q vs %q", a.Scopes, b.Scopes))
	}
	for i, p := range [][2]time.Time{{a.Expiry, b.Expiry}, {a.RefreshTokenExpiry, b.RefreshTokenExpiry}, {a.Created, b.Created}, {a.Updated, b.Updated}} {
		if !p[0].Equal(p[1]) || p[0].IsZero() != p[1].IsZero() {
			d = append(d, fmt.Sprintf("time %d: %v vs %v", i, p[0], p[1]))
		}
	}
	return strings.Join(d, "; ")
}
