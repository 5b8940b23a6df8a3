package serverauth

import (
	"context"
	"errors"
	"time"
)

// Observer is told about every operation the library performs, for metrics
// and traces; set it in [Config.Observer]. The module
// github.com/serverauth/serverauth/otel turns observations into
// OpenTelemetry spans and metrics; no package of the root module imports a
// metrics or tracing library.
//
// An Observation never holds a token, a code, an email address or a user
// ID: only the operation, its outcome, a low-cardinality reason, its
// duration and counts. Implementations must be safe for concurrent use and
// quick: Start and End run inline on the operation's goroutine.
//
// What is observed: each Exchange (OpExchange), each ID-token verification
// (OpVerify), each fetch of Google's signing keys (OpKeyFetch), each
// refresh at Google (OpRefresh) and each token revocation (OpRevoke); each
// Token, TokenSource, Client or Drive call that finds no fresh token in
// memory (OpToken: it waits for a refresh, shares one, or reads the store);
// each store read, write and delete (OpStoreLoad, OpStoreSave,
// OpStoreDelete); each wait for the store's refresh lease (OpLease); each
// HTTP request to the Drive API made through Drive or AppData (OpDrive).
// A Token call answered from memory is not observed (it is the hot path);
// [Exchanger.Stats] counts those.
type Observer interface {
	// Start is called as an operation begins, with the operation's
	// context. The operation runs under the context Start returns: its
	// HTTP requests, store calls and nested operations get it, so a tracer
	// returns ctx with its span added and the HTTP client's own spans
	// become its children. Return ctx to add nothing.
	Start(ctx context.Context, op Op) context.Context

	// End is called exactly once for every Start, when the operation is
	// over, with the context Start returned.
	End(ctx context.Context, o Observation)
}

// Observation is one finished operation, as an [Observer] is told of it.
type Observation struct {
	Op      Op
	Outcome Outcome

	// Reason says why the operation failed, as a stable snake_case
	// identifier drawn from a small fixed set (see [ErrorReason]): a
	// Google error code such as "invalid_grant" or "deleted_client", an
	// ID-token refusal such as "id_token_expired", or a kind such as
	// "transient", "timeout", "not_found". A success has an empty Reason,
	// except these notable ones: "from_store" (OpToken: another process
	// had refreshed, the token was read from the store), "kept_token"
	// (OpToken: the refresh failed for a while, a token that has not
	// expired yet was handed out), "not_found" (OpStoreLoad: no record;
	// OpStoreSave: a SignInUpdater had no record to update),
	// "unsupported" (OpStoreSave: the SignInUpdater cannot update in one
	// step on its database; Save read and wrote instead),
	// "already_revoked" (OpRevoke: Google said the token was already
	// dead).
	Reason string

	// Class is the failure's ErrorClass (ClassOf), 0 on success and for
	// failures the library does not classify (a store error, a cancelled
	// context).
	Class ErrorClass

	// Duration is how long the operation took, by Config.Now.
	Duration time.Duration

	// Attempts counts the requests the operation sent to Google, retries
	// included (OpExchange, OpRefresh, OpRevoke, OpKeyFetch, OpDrive), or
	// the times OpLease asked the store for the lease. Zero when none was
	// made.
	Attempts int

	// Cached: the outcome was handed out from memory, without doing the
	// work: an Exchange of a code answered from the duplicate-code window,
	// an OpToken answered with a refresh outcome kept for later callers
	// (the error of a failed refresh during its backoff, a dead grant).
	Cached bool

	// Coalesced: the caller shared another caller's operation in flight:
	// an Exchange of a code being exchanged, an OpToken waiting for
	// another caller's refresh, an OpLease that ended because another
	// process refreshed meanwhile.
	Coalesced bool
}

// Outcome says whether an observed operation succeeded.
type Outcome string

// The outcomes.
const (
	OutcomeOK    Outcome = "ok"
	OutcomeError Outcome = "error"
)

