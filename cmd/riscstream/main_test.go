package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/risc"
	"github.com/serverauth/serverauth/serverauthtest"
)

// fake is a fake Google over plain HTTP on loopback, a receiver for its
// events, and the fake's service account key in a file.
type fake struct {
	t        *testing.T
	g        *serverauthtest.Google
	base     string
	receiver string
	key      string

	mu     sync.Mutex // guards events
	events []*risc.Event
}

func newFake(t *testing.T) *fake {
	t.Helper()
	g := serverauthtest.New(serverauthtest.Options{})
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	f := &fake{t: t, g: g, base: srv.URL}
	e, err := serverauth.New(serverauth.Config{
		ClientID: g.WebClientID(), ClientSecret: g.WebClientSecret(),
		Endpoints: serverauthtest.EndpointsAt(srv.URL),
	})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := risc.NewReceiver(risc.Config{Exchanger: e, ConfigurationURL: srv.URL + serverauthtest.RISCConfigurationPath,
		OnEvent: func(_ context.Context, ev *risc.Event) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.events = append(f.events, ev)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	rs := httptest.NewServer(rc)
	t.Cleanup(rs.Close)
	f.receiver = rs.URL + "/risc"
	f.key = filepath.Join(t.TempDir(), "key.json")
	if err := os.WriteFile(f.key, g.RISCServiceAccountJSON(), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// run runs the command with the fake's endpoint and key; it returns
// stdout, and the error with stderr.
func (f *fake) run(args ...string) (string, error) {
	f.t.Helper()
	return f.runEnv(nil, append([]string{"-endpoint", f.base, "-credentials", f.key}, args...)...)
}

func (f *fake) runEnv(env map[string]string, args ...string) (string, error) {
	f.t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, &stdout, &stderr, func(k string) string { return env[k] })
	key := string(f.g.RISCServiceAccountJSON())
	for _, out := range []string{stdout.String(), stderr.String(), errString(err)} {
		if strings.Contains(out, "PRIVATE KEY") || strings.Contains(out, "eyJ") || strings.Contains(out, key[len(key)/2:len(key)/2+40]) {
			f.t.Errorf("riscstream %q printed a key or a JWT:\n%s", args, out)
		}
	}
	if err != nil {
		return stdout.String(), errors.Join(err, errors.New(stderr.String()))
	}
	return stdout.String(), nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (f *fake) got() []*risc.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*risc.Event(nil), f.events...)
}

func TestStreamAgainstFake(t *testing.T) {
	f := newFake(t)
	if _, err := f.run("status"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("status before register = %v, want the API's 404", err)
	}
	out, err := f.run("register", "-url", f.receiver)
	if err != nil {
		t.Fatalf("register = %v", err)
	}
	if !strings.Contains(out, f.receiver) || !strings.Contains(out, risc.TypeTokenRevoked) {
		t.Errorf("register printed %q, want the stream with the receiver and the event types", out)
	}
	s, ok := f.g.GetRISCStream()
	if !ok || s.URL != f.receiver || len(s.EventsRequested) != len(risc.EventTypes()) || !s.Enabled {
		t.Fatalf("the fake's stream = %+v, want the receiver, every event type, enabled", s)
	}
	if out, err := f.run("get"); err != nil || !strings.Contains(out, f.receiver) {
		t.Errorf("get = %q, %v", out, err)
	}
	if out, err := f.run("status"); err != nil || strings.TrimSpace(out) != "stream enabled" {
		t.Errorf("status = %q, %v; want stream enabled", out, err)
	}
	if out, err := f.run("verify", "-state", "deploy 42"); err != nil || !strings.Contains(out, "deploy 42") {
		t.Fatalf("verify = %q, %v", out, err)
	}
	evs := f.got()
	if len(evs) != 1 || evs[0].Type != risc.TypeVerification || evs[0].State != "deploy 42" {
		t.Fatalf("the receiver got %+v, want one verification event with state \"deploy 42\"", evs)
	}
	if out, err := f.run("disable"); err != nil || strings.TrimSpace(out) != "stream disabled" {
		t.Errorf("disable = %q, %v", out, err)
	}
	if _, err := f.run("verify"); err != nil {
		t.Errorf("verify on a disabled stream = %v, want the call accepted", err)
	}
	if n := len(f.got()); n != 1 {
		t.Errorf("a disabled stream delivered: %d events, want 1", n)
	}
	if out, err := f.run("enable"); err != nil || strings.TrimSpace(out) != "stream enabled" {
		t.Errorf("enable = %q, %v", out, err)
	}
	// Fewer event types: verification is no longer sent.
	if _, err := f.run("register", "-url", f.receiver, "-events", "tokens-revoked, account-disabled"); err != nil {
		t.Fatal(err)
	}
	if s, _ := f.g.GetRISCStream(); len(s.EventsRequested) != 2 || s.EventsRequested[0] != risc.TypeTokensRevoked {
		t.Errorf("events requested = %q", s.EventsRequested)
	}
	f.run("verify")
	if n := len(f.got()); n != 1 {
		t.Errorf("verification sent to a stream that did not request it: %d events", n)
	}
}

func TestStreamCredentialsFromEnvironment(t *testing.T) {
	f := newFake(t)
	if _, err := f.runEnv(map[string]string{credentialsEnv: f.key}, "-endpoint", f.base, "register", "-url", f.receiver); err != nil {
		t.Fatalf("register with %s = %v", credentialsEnv, err)
	}
	if _, err := f.runEnv(nil, "-endpoint", f.base, "status"); err == nil || !strings.Contains(err.Error(), credentialsEnv) {
		t.Errorf("no credentials = %v, want an error naming -credentials and %s", err, credentialsEnv)
	}
}

func TestStreamErrors(t *testing.T) {
	f := newFake(t)
	other := serverauthtest.New(serverauthtest.Options{ProjectID: "another-project"})
	otherKey := filepath.Join(t.TempDir(), "other.json")
	os.WriteFile(otherKey, other.RISCServiceAccountJSON(), 0o600)
	notKey := filepath.Join(t.TempDir(), "client_secret.json")
	os.WriteFile(notKey, []byte(`{"web":{"client_id":"x"}}`), 0o600)
	for _, tt := range []struct {
		name string
		args []string
		want string // in the error
	}{
		{"no command", nil, "no command"},
		{"unknown command", []string{"delete"}, "unknown command"},
		{"register without url", []string{"register"}, "-url is required"},
		{"register relative url", []string{"register", "-url", "/risc"}, "not an absolute"},
		{"unknown event type", []string{"register", "-url", "https://127.0.0.1/risc", "-events", "password-changed"}, "unknown event type"},
		{"extra arguments", []string{"status", "now"}, "unexpected arguments"},
		{"receiver not the project's", []string{"register", "-url", "https://example.com/risc"}, "authorised domains"},
		{"another project's key", []string{"-credentials", otherKey, "status"}, "401"},
		{"not a key file", []string{"-credentials", notKey, "status"}, "not a service account JSON key"},
		{"missing key file", []string{"-credentials", filepath.Join(t.TempDir(), "nope.json"), "status"}, "reading the service account key"},
		{"http endpoint off loopback", []string{"-endpoint", "http://risc.googleapis.com", "status"}, "must use https"},
		{"endpoint not a URL", []string{"-endpoint", "risc.googleapis.com", "status"}, "not an absolute URL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.run(tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("riscstream %q = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestStreamHelp(t *testing.T) {
	f := newFake(t)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-help"}, &stdout, &stderr, func(k string) string {
		if k == credentialsEnv {
			return f.key
		}
		return ""
	})
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-help = %v, want flag.ErrHelp (exit 0)", err)
	}
	for _, want := range []string{"register -url URL", "verify", "-credentials", credentialsEnv} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), f.key) {
		t.Error("usage shows the environment's key path as a default")
	}
}
