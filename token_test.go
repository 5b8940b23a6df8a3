package serverauth_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

var errStoreDown = errors.New("store down")

func TestExchangePersistsEncrypted(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	rec, err := f.store.Get(context.Background(), res.UserID)
	if err != nil {
		t.Fatalf("record after Exchange: %v", err)
	}
	if len(rec.RefreshToken) == 0 || bytes.Contains(rec.RefreshToken, []byte(res.Token.RefreshToken)) || bytes.Contains(rec.AccessToken, []byte(res.Token.AccessToken)) {
		t.Errorf("stored tokens are missing or in plaintext")
	}
	if rec.Status != serverauth.StatusActive || rec.ClientID != f.g.IOSClientID() || !rec.Expiry.Equal(res.Token.Expiry) || rec.Version != 1 || !rec.Created.Equal(epoch) {
		t.Errorf("record = %+v", rec)
	}
	if len(rec.Scopes) != len(res.GrantedScopes) {
		t.Errorf("stored scopes %q, want %q", rec.Scopes, res.GrantedScopes)
	}
	// A ciphertext moved onto another user's record does not decrypt.
	other := rec.Clone()
	other.UserID, other.Version = "someone-else", 0
	if err := f.store.Put(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	if _, err := f.e.Token(context.Background(), "someone-else"); !errors.Is(err, serverauth.ErrDecrypt) {
		t.Errorf("Token with another user's ciphertext = %v, want ErrDecrypt", err)
	}
}

func TestExchangeMergeKeepsRefreshToken(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	first := f.signIn(serverauthtest.CodeRequest{})
	f.clock.Advance(time.Hour)
	// A later sign-in: no refresh token this time, and drive.appdata unticked.
	second, err := f.e.Exchange(context.Background(), f.mint(serverauthtest.CodeRequest{Scopes: []string{"openid", "email"}}))
	if !errors.Is(err, serverauth.ErrScopeNotGranted) || second.RefreshTokenIssued {
		t.Fatalf("second Exchange = %v (refresh token %v), want ErrScopeNotGranted and no refresh token", err, second.RefreshTokenIssued)
	}
	rec, _ := f.store.Get(context.Background(), first.UserID)
	if len(rec.RefreshToken) == 0 || rec.Version != 2 {
		t.Fatalf("refresh token lost by a later sign-in: %+v", rec)
	}
	if len(rec.Scopes) != 2 || rec.Status != serverauth.StatusScopeRemoved {
		t.Errorf("scopes = %q, status %s; want the latest grant's two and scope_removed", rec.Scopes, rec.Status)
	}
	// The kept refresh token still works.
	f.clock.Advance(2 * time.Hour)
	if _, err := f.e.Token(context.Background(), first.UserID); err != nil {
		t.Fatalf("Token after merge = %v", err)
	}
	if n := f.g.RefreshCount(first.UserID); n != 1 {
		t.Fatalf("refreshes = %d, want 1", n)
	}
}

func TestExchangeNoRefreshToken(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	f.signIn(serverauthtest.CodeRequest{}) // first consent, elsewhere
	// A fresh backend with an empty store: the next sign-in gets no refresh token.
	fresh := newStoreFixture(t, serverauthtest.Options{})
	_ = fresh
	store := &countingStore{TokenStore: serverauth.NewMemoryStore()}
	e := f.newReplica(func(c *serverauth.Config) { c.Store = store })
	res, err := e.Exchange(context.Background(), f.mint(serverauthtest.CodeRequest{Scopes: []string{"openid", "email", "drive.appdata"}}))
	if !errors.Is(err, serverauth.ErrNoRefreshToken) || res == nil || res.UserID == "" {
		t.Fatalf("Exchange = %v, %v; want ErrNoRefreshToken beside the Result", res, err)
	}
	if !strings.Contains(err.Error(), "prompt=consent") || !strings.Contains(err.Error(), "ResetConsent") {
		t.Errorf("error %q lacks the remedy", err)
	}
	// The remedy: revoke, sign in again, and a refresh token comes.
	if err := e.ResetConsent(context.Background(), res); err != nil {
		t.Fatalf("ResetConsent = %v", err)
	}
	again, err := e.Exchange(context.Background(), f.mint(serverauthtest.CodeRequest{Scopes: []string{"openid", "email", "drive.appdata"}}))
	if err != nil || !again.RefreshTokenIssued {
		t.Fatalf("sign-in after ResetConsent = %v, %v; want a refresh token", again, err)
	}
	// Sign-in only: no error without a refresh token.
	signInOnly := f.newReplica(func(c *serverauth.Config) { c.Store = serverauth.NewMemoryStore(); c.SignInOnly = true })
	if _, err := signInOnly.Exchange(context.Background(), f.mint(serverauthtest.CodeRequest{Scopes: []string{"openid", "email", "drive.appdata"}})); err != nil {
		t.Fatalf("SignInOnly Exchange = %v", err)
	}
}

func TestExchangeSaveFailureLosesNothing(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	f.store.fail.Store(true)
	res, err := f.e.Exchange(context.Background(), f.mint(serverauthtest.CodeRequest{Scopes: []string{"openid", "email", "drive.appdata"}}))
	var se *serverauth.SaveError
	if !errors.As(err, &se) || !errors.Is(err, errStoreDown) || se.Result == nil || se.Result.Token.RefreshToken == "" || res == nil {
		t.Fatalf("Exchange with a failing store = %v, %v; want a SaveError carrying the Result", res, err)
	}
	if strings.Contains(err.Error(), res.Token.RefreshToken) {
		t.Error("SaveError leaks the refresh token")
	}
	f.store.fail.Store(false)
	if err := f.e.Save(context.Background(), se.Result); err != nil {
		t.Fatalf("Save after the store came back = %v", err)
	}
	f.clock.Advance(time.Hour)
	if _, err := f.e.Token(context.Background(), res.UserID); err != nil {
		t.Fatalf("Token with the re-saved refresh token = %v", err)
	}
}

func TestTokenCachedWithoutStoreOrGoogle(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	gets := f.store.gets.Load()
	for i := 0; i < 100; i++ {
		tok, err := f.e.Token(context.Background(), res.UserID)
		if err != nil || tok.AccessToken != res.Token.AccessToken || tok.RefreshToken != "" {
			t.Fatalf("Token = %v, %v; want the exchanged access token without the refresh token", tok, err)
		}
	}
	if n := f.store.gets.Load() - gets; n != 0 {
		t.Errorf("store read %d times for cached tokens", n)
	}
	if n := f.g.RefreshCount(res.UserID); n != 0 {
		t.Errorf("refreshed %d times", n)
	}
	// A second replica has no cache: it reads the store once, not Google.
	r := f.newReplica()
	if tok, err := r.Token(context.Background(), res.UserID); err != nil || tok.AccessToken != res.Token.AccessToken {
		t.Fatalf("replica Token = %v, %v", tok, err)
	}
	if n := f.g.RefreshCount(res.UserID); n != 0 {
		t.Errorf("replica refreshed %d times although the stored token is fresh", n)
	}
}

func TestTokenRefreshesWithinMarginOnce(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	f.clock.Advance(serverauthtest.DefaultAccessTokenLifetime - 58*time.Second) // 58 s left: inside the 1-minute margin

	var wg sync.WaitGroup
	toks := make([]string, 100)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := f.e.Token(context.Background(), res.UserID)
			if err != nil {
				t.Error(err)
				return
			}
			toks[i] = tok.AccessToken
		}()
	}
	wg.Wait()
	if n := f.g.RefreshCount(res.UserID); n != 1 {
		t.Fatalf("100 concurrent callers caused %d refreshes, want 1", n)
	}
	for _, tok := range toks {
		if tok == res.Token.AccessToken || tok != toks[0] {
			t.Fatalf("callers got different or stale tokens")
		}
	}
	rec, _ := f.store.Get(context.Background(), res.UserID)
	if !rec.Expiry.Equal(f.clock.Now().Add(serverauthtest.DefaultAccessTokenLifetime)) {
		t.Errorf("stored expiry %s, want the refreshed token's", rec.Expiry)
	}
}

