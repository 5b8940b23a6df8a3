package serverauth_test

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

	"github.com/redis/go-redis/v9"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/internal/testenv"
	"github.com/serverauth/serverauth/redisstore"
	"github.com/serverauth/serverauth/serverauthtest"
	"github.com/serverauth/serverauth/sqlstore"
)

// sentWithCode counts the token requests that carried code.
func sentWithCode(g *serverauthtest.Server, code string) int {
	n := 0
	for _, r := range g.Requests(serverauthtest.EndpointToken) {
		if r.Form.Get("code") == code {
			n++
		}
	}
	return n
}

func TestExchangeUnderFaults(t *testing.T) {
	tests := []struct {
		kind      serverauthtest.FaultKind
		wantClass serverauth.ErrorClass // 0: the exchange succeeds
	}{
		{serverauthtest.FaultServerError, serverauth.ClassTransient},
		{serverauthtest.FaultUnavailable, serverauth.ClassTransient},
		{serverauthtest.FaultBadGatewayHTML, serverauth.ClassTransient},
		{serverauthtest.FaultThrottleHTML, serverauth.ClassRateLimited},
		{serverauthtest.FaultTooManyRequests, serverauth.ClassRateLimited},
		{serverauthtest.FaultGoogleAPIError, serverauth.ClassMisconfigured},
		{serverauthtest.FaultReset, serverauth.ClassTransient},
		{serverauthtest.FaultResetAfter, serverauth.ClassTransient},
		{serverauthtest.FaultStall, serverauth.ClassTransient},
		{serverauthtest.FaultTruncated, serverauth.ClassTransient},
		{serverauthtest.FaultMalformedJSON, serverauth.ClassTransient},
		{serverauthtest.FaultWrongContentType, 0}, // a JSON body with a text/html type is still read
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			f := newFixture(t, serverauthtest.Options{}, func(c *serverauth.Config) {
				hc := *c.HTTPClient
				hc.Timeout = 2 * time.Second // ends a stall
				c.HTTPClient = &hc
			})
			code := f.mint(serverauthtest.CodeRequest{})
			f.g.FailNext(serverauthtest.EndpointToken, 1, serverauthtest.Fault{Kind: tt.kind, Stall: 10 * time.Second})
			res, err := f.e.Exchange(context.Background(), code)
			if n := sentWithCode(f.g, code); n != 1 {
				t.Fatalf("the code reached Google %d times, want exactly 1 (no retry of an exchange that was sent)", n)
			}
			if tt.wantClass == 0 {
				if err != nil || res.UserID == "" {
					t.Fatalf("Exchange = %v, %v; want success", res, err)
				}
				return
			}
			var te *serverauth.TokenError
			if !errors.As(err, &te) || te.Class != tt.wantClass {
				t.Fatalf("Exchange = %v, want a TokenError of class %s", err, tt.wantClass)
			}
			if strings.Contains(err.Error(), code) {
				t.Errorf("error leaks the code: %v", err)
			}
			if tt.kind == serverauthtest.FaultTooManyRequests && te.RetryAfter != time.Second {
				t.Errorf("RetryAfter = %s, want 1s", te.RetryAfter)
			}
		})
	}
}

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

func TestRefreshSurvivesTransientFaults(t *testing.T) {
	for _, kind := range []serverauthtest.FaultKind{
		serverauthtest.FaultUnavailable, serverauthtest.FaultBadGatewayHTML, serverauthtest.FaultThrottleHTML,
		serverauthtest.FaultTooManyRequests, serverauthtest.FaultReset, serverauthtest.FaultResetAfter,
		serverauthtest.FaultTruncated, serverauthtest.FaultMalformedJSON,
	} {
		t.Run(kind.String(), func(t *testing.T) {
			f := newStoreFixture(t, serverauthtest.Options{})
			res := f.signIn(serverauthtest.CodeRequest{})
			f.clock.Advance(2 * time.Hour)
			f.g.FailNext(serverauthtest.EndpointToken, 2, serverauthtest.Fault{Kind: kind})
			tok, err := f.e.Token(context.Background(), res.UserID)
			if err != nil {
				t.Fatalf("Token through two %s faults = %v, want success within the retry budget", kind, err)
			}
			if n := f.g.FaultCount(serverauthtest.EndpointToken); n != 2 {
				t.Fatalf("faults injected = %d, want 2", n)
			}
			rec, _ := f.store.Get(context.Background(), res.UserID)
			if rec.Status != serverauth.StatusActive || len(rec.RefreshToken) == 0 || !rec.Expiry.Equal(tok.Expiry) {
				t.Fatalf("record after the faults = %v, want the refresh token intact and the new token saved", rec)
			}
		})
	}
}

func TestRefreshGivesUpWithinBudget(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	f.clock.Advance(2 * time.Hour)
	f.g.FailFraction(serverauthtest.EndpointToken, 1, serverauthtest.Fault{Kind: serverauthtest.FaultUnavailable})
	_, err := f.e.Token(context.Background(), res.UserID)
	var te *serverauth.TokenError
	if !errors.As(err, &te) || !te.Class.Temporary() {
		t.Fatalf("Token with the endpoint down = %v, want a temporary TokenError", err)
	}
	if n := f.g.FaultCount(serverauthtest.EndpointToken); n != 4 {
		t.Fatalf("attempts = %d, want the policy's 4", n)
	}
	f.g.ClearFaults()
	f.clock.Advance(time.Minute) // past the per-user backoff
	if _, err := f.e.Token(context.Background(), res.UserID); err != nil {
		t.Fatalf("Token once Google is back = %v", err)
	}
}

func TestVerifyDuringJWKSOutage(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	ctx := context.Background()
	if _, err := f.e.VerifyIDToken(ctx, f.g.IDToken(serverauthtest.DemoUser(), f.g.IOSClientID())); err != nil {
		t.Fatal(err)
	}
	f.g.FailFraction(serverauthtest.EndpointJWKS, 1, serverauthtest.Fault{Kind: serverauthtest.FaultUnavailable})
	f.clock.Advance(serverauthtest.DefaultJWKSMaxAge + time.Hour) // the key set is stale
	for i := 0; i < 10; i++ {
		f.clock.Advance(time.Minute)
		if _, err := f.e.VerifyIDToken(ctx, f.g.IDToken(serverauthtest.DemoUser(), f.g.IOSClientID())); err != nil {
			t.Fatalf("VerifyIDToken during a JWKS outage = %v, want the last good keys used", err)
		}
	}
	if f.g.FaultCount(serverauthtest.EndpointJWKS) == 0 {
		t.Fatal("the outage was never noticed")
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
			t.Cleanup(func() { db.Exec(`DROP TABLE IF EXISTS "` + name + `"`) })
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
	keyring, _ := testKeyring(t, 1)
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
