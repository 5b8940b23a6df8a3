package serverauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// logRecord is one line of a JSON log.
type logRecord struct {
	Level string `json:"level"`
	Msg   string `json:"msg"`
	Fix   string `json:"fix"`
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// records parses the log lines written so far.
func (s *syncBuffer) records(t *testing.T) []logRecord {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []logRecord
	for _, line := range bytes.Split(bytes.TrimSpace(s.b.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r logRecord
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// withLog sends the Exchanger's log to buf as JSON.
func withLog(buf *syncBuffer) func(*serverauth.Config) {
	return func(c *serverauth.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

// TestRefreshErrorsAsGoogleSendsThem: each of Google's newer refusals of a
// refresh is classified with its sentinel and hint, sent once (never
// retried), and leaves the grant as it should: alive when an operator or
// admin can fix the cause, reauth_required when the user must sign in.
func TestRefreshErrorsAsGoogleSendsThem(t *testing.T) {
	tests := []struct {
		kind       serverauthtest.FaultKind
		wantClass  serverauth.ErrorClass
		wantIs     error
		wantStatus serverauth.Status
		wantReason string
		wantLevel  string
		wantHint   string
	}{
		{serverauthtest.FaultDeletedClient, serverauth.ClassMisconfigured, serverauth.ErrClientDeleted, serverauth.StatusActive, "deleted_client", "ERROR", "was deleted"},
		{serverauthtest.FaultUnauthorizedClient, serverauth.ClassMisconfigured, nil, serverauth.StatusActive, "unauthorized_client", "WARN", "never retried"},
		{serverauthtest.FaultAdminPolicyEnforced, serverauth.ClassRejected, serverauth.ErrAccessBlocked, serverauth.StatusActive, "admin_policy_enforced", "WARN", "Workspace admin"},
		{serverauthtest.FaultOrgInternal, serverauth.ClassRejected, serverauth.ErrAccessBlocked, serverauth.StatusActive, "org_internal", "WARN", "Internal user type"},
		{serverauthtest.FaultInvalidRapt, serverauth.ClassRejected, serverauth.ErrReauthRequired, serverauth.StatusReauthRequired, "invalid_rapt", "WARN", "reauthenticate"},
		{serverauthtest.FaultRaptRequired, serverauth.ClassRejected, serverauth.ErrReauthRequired, serverauth.StatusReauthRequired, "rapt_required", "WARN", "reauthenticate"},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			var log syncBuffer
			f, rec, _ := observedFixture(t, serverauthtest.Options{}, withLog(&log))
			ctx := context.Background()
			res := f.signIn(serverauthtest.CodeRequest{})
			f.clock.Advance(2 * time.Hour)
			f.g.ResetCounts()
			f.g.FailNext(serverauthtest.EndpointToken, 1, serverauthtest.Fault{Kind: tt.kind})

			_, err := f.e.Token(ctx, res.UserID)
			var te *serverauth.TokenError
			if !errors.As(err, &te) {
				t.Fatalf("Token = %v, want a *TokenError", err)
			}
			if te.Class != tt.wantClass || te.Class.Temporary() {
				t.Errorf("Class = %s, want %s (not temporary)", te.Class, tt.wantClass)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantIs)
			}
			if !strings.Contains(te.Hint, tt.wantHint) {
				t.Errorf("Hint = %q, want it to say %q", te.Hint, tt.wantHint)
			}
			if n := f.g.RequestCount(serverauthtest.EndpointToken); n != 1 {
				t.Errorf("%d token requests, want 1: never retried", n)
			}
			if obs := rec.of(serverauth.OpRefresh); len(obs) != 1 || obs[0].Reason != tt.wantReason {
				t.Errorf("refresh observations = %+v, want reason %q", obs, tt.wantReason)
			}
			stored, _ := f.store.Get(ctx, res.UserID)
			if stored.Status != tt.wantStatus || len(stored.RefreshToken) == 0 {
				t.Errorf("stored status %s (refresh token kept %v), want %s with the refresh token kept", stored.Status, len(stored.RefreshToken) > 0, tt.wantStatus)
			}
			var level string
			for _, r := range log.records(t) {
				if r.Msg == "serverauth: refresh failed" {
					level = r.Level
				}
			}
			if level != tt.wantLevel {
				t.Errorf("refresh failure logged at %q, want %s", level, tt.wantLevel)
			}
			// The next caller, within the backoff, does not reach Google.
			if tt.wantStatus == serverauth.StatusActive {
				if _, err := f.e.Token(ctx, res.UserID); err == nil {
					t.Error("second Token succeeded")
				}
				if n := f.g.RequestCount(serverauthtest.EndpointToken); n != 1 {
					t.Errorf("%d token requests after a second Token in the backoff, want 1", n)
				}
			}
		})
	}
}

// TestExchangeDeletedClientLogsError: a code exchange refused with
// deleted_client is an operator's problem: an Error log line with the fix.
func TestExchangeDeletedClientLogsError(t *testing.T) {
	var log syncBuffer
	f := newStoreFixture(t, serverauthtest.Options{}, withLog(&log))
	f.g.FailNext(serverauthtest.EndpointToken, 1, serverauthtest.Fault{Kind: serverauthtest.FaultDeletedClient})
	_, err := f.e.Exchange(context.Background(), f.mint(serverauthtest.CodeRequest{}))
	if !errors.Is(err, serverauth.ErrClientDeleted) || serverauth.ClassOf(err) != serverauth.ClassMisconfigured {
		t.Fatalf("Exchange = %v, want ErrClientDeleted, misconfigured", err)
	}
	var found bool
	for _, r := range log.records(t) {
		if r.Msg == "serverauth: exchange failed" && r.Level == "ERROR" && strings.Contains(r.Fix, "Google Cloud console") {
			found = true
		}
	}
	if !found {
		t.Errorf("no Error log line with the fix:\n%s", log.String())
	}
}