func TestTokenShortLivedNotRefreshedOnEveryCall(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{AccessTokenLifetime: 5 * time.Second})
	res := f.signIn(serverauthtest.CodeRequest{})
	for i := 0; i < 3; i++ { // t = 0, 1, 2, 3 s: margin is a quarter of 5 s
		if _, err := f.e.Token(context.Background(), res.UserID); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Second)
	}
	if n := f.g.RefreshCount(res.UserID); n != 0 {
		t.Fatalf("a 5 s token was refreshed %d times in its first 3 s (x/oauth2's fixed 10 s margin refreshes it on every call)", n)
	}
	f.clock.Advance(time.Second) // 4 s: inside the 1.25 s margin
	if _, err := f.e.Token(context.Background(), res.UserID); err != nil {
		t.Fatal(err)
	}
	if n := f.g.RefreshCount(res.UserID); n != 1 {
		t.Fatalf("refreshes = %d at 4 s, want 1", n)
	}
}

func TestTokenCancelledCallerDoesNotFailOthers(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	f.clock.Advance(2 * time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.e.Token(ctx, res.UserID); !errors.Is(err, context.Canceled) {
		t.Fatalf("Token(cancelled) = %v, want context.Canceled", err)
	}
	if _, err := f.e.Token(context.Background(), res.UserID); err != nil {
		t.Fatalf("Token after another caller gave up = %v", err)
	}
	if n := f.g.RefreshCount(res.UserID); n != 1 {
		t.Fatalf("refreshes = %d, want 1 (the detached refresh was reused)", n)
	}
}

func TestTokenDeadGrant(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	f.g.RevokeUser(res.UserID) // the user removed the app's access
	f.clock.Advance(2 * time.Hour)
	_, err := f.e.Token(context.Background(), res.UserID)
	var te *serverauth.TokenError
	if !errors.Is(err, serverauth.ErrReauthRequired) || !errors.Is(err, serverauth.ErrInvalidGrant) || !errors.As(err, &te) {
		t.Fatalf("Token after revocation = %v, want ErrReauthRequired and ErrInvalidGrant", err)
	}
	rec, _ := f.store.Get(context.Background(), res.UserID)
	if rec.Status != serverauth.StatusRevoked || len(rec.AccessToken) != 0 {
		t.Fatalf("record after invalid_grant = %+v, want revoked, access token wiped (the dead refresh token stays sealed)", rec)
	}
	// Later calls fail at once, from this and other replicas, without Google.
	f.clock.Advance(time.Minute)
	for _, e := range []*serverauth.Exchanger{f.e, f.newReplica()} {
		if _, err := e.Token(context.Background(), res.UserID); !errors.Is(err, serverauth.ErrReauthRequired) {
			t.Fatalf("Token on a dead grant = %v, want ErrReauthRequired", err)
		}
	}
	if n := f.g.RefreshCount(res.UserID); n != 1 {
		t.Fatalf("refreshes = %d, want 1", n)
	}
	// Signing in again (with consent) brings the user back.
	f.signIn(serverauthtest.CodeRequest{Prompt: "consent"})
	if _, err := f.e.Token(context.Background(), res.UserID); err != nil {
		t.Fatalf("Token after a new sign-in = %v", err)
	}
}

func TestTokenReauthKeepsRefreshToken(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	f.g.RequireReauth(res.UserID, true)
	f.clock.Advance(2 * time.Hour)
	if _, err := f.e.Token(context.Background(), res.UserID); !errors.Is(err, serverauth.ErrReauthRequired) {
		t.Fatalf("Token under reauth = %v", err)
	}
	rec, _ := f.store.Get(context.Background(), res.UserID)
	if rec.Status != serverauth.StatusReauthRequired || len(rec.RefreshToken) == 0 {
		t.Fatalf("record = %+v, want reauth_required with the refresh token kept", rec)
	}
	// The user reauthenticates: a sign-in without a new refresh token suffices.
	f.g.RequireReauth(res.UserID, false)
	again := f.signIn(serverauthtest.CodeRequest{})
	if again.RefreshTokenIssued {
		t.Fatal("expected no new refresh token on a repeat sign-in")
	}
	f.clock.Advance(2 * time.Hour)
	if _, err := f.e.Token(context.Background(), res.UserID); err != nil {
		t.Fatalf("Token after reauthentication = %v", err)
	}
}

func TestTokenExpiredTimeBasedGrant(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{RefreshTokenTTL: 24 * time.Hour})
	if !res.RefreshTokenExpiry.Equal(epoch.Add(24 * time.Hour)) {
		t.Fatalf("RefreshTokenExpiry = %s", res.RefreshTokenExpiry)
	}
	f.clock.Advance(25 * time.Hour)
	if _, err := f.e.Token(context.Background(), res.UserID); !errors.Is(err, serverauth.ErrReauthRequired) {
		t.Fatalf("Token past the grant = %v", err)
	}
	rec, _ := f.store.Get(context.Background(), res.UserID)
	if rec.Status != serverauth.StatusExpired {
		t.Fatalf("status = %s, want expired", rec.Status)
	}
}

