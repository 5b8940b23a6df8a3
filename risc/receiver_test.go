package risc_test

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/risc"
	"github.com/serverauth/serverauth/serverauthtest"
)

const sub = "109876543210987654321"

// with returns a copy of claims with key set to v (deleted when v is nil).
func with(claims map[string]any, key string, v any) map[string]any {
	c := maps.Clone(claims)
	if v == nil {
		delete(c, key)
	} else {
		c[key] = v
	}
	return c
}

// withEvent returns claims whose events is {typ: event}.
func withEvent(claims map[string]any, typ string, event any) map[string]any {
	return with(claims, "events", map[string]any{typ: event})
}

// TestReceiverAcceptsValid: a token the fake pushes as Google does is
// answered 202 and reaches OnEvent once, with its fields.
func TestReceiverAcceptsValid(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.signIn(serverauthtest.User{})
	d := f.send(serverauthtest.RISCEvent{Type: "account-disabled", Sub: sub, Reason: risc.ReasonHijacking})
	if d.Status != http.StatusAccepted {
		t.Fatalf("delivery = %+v, want 202", d)
	}
	evs := f.got()
	if len(evs) != 1 {
		t.Fatalf("OnEvent called %d times, want 1", len(evs))
	}
	ev := evs[0]
	want := risc.Event{ID: d.ID, Type: risc.TypeAccountDisabled, Subject: sub, Reason: risc.ReasonHijacking, IssuedAt: epoch}
	if *ev != want {
		t.Errorf("Event = %+v, want %+v", *ev, want)
	}
}

