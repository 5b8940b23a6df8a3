package integration_test

import (
	"bufio"
	"context"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/internal/testenv"
	"github.com/serverauth/serverauth/redisstore"
	"github.com/serverauth/serverauth/serverauthtest"
	"github.com/serverauth/serverauth/sqlstore"
)

// The multi-process test: several OS processes (backend replicas) share one
// store and the fake Google, and hammer a set of users concurrently. The
// parent owns the fake and its clock; each round it moves the clock past
// the tokens' expiry and tells the replicas the new time, and they all ask
// for every user's token at once. Google must see exactly one refresh per
// user per round, and, with refresh tokens rotating on every refresh, no
// refresh token may be lost (a lost one would fail the next round with
// invalid_grant).

const (
	mpReplicas   = 4
	mpUsers      = 12
	mpGoroutines = 8 // per user per replica
	mpRounds     = 3
	mpChildEnv   = "SERVERAUTH_MULTIPROCESS_CHILD"
)

func TestMultiProcessRefreshOncePerExpiry(t *testing.T) {
	t.Run("postgres", func(t *testing.T) { multiProcess(t, "postgres", testenv.DSN(t, testenv.Postgres)) })
	t.Run("redis", func(t *testing.T) { multiProcess(t, "redis", testenv.DSN(t, testenv.Redis)) })
}

// mpStore opens the shared store from the environment a child gets.
func mpStore(t testing.TB, kind, dsn, name string) serverauth.TokenStore {
	switch kind {
	case "postgres":
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(10)
		db.SetMaxIdleConns(10)
		t.Cleanup(func() { db.Close() })
		s, err := sqlstore.New(db, sqlstore.Config{Dialect: sqlstore.Postgres, Table: name})
		if err != nil {
			t.Fatal(err)
		}
		return s
	case "redis":
		opt, err := redis.ParseURL(dsn)
		if err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(opt)
		t.Cleanup(func() { c.Close() })
		s, err := redisstore.New(c, redisstore.Config{Prefix: name + ":"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	t.Fatalf("unknown store %q", kind)
	return nil
}

func multiProcess(t *testing.T, kind, dsn string) {
	name := testenv.Name("serverauth_mp_")
	store := mpStore(t, kind, dsn, name)
	ctx := context.Background()
	switch s := store.(type) {
	case *sqlstore.Store:
		if err := s.CreateTable(ctx); err != nil {
			t.Fatal(err)
		}
		db, _ := sql.Open("pgx", dsn)
		t.Cleanup(func() {
			db.Exec(`DROP TABLE IF EXISTS "` + name + `"`)
			db.Exec(`DROP TABLE IF EXISTS "` + name + `_events"`)
			db.Close()
		})
	case *redisstore.Store:
		opt, _ := redis.ParseURL(dsn)
		c := redis.NewClient(opt)
		t.Cleanup(func() {
			keys, _ := c.Keys(context.Background(), name+":*").Result()
			if len(keys) > 0 {
				c.Del(context.Background(), keys...)
			}
			c.Close()
		})
	}

	clock := serverauthtest.NewClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	google := serverauthtest.NewServer(serverauthtest.Options{Now: clock.Now, RotateRefreshTokens: true})
	defer google.Close()
	key, _ := serverauth.GenerateKey(1)
	keyring, _ := serverauth.NewKeyring(key)
	cfg := google.Config()
	cfg.Now, cfg.Store, cfg.Cipher = clock.Now, store, keyring
	parent, err := serverauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var users []string
	for i := 0; i < mpUsers; i++ {
		u := serverauthtest.User{Sub: fmt.Sprintf("1%020d", i), Email: fmt.Sprintf("user%d@example.com", i), EmailVerified: true}
		code, err := google.MintCode(serverauthtest.CodeRequest{User: u})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parent.Exchange(ctx, code); err != nil {
			t.Fatalf("Exchange: %v", err)
		}
		users = append(users, u.Sub)
	}

	// Start the replicas.
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: google.Certificate().Raw})
	type child struct {
		cmd *exec.Cmd
		in  io.WriteCloser
		out *bufio.Scanner
	}
	var children []child
	for i := 0; i < mpReplicas; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMultiProcessChild$", "-test.v")
		cmd.Env = append(os.Environ(),
			mpChildEnv+"=1",
			"MP_KIND="+kind, "MP_DSN="+dsn, "MP_NAME="+name,
			"MP_URL="+google.URL, "MP_CERT="+string(certPEM),
			"MP_KEY="+key.Encode(), "MP_USERS="+strings.Join(users, ","),
		)
		cmd.Stderr = os.Stderr
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.Close(); cmd.Wait() })
		children = append(children, child{cmd, in, bufio.NewScanner(out)})
	}

	for round := 1; round <= mpRounds; round++ {
		clock.Advance(serverauthtest.DefaultAccessTokenLifetime) // every token expired
		for _, c := range children {
			fmt.Fprintf(c.in, "round %d\n", clock.Now().UnixNano())
		}
		for i, c := range children {
			line := ""
			for c.out.Scan() {
				if line = c.out.Text(); strings.HasPrefix(line, "done ") {
					break
				}
			}
			if line != "done 0" {
				t.Fatalf("round %d: replica %d reported %q (failed Token calls)", round, i, line)
			}
		}
		for _, u := range users {
			if n := google.RefreshCount(u); n != round {
				t.Fatalf("round %d: user %s refreshed %d times in total across %d replicas, want %d (one per expiry)", round, u, n, mpReplicas, round)
			}
		}
	}
	for _, c := range children {
		fmt.Fprintln(c.in, "quit")
	}
	// No refresh token was lost: each stored one still works.
	clock.Advance(serverauthtest.DefaultAccessTokenLifetime)
	fresh, _ := serverauth.New(cfg)
	for _, u := range users {
		if _, err := fresh.Token(ctx, u); err != nil {
			t.Fatalf("after the run, user %s: %v (a refresh token was lost)", u, err)
		}
	}
}