func TestTokenUnknownUserAndNoStore(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	if _, err := f.e.Token(context.Background(), "nobody"); !errors.Is(err, serverauth.ErrNotFound) {
		t.Errorf("Token(unknown) = %v, want ErrNotFound", err)
	}
	noStore := newFixture(t, serverauthtest.Options{})
	if _, err := noStore.e.Token(context.Background(), "x"); !errors.Is(err, serverauth.ErrInvalidConfig) || serverauth.ClassOf(err) != serverauth.ClassMisconfigured {
		t.Errorf("Token without a store = %v, want ErrInvalidConfig", err)
	}
}

func TestTokenTransientFailuresBackOff(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	r, calls := f.failingReplica(func(c *serverauth.Config) {
		c.Retry.MaxAttempts = 1 // this test is about the backoff between calls
	})
	f.clock.Advance(2 * time.Hour)
	for i := 0; i < 10; i++ {
		_, err := r.Token(context.Background(), res.UserID)
		var te *serverauth.TokenError
		if !errors.As(err, &te) || !te.Class.Temporary() {
			t.Fatalf("Token against a failing endpoint = %v, want a temporary TokenError", err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("failing endpoint called %d times in the backoff, want 1", n)
	}
	f.clock.Advance(time.Second)
	r.Token(context.Background(), res.UserID)
	if n := calls.Load(); n != 2 {
		t.Fatalf("calls after the first backoff step = %d, want 2", n)
	}
	f.clock.Advance(time.Second) // the second step is 2 s
	r.Token(context.Background(), res.UserID)
	if n := calls.Load(); n != 2 {
		t.Fatalf("calls 1 s into the 2 s backoff = %d, want 2", n)
	}
	// The record is untouched: the grant is not dead.
	rec, _ := f.store.Get(context.Background(), res.UserID)
	if rec.Status != serverauth.StatusActive || len(rec.RefreshToken) == 0 {
		t.Fatalf("record after transient failures = %+v", rec)
	}
}

func TestTokenValidTokenSurvivesTransientFailure(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	r, _ := f.failingReplica()
	if _, err := r.Token(context.Background(), res.UserID); err != nil { // cached from the store
		t.Fatal(err)
	}
	f.clock.Advance(serverauthtest.DefaultAccessTokenLifetime - 30*time.Second) // in the margin, not expired
	tok, err := r.Token(context.Background(), res.UserID)
	if err != nil || tok.AccessToken != res.Token.AccessToken {
		t.Fatalf("Token in the margin with Google down = %v, %v; want the still-valid token", tok, err)
	}
}

func TestTwoReplicasRefreshOncePerExpiry(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	replicas := []*serverauth.Exchanger{f.e, f.newReplica(), f.newReplica(), f.newReplica()}
	for round := 1; round <= 3; round++ {
		f.clock.Advance(serverauthtest.DefaultAccessTokenLifetime)
		var wg sync.WaitGroup
		for _, r := range replicas {
			for i := 0; i < 25; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := r.Token(context.Background(), res.UserID); err != nil {
						t.Error(err)
					}
				}()
			}
		}
		wg.Wait()
		if n := f.g.RefreshCount(res.UserID); n != round {
			t.Fatalf("after expiry %d: %d refreshes across 4 replicas, want %d", round, n, round)
		}
	}
}

