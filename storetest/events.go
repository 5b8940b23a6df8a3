package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
)

// eventNow is the synthetic clock of the event ledger tests.
var eventNow = time.Date(2031, 7, 8, 9, 10, 11, 0, time.UTC)

const (
	claimTTL  = time.Minute
	eventKeep = 7 * 24 * time.Hour
)

// eventTests check [serverauth.EventLedger].
var eventTests = []storeTest{
	{"ClaimFinish", testEventClaimFinish},
	{"ClaimExpires", testEventClaimExpires},
	{"Release", testEventRelease},
	{"FinishByAnother", testEventFinishByAnother},
	{"KeepExpires", testEventKeepExpires},
	{"Race", testEventRace},
	{"IDs", testEventIDs},
	{"Independent", testEventIndependent},
	{"Errors", testEventErrors},
}

func claim(t *testing.T, l serverauth.EventLedger, id, owner string, at time.Duration, want serverauth.EventClaim) {
	t.Helper()
	got, err := l.ClaimEvent(t.Context(), id, owner, eventNow.Add(at), claimTTL)
	if err != nil || got != want {
		t.Errorf("ClaimEvent(%q, %q, now%+v) = %v, %v; want %v, nil", id, owner, at, claimName(got), err, claimName(want))
	}
}

func claimName(c serverauth.EventClaim) string {
	switch c {
	case serverauth.EventClaimed:
		return "EventClaimed"
	case serverauth.EventBusy:
		return "EventBusy"
	case serverauth.EventDone:
		return "EventDone"
	}
	return fmt.Sprintf("EventClaim(%d)", int(c))
}

func finish(t *testing.T, l serverauth.EventLedger, id, owner string, at time.Duration) {
	t.Helper()
	if err := l.FinishEvent(t.Context(), id, owner, eventNow.Add(at), eventKeep); err != nil {
		t.Fatalf("FinishEvent(%q, %q) = %v, want nil", id, owner, err)
	}
}

func release(t *testing.T, l serverauth.EventLedger, id, owner string) {
	t.Helper()
	if err := l.ReleaseEvent(t.Context(), id, owner); err != nil {
		t.Fatalf("ReleaseEvent(%q, %q) = %v, want nil", id, owner, err)
	}
}

func testEventClaimFinish(t *testing.T, s serverauth.TokenStore) {
	l := s.(serverauth.EventLedger)
	claim(t, l, "ev", "a", 0, serverauth.EventClaimed)
	claim(t, l, "ev", "b", time.Second, serverauth.EventBusy)
	claim(t, l, "ev", "a", 2*time.Second, serverauth.EventClaimed) // extends
	claim(t, l, "ev", "b", claimTTL+time.Second, serverauth.EventBusy)
	finish(t, l, "ev", "a", 3*time.Second)
	claim(t, l, "ev", "a", 4*time.Second, serverauth.EventDone)
	claim(t, l, "ev", "b", 5*time.Second, serverauth.EventDone)
	claim(t, l, "ev", "c", 2*claimTTL, serverauth.EventDone)
}

func testEventClaimExpires(t *testing.T, s serverauth.TokenStore) {
	l := s.(serverauth.EventLedger)
	claim(t, l, "ev", "a", 0, serverauth.EventClaimed)
	claim(t, l, "ev", "b", claimTTL-time.Second, serverauth.EventBusy)
	claim(t, l, "ev", "b", claimTTL+time.Second, serverauth.EventClaimed)
	claim(t, l, "ev", "a", claimTTL+2*time.Second, serverauth.EventBusy)
}

func testEventRelease(t *testing.T, s serverauth.TokenStore) {
	l := s.(serverauth.EventLedger)
	claim(t, l, "ev", "a", 0, serverauth.EventClaimed)
	release(t, l, "ev", "b") // not b's: nothing changes
	claim(t, l, "ev", "b", time.Second, serverauth.EventBusy)
	release(t, l, "ev", "a")
	claim(t, l, "ev", "b", 2*time.Second, serverauth.EventClaimed)
	finish(t, l, "ev", "b", 3*time.Second)
	release(t, l, "ev", "b") // finished: stays done
	claim(t, l, "ev", "a", 4*time.Second, serverauth.EventDone)
	release(t, l, "never", "a")
}

