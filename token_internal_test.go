package serverauth

import (
	"testing"
	"time"
)

func TestRefreshBackoff(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {4, 8 * time.Second}, {7, time.Minute}, {40, time.Minute}, {1 << 30, time.Minute}} {
		if got := refreshBackoff(tt.n); got != tt.want {
			t.Errorf("refreshBackoff(%d) = %s, want %s", tt.n, got, tt.want)
		}
	}
}

// TestCachedTokenUsableAt: the cache compares times as Unix nanoseconds,
// clamped, so that a time outside 1678–2262 (where UnixNano is undefined)
// neither wraps into "usable forever" nor into "never usable".
func TestCachedTokenUsableAt(t *testing.T) {
	now := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	for _, tt := range []struct {
		name      string
		refreshAt time.Time
		now       time.Time
		want      bool
	}{
		{"before", now.Add(time.Nanosecond), now, true},
		{"at", now, now, false},
		{"after", now.Add(-time.Nanosecond), now, false},
		{"zero refreshAt (a token without expiry)", time.Time{}, now, false},
		{"refreshAt beyond 2262", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), now, true},
		{"clock beyond 2262", now, time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"clock before 1678", now, time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ct := newCachedToken("ya29.x", tt.refreshAt.Add(time.Minute), tt.refreshAt)
			if got := ct.usableAt(tt.now); got != tt.want {
				t.Errorf("usableAt(%s) with refreshAt %s = %v, want %v", tt.now, tt.refreshAt, got, tt.want)
			}
		})
	}
}