// TestReceiverRefuses holds one rule per case: the token differs from a
// valid one (accepted in the first case) only where the rule looks.
func TestReceiverRefuses(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	iss := f.g.RISCIssuer()
	good := f.claims(sub)
	user := map[string]any{"subject_type": "iss-sub", "iss": iss, "sub": sub}
	tests := []struct {
		name    string
		body    func() string // the token; nil: signed good claims
		claims  map[string]any
		header  string
		ctype   string
		status  int
		wantErr string
	}{
		{name: "valid", claims: good, status: http.StatusAccepted},
		{name: "valid with application/jwt", claims: good, ctype: "application/jwt", status: http.StatusAccepted},
		// Another Content-Type is verified all the same (and logged: see
		// TestReceiverOtherContentType): refusing it would lose the event.
		{name: "content type JSON", claims: good, ctype: "application/json", status: http.StatusAccepted},
		{name: "content type missing", claims: good, ctype: "-", status: http.StatusAccepted},
		{name: "content type JSON, bad signature", body: f.forged(serverauthtest.RISCForgeBadSignature), ctype: "application/json", status: 400, wantErr: "authentication_failed"},
		{name: "body over the cap", body: func() string { return strings.Repeat("a", risc.MaxBodySize+1) }, status: 400, wantErr: "invalid_request"},
		{name: "not a JWS", body: func() string { return "not.a.jws" }, status: 400, wantErr: "invalid_request"},
		{name: "JSON serialization", body: func() string { return `{"payload":"e30","signatures":[]}` }, status: 400, wantErr: "invalid_request"},
		{name: "alg none", claims: good, header: `{"alg":"none","kid":"K"}`, status: 400, wantErr: "invalid_request"},
		{name: "alg RS512", claims: good, header: `{"alg":"RS512","kid":"K"}`, status: 400, wantErr: "invalid_request"},
		{name: "typ other", claims: good, header: `{"alg":"RS256","kid":"K","typ":"at+jwt"}`, status: 400, wantErr: "invalid_request"},
		{name: "jku header", claims: good, header: `{"alg":"RS256","kid":"K","jku":"https://evil.example/keys"}`, status: 400, wantErr: "invalid_request"},
		{name: "HS256 keyed with the public key", body: f.forged(serverauthtest.RISCForgeHS256), status: 400, wantErr: "invalid_request"},
		{name: "bad signature", body: f.forged(serverauthtest.RISCForgeBadSignature), status: 400, wantErr: "authentication_failed"},
		{name: "unknown kid", body: f.forged(serverauthtest.RISCForgeUnknownKey), status: 400, wantErr: "invalid_key"},
		{name: "ID-token key", body: f.forged(serverauthtest.RISCForgeIDTokenKey), status: 400, wantErr: "invalid_key"},
		{name: "iss without the trailing slash", claims: with(good, "iss", strings.TrimSuffix(iss, "/")), status: 400, wantErr: "invalid_issuer"},
		{name: "iss another", claims: with(good, "iss", "https://evil.example/"), status: 400, wantErr: "invalid_issuer"},
		{name: "iss missing", claims: with(good, "iss", nil), status: 400, wantErr: "invalid_issuer"},
		{name: "iss a number", claims: with(good, "iss", 1), status: 400, wantErr: "invalid_issuer"},
		{name: "aud another project", claims: with(good, "aud", "999-other.apps.googleusercontent.com"), status: 400, wantErr: "invalid_audience"},
		{name: "aud array without ours", claims: with(good, "aud", []string{"999-other.apps.googleusercontent.com"}), status: 400, wantErr: "invalid_audience"},
		{name: "aud array with ours", claims: with(good, "aud", []string{"999-other.apps.googleusercontent.com", f.g.WebClientID()}), status: http.StatusAccepted},
		{name: "aud the iOS client", claims: with(good, "aud", f.g.IOSClientID()), status: http.StatusAccepted},
		{name: "aud missing", claims: with(good, "aud", nil), status: 400, wantErr: "invalid_audience"},
		{name: "iat in the future", claims: with(good, "iat", epoch.Add(2*time.Minute).Unix()), status: 400, wantErr: "invalid_request"},
		{name: "iat within leeway", claims: with(good, "iat", epoch.Add(30*time.Second).Unix()), status: http.StatusAccepted},
		{name: "iat older than the dedupe window", claims: with(good, "iat", epoch.Add(-risc.DefaultDedupeWindow-time.Second).Unix()), status: 400, wantErr: "invalid_request"},
		{name: "iat a day old", claims: with(good, "iat", epoch.Add(-24*time.Hour).Unix()), status: http.StatusAccepted},
		{name: "iat missing", claims: with(good, "iat", nil), status: 400, wantErr: "invalid_request"},
		{name: "iat a string", claims: with(good, "iat", "1508184845"), status: 400, wantErr: "invalid_request"},
		{name: "exp in the past", claims: with(good, "exp", epoch.Add(-time.Hour).Unix()), status: http.StatusAccepted},
		{name: "jti missing", claims: with(good, "jti", nil), status: 400, wantErr: "invalid_request"},
		{name: "jti empty", claims: with(good, "jti", ""), status: 400, wantErr: "invalid_request"},
		{name: "jti with a space", claims: with(good, "jti", "a b"), status: 400, wantErr: "invalid_request"},
		{name: "events missing", claims: with(good, "events", nil), status: 400, wantErr: "invalid_request"},
		{name: "events an array", claims: with(good, "events", []any{}), status: 400, wantErr: "invalid_request"},
		{name: "events empty", claims: with(good, "events", map[string]any{}), status: 400, wantErr: "invalid_request"},
		{name: "two events", claims: with(good, "events", map[string]any{risc.TypeSessionsRevoked: map[string]any{"subject": user}, risc.TypeAccountDisabled: map[string]any{"subject": user}}), status: 400, wantErr: "invalid_request"},
		{name: "event not an object", claims: withEvent(good, risc.TypeSessionsRevoked, "yes"), status: 400, wantErr: "invalid_request"},
		{name: "verification not an object", claims: withEvent(good, risc.TypeVerification, []string{"state"}), status: 400, wantErr: "invalid_request"},
		{name: "event without subject", claims: withEvent(good, risc.TypeSessionsRevoked, map[string]any{}), status: 400, wantErr: "invalid_request"},
		{name: "subject null", claims: withEvent(good, risc.TypeSessionsRevoked, map[string]any{"subject": nil}), status: 400, wantErr: "invalid_request"},
		{name: "subject a string", claims: withEvent(good, risc.TypeSessionsRevoked, map[string]any{"subject": sub}), status: 400, wantErr: "invalid_request"},
		{name: "subject type unknown", claims: withEvent(good, risc.TypeSessionsRevoked, map[string]any{"subject": map[string]any{"subject_type": "email", "email": "a@b.c"}}), status: 400, wantErr: "invalid_request"},
		{name: "subject sub missing", claims: withEvent(good, risc.TypeSessionsRevoked, map[string]any{"subject": map[string]any{"subject_type": "iss-sub", "iss": iss}}), status: 400, wantErr: "invalid_request"},
		{name: "subject sub a number", claims: withEvent(good, risc.TypeSessionsRevoked, map[string]any{"subject": map[string]any{"subject_type": "iss-sub", "iss": iss, "sub": 7}}), status: 400, wantErr: "invalid_request"},
		{name: "subject of another issuer", claims: withEvent(good, risc.TypeSessionsRevoked, map[string]any{"subject": map[string]any{"subject_type": "iss-sub", "iss": "https://evil.example/", "sub": sub}}), status: 400, wantErr: "invalid_request"},
		{name: "subject iss without slash", claims: withEvent(good, risc.TypeSessionsRevoked, map[string]any{"subject": map[string]any{"subject_type": "iss-sub", "iss": strings.TrimSuffix(iss, "/"), "sub": sub}}), status: http.StatusAccepted},
		{name: "subject id_token_claims", claims: withEvent(good, risc.TypeSessionsRevoked, map[string]any{"subject": map[string]any{"subject_type": "id_token_claims", "iss": iss, "sub": sub, "email": "jane@example.com"}}), status: http.StatusAccepted},
		{name: "user event with a token subject", claims: withEvent(good, risc.TypeTokensRevoked, map[string]any{"subject": map[string]any{"subject_type": "oauth_token", "token_type": "refresh_token", "token_identifier_alg": "prefix", "token": "1//0abcdefghijkl"}}), status: 400, wantErr: "invalid_request"},
		{name: "token-revoked with a user subject", claims: withEvent(good, risc.TypeTokenRevoked, map[string]any{"subject": user}), status: 400, wantErr: "invalid_request"},
		{name: "token-revoked without token", claims: withEvent(good, risc.TypeTokenRevoked, map[string]any{"subject": map[string]any{"subject_type": "oauth_token", "token_type": "refresh_token", "token_identifier_alg": "prefix"}}), status: 400, wantErr: "invalid_request"},
		{name: "reason a number", claims: withEvent(good, risc.TypeAccountDisabled, map[string]any{"subject": user, "reason": 3}), status: 400, wantErr: "invalid_request"},
		{name: "reason null", claims: withEvent(good, risc.TypeAccountDisabled, map[string]any{"subject": user, "reason": nil}), status: 400, wantErr: "invalid_request"},
		{name: "verification without subject", claims: withEvent(good, risc.TypeVerification, map[string]any{"state": "s"}), status: http.StatusAccepted},
		{name: "unknown event type", claims: withEvent(good, "https://schemas.openid.net/secevent/risc/event-type/recovery-activated", map[string]any{"subject": user}), status: http.StatusAccepted},
		{name: "duplicate claim", body: func() string {
			return f.g.SignRISC([]byte(f.header()), []byte(`{"iss":"`+iss+`","iss":"`+iss+`","aud":"`+f.g.WebClientID()+`","iat":`+itoa(epoch.Unix())+`,"jti":"dup","events":{"`+risc.TypeSessionsRevoked+`":{"subject":{"subject_type":"iss-sub","iss":"`+iss+`","sub":"`+sub+`"}}}}`))
		}, status: 400, wantErr: "invalid_request"},
		{name: "invalid UTF-8", body: func() string {
			return f.g.SignRISC([]byte(f.header()), []byte("{\"iss\":\"\xff\"}"))
		}, status: 400, wantErr: "invalid_request"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.t = t
			before := len(f.got())
			var body string
			switch {
			case tt.body != nil:
				body = tt.body()
			default:
				c := maps.Clone(tt.claims)
				if _, ok := c["jti"]; ok && c["jti"] == good["jti"] {
					c["jti"] = "case-" + itoa(int64(i)) // each case its own event
				}
				h := tt.header
				if h == "" {
					h = f.header()
				}
				h = strings.Replace(h, `"kid":"K"`, `"kid":"`+f.g.RISCKeyID()+`"`, 1)
				payload, _ := jsonMarshal(c)
				body = f.g.SignRISC([]byte(h), payload)
			}
			ctype := tt.ctype
			switch ctype {
			case "":
				ctype = "application/secevent+jwt"
			case "-":
				ctype = ""
			}
			status, eb := f.post(body, ctype)
			if status != tt.status || eb.Err != tt.wantErr {
				t.Fatalf("POST = %d %q (%s), want %d %q", status, eb.Err, eb.Description, tt.status, tt.wantErr)
			}
			if n := len(f.got()) - before; (status == http.StatusAccepted) != (n == 1) || n > 1 {
				t.Errorf("OnEvent called %d times for a %d answer", n, status)
			}
		})
	}
}