// ErrorReason returns the low-cardinality reason the library reports for
// err in an [Observation]: never a user ID, email, token or free text. nil
// gives "".
//
//   - a *TokenError: Google's error code when it is one of those the
//     library knows (invalid_grant, invalid_client, unauthorized_client,
//     deleted_client, admin_policy_enforced, org_internal,
//     redirect_uri_mismatch, invalid_request, invalid_scope,
//     unsupported_grant_type, access_denied, invalid_token), the
//     reauthentication subtype (invalid_rapt, rapt_required), else its
//     class: "transient" ("no_response" when no answer arrived),
//     "rate_limited", "misconfigured", "rejected";
//   - an *IDTokenError: "id_token_" and its Reason, e.g.
//     "id_token_expired", "id_token_grant_mismatch";
//   - a *GrantError: "grant_expired" for an ended time-limited grant,
//     else "grant_" and the status, e.g. "grant_revoked";
//   - "no_refresh_token", "not_found", "version_conflict",
//     "scope_not_granted", "invalid_code", "invalid_config",
//     "decrypt_failed", "store_error" (a *SaveError), "canceled",
//     "timeout", and "error" for anything else.
func ErrorReason(err error) string {
	if err == nil {
		return ""
	}
	var (
		te *TokenError
		ie *IDTokenError
		ge *GrantError
		se *SaveError
	)
	switch {
	case errors.As(err, &te):
		return tokenErrorReason(te)
	case errors.As(err, &ie):
		return "id_token_" + string(ie.Reason)
	case errors.As(err, &ge):
		if !ge.Ends.IsZero() {
			return "grant_expired"
		}
		return "grant_" + string(ge.Status)
	case errors.As(err, &se):
		return "store_error"
	case errors.Is(err, ErrReauthRequired):
		return "reauth_required"
	case errors.Is(err, ErrNoRefreshToken):
		return "no_refresh_token"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrVersionConflict):
		return "version_conflict"
	case errors.Is(err, ErrScopeNotGranted):
		return "scope_not_granted"
	case errors.Is(err, ErrInvalidCode):
		return "invalid_code"
	case errors.Is(err, ErrInvalidGrant):
		return "invalid_grant" // a re-posted code refused locally
	case errors.Is(err, ErrInvalidConfig):
		return "invalid_config"
	case errors.Is(err, ErrDecrypt):
		return "decrypt_failed"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "error"
}

// knownCodes are the OAuth error codes ErrorReason passes through; any
// other code becomes its class, so a server cannot grow the label set.
var knownCodes = map[string]bool{
	"invalid_grant": true, "invalid_client": true, "unauthorized_client": true, "deleted_client": true,
	"admin_policy_enforced": true, "org_internal": true, "redirect_uri_mismatch": true,
	"invalid_request": true, "invalid_scope": true, "unsupported_grant_type": true,
	"access_denied": true, "invalid_token": true,
}

func tokenErrorReason(te *TokenError) string {
	switch {
	case isReauthSubtype(te) && (te.Subtype == "invalid_rapt" || te.Subtype == "rapt_required"):
		return te.Subtype
	case isReauthSubtype(te):
		return "invalid_rapt"
	case te.Class.Temporary() && te.StatusCode == 0:
		return "no_response"
	case te.Class.Temporary():
		return te.Class.String()
	case knownCodes[te.Code]:
		return te.Code
	case te.Class != 0:
		return te.Class.String()
	}
	return "error"
}

// opRun is an observed operation under way. The zero value (no Observer)
// observes nothing; its methods still count the operation in Stats.
type opRun struct {
	op    Op
	ctx   context.Context // what Start returned; nil without an Observer
	start time.Time
}

// begin starts an observed operation and returns the context to run it
// under. Without an Observer it costs no allocation and no clock read.
func (e *Exchanger) begin(ctx context.Context, op Op) (context.Context, opRun) {
	obs := e.cfg.Observer
	if obs == nil {
		return ctx, opRun{op: op}
	}
	start := e.cfg.Now()
	ctx = obs.Start(ctx, op)
	return ctx, opRun{op: op, ctx: ctx, start: start}
}

// end finishes r with err and the counts in o: it fills in Op, Outcome,
// Class, Duration and, unless o has one, the Reason err gives; counts the
// operation in Stats; and tells the Observer.
func (e *Exchanger) end(r opRun, err error, o Observation) {
	o.Op = r.op
	if err != nil {
		o.Outcome = OutcomeError
		if o.Class == 0 {
			o.Class = ClassOf(err)
		}
		if o.Reason == "" {
			o.Reason = ErrorReason(err)
		}
	} else {
		o.Outcome, o.Class = OutcomeOK, 0
	}
	e.stats.count(&o)
	if r.ctx == nil {
		return
	}
	o.Duration = e.cfg.Now().Sub(r.start)
	e.cfg.Observer.End(r.ctx, o)
}

