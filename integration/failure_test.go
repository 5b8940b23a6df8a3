package integration_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
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

// Failures with the network in between: a TCP proxy that refuses and cuts
// connections, in front of the fake Google and in front of PostgreSQL and
// Redis. The faults Google itself can serve are tested in the root
// package's failure_test.go.

func TestExchangeRetriesOnlyWhenNothingWasSent(t *testing.T) {
	// A token endpoint that refuses connections at first: nothing was sent,
	// so the exchange may try again, and succeeds once the endpoint is back.
	f := newFixture(t, serverauthtest.Options{})
	code := f.mint(serverauthtest.CodeRequest{})
	proxy := newTCPProxy(t, strings.TrimPrefix(f.g.URL, "https://"))
	proxy.Stop()
	e := f.newExchanger(func(c *serverauth.Config) {
		c.Endpoints.TokenURL = "https://" + proxy.Addr() + "/token"
		c.Retry.Sleep = func(ctx context.Context, d time.Duration) error {
			proxy.Start() // the endpoint comes back while we wait
			return nil
		}
	})
	res, err := e.Exchange(context.Background(), code)
	if err != nil || res.UserID == "" {
		t.Fatalf("Exchange after a refused connection = %v, %v; want success on the retry", res, err)
	}
	if n := f.g.CodeExchangeCount(code); n != 1 {
		t.Fatalf("code exchanged %d times, want 1", n)
	}
}

func (f *fixture) newExchanger(mutate func(*serverauth.Config)) *serverauth.Exchanger {
	f.t.Helper()
	cfg := f.cfg
	mutate(&cfg)
	e, err := serverauth.New(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	return e
}

// tcpProxy forwards a loopback port to a server; Stop makes the server
// unreachable (refusing and cutting connections), Start brings it back on
// the same port.
type tcpProxy struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex // guards ln and conns
	ln    net.Listener
	conns []net.Conn
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{t: t, target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.Stop)
	return p
}

func (p *tcpProxy) Addr() string { return p.addr }

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
}

// Stop closes the listener and every connection.
func (p *tcpProxy) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Start listens again on the same address.
func (p *tcpProxy) Start() {
	p.mu.Lock()
	running := p.ln != nil
	p.mu.Unlock()
	if running {
		return
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Errorf("proxy restart: %v", err)
		return
	}
	p.serve(ln)
}

// TestStoreOutageLosesNothing cuts the store away in the middle of a run
// (PostgreSQL stopped, Redis unreachable, as the application sees it) while
// Google rotates refresh tokens, and checks that every refresh token Google
// returned is retrievable once the store is back.
func TestStoreOutageLosesNothing(t *testing.T) {
	t.Run("postgres", func(t *testing.T) {
		dsn := testenv.DSN(t, testenv.Postgres)
		storeOutage(t, dsn, func(proxyAddr string) serverauth.TokenStore {
			db, err := sql.Open("pgx", strings.Replace(dsn, "127.0.0.1:5432", proxyAddr, 1))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			name := testenv.Name("serverauth_outage_")
			s, err := sqlstore.New(db, sqlstore.Config{Dialect: sqlstore.Postgres, Table: name})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.CreateTable(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				db.Exec(`DROP TABLE IF EXISTS "` + name + `"`)
				db.Exec(`DROP TABLE IF EXISTS "` + name + `_events"`)
			})
			return s
		}, "127.0.0.1:5432")
	})
	t.Run("redis", func(t *testing.T) {
		dsn := testenv.DSN(t, testenv.Redis)
		storeOutage(t, dsn, func(proxyAddr string) serverauth.TokenStore {
			opt, err := redis.ParseURL(dsn)
			if err != nil {
				t.Fatal(err)
			}
			opt.Addr, opt.MaxRetries = proxyAddr, -1
			c := redis.NewClient(opt)
			t.Cleanup(func() { c.Close() })
			s, err := redisstore.New(c, redisstore.Config{Prefix: testenv.Name("serverauth_outage_") + ":"})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, "127.0.0.1:6379")
	})
}

func storeOutage(t *testing.T, dsn string, open func(proxyAddr string) serverauth.TokenStore, target string) {
	if !strings.Contains(dsn, target) {
		t.Skipf("the outage test proxies %s; the DSN points elsewhere", target)
	}
	proxy := newTCPProxy(t, target)
	store := &cutBeforePut{TokenStore: open(proxy.Addr()), proxy: proxy}
	keyring := testKeyring(t, 1)
	f := newFixture(t, serverauthtest.Options{RotateRefreshTokens: true}, func(c *serverauth.Config) {
		c.Store, c.Cipher = store, keyring
		c.Retry.MaxAttempts = 1
	})
	ctx := context.Background()

	// 1. The store goes down during a sign-in: the Result comes back beside
	// the error, and is saved once the store returns.
	code := f.mint(serverauthtest.CodeRequest{})
	proxy.Stop()
	res, err := f.e.Exchange(ctx, code)
	var se *serverauth.SaveError
	if !errors.As(err, &se) || se.Result == nil || res == nil || res.Token.RefreshToken == "" {
		t.Fatalf("Exchange with the store down = %v, %v; want a SaveError with the Result", res, err)
	}
	proxy.Start()
	if err := f.e.Save(ctx, se.Result); err != nil {
		t.Fatalf("Save once the store is back = %v", err)
	}

	// 2. The store goes down in the middle of a refresh that rotates the
	// refresh token, after the record was read and Google answered, before
	// the write: the refresh fails, but the new refresh token is kept and
	// written once the store is back.
	f.clock.Advance(2 * time.Hour)
	store.armed.Store(true)
	if _, err := f.e.Token(ctx, res.UserID); !errors.As(err, &se) {
		t.Fatalf("Token with the store gone before the write = %v, want a SaveError", err)
	}
	if n := f.g.RefreshCount(res.UserID); n != 1 {
		t.Fatalf("refreshes = %d, want 1 (Google rotated the refresh token)", n)
	}
	// The old refresh token is revoked by now (rotation); only a kept new one
	// can refresh again.
	proxy.Start()
	f.clock.Advance(time.Minute) // past the per-user backoff
	if _, err := f.e.Token(ctx, res.UserID); err != nil {
		t.Fatalf("Token once the store is back = %v", err)
	}
	f.clock.Advance(2 * time.Hour)
	other := f.newExchanger(func(*serverauth.Config) {})
	if _, err := other.Token(ctx, res.UserID); err != nil {
		t.Fatalf("another replica's refresh with the stored refresh token = %v: it was lost", err)
	}
}

// cutBeforePut is a store whose server goes away just before the next Put.
type cutBeforePut struct {
	serverauth.TokenStore
	proxy *tcpProxy
	armed atomic.Bool
}

func (s *cutBeforePut) Put(ctx context.Context, r *serverauth.Record) error {
	if s.armed.CompareAndSwap(true, false) {
		s.proxy.Stop()
	}
	return s.TokenStore.Put(ctx, r)
}

func (s *cutBeforePut) Lease(ctx context.Context, id, owner string, now time.Time, ttl time.Duration) (bool, error) {
	return s.TokenStore.(serverauth.Leaser).Lease(ctx, id, owner, now, ttl)
}

func (s *cutBeforePut) Release(ctx context.Context, id, owner string) error {
	return s.TokenStore.(serverauth.Leaser).Release(ctx, id, owner)
}