// forged returns a body func posting the fake's forgery of a valid event.
func (f *fixture) forged(forge serverauthtest.RISCForgery) func() string {
	return func() string {
		f.t.Helper()
		// The fake pushes it; capture the token by pushing to a recorder.
		var got string
		rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b := new(strings.Builder)
			if _, err := copyBody(b, r); err != nil {
				f.t.Error(err)
			}
			got = b.String()
			w.WriteHeader(http.StatusAccepted)
		}))
		defer rec.Close()
		stream, _ := f.g.GetRISCStream()
		defer f.g.SetRISCStream(stream)
		if err := f.g.SetRISCStream(serverauthtest.RISCStream{URL: rec.URL, EventsRequested: risc.EventTypes(), Enabled: true}); err != nil {
			f.t.Fatal(err)
		}
		f.send(serverauthtest.RISCEvent{Type: "sessions-revoked", Sub: sub, Forge: forge})
		return got
	}
}

// TestReceiverMethod: only POST is taken.
func TestReceiverMethod(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodHead} {
		w := httptest.NewRecorder()
		f.rc.ServeHTTP(w, httptest.NewRequest(m, "/risc", nil))
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != http.MethodPost {
			t.Errorf("%s = %d Allow %q, want 405 Allow POST", m, w.Code, w.Header().Get("Allow"))
		}
	}
}

