package bench

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"
	"google.golang.org/api/idtoken"
	"google.golang.org/api/option"

	"github.com/serverauth/serverauth"
)

// tokenEndpoint is a loopback token endpoint that answers every
// authorization_code request with the same valid response, carrying the
// shared fake's ID token. It does no work of its own beyond decoding the
// form, so the benchmark times the client side.
func tokenEndpoint(tb testing.TB, f *realFake) (*httptest.Server, *atomic.Int64) {
	tb.Helper()
	body, err := json.Marshal(map[string]any{
		"access_token":  fakeToken("ya29.", 7, accessTokenSize),
		"refresh_token": fakeToken("1//0", 7, refreshTokenSize),
		"expires_in":    3599,
		"scope":         "openid " + serverauth.ScopeEmail + " " + serverauth.ScopeProfile,
		"token_type":    "Bearer",
		"id_token":      f.token,
	})
	if err != nil {
		tb.Fatal(err)
	}
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ParseForm() != nil || r.PostForm.Get("grant_type") != "authorization_code" || r.PostForm.Get("code") == "" {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		n.Add(1)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
		w.Write(body)
	}))
	tb.Cleanup(srv.Close)
	return srv, &n
}

// BenchmarkExchange is a full code exchange against a loopback token
// endpoint: serverauth's Exchange (token call, ID-token verification,
// normalisation; no store) against x/oauth2's Exchange followed by
// idtoken's Validate doing the same work, over the same HTTP client.
// serverauth+memory-store adds saving to a MemoryStore, for scale;
// x-oauth2+idtoken-detached runs the baseline on a goroutine of its own, as
// serverauth runs an exchange, to isolate the cost of that hand-off, and
// x-oauth2+idtoken-worker hands it to one long-lived goroutine instead (the
// proposed fix).
// Every iteration uses a new code (serverauth answers a repeated code
// from memory).
func BenchmarkExchange(b *testing.B) {
	f := getFake(b)
	ts, calls := tokenEndpoint(b, f)
	client := f.srv.Client() // trusts the fake (JWKS) and speaks plain HTTP to ts
	ctx := context.Background()

	newExchanger := func(store serverauth.TokenStore) *serverauth.Exchanger {
		cfg := f.srv.Config()
		cfg.Endpoints.TokenURL = ts.URL
		cfg.HTTPClient = client
		cfg.Store = store
		ex, err := serverauth.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		return ex
	}

	rt := &redirectTransport{to: f.srv.Endpoints().JWKSURL, base: client.Transport}
	validator, err := idtoken.NewValidator(ctx, option.WithHTTPClient(&http.Client{Transport: rt}))
	if err != nil {
		b.Fatal(err)
	}
	conf := &oauth2.Config{
		ClientID:     f.srv.WebClientID(),
		ClientSecret: f.srv.WebClientSecret(),
		Endpoint:     oauth2.Endpoint{TokenURL: ts.URL, AuthStyle: oauth2.AuthStyleInParams},
	}
	octx := context.WithValue(ctx, oauth2.HTTPClient, client)
	baseline := func(code string) error {
		tok, err := conf.Exchange(octx, code)
		if err != nil {
			return err
		}
		raw, _ := tok.Extra("id_token").(string)
		_, err = validator.Validate(ctx, raw, f.web)
		return err
	}

	var seq atomic.Int64
	code := func() string { return "4/0AbenchCode" + strconv.FormatInt(seq.Add(1), 10) }
	for _, tc := range []struct {
		name string
		do   func(code string) error
	}{
		// The same on a long-lived worker goroutine: a detached hand-off
		// that does not start a goroutine (and grow its stack) per call.
		{"x-oauth2+idtoken-worker", func() func(string) error {
			type job struct {
				code string
				done chan error
			}
			jobs := make(chan job)
			go func() {
				for j := range jobs {
					j.done <- baseline(j.code)
				}
			}()
			b.Cleanup(func() { close(jobs) })
			return func(c string) error {
				done := make(chan error, 1)
				jobs <- job{c, done}
				return <-done
			}
		}()},
		{"serverauth", func() func(string) error {
			ex := newExchanger(nil)
			return func(c string) error { _, err := ex.Exchange(ctx, c); return err }
		}()},
		{"x-oauth2+idtoken", baseline},
		// The baseline run as serverauth runs an exchange: on a goroutine of
		// its own (detached from the caller), the caller waiting on a
		// channel. It isolates the cost of that design.
		{"x-oauth2+idtoken-detached", func(c string) error {
			done := make(chan error, 1)
			go func() { done <- baseline(c) }()
			return <-done
		}},
		{"serverauth+memory-store", func() func(string) error {
			ex := newExchanger(serverauth.NewMemoryStore())
			return func(c string) error { _, err := ex.Exchange(ctx, c); return err }
		}()},
	} {
		b.Run("impl="+tc.name, func(b *testing.B) {
			// Warm the connection and the key caches.
			for range 3 {
				if err := tc.do(code()); err != nil {
					b.Fatal(err)
				}
			}
			fetches := rt.count()
			before := calls.Load()
			b.ReportAllocs()
			n := int64(0)
			for b.Loop() {
				if err := tc.do(code()); err != nil {
					b.Fatal(err)
				}
				n++
			}
			if got := calls.Load() - before; got != n {
				b.Fatalf("token endpoint got %d calls for %d exchanges", got, n)
			}
			if rt.count() != fetches {
				b.Fatal("idtoken refetched the keys during the timed loop")
			}
		})
	}
}