// TestMultiProcessChild is one replica of TestMultiProcessRefreshOncePerExpiry;
// it does nothing unless that test started it.
func TestMultiProcessChild(t *testing.T) {
	if os.Getenv(mpChildEnv) != "1" {
		t.Skip("a replica process of TestMultiProcessRefreshOncePerExpiry")
	}
	block, _ := pem.Decode([]byte(os.Getenv("MP_CERT")))
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs = pool
	keyring, err := serverauth.ParseKeyring(os.Getenv("MP_KEY"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Unix(0, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	cfg := serverauthtest.EndpointsAt(os.Getenv("MP_URL"))
	e, err := serverauth.New(serverauth.Config{
		ClientID: serverauthtest.DefaultWebClientID, ClientSecret: serverauthtest.DefaultWebClientSecret,
		AllowedClientIDs: []string{serverauthtest.DefaultIOSClientID, serverauthtest.DefaultAndroidClientID},
		Endpoints:        cfg, HTTPClient: &http.Client{Transport: tr, Timeout: 30 * time.Second},
		Store: mpStore(t, os.Getenv("MP_KIND"), os.Getenv("MP_DSN"), os.Getenv("MP_NAME")), Cipher: keyring,
		Now: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	users := strings.Split(os.Getenv("MP_USERS"), ",")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fields := strings.Fields(in.Text())
		if len(fields) != 2 || fields[0] != "round" {
			return
		}
		ns, _ := strconv.ParseInt(fields[1], 10, 64)
		mu.Lock()
		now = time.Unix(0, ns)
		mu.Unlock()
		var wg sync.WaitGroup
		var failed sync.Map
		for _, u := range users {
			for g := 0; g < mpGoroutines; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := e.Token(context.Background(), u); err != nil {
						failed.Store(u, err)
					}
				}()
			}
		}
		wg.Wait()
		n := 0
		failed.Range(func(k, v any) bool { n++; fmt.Fprintf(os.Stderr, "replica: user %v: %v\n", k, v); return true })
		fmt.Printf("done %d\n", n)
	}
}