// TestReceiverForgeriesEndToEnd: every forgery the fake pushes is refused
// with its code, except exp, which SETs may carry and receivers ignore.
func TestReceiverForgeriesEndToEnd(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	for _, tt := range []struct {
		forge   serverauthtest.RISCForgery
		status  int
		wantErr string
	}{
		{serverauthtest.RISCForgeBadSignature, 400, "authentication_failed"},
		{serverauthtest.RISCForgeUnknownKey, 400, "invalid_key"},
		{serverauthtest.RISCForgeIDTokenKey, 400, "invalid_key"},
		{serverauthtest.RISCForgeHS256, 400, "invalid_request"},
		{serverauthtest.RISCForgeWrongIssuer, 400, "invalid_issuer"},
		{serverauthtest.RISCForgeWrongAudience, 400, "invalid_audience"},
		{serverauthtest.RISCForgeFutureIssuedAt, 400, "invalid_request"},
		{serverauthtest.RISCForgeOldIssuedAt, 400, "invalid_request"},
		{serverauthtest.RISCForgeNoID, 400, "invalid_request"},
		{serverauthtest.RISCForgeTwoEvents, 400, "invalid_request"},
		{serverauthtest.RISCForgeExpired, http.StatusAccepted, ""},
	} {
		d := f.send(serverauthtest.RISCEvent{Type: "sessions-revoked", Sub: sub, Forge: tt.forge})
		if d.Status != tt.status || d.Err != tt.wantErr {
			t.Errorf("forgery %s: delivery %+v, want %d %q", tt.forge, d, tt.status, tt.wantErr)
		}
	}
	if n := len(f.got()); n != 1 {
		t.Errorf("OnEvent called %d times, want 1 (the exp variant)", n)
	}
}

// TestReceiverUnknownKeyRefetch: a token under a new kid makes the
// receiver refetch the RISC keys once and accept it; an unknown kid right
// after is refused without another fetch; a minute later one refetch is
// allowed again.
func TestReceiverUnknownKeyRefetch(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	keyFetches := func() int {
		n := 0
		for _, r := range f.g.Requests(serverauthtest.EndpointRISC) {
			if r.Path == serverauthtest.RISCKeysPath {
				n++
			}
		}
		return n
	}
	if d := f.send(serverauthtest.RISCEvent{Type: "sessions-revoked", Sub: sub}); d.Status != http.StatusAccepted {
		t.Fatalf("first delivery = %+v", d)
	}
	if n := keyFetches(); n != 1 {
		t.Fatalf("key fetches = %d, want 1", n)
	}
	f.g.RotateRISCKey()
	if d := f.send(serverauthtest.RISCEvent{Type: "sessions-revoked", Sub: sub}); d.Status != http.StatusAccepted {
		t.Fatalf("delivery under the new key = %+v, want 202 after a refetch", d)
	}
	if n := keyFetches(); n != 2 {
		t.Fatalf("key fetches = %d, want 2", n)
	}
	if d := f.send(serverauthtest.RISCEvent{Type: "sessions-revoked", Sub: sub, Forge: serverauthtest.RISCForgeUnknownKey}); d.Err != "invalid_key" {
		t.Fatalf("unknown kid = %+v, want invalid_key", d)
	}
	if n := keyFetches(); n != 2 {
		t.Errorf("key fetches = %d, want still 2: an unknown kid refetches at most once a minute", n)
	}
	f.clock.Advance(61 * time.Second)
	f.send(serverauthtest.RISCEvent{Type: "sessions-revoked", Sub: sub, Forge: serverauthtest.RISCForgeUnknownKey})
	if n := keyFetches(); n != 3 {
		t.Errorf("key fetches = %d, want 3: a minute later one refetch is allowed", n)
	}
}

