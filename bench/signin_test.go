package bench

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/idtoken"
	"google.golang.org/api/option"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/internal/testenv"
	"github.com/serverauth/serverauth/serverauthtest"
	"github.com/serverauth/serverauth/sqlstore"
)

// Sign-in throughput: a mobile app posts a server auth code, the backend
// exchanges it, verifies the ID token, encrypts the tokens and writes them
// to PostgreSQL, and answers with the profile. serverauth's SignInHandler
// against a hand-glued handler doing the same work with x/oauth2,
// google.golang.org/api/idtoken, AES-GCM and a database/sql upsert.

// signInUsers is how many users each contender signs in again and again.
const signInUsers = 256

// signInPool bounds each contender's PostgreSQL connections.
const signInPool = 16

// signInRig is what both contenders share: the fake Google on loopback
// (plain HTTP, the real clock: idtoken reads time.Now) and, for
// fake=presigned, a token endpoint answering from responses the fake
// signed in advance.
type signInRig struct {
	g      *serverauthtest.Google
	fake   *httptest.Server
	client *http.Client // to the fake and the presigned endpoint

	presigned *httptest.Server
	responses [][]byte // by user index: the exchange response, without a refresh token
	firstResp [][]byte // the same with a refresh token: a first sign-in
	users     []serverauthtest.User
}

var sharedSignInRig = sync.OnceValues(func() (*signInRig, error) {
	r := &signInRig{g: serverauthtest.New(serverauthtest.Options{})}
	r.fake = httptest.NewServer(r.g)
	r.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 0}}
	for i := range 2 * signInUsers {
		sub := "3" + userID(i)[1:]
		r.users = append(r.users, serverauthtest.User{Sub: sub, Email: "s" + sub + "@example.com", EmailVerified: true, Name: "Signin User"})
	}
	for i, u := range r.users {
		idt := r.g.IDToken(u, r.g.IOSClientID())
		resp := map[string]any{
			"access_token": fakeToken("ya29.a0pre", i, 167),
			"expires_in":   3599,
			"scope":        "openid " + serverauth.ScopeEmail + " " + serverauth.ScopeProfile,
			"token_type":   "Bearer",
			"id_token":     idt,
		}
		b, _ := json.Marshal(resp)
		r.responses = append(r.responses, b)
		resp["refresh_token"] = fakeToken("1//0pre", i, refreshTokenSize)
		b, _ = json.Marshal(resp)
		r.firstResp = append(r.firstResp, b)
	}
	r.presigned = httptest.NewServer(http.HandlerFunc(r.servePresigned))
	return r, nil
})

