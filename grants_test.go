package serverauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// tokenProxy sits between an Exchanger and the fake's token endpoint and
// lets a test edit each successful JSON answer, by grant type.
type tokenProxy struct {
	mu   sync.Mutex
	edit func(grantType string, body map[string]any)
}

func (p *tokenProxy) set(edit func(grantType string, body map[string]any)) {
	p.mu.Lock()
	p.edit = edit
	p.mu.Unlock()
}

// withTokenProxy points the Exchanger's token endpoint at a new proxy.
func withTokenProxy(t *testing.T, g *serverauthtest.Server, p *tokenProxy) func(*serverauth.Config) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		req, _ := http.NewRequest(http.MethodPost, g.Endpoints().TokenURL, bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := g.Client().Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		p.mu.Lock()
		edit := p.edit
		p.mu.Unlock()
		if resp.StatusCode == http.StatusOK && edit != nil {
			var v map[string]any
			if json.Unmarshal(out, &v) == nil {
				edit(form.Get("grant_type"), v)
				out, _ = json.Marshal(v)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return func(c *serverauth.Config) {
		c.Endpoints.TokenURL = srv.URL + "/token"
		c.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.URL.Host == strings.TrimPrefix(srv.URL, "https://") {
				return srv.Client().Transport.RoundTrip(r)
			}
			return g.Client().Transport.RoundTrip(r)
		})}
	}
}

