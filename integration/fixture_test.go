package integration_test

import (
	"context"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// fixture is a fake Google and an Exchanger configured against it, sharing
// one clock: the root package's test fixture, cut down to what these tests
// use.
type fixture struct {
	t     *testing.T
	clock *serverauthtest.Clock
	g     *serverauthtest.Server
	cfg   serverauth.Config
	e     *serverauth.Exchanger
}

func newFixture(t *testing.T, opts serverauthtest.Options, mutate ...func(*serverauth.Config)) *fixture {
	t.Helper()
	clock := serverauthtest.NewClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	opts.Now = clock.Now
	g := serverauthtest.NewServer(opts)
	t.Cleanup(g.Close)
	cfg := g.Config()
	cfg.Now = clock.Now
	// Retries wait on the test clock, not in real time.
	cfg.Retry.Sleep = func(ctx context.Context, d time.Duration) error {
		clock.Advance(d)
		return ctx.Err()
	}
	for _, m := range mutate {
		m(&cfg)
	}
	e, err := serverauth.New(cfg)
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	return &fixture{t: t, clock: clock, g: g, cfg: cfg, e: e}
}

func (f *fixture) mint(req serverauthtest.CodeRequest) string {
	f.t.Helper()
	code, err := f.g.MintCode(req)
	if err != nil {
		f.t.Fatalf("MintCode = %v", err)
	}
	return code
}

// testKeyring returns a keyring of a new key with ID id.
func testKeyring(t *testing.T, id uint32) *serverauth.Keyring {
	t.Helper()
	k, err := serverauth.GenerateKey(id)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := serverauth.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}
