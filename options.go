package serverauth

import "time"

// ExchangeOption varies one call to [Exchanger.Exchange].
type ExchangeOption interface {
	applyExchange(*exchangeOptions)
}

type exchangeOptions struct {
	redirectURL  *string
	codeVerifier string
	nonce        string
	binding      string
	subject      *string // WithExpectedSubject; nil for none
}

type exchangeOptionFunc func(*exchangeOptions)

func (f exchangeOptionFunc) applyExchange(o *exchangeOptions) { f(o) }

// PostMessage is the redirect_uri of a code from the Google Identity
// Services popup code client (initCodeClient with ux_mode "popup"):
// Google demands exactly this value when it is exchanged.
const PostMessage = "postmessage"

// WithRedirectURL sets the redirect_uri of this exchange, overriding
// Config.RedirectURL: PostMessage for a Google Identity Services popup
// code, the exact registered URI for a redirect-mode code, or "" for an iOS
// or Android server auth code.
func WithRedirectURL(u string) ExchangeOption {
	return exchangeOptionFunc(func(o *exchangeOptions) { o.redirectURL = &u })
}

// WithCodeVerifier sends a PKCE code_verifier (RFC 7636). Only for codes the
// web flow requested with a code_challenge; mobile server auth codes never
// take one, and Google refuses a verifier for a code without a challenge.
func WithCodeVerifier(verifier string) ExchangeOption {
	return exchangeOptionFunc(func(o *exchangeOptions) { o.codeVerifier = verifier })
}

// WithNonce requires the ID token's nonce claim to equal nonce: for web
// flows that sent one in the authorization request (OpenID Connect Core
// §3.1.2.1), which binds the code to the browser session.
func WithNonce(nonce string) ExchangeOption {
	return exchangeOptionFunc(func(o *exchangeOptions) { o.nonce = nonce })
}

// WithRetryBinding binds this exchange's result to a value of the caller's
// (a hash of the app's session cookie or install ID, say) so that a retry
// of the same code that passes the same binding within
// Config.DuplicateCodeWindow gets the first result instead of an error. A
// spent code alone never returns the first result: without a matching
// binding a re-posted code is refused locally. The binding is compared in
// constant time and kept only as a hash.
func WithRetryBinding(binding string) ExchangeOption {
	return exchangeOptionFunc(func(o *exchangeOptions) { o.binding = binding })
}

// WithExpectedSubject requires the code to belong to the user sub: the ID
// token of the exchange must have this sub claim, or the exchange fails
// with an *IDTokenError (ReasonSubjectMismatch) and nothing is saved. Use it
// when a code arrives for a user who is already signed in (after an
// ID-token sign-in, or to grant more scopes), so that a code injected from
// another account cannot be linked to this session (RFC 9700 §4.5). An
// empty sub refuses every code: pass the option only when a user is
// signed in.
func WithExpectedSubject(sub string) ExchangeOption {
	return exchangeOptionFunc(func(o *exchangeOptions) { o.subject = &sub })
}

// verifyOptions returns the ID-token checks of an exchange whose access
// token is accessToken.
func (o *exchangeOptions) verifyOptions(accessToken string) verifyOptions {
	v := verifyOptions{accessToken: accessToken, subject: o.subject}
	if o.nonce != "" {
		v.nonce = &nonceCheck{want: o.nonce}
	}
	return v
}

// VerifyOption adds a check to one ID-token verification:
// [Exchanger.VerifyIDToken], [Exchanger.SignInWithIDToken] and the
// handlers that call them. Each check refuses the token with an
// *IDTokenError naming its Reason.
type VerifyOption interface {
	applyVerify(*verifyOptions)
}

type verifyOptionFunc func(*verifyOptions)

func (f verifyOptionFunc) applyVerify(o *verifyOptions) { f(o) }

// RequireNonce requires the ID token's nonce claim to equal nonce, compared
// in constant time (OpenID Connect Core §3.1.2.1, §3.1.3.7): for a nonce
// the page or app passed to Google as it is, such as GIS
// google.accounts.id.initialize({nonce}). The nonce should be a random
// value the server bound to the browser session, used once. An empty nonce
// refuses every token (a session that lost its nonce must not skip the
// check). ReasonNonce on failure.
func RequireNonce(nonce string) VerifyOption {
	return verifyOptionFunc(func(o *verifyOptions) { o.nonce = &nonceCheck{want: nonce} })
}

// RequireNonceSHA256 requires the ID token's nonce claim to be the SHA-256
// of rawNonce: the pattern of Android Credential Manager
// (GetGoogleIdOption.Builder().setNonce) and iOS GoogleSignIn (the nonce
// argument of signIn), where the app keeps a random raw value, passes its
// hash to Google and sends the raw value with the ID token. The claim may
// be the hash in hexadecimal (either case, as the platform samples write
// it) or in base64url; all spell the same 32 bytes. An empty rawNonce
// refuses every token. ReasonNonce on failure.
func RequireNonceSHA256(rawNonce string) VerifyOption {
	return verifyOptionFunc(func(o *verifyOptions) { o.nonce = &nonceCheck{want: rawNonce, hashed: true} })
}

// RequireRecentAuth requires the user to have authenticated at Google at
// most maxAge ago (plus Config.Leeway), by the token's auth_time claim
// (OpenID Connect Core §2, §3.1.2.1 max_age): for a sensitive action that
// needs a fresh sign-in. A token without auth_time is refused
// (ReasonMissingClaim): Google includes it only when the authorization
// request asked for it (max_age, or the claims parameter), so request it.
// A too old authentication is ReasonAuthTooOld; a maxAge that is not
// positive refuses every token.
func RequireRecentAuth(maxAge time.Duration) VerifyOption {
	return verifyOptionFunc(func(o *verifyOptions) { o.maxAuthAge = &maxAge })
}

// RequireSubject requires the ID token to be the user sub's: for a token
// that must belong to the user already signed in to the session. An empty
// sub refuses every token. ReasonSubjectMismatch on failure.
func RequireSubject(sub string) VerifyOption {
	return verifyOptionFunc(func(o *verifyOptions) { o.subject = &sub })
}
