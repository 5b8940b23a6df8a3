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