func testEventFinishByAnother(t *testing.T, s serverauth.TokenStore) {
	l := s.(serverauth.EventLedger)
	// a's claim expired and b took it; a finishes all the same.
	claim(t, l, "ev", "a", 0, serverauth.EventClaimed)
	claim(t, l, "ev", "b", claimTTL+time.Second, serverauth.EventClaimed)
	finish(t, l, "ev", "a", claimTTL+2*time.Second)
	claim(t, l, "ev", "b", claimTTL+3*time.Second, serverauth.EventDone)
}

func testEventKeepExpires(t *testing.T, s serverauth.TokenStore) {
	l := s.(serverauth.EventLedger)
	claim(t, l, "ev", "a", 0, serverauth.EventClaimed)
	finish(t, l, "ev", "a", 0)
	claim(t, l, "ev", "b", eventKeep-time.Second, serverauth.EventDone)
	claim(t, l, "ev", "b", eventKeep+time.Second, serverauth.EventClaimed)
}

func testEventRace(t *testing.T, s serverauth.TokenStore) {
	l := s.(serverauth.EventLedger)
	race(t, "one event", func(owner string) bool {
		got, err := l.ClaimEvent(t.Context(), "ev", owner, eventNow, claimTTL)
		switch {
		case err != nil:
			t.Errorf("ClaimEvent(%q) = %v, want nil error", owner, err)
		case got != serverauth.EventClaimed && got != serverauth.EventBusy:
			t.Errorf("ClaimEvent(%q) = %s, want EventClaimed or EventBusy", owner, claimName(got))
		}
		return got == serverauth.EventClaimed
	})
}

func testEventIDs(t *testing.T, s serverauth.TokenStore) {
	l := s.(serverauth.EventLedger)
	long := strings.Repeat("J", 255)
	for _, id := range []string{long, "abc", "ABC", "a:b/c?d=e", "756E69717565206964656E746966696572"} {
		claim(t, l, id, "a", 0, serverauth.EventClaimed)
	}
	finish(t, l, "abc", "a", 0)
	claim(t, l, "ABC", "b", time.Second, serverauth.EventBusy) // IDs are compared byte for byte
	claim(t, l, "abc", "b", time.Second, serverauth.EventDone)
	claim(t, l, long, "b", time.Second, serverauth.EventBusy)
}

func testEventIndependent(t *testing.T, s serverauth.TokenStore) {
	l := s.(serverauth.EventLedger)
	put(t, s, sampleRecord("ev", 1))
	claim(t, l, "ev", "a", 0, serverauth.EventClaimed)
	finish(t, l, "ev", "a", 0)
	if err := s.Delete(t.Context(), "ev"); err != nil {
		t.Fatal(err)
	}
	claim(t, l, "ev", "b", time.Second, serverauth.EventDone)
	if users, ok := s.(serverauth.Lister); ok {
		checkUsers(t, users, nil)
	}
}

func testEventErrors(t *testing.T, s serverauth.TokenStore) {
	l := s.(serverauth.EventLedger)
	if _, err := l.ClaimEvent(t.Context(), "ev", "a", eventNow, 0); err == nil {
		t.Error("ClaimEvent with ttl 0 = nil error, want an error")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	check := func(call string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want context.Canceled", call, err)
		}
	}
	got, err := l.ClaimEvent(ctx, "ev", "a", eventNow, claimTTL)
	check("ClaimEvent", err)
	if got == serverauth.EventClaimed {
		t.Error("ClaimEvent with a cancelled context claimed")
	}
	check("FinishEvent", l.FinishEvent(ctx, "ev", "a", eventNow, eventKeep))
	check("ReleaseEvent", l.ReleaseEvent(ctx, "ev", "a"))
	// Nothing changed: the event is free.
	claim(t, l, "ev", "b", 0, serverauth.EventClaimed)
}
