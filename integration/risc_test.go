package integration_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/internal/testenv"
	"github.com/serverauth/serverauth/redisstore"
	"github.com/serverauth/serverauth/risc"
	"github.com/serverauth/serverauth/serverauthtest"
	"github.com/serverauth/serverauth/sqlstore"
)

// Two replicas of a backend, each an Exchanger and a risc.Receiver, share
// one store (PostgreSQL, Redis). Google delivers a security event to one
// and redelivers it to the other, and also delivers one event to both at
// the same moment: each event is acted on, and reaches the app's hook,
// exactly once.
func TestRISCRedeliveryAcrossReplicas(t *testing.T) {
	t.Run("postgres", func(t *testing.T) {
		db, err := sql.Open("pgx", testenv.DSN(t, testenv.Postgres))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		name := testenv.Name("serverauth_risc_")
		s, err := sqlstore.New(db, sqlstore.Config{Dialect: sqlstore.Postgres, Table: name})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateTable(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			db.Exec(`DROP TABLE IF EXISTS "` + name + `"`)
			db.Exec(`DROP TABLE IF EXISTS "` + name + `_events"`)
		})
		riscReplicas(t, s)
	})
	t.Run("redis", func(t *testing.T) {
		opt, err := redis.ParseURL(testenv.DSN(t, testenv.Redis))
		if err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(opt)
		t.Cleanup(func() { c.Close() })
		prefix := testenv.Name("serverauth_risc_") + ":"
		s, err := redisstore.New(c, redisstore.Config{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx := context.Background()
			iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
			for iter.Next(ctx) {
				c.Del(ctx, iter.Val())
			}
		})
		riscReplicas(t, s)
	})
}

// replica is one backend process: its Exchanger, Receiver and hook calls.
type replica struct {
	e     *serverauth.Exchanger
	url   string
	calls atomic.Int32
}

func riscReplicas(t *testing.T, store serverauth.TokenStore) {
	ctx := t.Context()
	clock := serverauthtest.NewClock(time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC))
	g := serverauthtest.NewServer(serverauthtest.Options{Now: clock.Now})
	t.Cleanup(g.Close)
	key, err := serverauth.GenerateKey(1)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := serverauth.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := store.(serverauth.EventLedger); !ok {
		t.Fatalf("%T is not an EventLedger", store)
	}
	var (
		mu   sync.Mutex
		seen = map[string]int{} // event ID → hook calls, across replicas
	)
	reps := make([]*replica, 2)
	for i := range reps {
		cfg := g.Config()
		cfg.Store, cfg.Cipher = store, kr
		e, err := serverauth.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		r := &replica{e: e}
		rc, err := risc.NewReceiver(risc.Config{
			Exchanger:        e,
			ConfigurationURL: g.RISCConfigurationURL(),
			OnEvent: func(ctx context.Context, ev *risc.Event) error {
				r.calls.Add(1)
				mu.Lock()
				seen[ev.ID]++
				mu.Unlock()
				return nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(rc)
		t.Cleanup(srv.Close)
		r.url = srv.URL
		reps[i] = r
	}
	stream := func(r *replica) {
		t.Helper()
		if err := g.SetRISCStream(serverauthtest.RISCStream{URL: r.url, EventsRequested: risc.EventTypes(), Enabled: true}); err != nil {
			t.Fatal(err)
		}
	}
	code, err := g.MintCode(serverauthtest.CodeRequest{Prompt: "consent"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := reps[0].e.Exchange(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	user := res.UserID

	// Delivered to replica 0, redelivered to replica 1: replica 1 answers
	// 202 and does nothing.
	stream(reps[0])
	d, err := g.SendRISCEvent(ctx, serverauthtest.RISCEvent{Type: "account-disabled", Sub: user, Reason: risc.ReasonHijacking})
	if err != nil || d.Status != http.StatusAccepted {
		t.Fatalf("delivery to replica 0 = %+v, %v", d, err)
	}
	// The user signs in again; a second action would disable the grant again.
	code, _ = g.MintCode(serverauthtest.CodeRequest{})
	if _, err := reps[1].e.Exchange(ctx, code); err != nil {
		t.Fatal(err)
	}
	stream(reps[1])
	for range 2 {
		if r, err := g.RedeliverRISCEvent(ctx, d.ID); err != nil || r.Status != http.StatusAccepted {
			t.Fatalf("redelivery to replica 1 = %+v, %v", r, err)
		}
	}
	if n := reps[1].calls.Load(); n != 0 {
		t.Errorf("replica 1 called the hook %d times for an event replica 0 handled", n)
	}
	if _, err := reps[1].e.Token(ctx, user); err != nil {
		t.Errorf("Token after the redeliveries = %v, want the grant the sign-in restored", err)
	}

	// One token delivered to both replicas at the same moment.
	var set string
	tap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		set = string(b)
		w.WriteHeader(http.StatusServiceUnavailable) // as if lost; the test delivers it itself
	}))
	t.Cleanup(tap.Close)
	if err := g.SetRISCStream(serverauthtest.RISCStream{URL: tap.URL, EventsRequested: risc.EventTypes(), Enabled: true}); err != nil {
		t.Fatal(err)
	}
	d2, err := g.SendRISCEvent(ctx, serverauthtest.RISCEvent{Type: "tokens-revoked", Sub: user})
	if err != nil || set == "" {
		t.Fatalf("capturing the token: %+v, %v", d2, err)
	}
	var (
		wg       sync.WaitGroup
		statuses [2]int
	)
	for i, r := range reps {
		wg.Go(func() {
			resp, err := http.Post(r.url, "application/secevent+jwt", strings.NewReader(set))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusAccepted {
			t.Errorf("replica %d answered %d to the simultaneous delivery, want 202", i, s)
		}
	}
	if _, err := reps[0].e.Token(ctx, user); !errors.Is(err, serverauth.ErrNotFound) {
		t.Errorf("Token after tokens-revoked = %v, want ErrNotFound", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen[d.ID] != 1 || seen[d2.ID] != 1 || len(seen) != 2 {
		t.Errorf("hook calls by event = %v, want each of %s and %s once", seen, d.ID, d2.ID)
	}
}
