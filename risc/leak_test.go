package risc_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// TestNoTokenInLogs: handling a token-revoked event, by either
// identifier, and refusing tokens, logs no part of the refresh token or of
// the SETs, and the error bodies quote none either.
func TestNoTokenInLogs(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	var tokens, answers []string
	for _, alg := range []string{serverauth.TokenIDPrefix, serverauth.TokenIDHash} {
		rt := f.signIn(serverauthtest.User{}).Token.RefreshToken
		tokens = append(tokens, rt)
		f.deliverOnce(serverauthtest.RISCEvent{Type: "token-revoked", RefreshToken: rt, TokenIdentifierAlg: alg})
	}
	// Refused tokens: their bytes are not echoed.
	for _, forge := range []serverauthtest.RISCForgery{serverauthtest.RISCForgeBadSignature, serverauthtest.RISCForgeWrongAudience, serverauthtest.RISCForgeUnknownKey} {
		tok := f.forged(forge)()
		_, eb := f.post(tok, "application/secevent+jwt")
		answers = append(answers, eb.Description)
		for _, seg := range strings.Split(tok, ".") {
			if strings.Contains(f.logs.String(), seg) || strings.Contains(eb.Description, seg) {
				t.Errorf("a segment of a refused token (%s) reached the logs or the answer", forge)
			}
		}
	}
	_, eb := f.post("eyJhbGciOiJSUzI1NiJ9.garbage-"+tokens[0]+".x", "application/secevent+jwt")
	answers = append(answers, eb.Description)
	for _, rt := range tokens {
		for _, s := range append(answers, f.logs.String()) {
			if strings.Contains(s, rt[:16]) {
				t.Errorf("a refresh token's 16-character prefix reached a log or an answer:\n%s", s)
			}
		}
	}
}

// TestEventLogValue: the Event logs as a group without surprises.
func TestEventLogValue(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	ev := f.deliverOnce(serverauthtest.RISCEvent{Type: "account-disabled", Sub: sub, Reason: "hijacking"})
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", "event", ev)
	for _, want := range []string{"event.id=" + ev.ID, "event.user_id=" + sub, "event.reason=hijacking"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("log line %q lacks %q", b.String(), want)
		}
	}
}