func TestRevoke(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	if err := f.e.Revoke(context.Background(), res.UserID); err != nil {
		t.Fatalf("Revoke = %v", err)
	}
	reqs := f.g.Requests(serverauthtest.EndpointRevoke)
	if len(reqs) != 1 || reqs[0].Method != http.MethodPost || reqs[0].Form.Get("token") != res.Token.RefreshToken || reqs[0].Query.Get("token") != "" {
		t.Fatalf("revoke requests = %+v, want one POST with the refresh token in the body", reqs)
	}
	if _, err := f.store.Get(context.Background(), res.UserID); !errors.Is(err, serverauth.ErrNotFound) {
		t.Fatalf("record after Revoke: %v", err)
	}
	if _, err := f.e.Token(context.Background(), res.UserID); !errors.Is(err, serverauth.ErrNotFound) {
		t.Fatalf("Token after Revoke = %v, want ErrNotFound (no cached token left)", err)
	}
	if err := f.e.Revoke(context.Background(), res.UserID); err != nil {
		t.Fatalf("second Revoke = %v, want nil", err)
	}

	// Already revoked at Google: 400 invalid_token counts as done.
	res2 := f.signIn(serverauthtest.CodeRequest{User: serverauthtest.User{Sub: "222", Email: "b@example.com"}})
	f.g.RevokeUser(res2.UserID)
	if err := f.e.Revoke(context.Background(), res2.UserID); err != nil {
		t.Fatalf("Revoke of an already revoked grant = %v", err)
	}
	if _, err := f.store.Get(context.Background(), res2.UserID); !errors.Is(err, serverauth.ErrNotFound) {
		t.Fatalf("record kept after invalid_token: %v", err)
	}
}

