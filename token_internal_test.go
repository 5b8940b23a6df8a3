package serverauth

import (
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/oauth2"
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

// TestTokenEntrySharesOneToken: a cache entry holds no *oauth2.Token until
// a call served from memory asks for one; from then on every caller,
// racing ones included, gets that same token, whose fields are the
// entry's.
func TestTokenEntrySharesOneToken(t *testing.T) {
	expiry := time.Date(2026, 3, 14, 16, 9, 26, 535897932, time.UTC)
	te := newCachedToken("ya29.shared", expiry, expiry.Add(-5*time.Minute)).entry()
	if te.shared.Load() != nil {
		t.Fatal("a new entry already holds an *oauth2.Token")
	}
	got := make([]*oauth2.Token, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() { got[i] = te.token() })
	}
	wg.Wait()
	for i, tok := range got {
		if tok != got[0] || tok != te.token() {
			t.Fatalf("call %d got token %p, call 0 %p, a later call %p: want one shared token", i, tok, got[0], te.token())
		}
	}
	tok := got[0]
	if tok.AccessToken != "ya29.shared" || tok.TokenType != "Bearer" || !tok.Expiry.Equal(expiry) || tok.RefreshToken != "" {
		t.Errorf("token = %q %q %s refresh %q; want ya29.shared, Bearer, %s, none", tok.AccessToken, tok.TokenType, tok.Expiry, tok.RefreshToken, expiry)
	}
	if te.authHeader != "Bearer ya29.shared" || te.accessToken() != "ya29.shared" {
		t.Errorf("header %q, token %q", te.authHeader, te.accessToken())
	}
	// The memory per cached user in BENCHMARKS.md counts on this size: with
	// the lru entry's key, tick and long-key pointer, 80 bytes.
	if size := unsafe.Sizeof(tokenEntry{}); size != 40 {
		t.Errorf("tokenEntry is %d bytes, want 40 (the lru entry's 80-byte size class)", size)
	}
}

// TestTokenFactsExpiry: the expiry survives the round trip through Unix
// nanoseconds; a token without one (a zero Expiry, "never expires" to
// oauth2) stays without one, and never counts as unexpired, so that a
// failed refresh does not fall back on a token of unknown age.
func TestTokenFactsExpiry(t *testing.T) {
	now := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	never := newCachedToken("ya29.x", time.Time{}, now.Add(time.Hour))
	if tok := never.newToken(); !tok.Expiry.IsZero() || never.unexpiredAt(now) {
		t.Errorf("token without expiry: Expiry %s, unexpired %v; want zero, false", tok.Expiry, never.unexpiredAt(now))
	}
	exp := now.Add(time.Hour)
	ct := newCachedToken("ya29.x", exp, now)
	for _, tt := range []struct {
		at   time.Time
		want bool
	}{{exp.Add(-time.Nanosecond), true}, {exp, false}, {exp.Add(time.Nanosecond), false}} {
		if got := ct.unexpiredAt(tt.at); got != tt.want {
			t.Errorf("unexpiredAt(%s) with expiry %s = %v, want %v", tt.at, exp, got, tt.want)
		}
	}
	if tok := ct.newToken(); !tok.Expiry.Equal(exp) || tok == ct.newToken() {
		t.Errorf("newToken: Expiry %s, want %s, and a new token per call", tok.Expiry, exp)
	}
}