// TestReceiverKeysUnavailable: when the configuration or the keys cannot
// be fetched the token is not judged: 503, which Google retries, never 400;
// the redelivery is accepted once Google answers again.
func TestReceiverKeysUnavailable(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.g.FailNext(serverauthtest.EndpointRISC, 100, serverauthtest.Fault{Kind: serverauthtest.FaultUnavailable})
	d := f.send(serverauthtest.RISCEvent{Type: "sessions-revoked", Sub: sub})
	if d.Status != http.StatusServiceUnavailable {
		t.Fatalf("delivery with Google down = %+v, want 503", d)
	}
	f.g.ClearFaults()
	f.clock.Advance(10 * time.Minute) // past the fetch backoff
	if d := f.redeliver(d.ID); d.Status != http.StatusAccepted {
		t.Fatalf("redelivery = %+v, want 202", d)
	}
	if n := len(f.got()); n != 1 {
		t.Errorf("OnEvent called %d times, want 1", n)
	}
}

// TestReceiverIssuerFromConfiguration: the issuer compared is the
// configuration document's, not a constant: a fake with its own issuer
// URL is accepted, and Google's spelling refused.
func TestReceiverIssuerFromConfiguration(t *testing.T) {
	f := newFixture(t, fixtureOpts{fake: serverauthtest.Options{SelfIssuer: true}})
	if !strings.HasPrefix(f.g.RISCIssuer(), "https://127.0.0.1:") {
		t.Fatalf("RISCIssuer = %q, want the fake's own URL", f.g.RISCIssuer())
	}
	if d := f.send(serverauthtest.RISCEvent{Type: "sessions-revoked", Sub: sub}); d.Status != http.StatusAccepted {
		t.Fatalf("delivery = %+v, want 202", d)
	}
	if status, eb := f.postSET(f.header(), with(f.claims(sub), "iss", "https://accounts.google.com/")); eb.Err != "invalid_issuer" {
		t.Errorf("Google's issuer against another configuration = %d %q, want invalid_issuer", status, eb.Err)
	}
}

// TestReceiverAudiences: Config.Audiences replaces the default.
func TestReceiverAudiences(t *testing.T) {
	f := newFixture(t, fixtureOpts{rcfg: func(c *risc.Config) { c.Audiences = []string{"only-this-client"} }})
	if _, eb := f.postSET(f.header(), f.claims(sub)); eb.Err != "invalid_audience" {
		t.Errorf("web client aud with Audiences set = %q, want invalid_audience", eb.Err)
	}
	if status, _ := f.postSET(f.header(), with(f.claims(sub), "aud", "only-this-client")); status != http.StatusAccepted {
		t.Errorf("listed aud = %d, want 202", status)
	}
}

// TestReceiverDedupeWindow: a shorter window refuses older events.
func TestReceiverDedupeWindow(t *testing.T) {
	f := newFixture(t, fixtureOpts{rcfg: func(c *risc.Config) { c.DedupeWindow = time.Hour }})
	if _, eb := f.postSET(f.header(), with(f.claims(sub), "iat", epoch.Add(-2*time.Hour).Unix())); eb.Err != "invalid_request" {
		t.Errorf("event older than DedupeWindow = %q, want invalid_request", eb.Err)
	}
}

// TestReceiverRedeliveryOnce: a redelivered event is answered 202 without
// acting again or calling OnEvent again.
func TestReceiverRedeliveryOnce(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.signIn(serverauthtest.User{})
	d := f.send(serverauthtest.RISCEvent{Type: "account-disabled", Sub: sub})
	f.signIn(serverauthtest.User{}) // the user is back; a second action would disable again
	for range 3 {
		if r := f.redeliver(d.ID); r.Status != http.StatusAccepted {
			t.Fatalf("redelivery = %+v, want 202", r)
		}
	}
	if n := len(f.got()); n != 1 {
		t.Errorf("OnEvent called %d times, want 1", n)
	}
	if _, err := f.e.Token(context.Background(), sub); err != nil {
		t.Errorf("Token after redeliveries = %v, want the restored grant", err)
	}
}

