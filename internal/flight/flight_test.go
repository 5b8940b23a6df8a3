package flight

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestConcurrentCallersShareOneCall(t *testing.T) {
	clk := &clock{t: time.Unix(0, 0)}
	g := New[string, int](clk.Now, 100)
	var calls atomic.Int32
	gate := make(chan struct{})
	fn := func(ctx context.Context) (int, error) { calls.Add(1); <-gate; return 42, nil }
	var wg sync.WaitGroup
	results := make(chan int, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err, _ := g.Do(context.Background(), "k", time.Minute, fn, func(int, error) time.Duration { return time.Minute })
			if err != nil {
				t.Error(err)
			}
			results <- v
		}()
	}
	close(gate)
	wg.Wait()
	close(results)
	for v := range results {
		if v != 42 {
			t.Fatalf("Do = %d, want 42", v)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("fn ran %d times for 100 callers, want 1", n)
	}
}

func TestRetainedResultIsReusedUntilExpiry(t *testing.T) {
	clk := &clock{t: time.Unix(0, 0)}
	g := New[string, int](clk.Now, 100)
	var calls atomic.Int32
	fn := func(ctx context.Context) (int, error) { return int(calls.Add(1)), errors.New("boom") }
	keep := func(int, error) time.Duration { return time.Minute }
	for i := 0; i < 5; i++ {
		v, err, shared := g.Do(context.Background(), "k", time.Minute, fn, keep)
		if v != 1 || err == nil || (shared != Ran) != (i > 0) {
			t.Fatalf("Do #%d = %d, %v, shared %v; want 1, boom, shared %v", i, v, err, shared, i > 0)
		}
	}
	clk.Advance(time.Minute)
	if v, _, shared := g.Do(context.Background(), "k", time.Minute, fn, keep); v != 2 || shared != Ran {
		t.Fatalf("Do after expiry = %d, shared %v; want a new call (2)", v, shared)
	}
	g.Forget("k")
	if v, _, _ := g.Do(context.Background(), "k", time.Minute, fn, keep); v != 3 {
		t.Fatalf("Do after Forget = %d, want 3", v)
	}
}

func TestCallerGivesUpCallGoesOn(t *testing.T) {
	clk := &clock{t: time.Unix(0, 0)}
	g := New[string, int](clk.Now, 100)
	gate, running := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	fn := func(ctx context.Context) (int, error) {
		calls.Add(1)
		close(running)
		<-gate
		return 7, ctx.Err() // the detached context is not cancelled
	}
	keep := func(int, error) time.Duration { return time.Minute }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err, _ := g.Do(ctx, "k", time.Minute, fn, keep); done <- err }()
	<-running
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Do(cancelled) = %v, want context.Canceled", err)
	}
	close(gate)
	v, err, shared := g.Do(context.Background(), "k", time.Minute, fn, keep)
	if v != 7 || err != nil || shared == Ran || calls.Load() != 1 {
		t.Fatalf("Do after the first caller left = %d, %v, shared %v, calls %d; want the same call's 7, nil", v, err, shared, calls.Load())
	}
}

func TestTimeoutBoundsTheCall(t *testing.T) {
	g := New[string, int](time.Now, 100)
	_, err, _ := g.Do(context.Background(), "k", time.Millisecond, func(ctx context.Context) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do = %v, want DeadlineExceeded", err)
	}
}

func TestRetentionIsBounded(t *testing.T) {
	clk := &clock{t: time.Unix(0, 0)}
	g := New[int, int](clk.Now, 10)
	keep := func(int, error) time.Duration { return time.Hour }
	for i := 0; i < 1000; i++ {
		g.Do(context.Background(), i, time.Minute, func(context.Context) (int, error) { return i, nil }, keep)
	}
	if n := g.Len(); n > 2*64 {
		t.Fatalf("Len = %d after 1000 retained keys with maxRetain 10, want it bounded", n)
	}
	clk.Advance(time.Hour)
	for i := 1000; i < 1200; i++ {
		g.Do(context.Background(), i, time.Minute, func(context.Context) (int, error) { return i, nil }, nil)
	}
	if n := g.Len(); n > 64 {
		t.Fatalf("Len = %d after expiry, want expired results pruned", n)
	}
}

func TestDoInlineRunsOnTheCallersGoroutineAndOthersCanGiveUp(t *testing.T) {
	clk := &clock{t: time.Unix(0, 0)}
	g := New[string, int](clk.Now, 100)
	gate, running := make(chan struct{}), make(chan struct{})
	keep := func(int, error) time.Duration { return time.Minute }
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan int)
	go func() {
		v, err, _ := g.DoInline(ctx, "k", time.Minute, func(ctx context.Context) (int, error) {
			close(running)
			<-gate
			return 5, ctx.Err()
		}, keep)
		if err != nil {
			t.Error(err)
		}
		first <- v
	}()
	<-running
	// A joiner gives up on its own ctx.
	jctx, jcancel := context.WithCancel(context.Background())
	jcancel()
	if _, err, _ := g.DoInline(jctx, "k", time.Minute, nil, keep); !errors.Is(err, context.Canceled) {
		t.Fatalf("joiner with a cancelled ctx = %v", err)
	}
	cancel() // the starter's ctx ends, but the call goes on and it gets the result
	close(gate)
	if v := <-first; v != 5 {
		t.Fatalf("starter got %d, want 5", v)
	}
	if v, _, shared := g.DoInline(context.Background(), "k", time.Minute, nil, keep); v != 5 || shared != Retained {
		t.Fatalf("later caller = %d, shared %v; want the retained 5", v, shared)
	}
}

func TestRetentionStaysNearBound(t *testing.T) {
	clk := &clock{t: time.Unix(0, 0)}
	g := New[int, int](clk.Now, 1000)
	keep := func(int, error) time.Duration { return time.Hour }
	for i := 0; i < 20000; i++ {
		g.DoInline(context.Background(), i, time.Minute, func(context.Context) (int, error) { return i, nil }, keep)
		if n := g.Len(); n > 1000+1000/10+2 {
			t.Fatalf("after %d calls Len = %d, want at most about 1100", i+1, n)
		}
	}
}
