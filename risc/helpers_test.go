package risc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/risc"
	"github.com/serverauth/serverauth/serverauthtest"
)

// epoch is the fixtures' start time.
var epoch = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// fixture is a fake Google, an Exchanger on a MemoryStore and a Receiver
// served on loopback and registered as the fake's RISC receiver, sharing
// one clock.
type fixture struct {
	t     *testing.T
	clock *serverauthtest.Clock
	g     *serverauthtest.Server
	store serverauth.TokenStore
	e     *serverauth.Exchanger
	rc    *risc.Receiver
	srv   *httptest.Server
	logs  *syncBuffer

	mu      sync.Mutex // guards events and hookErr
	events  []*risc.Event
	hookErr error
}

type fixtureOpts struct {
	fake  serverauthtest.Options
	store serverauth.TokenStore // nil: a MemoryStore
	rcfg  func(*risc.Config)
	cfg   func(*serverauth.Config)
}

func newFixture(t *testing.T, o fixtureOpts) *fixture {
	t.Helper()
	clock := serverauthtest.NewClock(epoch)
	o.fake.Now = clock.Now
	g := serverauthtest.NewServer(o.fake)
	t.Cleanup(g.Close)
	f := &fixture{t: t, clock: clock, g: g, store: o.store, logs: new(syncBuffer)}
	if f.store == nil {
		f.store = serverauth.NewMemoryStore()
	}
	cfg := g.Config()
	cfg.Store = f.store
	key, err := serverauth.GenerateKey(1)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cipher, err = serverauth.NewKeyring(key); err != nil {
		t.Fatal(err)
	}
	cfg.Retry.Sleep = func(ctx context.Context, d time.Duration) error { clock.Advance(d); return ctx.Err() }
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	e, err := serverauth.New(cfg)
	if err != nil {
		t.Fatalf("serverauth.New = %v", err)
	}
	f.e = e
	rcfg := risc.Config{
		Exchanger:        e,
		ConfigurationURL: g.RISCConfigurationURL(),
		Logger:           slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Retry:            serverauth.RetryPolicy{Sleep: cfg.Retry.Sleep},
		OnEvent: func(ctx context.Context, ev *risc.Event) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.events = append(f.events, ev)
			return f.hookErr
		},
	}
	if o.rcfg != nil {
		o.rcfg(&rcfg)
	}
	rc, err := risc.NewReceiver(rcfg)
	if err != nil {
		t.Fatalf("NewReceiver = %v", err)
	}
	f.rc = rc
	f.srv = httptest.NewServer(rc)
	t.Cleanup(f.srv.Close)
	if err := g.SetRISCStream(serverauthtest.RISCStream{URL: f.srv.URL, EventsRequested: risc.EventTypes(), Enabled: true}); err != nil {
		t.Fatalf("SetRISCStream = %v", err)
	}
	return f
}

// signIn exchanges a code for the user (DemoUser when zero) and returns the
// result.
func (f *fixture) signIn(u serverauthtest.User) *serverauth.Result {
	f.t.Helper()
	code, err := f.g.MintCode(serverauthtest.CodeRequest{User: u, Prompt: "consent"})
	if err != nil {
		f.t.Fatalf("MintCode = %v", err)
	}
	res, err := f.e.Exchange(context.Background(), code)
	if err != nil {
		f.t.Fatalf("Exchange = %v", err)
	}
	return res
}

// send has the fake push ev and returns the delivery.
func (f *fixture) send(ev serverauthtest.RISCEvent) serverauthtest.RISCDelivery {
	f.t.Helper()
	d, err := f.g.SendRISCEvent(context.Background(), ev)
	if err != nil {
		f.t.Fatalf("SendRISCEvent(%+v) = %v", ev, err)
	}
	return d
}

// redeliver has the fake push the token with jti again.
func (f *fixture) redeliver(jti string) serverauthtest.RISCDelivery {
	f.t.Helper()
	d, err := f.g.RedeliverRISCEvent(context.Background(), jti)
	if err != nil {
		f.t.Fatalf("RedeliverRISCEvent = %v", err)
	}
	return d
}

// got returns the events OnEvent received so far.
func (f *fixture) got() []*risc.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*risc.Event(nil), f.events...)
}

func (f *fixture) failHook(err error) {
	f.mu.Lock()
	f.hookErr = err
	f.mu.Unlock()
}

// post sends body to the receiver directly, as a transmitter would.
func (f *fixture) post(body, contentType string) (int, errorBody) {
	f.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/risc", strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	f.rc.ServeHTTP(w, req)
	var eb errorBody
	if w.Code == http.StatusBadRequest || w.Code == http.StatusMethodNotAllowed {
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			f.t.Errorf("error answer Content-Type = %q, want application/json", ct)
		}
		dec := json.NewDecoder(w.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&eb); err != nil || eb.Err == "" || eb.Description == "" {
			f.t.Errorf("error body = %q (%v), want {\"err\",\"description\"} (RFC 8935 §2.3)", w.Body.String(), err)
		}
	}
	return w.Code, eb
}

// postSET posts a SET over the claims, signed with the RISC key.
func (f *fixture) postSET(header string, claims map[string]any) (int, errorBody) {
	f.t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.post(f.g.SignRISC([]byte(header), payload), "application/secevent+jwt")
}

// header is a good SET header for the fake's current RISC key.
func (f *fixture) header() string {
	return `{"alg":"RS256","kid":"` + f.g.RISCKeyID() + `","typ":"secevent+jwt"}`
}

// claims returns the claims of a valid sessions-revoked SET for sub.
func (f *fixture) claims(sub string) map[string]any {
	return map[string]any{
		"iss": f.g.RISCIssuer(),
		"aud": f.g.WebClientID(),
		"iat": f.clock.Now().Unix(),
		"jti": "756E69717565206964656E746966696572" + strings.ReplaceAll(f.t.Name(), "/", "-"),
		"events": map[string]any{
			risc.TypeSessionsRevoked: map[string]any{
				"subject": map[string]any{"subject_type": "iss-sub", "iss": f.g.RISCIssuer(), "sub": sub},
			},
		},
	}
}

// errorBody is the RFC 8935 error body.
type errorBody struct {
	Err         string `json:"err"`
	Description string `json:"description"`
}

// record returns the user's stored record, or nil.
func (f *fixture) record(userID string) *serverauth.Record {
	f.t.Helper()
	rec, err := f.store.Get(context.Background(), userID)
	if errors.Is(err, serverauth.ErrNotFound) {
		return nil
	}
	if err != nil {
		f.t.Fatalf("Get(%q) = %v", userID, err)
	}
	return rec
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// copyBody copies a request body into w.
func copyBody(w io.Writer, r *http.Request) (int64, error) { return io.Copy(w, r.Body) }

// newServer serves h on loopback for the test and returns its URL.
func newServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