// TestReceiverHookFailure: OnEvent failing answers 500, records nothing,
// and the redelivery runs the action and OnEvent again.
func TestReceiverHookFailure(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.signIn(serverauthtest.User{})
	f.failHook(errors.New("sessions database down"))
	d := f.send(serverauthtest.RISCEvent{Type: "tokens-revoked", Sub: sub})
	if d.Status != http.StatusInternalServerError {
		t.Fatalf("delivery with the hook failing = %+v, want 500", d)
	}
	f.failHook(nil)
	if r := f.redeliver(d.ID); r.Status != http.StatusAccepted {
		t.Fatalf("redelivery = %+v, want 202", r)
	}
	if r := f.redeliver(d.ID); r.Status != http.StatusAccepted {
		t.Fatalf("third delivery = %+v, want 202", r)
	}
	if n := len(f.got()); n != 2 {
		t.Errorf("OnEvent called %d times, want 2 (the failure and the redelivery)", n)
	}
	if f.record(sub) != nil {
		t.Error("the grant is still stored")
	}
}

// failingStore fails Delete and Put while fail is set.
type failingStore struct {
	*serverauth.MemoryStore
	fail bool
}

var errStoreDown = errors.New("store down")

func (s *failingStore) Delete(ctx context.Context, userID string) error {
	if s.fail {
		return errStoreDown
	}
	return s.MemoryStore.Delete(ctx, userID)
}

func (s *failingStore) Put(ctx context.Context, rec *serverauth.Record) error {
	if s.fail {
		return errStoreDown
	}
	return s.MemoryStore.Put(ctx, rec)
}

// UpdateSignIn is Get, then the failing Put.
func (s *failingStore) UpdateSignIn(ctx context.Context, u *serverauth.SignInUpdate) ([]byte, error) {
	r, err := s.Get(ctx, u.UserID)
	if err != nil {
		return nil, err
	}
	u.ApplyTo(r)
	return r.RefreshToken, s.Put(ctx, r)
}

// PutRelease is the failing Put, then Release.
func (s *failingStore) PutRelease(ctx context.Context, rec *serverauth.Record, owner string) error {
	if err := s.Put(ctx, rec); err != nil {
		return err
	}
	return s.MemoryStore.Release(ctx, rec.UserID, owner)
}

// TestReceiverActionFailure: the library's action failing answers 500 and
// OnEvent is not called; the redelivery, with the store back, acts.
func TestReceiverActionFailure(t *testing.T) {
	st := &failingStore{MemoryStore: serverauth.NewMemoryStore()}
	f := newFixture(t, fixtureOpts{store: st})
	f.signIn(serverauthtest.User{})
	st.fail = true
	d := f.send(serverauthtest.RISCEvent{Type: "tokens-revoked", Sub: sub})
	if d.Status != http.StatusInternalServerError {
		t.Fatalf("delivery with the store failing = %+v, want 500", d)
	}
	if n := len(f.got()); n != 0 {
		t.Fatalf("OnEvent called %d times after the action failed, want 0", n)
	}
	st.fail = false
	if r := f.redeliver(d.ID); r.Status != http.StatusAccepted {
		t.Fatalf("redelivery = %+v, want 202", r)
	}
	if f.record(sub) != nil || len(f.got()) != 1 {
		t.Errorf("after the redelivery: record %v, OnEvent calls %d; want deleted, 1", f.record(sub), len(f.got()))
	}
}

// busyLedger reports EventBusy for the first claims, then EventDone: another
// replica was handling the event and finished.
type busyLedger struct {
	serverauth.EventLedger
	busy int
}

func (l *busyLedger) ClaimEvent(ctx context.Context, id, owner string, now time.Time, ttl time.Duration) (serverauth.EventClaim, error) {
	if l.busy > 0 {
		l.busy--
		return serverauth.EventBusy, nil
	}
	return serverauth.EventDone, nil
}

// TestReceiverBusyClaim: an event another replica is handling is waited
// for, and answered 202 without acting once that replica finished.
func TestReceiverBusyClaim(t *testing.T) {
	l := &busyLedger{EventLedger: serverauth.NewMemoryStore(), busy: 2}
	f := newFixture(t, fixtureOpts{rcfg: func(c *risc.Config) { c.Events = l }})
	if d := f.send(serverauthtest.RISCEvent{Type: "sessions-revoked", Sub: sub}); d.Status != http.StatusAccepted {
		t.Fatalf("delivery = %+v, want 202", d)
	}
	if n := len(f.got()); n != 0 {
		t.Errorf("OnEvent called %d times for an event another replica handled, want 0", n)
	}
}

