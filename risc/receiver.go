package risc

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/internal/jwks"
	"github.com/serverauth/serverauth/internal/jws"
	"github.com/serverauth/serverauth/internal/redact"
)

// Receiver is an http.Handler for Google's push delivery of security event
// tokens (RFC 8935): mount it at the URL registered with the RISC API's
// stream:update. It is safe for concurrent use; one per process is the
// intended use.
type Receiver struct {
	cfg   Config // resolved by NewReceiver
	keys  *keySource
	owner string // this Receiver's claim owner ID in the ledger
}

// Receiver limits.
const (
	// MaxBodySize caps the request body: a SET is a compact JWS, and
	// Google's are a few hundred bytes.
	MaxBodySize = jws.MaxTokenSize
	// handleTimeout bounds the library's action and OnEvent together.
	handleTimeout = 30 * time.Second
	// claimTTL is how long a replica's claim on an event keeps the others
	// off it: longer than handling may take.
	claimTTL = 2 * handleTimeout
	// busyPolls bound how long a replica waits for another's claim on the
	// same event (a redelivery that arrived twice at once) before it
	// answers 503: 50 ms doubling to 500 ms, about 3 s in all.
	busyPolls = 9
)

// NewReceiver validates cfg and returns a Receiver. It makes no network
// call: the configuration document and the keys are fetched on the first
// token.
func NewReceiver(cfg Config) (*Receiver, error) {
	cfg, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	var b [12]byte
	rand.Read(b[:])
	return &Receiver{
		cfg:   cfg,
		keys:  newKeySource(cfg.ConfigurationURL, cfg.HTTPClient, cfg.Now, cfg.retryPolicy(), cfg.Logger),
		owner: hex.EncodeToString(b[:]),
	}, nil
}

// ServeHTTP receives one SET. It answers 202 Accepted once the event was
// handled (or had been before); 400 with an RFC 8935 error body
// ({"err": code, "description": text}) for a token that is not valid, which
// Google does not redeliver; 503 with Retry-After when Google's keys or the
// store could not be reached, and 500 when the library's action or OnEvent
// failed, which Google redelivers. A request that is not a POST gets 405.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		rc.writeError(w, http.StatusMethodNotAllowed, refuse(errInvalidRequest, "security event tokens are delivered with POST"))
		return
	}
	// RFC 8935 §2.2 names application/secevent+jwt. Another type is not
	// refused: a 400 would lose a genuine event for good (Google does not
	// redeliver one), and the signature, not the header, is what makes a
	// token trustworthy. It is logged, so that a surprise shows.
	if ct := r.Header.Get("Content-Type"); !setMediaType(ct) {
		rc.cfg.Logger.LogAttrs(r.Context(), slog.LevelWarn, "risc: a security event token arrived with a Content-Type other than application/secevent+jwt (RFC 8935 §2.2); verifying it all the same",
			slog.String("content_type", redact.Truncate(redact.String(strings.ToValidUTF8(ct, "\uFFFD")), 100)))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodySize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			rc.refused(r.Context(), w, refuse(errInvalidRequest, "the body is larger than "+strconv.Itoa(MaxBodySize)+" bytes"))
			return
		}
		rc.refused(r.Context(), w, refuse(errInvalidRequest, "the body could not be read"))
		return
	}
	// One observed operation per token (serverauth.OpRISCEvent), with a
	// low-cardinality reason: the event type's short name, or why it was
	// refused.
	rc.cfg.Exchanger.Observe(r.Context(), serverauth.OpRISCEvent, func(ctx context.Context) (string, error) {
		return rc.receive(ctx, w, string(bytes.TrimSpace(body)))
	})
}

// receive verifies and handles one token, answers it, and returns the
// reason and error to observe.
func (rc *Receiver) receive(ctx context.Context, w http.ResponseWriter, raw string) (string, error) {
	s, ref, err := rc.verify(ctx, raw)
	switch {
	case ref != nil:
		rc.refused(ctx, w, ref)
		return string(ref.code), ref
	case err != nil:
		rc.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "risc: cannot verify a security event token now; Google will redeliver it", slog.String("error", err.Error()))
		rc.unavailable(w, "Google's signing keys could not be fetched; redeliver later")
		return "keys_unavailable", err
	}
	return rc.handle(ctx, w, s)
}

// verify checks raw as Google's RISC guide requires: a strict RS256 JWS
// signed by a key of the configuration's jwks_uri, iss exactly the
// configuration's issuer, aud one of Config.Audiences, no exp check, a
// sane iat, and the SET shape (see parseSET). A refusal is a bad token;
// an error means the keys could not be had.
func (rc *Receiver) verify(ctx context.Context, raw string) (*set, *refusal, error) {
	tok, err := jws.ParseTyped(raw, "secevent+jwt", "JWT")
	if err != nil {
		var je *jws.Error
		if errors.As(err, &je) {
			return nil, refuse(errInvalidRequest, "not a compact RS256 JWS: "+je.Detail), nil
		}
		return nil, refuse(errInvalidRequest, "not a compact RS256 JWS"), nil
	}
	issuer, key, err := rc.keys.key(ctx, tok.Header.KeyID)
	switch {
	case errors.Is(err, jwks.ErrUnknownKey):
		return nil, refuse(errInvalidKey, "the kid is not in Google's RISC key set"), nil
	case err != nil:
		return nil, nil, err
	}
	if err := tok.Verify(key); err != nil {
		return nil, refuse(errAuthenticationFailed, "the signature does not verify with Google's RISC key"), nil
	}
	s, ref := parseSET(tok.UnverifiedPayload, issuer)
	if ref != nil {
		return nil, ref, nil
	}
	if !rc.audienceOK(s.aud) {
		return nil, refuse(errInvalidAudience, "aud names none of this project's client IDs (risc.Config.Audiences)"), nil
	}
	now := rc.cfg.Now()
	if s.iat.After(now.Add(rc.cfg.Leeway)) {
		return nil, refuse(errInvalidRequest, "iat is in the future; check the server's clock"), nil
	}
	if s.iat.Before(now.Add(-rc.cfg.DedupeWindow)) {
		return nil, refuse(errInvalidRequest, "issued longer ago than the dedupe window ("+rc.cfg.DedupeWindow.String()+"): too old to tell from an event handled before"), nil
	}
	return s, nil, nil
}