// TestGrantLimitsOnEveryResponse: the three limits are read on the
// exchange and on every refresh: a later response may add one (and bring
// the end earlier), a response that leaves them out changes nothing, and
// an idle limit is kept.
func TestGrantLimitsOnEveryResponse(t *testing.T) {
	p := &tokenProxy{}
	f := newStoreFixture(t, serverauthtest.Options{})
	e := f.newReplica(withTokenProxy(t, f.g, p))
	ctx := context.Background()
	res, err := e.Exchange(ctx, f.mint(serverauthtest.CodeRequest{Scopes: []string{"openid", "email", "drive.appdata"}, RefreshTokenTTL: 30 * 24 * time.Hour}))
	if err != nil {
		t.Fatal(err)
	}
	if want := epoch.Add(30 * 24 * time.Hour); !res.RefreshTokenExpiry.Equal(want) {
		t.Fatalf("Result.RefreshTokenExpiry = %s, want %s", res.RefreshTokenExpiry, want)
	}
	stored := func() *serverauth.Record {
		t.Helper()
		r, err := f.store.Get(ctx, res.UserID)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := stored(); !r.RefreshTokenExpiry.Equal(res.RefreshTokenExpiry) {
		t.Fatalf("stored RefreshTokenExpiry = %s", r.RefreshTokenExpiry)
	}

	// A refresh adds authorization_expires_in: ten days from now.
	f.clock.Advance(2 * time.Hour)
	refreshedAt := f.clock.Now()
	p.set(func(gt string, v map[string]any) {
		if gt == "refresh_token" {
			v["authorization_expires_in"] = 10 * 24 * 3600
		}
	})
	if _, err := e.Token(ctx, res.UserID); err != nil {
		t.Fatal(err)
	}
	if r, want := stored(), refreshedAt.Add(10*24*time.Hour); !r.RefreshTokenExpiry.Equal(want) {
		t.Fatalf("after a refresh with authorization_expires_in: RefreshTokenExpiry = %s, want %s", r.RefreshTokenExpiry, want)
	}

	// A refresh that leaves it out, and says the refresh token lasts
	// longer, does not move the end later; one that adds an idle limit
	// (as a numeric string) keeps it.
	f.clock.Advance(2 * time.Hour)
	p.set(func(gt string, v map[string]any) {
		if gt == "refresh_token" {
			v["refresh_token_timeout"] = "259200"
			v["refresh_token_expires_in"] = 300 * 24 * 3600
		}
	})
	if _, err := e.Token(ctx, res.UserID); err != nil {
		t.Fatal(err)
	}
	r := stored()
	if want := refreshedAt.Add(10 * 24 * time.Hour); !r.RefreshTokenExpiry.Equal(want) || r.RefreshTokenTimeout != 72*time.Hour {
		t.Fatalf("after a refresh with an idle limit: RefreshTokenExpiry %s, RefreshTokenTimeout %s; want %s and 72h", r.RefreshTokenExpiry, r.RefreshTokenTimeout, want)
	}
	p.set(func(_ string, v map[string]any) { delete(v, "refresh_token_expires_in") })
	f.clock.Advance(2 * time.Hour)
	if _, err := e.Token(ctx, res.UserID); err != nil {
		t.Fatal(err)
	}
	if r2 := stored(); r2.RefreshTokenTimeout != 72*time.Hour || !r2.RefreshTokenExpiry.Equal(r.RefreshTokenExpiry) {
		t.Errorf("a response without limits changed them: %s %s", r2.RefreshTokenExpiry, r2.RefreshTokenTimeout)
	}
}

// TestGrantEndFailsFast: past a time-limited grant's end the library does
// not call Google: Token fails at once with ErrGrantExpired (and
// ErrReauthRequired), and the record says expired, its refresh token kept.
func TestGrantEndFailsFast(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	ctx := context.Background()
	res := f.signIn(serverauthtest.CodeRequest{RefreshTokenTTL: 3 * 24 * time.Hour})
	f.clock.Advance(3*24*time.Hour + time.Second)
	f.g.ResetCounts()
	_, err := f.e.Token(ctx, res.UserID)
	var ge *serverauth.GrantError
	if !errors.As(err, &ge) || !errors.Is(err, serverauth.ErrGrantExpired) || !errors.Is(err, serverauth.ErrReauthRequired) {
		t.Fatalf("Token past the grant's end = %v, want a *GrantError wrapping ErrGrantExpired and ErrReauthRequired", err)
	}
	if !ge.Ends.Equal(res.RefreshTokenExpiry) || ge.Idle || ge.UserID != res.UserID {
		t.Errorf("GrantError = %+v, want Ends %s", ge, res.RefreshTokenExpiry)
	}
	if n := f.g.RequestCount(serverauthtest.EndpointToken); n != 0 {
		t.Errorf("%d token requests past the grant's end, want 0", n)
	}
	r, _ := f.store.Get(ctx, res.UserID)
	if r.Status != serverauth.StatusExpired || len(r.RefreshToken) == 0 {
		t.Errorf("record status %s, refresh token kept %v; want expired, kept", r.Status, len(r.RefreshToken) > 0)
	}
	if !strings.Contains(err.Error(), "limited time") || strings.Contains(err.Error(), res.Token.RefreshToken) {
		t.Errorf("error = %q", err)
	}
	// A second call: a dead grant, still no request.
	if _, err := f.e.Token(ctx, res.UserID); !errors.Is(err, serverauth.ErrReauthRequired) {
		t.Errorf("second Token = %v", err)
	}
	if n := f.g.RequestCount(serverauthtest.EndpointToken); n != 0 {
		t.Errorf("%d token requests, want 0", n)
	}
}

// TestGrantIdleLimit: a grant with an idle limit dies when unused that
// long, and a refresh within it moves it on.
func TestGrantIdleLimit(t *testing.T) {
	p := &tokenProxy{}
	clock := serverauthtest.NewClock(epoch)
	fake := serverauthtest.NewServer(serverauthtest.Options{Now: clock.Now})
	t.Cleanup(fake.Close)
	cfg := fake.Config()
	cfg.Now, cfg.Store = clock.Now, serverauth.NewMemoryStore()
	withTokenProxy(t, fake, p)(&cfg)
	e, err := serverauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p.set(func(_ string, v map[string]any) { v["refresh_token_timeout"] = 3 * 3600 })
	code, _ := fake.MintCode(serverauthtest.CodeRequest{})
	res, err := e.Exchange(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	if res.RefreshTokenTimeout != 3*time.Hour {
		t.Fatalf("Result.RefreshTokenTimeout = %s, want 3h", res.RefreshTokenTimeout)
	}
	clock.Advance(2 * time.Hour) // used within the limit: the refresh moves it on
	if _, err := e.Token(ctx, res.UserID); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2*time.Hour + 59*time.Minute) // 4h59 since sign-in, 2h59 since the refresh
	if _, err := e.Token(ctx, res.UserID); err != nil {
		t.Fatalf("Token within the idle limit of the last refresh = %v", err)
	}
	clock.Advance(3*time.Hour + time.Minute)
	_, err = e.Token(ctx, res.UserID)
	var ge *serverauth.GrantError
	if !errors.As(err, &ge) || !ge.Idle || !errors.Is(err, serverauth.ErrGrantExpired) {
		t.Fatalf("Token unused past the idle limit = %v, want an idle *GrantError", err)
	}
}

// TestExpiringGrants reports the grants that end within a window, and
// Grants reports every grant with its health.
func TestExpiringGrants(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	ctx := context.Background()
	user := func(sub string, ttl time.Duration) string {
		return f.signIn(serverauthtest.CodeRequest{User: serverauthtest.User{Sub: sub, Email: sub + "@example.com"}, RefreshTokenTTL: ttl}).UserID
	}
	soon := user("100000000000000000001", 3*24*time.Hour)
	later := user("100000000000000000002", 30*24*time.Hour)
	user("100000000000000000003", 0) // ongoing access
	dead := user("100000000000000000004", 2*24*time.Hour)
	f.clock.Advance(2 * time.Hour)
	f.g.RevokeUser(dead)
	if _, err := f.e.Token(ctx, dead); !errors.Is(err, serverauth.ErrReauthRequired) {
		t.Fatal(err)
	}

	collect := func(seq func(func(*serverauth.Grant, error) bool)) []*serverauth.Grant {
		t.Helper()
		var out []*serverauth.Grant
		for g, err := range seq {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, g)
		}
		return out
	}
	ids := func(gs []*serverauth.Grant) []string {
		var out []string
		for _, g := range gs {
			out = append(out, g.UserID)
		}
		slices.Sort(out)
		return out
	}
	if got := ids(collect(f.e.ExpiringGrants(ctx, 7*24*time.Hour))); !slices.Equal(got, []string{soon}) {
		t.Errorf("ExpiringGrants(7 days) = %v, want %v", got, []string{soon})
	}
	if got := ids(collect(f.e.ExpiringGrants(ctx, 60*24*time.Hour))); !slices.Equal(got, []string{soon, later}) {
		t.Errorf("ExpiringGrants(60 days) = %v, want %v", got, []string{soon, later})
	}
	// Past the end, before any refresh noticed: reported, as expired.
	f.clock.Advance(4 * 24 * time.Hour)
	got := collect(f.e.ExpiringGrants(ctx, time.Hour))
	if len(got) != 1 || got[0].UserID != soon || got[0].Status != serverauth.StatusExpired || !strings.Contains(got[0].Reconsent(), "prompt=consent") {
		t.Errorf("ExpiringGrants past the end = %+v", got)
	}
	all := collect(f.e.Grants(ctx))
	statuses := map[serverauth.Status]int{}
	for _, g := range all {
		statuses[g.Status]++
		if g.UserID == later && (g.Ends.IsZero() || g.Idle || g.Consented.IsZero() || !strings.Contains(g.Reconsent(), "before ")) {
			t.Errorf("Grant of the 30-day user = %+v, Reconsent %q", g, g.Reconsent())
		}
	}
	want := map[serverauth.Status]int{serverauth.StatusActive: 2, serverauth.StatusExpired: 1, serverauth.StatusRevoked: 1}
	if !mapsEqual(statuses, want) {
		t.Errorf("Grants by status = %v, want %v", statuses, want)
	}
	if st := f.e.Stats(); !mapsEqual(st.Grants, want) {
		t.Errorf("Stats().Grants = %v, want %v", st.Grants, want)
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestTestingPublishingStatusHint: a grant that dies about seven days
// after consent gets a hint naming the consent screen's "Testing"
// publishing status; one that dies sooner does not.
func TestTestingPublishingStatusHint(t *testing.T) {
	for _, tt := range []struct {
		name    string
		after   time.Duration
		testing bool
	}{
		{"seven days", serverauthtest.TestingGrantLifetime + time.Hour, true},
		{"three days", 3 * 24 * time.Hour, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newStoreFixture(t, serverauthtest.Options{PublishingStatusTesting: true})
			ctx := context.Background()
			res := f.signIn(serverauthtest.CodeRequest{})
			if !res.RefreshTokenExpiry.IsZero() {
				t.Fatalf("a Testing-status grant announced its end: %s", res.RefreshTokenExpiry)
			}
			f.clock.Advance(tt.after)
			if !tt.testing {
				f.g.RevokeUser(res.UserID) // it died for another reason
			}
			_, err := f.e.Token(ctx, res.UserID)
			var te *serverauth.TokenError
			if !errors.As(err, &te) || te.Code != "invalid_grant" {
				t.Fatalf("Token = %v, want invalid_grant", err)
			}
			if got := strings.Contains(te.Hint, `"Testing" publishing status`); got != tt.testing {
				t.Errorf("hint %q names Testing: %v, want %v", te.Hint, got, tt.testing)
			}
			if tt.testing && !strings.Contains(te.Hint, f.g.WebClientID()) {
				t.Errorf("hint %q does not name the client", te.Hint)
			}
		})
	}
}