// servePresigned answers code "4/0Apre-<first|again>-<user>-<seq>" with the
// user's prepared response.
func (r *signInRig) servePresigned(w http.ResponseWriter, req *http.Request) {
	if req.ParseForm() != nil || req.PostForm.Get("grant_type") != "authorization_code" {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	parts := strings.Split(req.PostForm.Get("code"), "-")
	if len(parts) != 4 {
		http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
		return
	}
	i, err := strconv.Atoi(parts[2])
	if err != nil || i < 0 || i >= len(r.responses) {
		http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
		return
	}
	body := r.responses[i]
	if parts[1] == "first" {
		body = r.firstResp[i]
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(body)
}

// code returns a code for user i: from the fake (it then signs an ID token
// when the code is exchanged), or for the presigned endpoint.
func (r *signInRig) code(presigned, first bool, i int, seq int64) (string, error) {
	if presigned {
		kind := "again"
		if first {
			kind = "first"
		}
		return fmt.Sprintf("4/0Apre-%s-%d-%d", kind, i, seq), nil
	}
	req := serverauthtest.CodeRequest{User: r.users[i]}
	if first {
		req.Prompt = "consent" // a refresh token, whatever an earlier run consented to
	}
	return r.g.MintCode(req)
}

func (r *signInRig) tokenURL(presigned bool) string {
	if presigned {
		return r.presigned.URL
	}
	return r.fake.URL + "/token"
}

// stored reports whether a contender's store holds both of a user's tokens.
type stored func(userID string) (bool, error)

// newSignInServer returns serverauth's SignInHandler on a loopback server:
// a PostgreSQL sqlstore, a Keyring.
func newSignInServer(tb testing.TB, r *signInRig, presigned bool, db *sql.DB) (*httptest.Server, stored) {
	tb.Helper()
	table := testenv.Name("serverauth_signin_")
	st, err := sqlstore.New(db, sqlstore.Config{Dialect: sqlstore.Postgres, Table: table})
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.CreateTable(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { dropTables(tb, db, table) })
	key, err := serverauth.GenerateKey(1)
	if err != nil {
		tb.Fatal(err)
	}
	k, err := serverauth.NewKeyring(key)
	if err != nil {
		tb.Fatal(err)
	}
	ep := serverauthtest.EndpointsAt(r.fake.URL)
	ep.TokenURL = r.tokenURL(presigned)
	ex, err := serverauth.New(serverauth.Config{
		ClientID:         r.g.WebClientID(),
		ClientSecret:     r.g.WebClientSecret(),
		AllowedClientIDs: []string{r.g.IOSClientID(), r.g.AndroidClientID()},
		Endpoints:        ep,
		HTTPClient:       r.client,
		Store:            st,
		Cipher:           k,
	})
	if err != nil {
		tb.Fatal(err)
	}
	h, err := ex.SignInHandler(serverauth.HandlerConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv, func(userID string) (bool, error) {
		rec, err := st.Get(context.Background(), userID)
		if err != nil {
			return false, err
		}
		return len(rec.RefreshToken) > 0 && len(rec.AccessToken) > 0, nil
	}
}

// newGluedServer is the hand-glued baseline on a loopback server: the same
// request and answer, x/oauth2's Exchange, idtoken's Validate (its fixed
// certificate URL answered by the fake's JWKS), AES-256-GCM over both
// tokens with the user and field as associated data, and one upsert that
// keeps the stored refresh token when the exchange brings none.
func newGluedServer(tb testing.TB, r *signInRig, presigned bool, db *sql.DB) (*httptest.Server, stored) {
	tb.Helper()
	ctx := context.Background()
	table := testenv.Name("glued_signin_")
	if _, err := db.ExecContext(ctx, `CREATE TABLE `+table+` (
		user_id TEXT PRIMARY KEY, refresh_token BYTEA, access_token BYTEA NOT NULL,
		expiry TIMESTAMPTZ NOT NULL, scopes TEXT NOT NULL, email TEXT NOT NULL, updated TIMESTAMPTZ NOT NULL)`); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Exec("DROP TABLE " + table) })
	upsert := `INSERT INTO ` + table + ` (user_id, refresh_token, access_token, expiry, scopes, email, updated)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (user_id) DO UPDATE SET refresh_token = COALESCE(EXCLUDED.refresh_token, ` + table + `.refresh_token),
		access_token = EXCLUDED.access_token, expiry = EXCLUDED.expiry, scopes = EXCLUDED.scopes,
		email = EXCLUDED.email, updated = EXCLUDED.updated`

	rt := &redirectTransport{to: serverauthtest.EndpointsAt(r.fake.URL).JWKSURL, base: r.client.Transport}
	validator, err := idtoken.NewValidator(ctx, option.WithHTTPClient(&http.Client{Transport: rt}))
	if err != nil {
		tb.Fatal(err)
	}
	conf := &oauth2.Config{
		ClientID:     r.g.WebClientID(),
		ClientSecret: r.g.WebClientSecret(),
		Endpoint:     oauth2.Endpoint{TokenURL: r.tokenURL(presigned), AuthStyle: oauth2.AuthStyleInParams},
	}
	key := make([]byte, 32)
	rand.Read(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		tb.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		tb.Fatal(err)
	}
	seal := func(userID, field, token string) []byte {
		nonce := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(token)+gcm.Overhead())
		rand.Read(nonce)
		return gcm.Seal(nonce, nonce, []byte(token), []byte(userID+"\x00"+field))
	}
	aud := r.g.WebClientID()
	fail := func(w http.ResponseWriter, status int, code string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":%q}`, code)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if req.Method != http.MethodPost || req.Header.Get("X-Requested-With") == "" {
			fail(w, http.StatusForbidden, "access_denied")
			return
		}
		var in struct {
			Code string `json:"code"`
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, 64<<10))
		if err != nil || json.Unmarshal(body, &in) != nil || in.Code == "" {
			fail(w, http.StatusBadRequest, "invalid_request")
			return
		}
		octx := context.WithValue(req.Context(), oauth2.HTTPClient, r.client)
		tok, err := conf.Exchange(octx, in.Code)
		if err != nil {
			fail(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		raw, _ := tok.Extra("id_token").(string)
		p, err := validator.Validate(req.Context(), raw, aud)
		if err != nil {
			fail(w, http.StatusUnauthorized, "invalid_token")
			return
		}
		var sealedRT []byte
		if tok.RefreshToken != "" {
			sealedRT = seal(p.Subject, "refresh_token", tok.RefreshToken)
		}
		email, _ := p.Claims["email"].(string)
		scope, _ := tok.Extra("scope").(string)
		if _, err := db.ExecContext(req.Context(), upsert, p.Subject, sealedRT, seal(p.Subject, "access_token", tok.AccessToken),
			tok.Expiry, scope, email, time.Now()); err != nil {
			fail(w, http.StatusServiceUnavailable, "temporarily_unavailable")
			return
		}
		name, _ := p.Claims["name"].(string)
		verified, _ := p.Claims["email_verified"].(bool)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		json.NewEncoder(w).Encode(map[string]any{"user_id": p.Subject, "email": email, "email_verified": verified,
			"name": name, "scopes": strings.Fields(scope)})
	})
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv, func(userID string) (bool, error) {
		var ok bool
		err := db.QueryRow(`SELECT refresh_token IS NOT NULL AND length(access_token) > 0 FROM `+table+` WHERE user_id = $1`, userID).Scan(&ok)
		return ok, err
	}
}

