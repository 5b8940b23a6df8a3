package serverauthtest

import (
	"testing"
	"time"
)

// A long-running fake forgets expired codes and tokens, and keeps a bounded
// request log, so cmd/fakegoogle's memory stays flat.
func TestSweepForgetsExpired(t *testing.T) {
	clock := NewClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	g := New(Options{Now: clock.Now})
	for round := 0; round < 20; round++ {
		for i := 0; i < 500; i++ {
			if _, err := g.MintCode(CodeRequest{}); err != nil {
				t.Fatal(err)
			}
		}
		clock.Advance(DefaultCodeTTL + time.Second)
	}
	g.mu.Lock()
	n := len(g.codes)
	g.mu.Unlock()
	if n > 2500 {
		t.Fatalf("%d codes kept after 10 000 minted, most long expired; want them forgotten", n)
	}
	// A live code survives a sweep.
	code, _ := g.MintCode(CodeRequest{})
	for i := 0; i < 3000; i++ {
		g.MintCode(CodeRequest{})
	}
	g.mu.Lock()
	_, ok := g.codes[code]
	g.mu.Unlock()
	if !ok {
		t.Fatal("a live code was swept")
	}
}
