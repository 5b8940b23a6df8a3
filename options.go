package serverauth

// ExchangeOption varies one call to [Exchanger.Exchange].
type ExchangeOption interface {
	applyExchange(*exchangeOptions)
}

type exchangeOptions struct {
	redirectURL  *string
	codeVerifier string
	nonce        string
	binding      string
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