// postCode signs in with code at url and checks the answer names user.
func postCode(client *http.Client, url, code, user string) error {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"code":"`+code+`"}`))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Requested-With", "XMLHttpRequest")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"user_id":"`+user+`"`)) {
		return fmt.Errorf("sign-in of %s: %d %s", user, resp.StatusCode, body)
	}
	return nil
}

// BenchmarkSignIn is sign-ins per second through a sign-in endpoint on
// loopback, into PostgreSQL with encryption, from 1, 8 and 64 concurrent
// clients, for returning users (each user signed in once before the
// timer). impl=serverauth is Exchanger.SignInHandler over sqlstore and a
// Keyring; impl=glued the hand-glued handler (see newGluedServer).
// fake=live exchanges at the fake Google, which signs an ID token (RSA)
// for every code on the same two cores; fake=presigned at an endpoint
// answering from ID tokens the fake signed in advance, which leaves the
// backend's own work. ns/op is wall time per sign-in (throughput);
// signins/s, p50-ms and p99-ms are measured by the clients; db-cpu-us/signin
// is PostgreSQL's CPU time per sign-in, when it runs on this machine
// (serverCPU).
func BenchmarkSignIn(b *testing.B) {
	r := signInContenders(b)
	for _, presigned := range []bool{false, true} {
		fakeName := map[bool]string{false: "live", true: "presigned"}[presigned]
		srvs, base := r.contenders(b, presigned)
		for _, clients := range []int{1, 8, 64} {
			for _, impl := range []string{"serverauth", "glued"} {
				b.Run(fmt.Sprintf("fake=%s/clients=%d/impl=%s", fakeName, clients, impl), func(b *testing.B) {
					b.ResetTimer()
					servers := sampleServerCPU(100 * time.Millisecond)
					res, err := runSignIns(r.signInRig, srvs[impl].URL, presigned, clients, b.N, base[impl], &r.seq, &r.cursor)
					dbCPU := servers.Stop()
					b.StopTimer()
					if err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(float64(b.N)/res.elapsed.Seconds(), "signins/s")
					b.ReportMetric(res.percentile(0.50), "p50-ms")
					b.ReportMetric(res.percentile(0.99), "p99-ms")
					b.ReportMetric(float64(dbCPU.Microseconds())/float64(b.N), "db-cpu-us/signin")
				})
			}
		}
	}
}

