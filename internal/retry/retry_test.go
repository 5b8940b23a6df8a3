package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

// fakeTime is a clock that sleeping advances.
type fakeTime struct {
	now   time.Time
	slept []time.Duration
}

func (f *fakeTime) policy(p Policy) Policy {
	p.Now = func() time.Time { return f.now }
	p.Sleep = func(ctx context.Context, d time.Duration) error {
		f.slept = append(f.slept, d)
		f.now = f.now.Add(d)
		return ctx.Err()
	}
	p.Rand = func() float64 { return 0.5 }
	return p
}

var errBoom = errors.New("boom")

func TestDo(t *testing.T) {
	tests := []struct {
		name      string
		policy    Policy
		decisions []Decision // per attempt; the last repeats
		succeedAt int        // attempt that succeeds; 0 never
		wantCalls int
		wantSlept []time.Duration
		wantErr   bool
	}{
		{name: "success first", decisions: []Decision{Again}, succeedAt: 1, wantCalls: 1},
		{name: "success third", decisions: []Decision{Again}, succeedAt: 3, wantCalls: 3,
			wantSlept: []time.Duration{187500 * time.Microsecond, 375 * time.Millisecond}},
		{name: "never retryable", decisions: []Decision{Stop}, wantCalls: 1, wantErr: true},
		{name: "attempts run out", decisions: []Decision{Again}, wantCalls: 4, wantErr: true,
			wantSlept: []time.Duration{187500 * time.Microsecond, 375 * time.Millisecond, 750 * time.Millisecond}},
		{name: "capped backoff", policy: Policy{MaxAttempts: 6, InitialBackoff: time.Second, MaxBackoff: 2 * time.Second, Budget: time.Minute},
			decisions: []Decision{Again}, wantCalls: 6, wantErr: true,
			wantSlept: []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 1500 * time.Millisecond, 1500 * time.Millisecond, 1500 * time.Millisecond}},
		{name: "Retry-After honoured", decisions: []Decision{{Retry: true, After: 3 * time.Second}, Again}, succeedAt: 2, wantCalls: 2,
			wantSlept: []time.Duration{3 * time.Second}},
		{name: "Retry-After beyond budget stops", policy: Policy{Budget: 5 * time.Second}, decisions: []Decision{{Retry: true, After: 10 * time.Second}},
			wantCalls: 1, wantErr: true},
		{name: "budget bounds attempts", policy: Policy{MaxAttempts: 100, InitialBackoff: time.Second, MaxBackoff: time.Second, Budget: 3 * time.Second},
			decisions: []Decision{Again}, wantCalls: 5, wantErr: true,
			wantSlept: []time.Duration{750 * time.Millisecond, 750 * time.Millisecond, 750 * time.Millisecond, 750 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := &fakeTime{now: time.Unix(0, 0)}
			calls := 0
			err := ft.policy(tt.policy).Do(context.Background(), func(context.Context) (Decision, error) {
				calls++
				if calls == tt.succeedAt {
					return Stop, nil
				}
				return tt.decisions[min(calls, len(tt.decisions))-1], errBoom
			})
			if calls != tt.wantCalls || (err != nil) != tt.wantErr {
				t.Fatalf("Do: %d calls, err %v; want %d calls, err %v", calls, err, tt.wantCalls, tt.wantErr)
			}
			if len(ft.slept) != len(tt.wantSlept) {
				t.Fatalf("slept %v, want %v", ft.slept, tt.wantSlept)
			}
			for i := range ft.slept {
				if ft.slept[i] != tt.wantSlept[i] {
					t.Fatalf("slept %v, want %v", ft.slept, tt.wantSlept)
				}
			}
		})
	}
}

func TestDoStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := Policy{}.Do(ctx, func(context.Context) (Decision, error) {
		calls++
		cancel()
		return Again, errBoom
	})
	if calls != 1 || !errors.Is(err, errBoom) {
		t.Fatalf("Do = %v after %d calls, want the attempt's error after 1", err, calls)
	}
	// A deadline shorter than the wait also stops at once, without sleeping it out.
	ctx, cancel = context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	calls = 0
	start := time.Now()
	Policy{InitialBackoff: time.Hour, MaxBackoff: time.Hour}.Do(ctx, func(context.Context) (Decision, error) {
		calls++
		return Again, errBoom
	})
	if calls != 1 || time.Since(start) > time.Minute {
		t.Fatalf("Do with a short deadline made %d calls", calls)
	}
}

func TestJitterSpreads(t *testing.T) {
	p := Policy{InitialBackoff: time.Second, MaxBackoff: time.Second}.withDefaults()
	lo, hi := time.Hour, time.Duration(0)
	for i := 0; i < 1000; i++ {
		d := p.backoff(1)
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < 500*time.Millisecond || hi > time.Second || hi-lo < 300*time.Millisecond {
		t.Fatalf("jittered backoff in [%s, %s], want spread within [0.5 s, 1 s]", lo, hi)
	}
}