// TestNewReceiverConfig: each bad field is a *serverauth.ConfigError naming it.
func TestNewReceiverConfig(t *testing.T) {
	g := serverauthtest.NewServer(serverauthtest.Options{})
	t.Cleanup(g.Close)
	e, err := serverauth.New(g.Config())
	if err != nil {
		t.Fatal(err)
	}
	hook := func(context.Context, *risc.Event) error { return nil }
	for _, tt := range []struct {
		name  string
		cfg   risc.Config
		field string
	}{
		{"no exchanger", risc.Config{OnEvent: hook}, "risc.Config.Exchanger"},
		{"no hook", risc.Config{Exchanger: e}, "risc.Config.OnEvent"},
		{"empty audiences", risc.Config{Exchanger: e, OnEvent: hook, Audiences: []string{}}, "risc.Config.Audiences"},
		{"empty audience", risc.Config{Exchanger: e, OnEvent: hook, Audiences: []string{"a", ""}}, "risc.Config.Audiences"},
		{"http configuration", risc.Config{Exchanger: e, OnEvent: hook, ConfigurationURL: "http://accounts.google.com/.well-known/risc-configuration"}, "risc.Config.ConfigurationURL"},
		{"relative configuration", risc.Config{Exchanger: e, OnEvent: hook, ConfigurationURL: "/risc"}, "risc.Config.ConfigurationURL"},
		{"negative window", risc.Config{Exchanger: e, OnEvent: hook, DedupeWindow: -time.Second}, "risc.Config.DedupeWindow"},
		{"leeway too large", risc.Config{Exchanger: e, OnEvent: hook, Leeway: time.Hour}, "risc.Config.Leeway"},
	} {
		_, err := risc.NewReceiver(tt.cfg)
		var ce *serverauth.ConfigError
		if !errors.As(err, &ce) || ce.Field != tt.field || !errors.Is(err, serverauth.ErrInvalidConfig) {
			t.Errorf("%s: NewReceiver = %v, want a ConfigError for %s", tt.name, err, tt.field)
		}
	}
	if _, err := risc.NewReceiver(risc.Config{Exchanger: e, OnEvent: hook}); err != nil {
		t.Errorf("NewReceiver(defaults) = %v", err)
	}
}

// countingReader counts the bytes read from it; it never ends.
type countingReader struct{ n int }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	r.n += len(p)
	return len(p), nil
}

// TestReceiverBodyCap: the receiver stops reading at the cap.
func TestReceiverBodyCap(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	body := new(countingReader)
	req := httptest.NewRequest(http.MethodPost, "/risc", body)
	req.Header.Set("Content-Type", "application/secevent+jwt")
	w := httptest.NewRecorder()
	f.rc.ServeHTTP(w, req)
	if w.Code != http.StatusBadRequest {
		t.Errorf("endless body = %d, want 400", w.Code)
	}
	if body.n > risc.MaxBodySize+64<<10 {
		t.Errorf("read %d bytes of an endless body, want about %d", body.n, risc.MaxBodySize)
	}
}

