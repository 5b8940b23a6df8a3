package risc

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/serverauth/serverauth"
)

// act runs the library's action for the event and returns the Event for
// OnEvent. Every action is idempotent: a redelivery runs it again.
func (rc *Receiver) act(ctx context.Context, s *set) (*Event, error) {
	ev := &Event{
		ID:       s.jti,
		Type:     s.typ,
		Reason:   s.data.Reason.v,
		State:    s.data.State.v,
		IssuedAt: s.iat,
	}
	if s.sub.SubjectType != subjectOAuthToken {
		ev.Subject, ev.Email = s.sub.Sub, s.sub.Email
	}
	log := rc.cfg.Logger
	if s.typ == TypeVerification {
		log.LogAttrs(ctx, slog.LevelInfo, "risc: verification event received", slog.String("state", ev.State), slog.String("event_id", ev.ID))
		return ev, nil
	}
	e := rc.cfg.Exchanger
	if e.Store() == nil {
		return ev, nil // nothing stored to act on
	}
	// A grant consented to after the event is newer than it and is left
	// alone. iat has whole seconds and Google's clock is not this one: only
	// a consent later than iat plus the leeway counts as newer; acting on a
	// grant a few seconds younger costs the user a sign-in, sparing an old
	// one could leave a hijacked account's grant working.
	after := ev.IssuedAt.Add(rc.cfg.Leeway)
	switch s.typ {
	case TypeTokensRevoked, TypeAccountPurged:
		// Google revoked the grant already: delete it here without a call
		// to Google, unless the user consented again after the event.
		deleted, err := e.DeleteGrant(ctx, ev.Subject, after)
		if err != nil {
			return ev, fmt.Errorf("risc: deleting the grant of user %q: %w", ev.Subject, err)
		}
		log.LogAttrs(ctx, slog.LevelDebug, "risc: grant deleted", slog.String("user_id", ev.Subject), slog.Bool("deleted", deleted))
	case TypeTokenRevoked:
		if s.sub.TokenType != "refresh_token" {
			log.LogAttrs(ctx, slog.LevelInfo, "risc: token-revoked names a token type the library does not store", slog.String("token_type", s.sub.TokenType))
			return ev, nil
		}
		if alg := s.sub.TokenIdentifierAlg; alg != serverauth.TokenIDPrefix && alg != serverauth.TokenIDHash {
			log.LogAttrs(ctx, slog.LevelWarn, "risc: token-revoked uses an unknown token_identifier_alg; no grant can be found by it", slog.String("token_identifier_alg", alg))
			return ev, nil
		}
		users, err := e.DeleteGrantByRefreshToken(ctx, s.sub.TokenIdentifierAlg, s.sub.Token)
		if err != nil {
			return ev, fmt.Errorf("risc: deleting the grant holding a revoked refresh token: %w", err)
		}
		if len(users) > 0 {
			ev.Subject = users[0]
		}
		log.LogAttrs(ctx, slog.LevelDebug, "risc: grants holding the revoked refresh token deleted", slog.Any("user_ids", users))
	case TypeAccountDisabled:
		disabled, err := e.DisableGrant(ctx, ev.Subject, after)
		if err != nil {
			return ev, fmt.Errorf("risc: disabling the grant of user %q: %w", ev.Subject, err)
		}
		log.LogAttrs(ctx, slog.LevelDebug, "risc: grant disabled", slog.String("user_id", ev.Subject), slog.Bool("disabled", disabled))
	case TypeAccountEnabled:
		enabled, err := e.EnableGrant(ctx, ev.Subject)
		if err != nil {
			return ev, fmt.Errorf("risc: enabling the grant of user %q: %w", ev.Subject, err)
		}
		log.LogAttrs(ctx, slog.LevelDebug, "risc: grant enabled (the next sign-in restores it)", slog.String("user_id", ev.Subject), slog.Bool("enabled", enabled))
	}
	// sessions-revoked, account-credential-change-required and unknown
	// types: no token action; the app's hook decides.
	return ev, nil
}