func TestRevokeFailureKeepsRecord(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	r, _ := f.failingReplica()
	var te *serverauth.TokenError
	if err := r.Revoke(context.Background(), res.UserID); !errors.As(err, &te) || !te.Class.Temporary() {
		t.Fatalf("Revoke with Google down = %v, want a temporary TokenError", err)
	}
	if _, err := f.store.Get(context.Background(), res.UserID); err != nil {
		t.Fatalf("record deleted although the revoke failed: %v", err)
	}
}

func TestClientAuthorisesAndRetriesOnce401(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	var mu sync.Mutex
	var seen []string
	reject := map[string]bool{res.Token.AccessToken: true}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, r.Header.Get("Authorization")+"|"+string(body))
		if reject[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")] || r.URL.Path == "/always401" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer api.Close()
	c := f.e.Client(res.UserID)

	// The access token is revoked server-side: one refresh, one retry, body replayed.
	resp, err := c.Post(api.URL+"/files", "text/plain", strings.NewReader("payload"))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Post = %v, %v; want 200 after one refresh", resp, err)
	}
	resp.Body.Close()
	if len(seen) != 2 || seen[0] != "Bearer "+res.Token.AccessToken+"|payload" || !strings.HasSuffix(seen[1], "|payload") || seen[1] == seen[0] {
		t.Fatalf("requests = %q, want the rejected token then a fresh one, both with the body", seen)
	}
	if n := f.g.RefreshCount(res.UserID); n != 1 {
		t.Fatalf("refreshes = %d, want 1", n)
	}

	// A resource that always says 401: exactly one retry, never a loop.
	seen = nil
	resp, err = c.Get(api.URL + "/always401")
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("Get = %v, %v; want the 401", resp, err)
	}
	resp.Body.Close()
	if len(seen) != 2 || f.g.RefreshCount(res.UserID) != 2 {
		t.Fatalf("attempts = %d, refreshes = %d; want 2 and 2", len(seen), f.g.RefreshCount(res.UserID))
	}
}