// Observe runs do as an observed operation op, for packages built on the
// Exchanger that do work of their own (the risc package reports each
// Cross-Account Protection event as OpRISCEvent): the Observer's Start and
// End wrap it, and Stats counts it. do runs under the context Start
// returned. The reason do returns is reported for a success, and for a
// failure instead of ErrorReason(err); it must be a low-cardinality label
// such as an event type's short name. A reason that is not 1 to 64 of
// a-z, 0-9, '_', '.' and '-', starting with a letter, is reported as
// "other", so no user ID or email can get through. Observe returns do's
// error.
func (e *Exchanger) Observe(ctx context.Context, op Op, do func(ctx context.Context) (reason string, err error)) error {
	ctx, run := e.begin(ctx, op)
	reason, err := do(ctx)
	e.end(run, err, Observation{Reason: safeReason(reason)})
	return err
}

// safeReason returns r if it is a plain low-cardinality label, else
// "other".
func safeReason(r string) string {
	if r == "" {
		return ""
	}
	if len(r) > 64 || r[0] < 'a' || r[0] > 'z' {
		return "other"
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return "other"
		}
	}
	return r
}

// storeGet is Config.Store.Get as one observed OpStoreLoad; a record that
// is not there is a success with Reason "not_found".
func (e *Exchanger) storeGet(ctx context.Context, userID string) (*Record, error) {
	ctx, run := e.begin(ctx, OpStoreLoad)
	rec, err := e.cfg.Store.Get(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		e.end(run, nil, Observation{Reason: "not_found"})
	} else {
		e.end(run, err, Observation{Reason: storeReason(err)})
	}
	return rec, err
}

// storePut is Config.Store.Put as one observed OpStoreSave.
func (e *Exchanger) storePut(ctx context.Context, rec *Record) error {
	ctx, run := e.begin(ctx, OpStoreSave)
	err := e.cfg.Store.Put(ctx, rec)
	e.end(run, err, Observation{Reason: storeReason(err)})
	return err
}

// storePutRelease is RecordLeaser.PutRelease as one observed OpStoreSave.
func (e *Exchanger) storePutRelease(ctx context.Context, rl RecordLeaser, rec *Record) error {
	ctx, run := e.begin(ctx, OpStoreSave)
	err := rl.PutRelease(ctx, rec, e.owner)
	e.end(run, err, Observation{Reason: storeReason(err)})
	return err
}

// storeDelete is Config.Store.Delete as one observed OpStoreDelete.
func (e *Exchanger) storeDelete(ctx context.Context, userID string) error {
	ctx, run := e.begin(ctx, OpStoreDelete)
	err := e.cfg.Store.Delete(ctx, userID)
	e.end(run, err, Observation{Reason: storeReason(err)})
	return err
}

// storeReason is the Reason of a store failure: a version conflict, the
// context's end, or "store_error" for the store's own errors (whose text is
// the store's, not the library's).
func storeReason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrVersionConflict):
		return "version_conflict"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "store_error"
}

// verify is the verifier's check of an ID token as one observed OpVerify.
func (e *Exchanger) verify(ctx context.Context, raw string, o verifyOptions) (*Profile, error) {
	ctx, run := e.begin(ctx, OpVerify)
	p, err := e.verifier.verify(ctx, raw, o)
	e.end(run, err, Observation{})
	return p, err
}

// observeKeyFetch observes a fetch of Google's signing keys (jwks.Config's
// Observe hook); a failed fetch is transient: the last good set serves on.
func (e *Exchanger) observeKeyFetch(ctx context.Context) (context.Context, func(int, error)) {
	ctx, run := e.begin(ctx, OpKeyFetch)
	return ctx, func(attempts int, err error) {
		o := Observation{Attempts: attempts}
		if err != nil {
			o.Reason = "keys_unavailable"
			if r := storeReason(err); r == "canceled" || r == "timeout" {
				o.Reason = r
			}
			o.Class = ClassTransient
		}
		e.end(run, err, o)
	}
}