func (rc *Receiver) audienceOK(aud []string) bool {
	for _, a := range aud {
		for _, want := range rc.cfg.Audiences {
			if a == want {
				return true
			}
		}
	}
	return false
}

// handle acts on a verified event exactly once across the processes that
// share the ledger: it claims the event's ID, runs the library's action and
// OnEvent, and records the ID as done only when both succeeded. A failure
// releases the claim and answers 500, so that Google's redelivery runs both
// again.
func (rc *Receiver) handle(ctx context.Context, w http.ResponseWriter, s *set) (string, error) {
	led := rc.cfg.Events
	id := s.jti
	var claim serverauth.EventClaim
	wait := 50 * time.Millisecond
	for poll := 0; ; poll++ {
		var err error
		claim, err = led.ClaimEvent(ctx, id, rc.owner, rc.cfg.Now(), claimTTL)
		if err != nil {
			rc.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "risc: the event ledger failed; Google will redeliver the event", slog.String("event_id", id), slog.String("error", err.Error()))
			rc.unavailable(w, "the event could not be recorded; redeliver later")
			return "ledger_failed", err
		}
		if claim != serverauth.EventBusy {
			break
		}
		// Another replica is handling the same event right now (Google
		// delivered it twice at once): wait for its outcome.
		if poll == busyPolls {
			rc.unavailable(w, "the event is being handled by another replica; redeliver later")
			return "busy", errBusy
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			rc.unavailable(w, "the request ended while another replica handled the event")
			return "busy", ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
	if claim == serverauth.EventDone {
		rc.cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "risc: event already handled", slog.String("event_id", id), slog.String("type", s.typ))
		w.WriteHeader(http.StatusAccepted)
		return "duplicate", nil
	}

	// The work runs to its end even if Google hangs up meanwhile.
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), handleTimeout)
	defer cancel()
	reason := typeReason(s.typ)
	ev, err := rc.act(hctx, s)
	if err == nil {
		if err = rc.cfg.OnEvent(hctx, ev); err != nil {
			err, reason = &hookError{err}, "hook_failed"
		}
	} else {
		reason = "" // the error's own reason (serverauth.ErrorReason)
	}
	if err != nil {
		if rerr := led.ReleaseEvent(hctx, id, rc.owner); rerr != nil {
			rc.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "risc: releasing the claim on an event failed; it expires on its own", slog.String("event_id", id), slog.String("error", rerr.Error()))
		}
		rc.cfg.Logger.LogAttrs(ctx, slog.LevelError, "risc: handling a security event failed; Google will redeliver it", slog.Any("event", ev), slog.String("error", err.Error()))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		json.NewEncoder(w).Encode(map[string]string{"description": "the event could not be handled; redeliver it"})
		return reason, err
	}
	if ferr := led.FinishEvent(hctx, id, rc.owner, rc.cfg.Now(), rc.cfg.DedupeWindow); ferr != nil {
		// Handled all the same: a redelivery after the claim expires acts
		// again, which the actions and OnEvent tolerate.
		rc.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "risc: recording a handled event failed", slog.String("event_id", id), slog.String("error", ferr.Error()))
	}
	rc.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "risc: security event handled", slog.Any("event", ev))
	w.WriteHeader(http.StatusAccepted)
	return reason, nil
}

// errBusy: another replica held the event's claim throughout.
var errBusy = errors.New("risc: another replica is handling the event")

// typeReason is an event type's observation reason: its short name
// ("account-disabled"), or "unknown_type".
func typeReason(typ string) string {
	if !known(typ) {
		return "unknown_type"
	}
	return typ[strings.LastIndexByte(typ, '/')+1:]
}

// hookError is a failure of Config.OnEvent.
type hookError struct{ err error }

func (e *hookError) Error() string { return "risc: OnEvent: " + e.err.Error() }
func (e *hookError) Unwrap() error { return e.err }

// refused answers 400 with the RFC 8935 error body and logs why.
func (rc *Receiver) refused(ctx context.Context, w http.ResponseWriter, r *refusal) {
	rc.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "risc: security event token refused", slog.String("err", string(r.code)), slog.String("description", r.desc))
	rc.writeError(w, http.StatusBadRequest, r)
}

// writeError writes an RFC 8935 §2.3 error response.
func (rc *Receiver) writeError(w http.ResponseWriter, status int, r *refusal) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(struct {
		Err         errCode `json:"err"`
		Description string  `json:"description"`
	}{r.code, r.desc})
}

// unavailable answers 503: the token was not judged, Google should retry.
func (rc *Receiver) unavailable(w http.ResponseWriter, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", "30")
	w.WriteHeader(http.StatusServiceUnavailable)
	json.NewEncoder(w).Encode(map[string]string{"description": desc})
}

// setMediaType reports whether ct is a media type security event tokens are
// sent as: application/secevent+jwt (RFC 8935), or application/jwt.
func setMediaType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/secevent+jwt" || mt == "application/jwt")
}