func TestClientDoesNotLeakTokenOnCrossHostRedirect(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	var leaked atomic.Value
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store(r.Header.Get("Authorization"))
	}))
	defer evil.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, evil.URL+"/steal", http.StatusFound)
	}))
	defer api.Close()
	resp, err := f.e.Client(res.UserID).Get(api.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v, _ := leaked.Load().(string); v != "" {
		t.Fatalf("redirect target received Authorization %q", v)
	}
	if resp.StatusCode != http.StatusFound {
		t.Errorf("cross-origin redirect: status %d, want the 302 itself (not followed)", resp.StatusCode)
	}
}

// TestClientRefusesTLSDowngrade: the user's client does not follow an https
// resource server's redirect to plain http on the same host and port, and
// sends no request there.
func TestClientRefusesTLSDowngrade(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	var plain atomic.Int32
	api := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			plain.Add(1)
		}
		http.Redirect(w, r, "http://"+r.Host+"/plain", http.StatusFound)
	}))
	api.Config.ErrorLog = log.New(io.Discard, "", 0)
	api.StartTLS()
	defer api.Close()
	// httptest's TLS servers share one certificate, which the fake's
	// client, and so the Exchanger's, trusts.
	resp, err := f.e.Client(res.UserID).Get(api.URL + "/v1/thing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || plain.Load() != 0 {
		t.Fatalf("https → http redirect: status %d, %d plain requests; want the 302 and none", resp.StatusCode, plain.Load())
	}
}

func TestTokenSource(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	ts := f.e.TokenSource(res.UserID)
	tok, err := ts.Token()
	if err != nil || tok.AccessToken != res.Token.AccessToken {
		t.Fatalf("TokenSource.Token = %v, %v", tok, err)
	}
	f.clock.Advance(2 * time.Hour)
	tok, err = ts.Token()
	if err != nil || tok.AccessToken == res.Token.AccessToken || !tok.Expiry.After(f.clock.Now()) {
		t.Fatalf("TokenSource.Token after expiry = %v, %v; want a refreshed token", tok, err)
	}
}

