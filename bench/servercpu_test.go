package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The database servers share the machine's cores with the benchmarks when
// they run on it, as in CI; their CPU time is part of what a wave or a run
// of sign-ins costs the machine, and no process of the benchmark's own
// counts it. A serverCPU samples it from /proc (Linux; elsewhere it
// reports nothing).

// serverNames are the command names of the servers sampled.
var serverNames = []string{"postgres", "mariadbd", "mysqld", "redis-server"}

// userHZ is the unit of /proc/<pid>/stat's CPU times: USER_HZ, 100 on
// every Linux architecture Go supports.
const userHZ = 100

// serverCPU follows the CPU time of the local processes named
// serverNames: a backend that exits between two samples loses at most one
// interval of its time.
type serverCPU struct {
	stop chan struct{}
	done chan struct{}

	mu    sync.Mutex
	start map[int]int64 // ticks at the first sample, of the processes already running then
	last  map[int]int64 // ticks at the latest sample
}

// sampleServerCPU starts sampling every interval; Stop ends it.
func sampleServerCPU(interval time.Duration) *serverCPU {
	s := &serverCPU{stop: make(chan struct{}), done: make(chan struct{}), start: serverTicks(), last: map[int]int64{}}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-s.stop:
				s.sample()
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *serverCPU) sample() {
	now := serverTicks()
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid, ticks := range now {
		s.last[pid] = ticks
	}
}

// Stop ends sampling and returns the servers' CPU time since the start.
func (s *serverCPU) Stop() time.Duration {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	var ticks int64
	for pid, t := range s.last {
		ticks += t - s.start[pid]
	}
	return time.Duration(ticks) * time.Second / userHZ
}

// serverTicks returns the user and system CPU ticks of each local process
// named in serverNames.
func serverTicks() map[int]int64 {
	out := map[int]int64{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		comm, err := os.ReadFile(dir + "/comm")
		if err != nil || !isServer(string(bytes.TrimSpace(comm))) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(dir))
		if ticks, ok := statTicks(dir + "/stat"); ok {
			out[pid] = ticks
		}
	}
	return out
}

func isServer(comm string) bool {
	for _, n := range serverNames {
		if comm == n {
			return true
		}
	}
	return false
}

// statTicks reads utime + stime from a /proc/<pid>/stat file: fields 14
// and 15, counted after the command name, which is in parentheses and may
// hold spaces.
func statTicks(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	return u + s, err1 == nil && err2 == nil
}

// TestStatTicks reads utime and stime past a command name with spaces and
// a parenthesis in it, and refuses a truncated line.
func TestStatTicks(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		line  string
		ticks int64
		ok    bool
	}{
		{"2206 (postgres) S 1 2206 2206 0 -1 4194560 5207 0 0 0 111 222 0 0 20 0 1 0 1234 230608896 7000", 333, true},
		{"77 (a b) c)) R 1 2 3 4 5 6 7 8 9 10 5 6 0 0", 11, true},
		{"77 (postgres) S 1 2 3", 0, false},
		{"no parenthesis", 0, false},
	} {
		path := filepath.Join(dir, "stat")
		if err := os.WriteFile(path, []byte(tc.line+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if ticks, ok := statTicks(path); ticks != tc.ticks || ok != tc.ok {
			t.Errorf("statTicks(%q) = %d, %v; want %d, %v", tc.line, ticks, ok, tc.ticks, tc.ok)
		}
	}
}