// signInBench is the rig of the sign-in benchmarks, with the database.
type signInBench struct {
	*signInRig
	dsn         string
	seq, cursor atomic.Int64 // code sequence numbers; the next user to sign in
}

func signInContenders(b *testing.B) *signInBench {
	dsn := testenv.DSN(b, testenv.Postgres)
	r, err := sharedSignInRig()
	if err != nil {
		b.Fatal(err)
	}
	return &signInBench{signInRig: r, dsn: dsn}
}

// contenders starts both sign-in servers, each over a pool of its own, and
// signs each contender's users in once (a first consent, with a refresh
// token); it returns the servers and each one's first user, by impl.
func (r *signInBench) contenders(b *testing.B, presigned bool) (map[string]*httptest.Server, map[string]int) {
	openDB := func() *sql.DB {
		db, err := sql.Open("pgx", r.dsn)
		if err != nil {
			b.Fatal(err)
		}
		db.SetMaxOpenConns(signInPool)
		db.SetMaxIdleConns(signInPool)
		b.Cleanup(func() { db.Close() })
		return db
	}
	srvs := map[string]*httptest.Server{}
	srvs["serverauth"], _ = newSignInServer(b, r.signInRig, presigned, openDB())
	srvs["glued"], _ = newGluedServer(b, r.signInRig, presigned, openDB())
	base := map[string]int{"serverauth": 0, "glued": signInUsers}
	for name, srv := range srvs {
		for i := range signInUsers {
			u := base[name] + i
			code, err := r.code(presigned, true, u, r.seq.Add(1))
			if err == nil {
				err = postCode(r.client, srv.URL, code, r.users[u].Sub)
			}
			if err != nil {
				b.Fatalf("%s, presigned %t: first sign-in: %v", name, presigned, err)
			}
		}
	}
	return srvs, base
}

// BenchmarkSignInInterleaved is BenchmarkSignIn with the two contenders
// taking turns inside one sample: phases of max(200, 8 × clients)
// sign-ins, serverauth then glued, until each has signed in b.N times, so
// that a burst of load from elsewhere on a shared machine falls on both
// alike. Reported: each one's sign-ins/s over its own phases
// (serverauth-signins/s, glued-signins/s), their ratio
// (serverauth/glued), and each one's p50 and p99.
func BenchmarkSignInInterleaved(b *testing.B) {
	r := signInContenders(b)
	for _, presigned := range []bool{false, true} {
		fakeName := map[bool]string{false: "live", true: "presigned"}[presigned]
		srvs, base := r.contenders(b, presigned)
		for _, clients := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("fake=%s/clients=%d", fakeName, clients), func(b *testing.B) {
				phase := max(200, 8*clients)
				elapsed := map[string]time.Duration{}
				lat := map[string][]time.Duration{}
				for done := 0; done < b.N; done += phase {
					n := min(phase, b.N-done)
					for _, impl := range []string{"serverauth", "glued"} {
						res, err := runSignIns(r.signInRig, srvs[impl].URL, presigned, clients, n, base[impl], &r.seq, &r.cursor)
						if err != nil {
							b.Fatal(err)
						}
						elapsed[impl] += res.elapsed
						lat[impl] = append(lat[impl], res.lat...)
					}
				}
				rate := func(impl string) float64 { return float64(b.N) / elapsed[impl].Seconds() }
				b.ReportMetric(rate("serverauth"), "serverauth-signins/s")
				b.ReportMetric(rate("glued"), "glued-signins/s")
				b.ReportMetric(rate("serverauth")/rate("glued"), "serverauth/glued")
				for _, impl := range []string{"serverauth", "glued"} {
					slices.Sort(lat[impl])
					res := signInRun{lat: lat[impl]}
					b.ReportMetric(res.percentile(0.50), impl+"-p50-ms")
					b.ReportMetric(res.percentile(0.99), impl+"-p99-ms")
				}
			})
		}
	}
}