func TestNewRequiresCipherForPersistentStores(t *testing.T) {
	persistent := &countingStore{TokenStore: serverauth.NewMemoryStore()} // not a *MemoryStore: counts as persistent
	kr, _ := testKeyring(t, 1)
	base := serverauth.Config{ClientID: "w", ClientSecret: "s"}
	tests := []struct {
		name    string
		mutate  func(*serverauth.Config)
		wantErr bool
	}{
		{"persistent store, no cipher", func(c *serverauth.Config) { c.Store = persistent }, true},
		{"persistent store, keyring", func(c *serverauth.Config) { c.Store, c.Cipher = persistent, kr }, false},
		{"persistent store, plaintext opt-in", func(c *serverauth.Config) { c.Store, c.InsecurePlaintextTokens = persistent, true }, false},
		{"both cipher and plaintext", func(c *serverauth.Config) { c.Store, c.Cipher, c.InsecurePlaintextTokens = persistent, kr, true }, true},
		{"memory store exempt", func(c *serverauth.Config) { c.Store = serverauth.NewMemoryStore() }, false},
		{"no store", func(c *serverauth.Config) {}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.mutate(&cfg)
			_, err := serverauth.New(cfg)
			if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, serverauth.ErrInvalidConfig)) {
				t.Fatalf("New = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestRekeyMovesRecordsToPrimary(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	_, oldKeys := testKeyring(t, 1)
	old, err := serverauth.NewKeyring(oldKeys[0])
	if err != nil {
		t.Fatal(err)
	}
	store := serverauth.NewMemoryStore()
	e1 := f.newReplica(func(c *serverauth.Config) { c.Store, c.Cipher = store, old })
	var users []string
	for i := 0; i < 5; i++ {
		res, err := e1.Exchange(context.Background(), f.mint(serverauthtest.CodeRequest{User: serverauthtest.User{Sub: fmt.Sprint(1000 + i), Email: fmt.Sprintf("u%d@example.com", i)}, Scopes: []string{"openid", "email", "drive.appdata"}}))
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, res.UserID)
	}
	newKey, _ := serverauth.GenerateKey(2)
	rotated, _ := serverauth.NewKeyring(newKey, oldKeys[0])
	e2 := f.newReplica(func(c *serverauth.Config) { c.Store, c.Cipher = store, rotated })
	report, err := e2.Rekey(context.Background())
	if err != nil || report.Rewritten != len(users) || len(report.Undecryptable) != 0 {
		t.Fatalf("Rekey = %+v, %v; want %d rewritten", report, err, len(users))
	}
	if report, err := e2.Rekey(context.Background()); err != nil || report.Rewritten != 0 {
		t.Fatalf("second Rekey = %+v, %v; want 0 rewritten", report, err)
	}
	// The old key can go now.
	onlyNew, _ := serverauth.NewKeyring(newKey)
	e3 := f.newReplica(func(c *serverauth.Config) { c.Store, c.Cipher = store, onlyNew })
	f.clock.Advance(2 * time.Hour)
	for _, u := range users {
		if _, err := e3.Token(context.Background(), u); err != nil {
			t.Fatalf("Token with only the new key = %v", err)
		}
	}
}

func TestDuplicateCodeRetriesAFailedSave(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	code := f.mint(serverauthtest.CodeRequest{Scopes: []string{"openid", "email", "drive.appdata"}})
	f.store.fail.Store(true)
	bound := serverauth.WithRetryBinding("install-1")
	if _, err := f.e.Exchange(context.Background(), code, bound); !errors.Is(err, errStoreDown) {
		t.Fatalf("Exchange with the store down = %v", err)
	}
	f.store.fail.Store(false)
	res, err := f.e.Exchange(context.Background(), code, bound) // the app retries the post
	if err != nil {
		t.Fatalf("retry after the store came back = %v, want the first exchange's result, saved now", err)
	}
	if _, err := f.store.Get(context.Background(), res.UserID); err != nil {
		t.Fatalf("record after the retried save: %v", err)
	}
	if n := f.g.CodeExchangeCount(code); n != 1 {
		t.Fatalf("code sent %d times, want 1", n)
	}
}

func TestClientRetriesTransientFailuresOfIdempotentRequests(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	var mu sync.Mutex
	hits := map[string]int{}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		hits[r.Method+" "+r.URL.Path]++
		n := hits[r.Method+" "+r.URL.Path]
		mu.Unlock()
		switch {
		case r.URL.Path == "/flaky" && n <= 2:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		case r.URL.Path == "/ratelimited" && n == 1:
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"error":{"code":403,"errors":[{"reason":"userRateLimitExceeded"}]}}`)
		case r.URL.Path == "/forbidden":
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"error":{"code":403,"errors":[{"reason":"insufficientPermissions"}]}}`)
		default:
			fmt.Fprintf(w, "ok %s", body)
		}
	}))
	defer api.Close()
	c := f.e.Client(res.UserID)
	check := func(method, path string, wantStatus, wantHits int) {
		t.Helper()
		req, _ := http.NewRequest(method, api.URL+path, strings.NewReader("body"))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s = %v", method, path, err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		mu.Lock()
		n := hits[method+" "+path]
		mu.Unlock()
		if resp.StatusCode != wantStatus || n != wantHits {
			t.Fatalf("%s %s: status %d after %d attempts (%s), want %d after %d", method, path, resp.StatusCode, n, got, wantStatus, wantHits)
		}
		if wantStatus == 200 && string(got) != "ok body" {
			t.Fatalf("%s %s: body %q, want the request body replayed", method, path, got)
		}
	}
	check(http.MethodPut, "/flaky", 200, 3)
	check(http.MethodPost, "/flaky", 503, 1) // a create is never repeated
	check(http.MethodGet, "/ratelimited", 200, 2)
	check(http.MethodGet, "/forbidden", 403, 1)
}

