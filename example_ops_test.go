package serverauth_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// opCounter is an Observer that counts operations by op and reason, as a
// metrics adapter would (github.com/serverauth/serverauth/otel is one).
type opCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *opCounter) Start(ctx context.Context, _ serverauth.Op) context.Context { return ctx }

func (c *opCounter) End(_ context.Context, o serverauth.Observation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := string(o.Op) + " " + string(o.Outcome)
	if o.Reason != "" {
		key += " " + o.Reason
	}
	c.n[key]++
}

// An Observer is told about every operation; Stats counts them too, with
// the gauges. A refresh Google refuses because the OAuth client was
// deleted is an operator's problem: never retried, and labelled so.
func ExampleObserver() {
	clock := serverauthtest.NewClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	google := serverauthtest.NewServer(serverauthtest.Options{Now: clock.Now})
	defer google.Close()
	counter := &opCounter{n: map[string]int{}}
	cfg := google.Config()
	cfg.Now, cfg.Store, cfg.Observer = clock.Now, serverauth.NewMemoryStore(), counter
	exchanger, err := serverauth.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	code, _ := google.MintCode(serverauthtest.CodeRequest{})
	res, err := exchanger.Exchange(ctx, code)
	if err != nil {
		log.Fatal(err)
	}
	exchanger.Token(ctx, res.UserID) // from memory: counted in Stats only

	clock.Advance(2 * time.Hour)
	google.FailNext(serverauthtest.EndpointToken, 1, serverauthtest.Fault{Kind: serverauthtest.FaultDeletedClient})
	_, err = exchanger.Token(ctx, res.UserID)
	fmt.Println("client deleted:", errors.Is(err, serverauth.ErrClientDeleted), serverauth.ClassOf(err))

	for _, k := range []string{"exchange ok", "refresh error deleted_client", "token error deleted_client", "store_load ok not_found"} {
		fmt.Printf("%s: %d\n", k, counter.n[k])
	}
	st := exchanger.Stats()
	fmt.Println("refreshes:", st.Ops[serverauth.OpRefresh].Count, "requests:", st.Ops[serverauth.OpRefresh].Attempts)
	fmt.Println("cache hits:", st.TokenCacheHits, "backoffs:", st.Backoffs)
	// Output:
	// client deleted: true misconfigured
	// exchange ok: 1
	// refresh error deleted_client: 1
	// token error deleted_client: 1
	// store_load ok not_found: 1
	// refreshes: 1 requests: 1
	// cache hits: 1 backoffs: 1
}

// A worker lists the time-limited grants that end soon, with what to ask
// each user for.
func ExampleExchanger_ExpiringGrants() {
	clock := serverauthtest.NewClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	google := serverauthtest.NewServer(serverauthtest.Options{Now: clock.Now})
	defer google.Close()
	cfg := google.Config()
	cfg.Now, cfg.Store = clock.Now, serverauth.NewMemoryStore()
	exchanger, err := serverauth.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	// The user left "ongoing access" unticked and allowed 3 days.
	code, _ := google.MintCode(serverauthtest.CodeRequest{
		Scopes:          []string{"openid", "email"},
		RefreshTokenTTL: 3 * 24 * time.Hour,
	})
	if _, err := exchanger.Exchange(ctx, code); err != nil {
		log.Fatal(err)
	}
	for g, err := range exchanger.ExpiringGrants(ctx, 7*24*time.Hour) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(g.UserID, "ends", g.Ends.Format(time.RFC3339))
		fmt.Println(g.Reconsent())
	}

	// Past its end the grant is not refreshed: no request reaches Google.
	clock.Advance(4 * 24 * time.Hour)
	_, err = exchanger.Token(ctx, serverauthtest.DemoUser().Sub)
	fmt.Println(errors.Is(err, serverauth.ErrGrantExpired), errors.Is(err, serverauth.ErrReauthRequired))
	// Output:
	// 109876543210987654321 ends 2026-11-24T12:00:00Z
	// before 2026-11-24T12:00:00Z, have the user sign in again with access_type=offline and prompt=consent for https://www.googleapis.com/auth/userinfo.email openid; the user granted access for a limited time, and the consent screen lets them allow ongoing access
	// true true
}

// Profile returns the user's latest verified profile: a refresh that
// returns an ID token updates it (the email changed; the user ID did not).
func ExampleExchanger_Profile() {
	clock := serverauthtest.NewClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	google := serverauthtest.NewServer(serverauthtest.Options{Now: clock.Now})
	defer google.Close()
	cfg := google.Config()
	cfg.Now, cfg.Store = clock.Now, serverauth.NewMemoryStore()
	exchanger, err := serverauth.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	code, _ := google.MintCode(serverauthtest.CodeRequest{})
	res, err := exchanger.Exchange(ctx, code)
	if err != nil {
		log.Fatal(err)
	}
	user := serverauthtest.DemoUser()
	user.Email = "jane.doe@example.com"
	google.UpdateUser(user)

	clock.Advance(2 * time.Hour)
	if _, err := exchanger.Token(ctx, res.UserID); err != nil { // refreshes
		log.Fatal(err)
	}
	p, err := exchanger.Profile(ctx, res.UserID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Subject, p.Email)
	// Output:
	// 109876543210987654321 jane.doe@example.com
}
