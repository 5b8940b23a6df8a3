package serverauth

import (
	"context"
	"errors"
	"fmt"
)

// SignInWithIDToken signs a returning user in with an ID token alone, as an
// app does once it has granted offline access: it verifies the token (see
// VerifyIDToken), finds the user's stored grant, and checks that the grant
// is alive and has the required scopes. It makes no call to Google's token
// endpoint.
//
// The Result has UserID, Profile and the stored GrantedScopes; Token is
// nil. Without a Store, or with Config.SignInOnly and no stored grant, the
// verified identity is all there is to check. opts add checks to the
// verification, as for VerifyIDToken (a nonce bound to the app's request,
// say).
//
// Errors: an *IDTokenError (ErrInvalidIDToken), with a nil Result; beside
// a Result with the verified UserID and Profile (so the app knows whom to
// send through the code flow): an error wrapping ErrNoRefreshToken when no
// grant is stored for the user (they must sign in with a code first),
// ErrReauthRequired when the stored grant is dead (revoked, expired,
// reauthentication demanded), a *ScopeError when a required scope is not
// granted.
func (e *Exchanger) SignInWithIDToken(ctx context.Context, rawIDToken string, opts ...VerifyOption) (*Result, error) {
	p, err := e.VerifyIDToken(ctx, rawIDToken, opts...)
	if err != nil {
		return nil, err
	}
	res := &Result{UserID: p.Subject, Profile: p}
	if e.cfg.Store == nil {
		return res, nil
	}
	rec, err := e.storeGet(ctx, p.Subject)
	switch {
	case errors.Is(err, ErrNotFound) && e.cfg.SignInOnly:
		return res, nil
	case errors.Is(err, ErrNotFound):
		return res, fmt.Errorf("%w: user %q has not granted offline access yet: sign them in with a server auth code", ErrNoRefreshToken, p.Subject)
	case err != nil:
		return nil, fmt.Errorf("serverauth: reading tokens of user %q: %w", p.Subject, err)
	}
	res.GrantedScopes = append([]string(nil), rec.Scopes...)
	if !rec.Status.refreshable() && !e.cfg.SignInOnly {
		return res, fmt.Errorf("%w: the grant of user %q is %s; sign them in with a server auth code again", ErrReauthRequired, p.Subject, rec.Status)
	}
	if missing := missingScopes(e.cfg.Scopes, rec.Scopes); len(missing) > 0 {
		return res, &ScopeError{Missing: missing}
	}
	return res, nil
}