func TestClientReportsDeadGrantInsteadOf401(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	ad, err := f.e.AppData(context.Background(), res.UserID)
	if err != nil {
		t.Fatal(err)
	}
	f.g.RevokeUser(res.UserID) // the cached access token dies with the grant
	_, err = ad.Write(context.Background(), "x.json", "application/json", []byte("{}"))
	if !errors.Is(err, serverauth.ErrReauthRequired) {
		t.Fatalf("Drive call after the user revoked access = %v, want ErrReauthRequired", err)
	}
	rec, _ := f.store.Get(context.Background(), res.UserID)
	if rec.Status != serverauth.StatusRevoked {
		t.Fatalf("status = %s, want revoked", rec.Status)
	}
}

func TestRefreshRetriesCountAsBackoffSteps(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	r, calls := f.failingReplica()
	f.clock.Advance(2 * time.Hour)
	r.Token(context.Background(), res.UserID)
	if n := calls.Load(); n != 4 {
		t.Fatalf("requests in the first call = %d, want the policy's 4 attempts", n)
	}
	// Four attempts were four steps (0.25 s, 0.5 s, 1 s apart); the next is 8 s away.
	f.clock.Advance(7 * time.Second)
	r.Token(context.Background(), res.UserID)
	if n := calls.Load(); n != 4 {
		t.Fatalf("requests 7 s later = %d, want still 4 (inside the 8 s step)", n)
	}
	f.clock.Advance(1100 * time.Millisecond)
	r.Token(context.Background(), res.UserID)
	if n := calls.Load(); n != 8 {
		t.Fatalf("requests after the step = %d, want 8", n)
	}
}

func TestTokenWaitsForAnotherReplicasLeaseThenTakesOver(t *testing.T) {
	f := newStoreFixture(t, serverauthtest.Options{})
	res := f.signIn(serverauthtest.CodeRequest{})
	f.clock.Advance(2 * time.Hour)
	// Another replica took the lease to refresh, then crashed.
	if ok, err := f.store.Lease(context.Background(), res.UserID, "crashed-replica", f.clock.Now(), 35*time.Second); !ok || err != nil {
		t.Fatalf("Lease = %v, %v", ok, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := f.e.Token(ctx, res.UserID); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Token while another replica holds the lease = %v, want to wait (DeadlineExceeded)", err)
	}
	if n := f.g.RefreshCount(res.UserID); n != 0 {
		t.Fatalf("refreshed %d times behind another replica's lease", n)
	}
	f.clock.Advance(36 * time.Second) // the crashed replica's lease expires
	if _, err := f.e.Token(context.Background(), res.UserID); err != nil {
		t.Fatalf("Token after the lease expired = %v, want this replica to take over", err)
	}
	if n := f.g.RefreshCount(res.UserID); n != 1 {
		t.Fatalf("refreshes = %d, want 1", n)
	}
}
