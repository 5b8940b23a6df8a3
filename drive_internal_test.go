package serverauth

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestScrubDriveErrKeepsSentinels(t *testing.T) {
	const tok = "opaque-access-token-123"
	te := &TokenError{Op: OpRefresh, Code: "invalid_grant", sentinels: []error{ErrInvalidGrant, ErrReauthRequired}}
	tests := []struct {
		name     string
		err      error
		wantIs   []error
		wantSame bool // clean text: the error itself comes back
	}{
		{name: "known token in text", err: fmt.Errorf("proxy said %s: %w", tok, te), wantIs: []error{ErrReauthRequired, ErrInvalidGrant}},
		{name: "bearer header in text", err: fmt.Errorf("echo: Bearer ya29.a0abcdef: %w", ErrNotFound), wantIs: []error{ErrNotFound}},
		{name: "clean text", err: fmt.Errorf("dial: %w", errors.New("connection refused")), wantSame: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scrubDriveErr(tt.err, []string{tok})
			if (got == tt.err) != tt.wantSame {
				t.Errorf("scrubDriveErr(%v) = %v, want the same error back: %v", tt.err, got, tt.wantSame)
			}
			if text := fmt.Sprintf("%v %+v", got, got); strings.Contains(text, tok) || strings.Contains(text, "ya29.") {
				t.Errorf("scrubDriveErr(%v) = %q, want the token masked", tt.err, text)
			}
			for _, s := range tt.wantIs {
				if !errors.Is(got, s) {
					t.Errorf("scrubDriveErr(%v) = %v, want errors.Is %v", tt.err, got, s)
				}
			}
			var gotTE *TokenError
			if errors.As(tt.err, &gotTE) && (!errors.As(got, &gotTE) || gotTE != te) {
				t.Errorf("scrubDriveErr(%v): errors.As lost the *TokenError", tt.err)
			}
		})
	}
}