// TestReceiverReleaseOnFailure: a replica whose hook failed releases its
// claim, so the redelivery, landing on another replica, is handled at once.
func TestReceiverReleaseOnFailure(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	second, err := risc.NewReceiver(risc.Config{Exchanger: f.e, ConfigurationURL: f.g.RISCConfigurationURL(),
		OnEvent: func(context.Context, *risc.Event) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	f.failHook(errors.New("down"))
	d := f.send(serverauthtest.RISCEvent{Type: "sessions-revoked", Sub: sub})
	if d.Status != http.StatusInternalServerError {
		t.Fatalf("delivery = %+v, want 500", d)
	}
	if err := f.g.SetRISCStream(serverauthtest.RISCStream{URL: newServer(t, second), EventsRequested: risc.EventTypes(), Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if r := f.redeliver(d.ID); r.Status != http.StatusAccepted {
		t.Errorf("redelivery to another replica = %+v, want 202 at once", r)
	}
}

// observer records the OpRISCEvent observations.
type observer struct {
	mu  sync.Mutex // guards obs
	obs []serverauth.Observation
}

func (o *observer) Start(ctx context.Context, op serverauth.Op) context.Context { return ctx }
func (o *observer) End(ctx context.Context, ob serverauth.Observation) {
	if ob.Op == serverauth.OpRISCEvent {
		o.mu.Lock()
		o.obs = append(o.obs, ob)
		o.mu.Unlock()
	}
}

// TestReceiverObserved: every token is one OpRISCEvent observation whose
// reason is the event type's short name or why it was refused.
func TestReceiverObserved(t *testing.T) {
	obs := new(observer)
	f := newFixture(t, fixtureOpts{cfg: func(c *serverauth.Config) { c.Observer = obs }})
	f.signIn(serverauthtest.User{})
	d := f.send(serverauthtest.RISCEvent{Type: "account-disabled", Sub: sub})
	f.redeliver(d.ID)
	f.send(serverauthtest.RISCEvent{Type: "sessions-revoked", Sub: sub, Forge: serverauthtest.RISCForgeWrongAudience})
	f.failHook(errors.New("down"))
	f.send(serverauthtest.RISCEvent{Type: "sessions-revoked", Sub: sub})
	want := []struct {
		outcome serverauth.Outcome
		reason  string
	}{
		{serverauth.OutcomeOK, "account-disabled"},
		{serverauth.OutcomeOK, "duplicate"},
		{serverauth.OutcomeError, "invalid_audience"},
		{serverauth.OutcomeError, "hook_failed"},
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.obs) != len(want) {
		t.Fatalf("observations = %+v, want %d", obs.obs, len(want))
	}
	for i, w := range want {
		if o := obs.obs[i]; o.Outcome != w.outcome || o.Reason != w.reason {
			t.Errorf("observation %d = %s %q, want %s %q", i, o.Outcome, o.Reason, w.outcome, w.reason)
		}
	}
}

// TestReceiverWarnsOfLocalLedger: a shared store without an EventLedger
// makes the receiver say that redeliveries to other replicas act again.
func TestReceiverWarnsOfLocalLedger(t *testing.T) {
	st := &plainStore{serverauth.NewMemoryStore()}
	f := newFixture(t, fixtureOpts{store: st})
	if !strings.Contains(f.logs.String(), "not a serverauth.EventLedger") {
		t.Errorf("no warning about the in-process ledger; logs:\n%s", f.logs.String())
	}
	g := newFixture(t, fixtureOpts{})
	if strings.Contains(g.logs.String(), "EventLedger") {
		t.Error("warned with a store that is an EventLedger")
	}
}

// plainStore is a TokenStore with no capability.
type plainStore struct{ serverauth.TokenStore }

// TestReceiverOtherContentType: a token sent with a Content-Type other than
// application/secevent+jwt is verified and acted on, and the type is
// logged (cut short, valid UTF-8), so the surprise shows without losing the
// event.
func TestReceiverOtherContentType(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	good := f.claims(sub)
	payload, _ := jsonMarshal(good)
	body := f.g.SignRISC([]byte(strings.Replace(f.header(), `"kid":"K"`, `"kid":"`+f.g.RISCKeyID()+`"`, 1)), payload)
	ctype := "text/plain; x=" + strings.Repeat("\xffé", 100)
	if status, eb := f.post(body, ctype); status != http.StatusAccepted {
		t.Fatalf("POST with Content-Type text/plain = %d %q (%s), want 202", status, eb.Err, eb.Description)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "Content-Type other than application/secevent+jwt") || !strings.Contains(logs, "text/plain") {
		t.Errorf("no warning naming the Content-Type; logs:\n%s", logs)
	}
	if !utf8.ValidString(logs) || strings.Count(logs, "é") > 50 {
		t.Errorf("the logged Content-Type is not cut short to valid UTF-8; logs:\n%s", logs)
	}
	if n := len(f.got()); n != 1 {
		t.Errorf("OnEvent called %d times, want 1", n)
	}
	// The expected types log nothing.
	seen := len(f.logs.String())
	good2 := maps.Clone(good)
	good2["jti"] = "second"
	payload, _ = jsonMarshal(good2)
	body = f.g.SignRISC([]byte(strings.Replace(f.header(), `"kid":"K"`, `"kid":"`+f.g.RISCKeyID()+`"`, 1)), payload)
	if status, _ := f.post(body, "application/secevent+jwt; charset=utf-8"); status != http.StatusAccepted {
		t.Fatalf("POST = %d, want 202", status)
	}
	if later := f.logs.String()[seen:]; strings.Contains(later, "Content-Type") {
		t.Errorf("a warning for application/secevent+jwt; logs:\n%s", later)
	}
}