// signInRun is what a run of sign-ins measured.
type signInRun struct {
	elapsed time.Duration
	lat     []time.Duration // each sign-in's, sorted
}

// percentile returns the p-th latency in milliseconds.
func (s signInRun) percentile(p float64) float64 {
	if len(s.lat) == 0 {
		return math.NaN()
	}
	return float64(s.lat[min(len(s.lat)-1, int(p*float64(len(s.lat))))]) / 1e6
}

// runSignIns signs in n times at url from clients goroutines, cycling
// through the contender's users (base and the signInUsers after it) from
// cursor, and reports the wall time and the latencies.
func runSignIns(r *signInRig, url string, presigned bool, clients, n, base int, seq, cursor *atomic.Int64) (signInRun, error) {
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex // guards lat and firstErr
		lat      []time.Duration
		firstErr error
	)
	start := time.Now()
	for range clients {
		wg.Go(func() {
			var mine []time.Duration
			for next.Add(1) <= int64(n) {
				u := base + int(cursor.Add(1)%signInUsers)
				t0 := time.Now()
				code, err := r.code(presigned, false, u, seq.Add(1))
				if err == nil {
					err = postCode(r.client, url, code, r.users[u].Sub)
				}
				mine = append(mine, time.Since(t0))
				if err != nil {
					mu.Lock()
					firstErr = firstError(firstErr, err)
					mu.Unlock()
					break
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	res := signInRun{elapsed: time.Since(start), lat: lat}
	slices.Sort(res.lat)
	return res, firstErr
}

// TestSignInContendersAgree checks that both sign-in endpoints do the
// work the benchmark times: a first sign-in and a returning one (no
// refresh token) answer the user's profile, and the store then holds both
// of the user's tokens, encrypted.
func TestSignInContendersAgree(t *testing.T) {
	dsn := testenv.DSN(t, testenv.Postgres)
	r, err := sharedSignInRig()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() }) // after the servers' cleanups drop their tables
	for _, presigned := range []bool{false, true} {
		for _, name := range []string{"serverauth", "glued"} {
			newServer := map[string]func(testing.TB, *signInRig, bool, *sql.DB) (*httptest.Server, stored){
				"serverauth": newSignInServer, "glued": newGluedServer}[name]
			srv, has := newServer(t, r, presigned, db)
			u := map[string]int{"serverauth": 0, "glued": signInUsers}[name] + 7
			for _, first := range []bool{true, false} {
				code, err := r.code(presigned, first, u, time.Now().UnixNano())
				if err == nil {
					err = postCode(r.client, srv.URL, code, r.users[u].Sub)
				}
				if err != nil {
					t.Fatalf("%s (presigned %v, first sign-in %v): %v", name, presigned, first, err)
				}
				if ok, err := has(r.users[u].Sub); err != nil || !ok {
					t.Fatalf("%s (presigned %v, first sign-in %v): both tokens stored = %v, %v", name, presigned, first, ok, err)
				}
			}
		}
	}
}
