// Package serverauthtest provides a faithful fake of Google's OAuth 2.0 and
// OpenID Connect endpoints, and of the Drive v3 app data folder, for testing
// code that does Google Sign-In's server side, as net/http/httptest does for
// HTTP servers.
//
// [NewServer] starts the fake over TLS on loopback; its [Server.Config] is a
// ready serverauth configuration pointing at it, trusting its certificate
// through [Server.Client]. Tests then play the user's part: [Google.MintCode]
// stands for the consent in the mobile app or web page and returns the
// one-time code the app would post to the backend. The controls play the
// rest of the world: the clock ([Clock]) expires codes and tokens, the key
// controls rotate signing keys, [Google.RevokeUser] and friends kill grants
// from outside, and the counters show what the code under test sent.
//
// The fake follows Google's documented behaviour and, where Google documents none, what Google was observed to do:
// Google's status codes, error codes and descriptions, the redirect_uri
// rules by code origin, PKCE, refresh tokens only on first consent,
// normalised scopes in random order, JWKS cache headers, and the shapes of
// tokeninfo and userinfo. Where Google's behaviour is unknown, [Options] has
// a switch and documents its default.
//
// # Counters
//
// Each counter is a method named for what it counts, with Count at the end:
// [Google.RequestCount] (requests to an endpoint), [Google.CodeExchangeCount]
// (exchanges of one code), [Google.RefreshCount] (refreshes for one user)
// and [Google.FaultCount] (faults injected on an endpoint);
// [Google.WaitFaultCount] waits for the last one to reach a value.
// [Google.Requests] returns the recorded requests themselves, and
// [Google.ResetCounts] zeroes every counter and empties that log.
// [Google.LiveRefreshTokens] is Google's side of a backend's bookkeeping:
// how many of a user's refresh tokens would still refresh, 0 after a
// disconnect that worked.
//
// # Fault injection
//
// Tests prove that code keeps working when Google does not. [Google.FailNext]
// fails the next requests to an endpoint, [Google.FailFraction] a
// reproducible share of them (seeded by Options.FaultSeed), with a [Fault]
// of one of the kinds Google shows: 5xx and 429 answers in the endpoint's own
// error shape, Google's HTML error and throttle pages, reset connections,
// stalls, and truncated, malformed or mislabelled bodies. Most kinds fail a
// request before it is processed, so a code stays unused and a retry
// succeeds; FaultResetAfter, FaultTruncated, FaultMalformedJSON and
// FaultWrongContentType process it first and then lose or break the
// answer, so the code is spent although the client never saw the tokens.
// [Google.FaultCount] counts the failed requests; [Google.ClearFaults]
// disarms everything.
//
//	srv.FailNext(serverauthtest.EndpointToken, 1, serverauthtest.Fault{Kind: serverauthtest.FaultResetAfter})
//	_, err := exchanger.Exchange(ctx, code) // fails: the connection was reset
//	// Google exchanged the code all the same (srv.CodeExchangeCount(code) is
//	// 1): sending it again gets invalid_grant.
//
// The key endpoints fail too, for JWKS outages, and so does Drive, with its
// backendError, rateLimitExceeded and userRateLimitExceeded errors. Outside
// Go, POST /emulator/faults arms the same faults (see [EmulatorFaultRequest]).
//
// # Signing in from a browser
//
// By default the authorization endpoint (/o/oauth2/v2/auth) consents at once,
// as the login_hint user or the first of Options.Accounts, and redirects back
// with a code, so that tests need no browser. With Options.ConsentPage (the
// default of cmd/fakegoogle) it shows the pages a person clicks through, as
// Google does. They are the contract browser tests rely on:
//
//   - The account chooser: one <button> per account in Options.Accounts
//     (default [DemoAccounts]), whose text is exactly its email address (the
//     login_hint account first); a form with an <input type="email"
//     name="account" id="email"> and a "Next" button to use another address;
//     and a "Cancel" button (id "cancel").
//   - The consent page, after an account is chosen: the sign-in scopes
//     (openid, email, profile) listed and consented as a block; each other
//     scope a checkbox <input type="checkbox" name="scope" value="SCOPE URL">,
//     ticked, which the user can untick: the grant, the redirect's scope and
//     the token response's scope then omit it (Google's granular consent,
//     shown when the request has a sign-in scope and another one, or two
//     other scopes; a lone other scope has no checkbox and comes with the
//     consent); a checkbox <input type="checkbox" name="ongoing_access"
//     id="ongoing_access">, ticked: unticked, the grant is time-limited for
//     the duration chosen in <select name="access_duration"> (1 hour, 1 day,
//     1 week (the default) or 30 days), and the token responses carry
//     refresh_token_expires_in; and the buttons "Continue" (id "continue")
//     and "Cancel" (id "cancel").
//   - Continue redirects to the registered redirect URI with code, scope
//     (what was granted), authuser, prompt and state; Cancel, and unticking
//     every scope asked for, with error=access_denied and state (RFC 6749
//     §4.1.2.1). The consent page is shown every time, as with
//     prompt=consent; refresh tokens still follow Google's rule (first
//     consent or prompt=consent).
//
// The client and redirect_uri are checked against the registered client
// before anything is shown, as without the pages. The pages are plain HTML
// and CSS from the fake itself, every value escaped by html/template, served
// with a Content-Security-Policy (only their own nonce'd style and script;
// form posts only to the fake and the client's redirect target), no framing
// and no caching; each form carries a per-page token, which must come back
// both in the form and in an HttpOnly SameSite=Strict cookie set with the
// page, so another site cannot make a browser answer a page it did not show.
// A page can be answered once, within 30 minutes.
//
// redirect_uri=postmessage, as Google Identity Services' popup code client
// uses, is accepted with an origin parameter that is one of the client's
// JavaScript origins ([Client].JavaScriptOrigins, Options.JavaScriptOrigins;
// default the origins of its redirect URIs): the answer then goes to the
// window that opened the popup, by postMessage to that origin only, and the
// code is exchanged with redirect_uri=postmessage ([OriginWebPopup]).
//
// With include_granted_scopes=true in the authorization request (or
// [CodeRequest.IncludeGrantedScopes]) the grant is incremental, as Google's
// is: the exchange's tokens cover every scope the user granted the client
// so far, and the refresh token from the first consent now refreshes into
// those scopes too; the exchange returns no new refresh token unless the
// consent was forced.
//
// # Google Identity Services stand-in
//
// GET /gsi/client serves a stand-in for https://accounts.google.com/gsi/client:
// a page written for Google works against the fake once its script tag
// points at the fake instead. It implements
//
//   - google.accounts.oauth2.initCodeClient({client_id, scope, ux_mode
//     ("popup", the default, or "redirect"), redirect_uri, state, hint or
//     login_hint, include_granted_scopes, select_account, callback,
//     error_callback}) and its requestCode(): popup mode opens the fake's
//     chooser in a popup and calls callback with {code, scope, state,
//     authuser, prompt}, or {error: "access_denied", state} after Cancel;
//     error_callback gets {type: "popup_closed"} or {type:
//     "popup_failed_to_open"}. Only messages from the fake's origin and from
//     that popup are taken. Redirect mode sends the page to the
//     authorization endpoint (redirect_uri defaults to the page's URL).
//     Codes are offline (access_type=offline), as GIS's code client's;
//     hasGrantedAllScopes, hasGrantedAnyScope and revoke work too;
//     initTokenClient throws.
//   - google.accounts.id.initialize({client_id, login_uri, callback,
//     ux_mode, nonce, login_hint}), renderButton (a "Sign in with Google"
//     button) and prompt (a One Tap-like card whose button opens the
//     chooser), and the HTML API (<div id="g_id_onload" data-client_id=…
//     data-login_uri=…> and <div class="g_id_signin">). Choosing an account
//     mints an ID token for it ([Google.GISCredential]: aud and azp the
//     client ID, nonce as given). With a callback, it gets {credential,
//     select_by, clientId}; without one, the credential goes to login_uri
//     (which must be a registered redirect URI) as Google sends it: a POST
//     of application/x-www-form-urlencoded credential and g_csrf_token, the
//     same g_csrf_token set as a cookie of the page's site first. ux_mode
//     "redirect" takes the whole page to the chooser, which then posts the
//     same form.
//
// # Controls over HTTP
//
// Every control has an HTTP twin under /emulator/, for apps and tests in
// other languages or processes (JSON bodies, Content-Type:
// application/json):
//
//   - POST /emulator/codes mints a code ([EmulatorCodeRequest]; with
//     refresh_token_expires_in, a time-limited grant).
//   - POST /emulator/faults arms faults, GET shows them, DELETE clears them
//     ([EmulatorFaultRequest]).
//   - POST /emulator/clock {"advance_seconds": N} moves the fake's clock
//     ([Google.AdvanceClock]); GET shows it ([EmulatorClock]).
//   - POST /emulator/users/{sub}/expire-access-tokens expires the user's
//     access tokens ([Google.ExpireAccessTokens]); .../revoke revokes the
//     user's grants ([Google.RevokeUser]); .../require-reauth {"on": bool}
//     ([Google.RequireReauth]); .../delete ([Google.DeleteAccount]).
//   - GET /emulator/counts reads the counters, POST {"code": …} one code's
//     exchange count, DELETE zeroes them ([EmulatorCounts]).
//   - GET and POST /emulator/settings read and change refresh-token
//     rotation and the access-token lifetime ([EmulatorSettings]).
//
// /emulator/ answers CORS requests, preflights included, from loopback
// origins only (http or https on localhost, 127.0.0.0/8 or [::1], any
// port), so a page served by a local dev server can drive the fake; pages
// on other origins get no CORS header. cmd/fakegoogle also refuses a
// non-loopback Host or Origin and bodies that are not JSON.
//
// # Issuer and discovery
//
// ID tokens carry Options.Issuer, Google's "https://accounts.google.com" by
// default, and the discovery document names it. Generic OpenID Connect
// clients demand that the issuer equal the URL discovery was fetched from
// (OpenID Connect Discovery 1.0 §4.3): Options.SelfIssuer makes it the
// server's own URL (cmd/fakegoogle: -tls, or -issuer self). serverauth
// accepts only Google's issuers. Discovery lists only what the fake serves.
//
// The same emulator, [Google], is an http.Handler: cmd/fakegoogle serves it
// on loopback, over HTTP or (-tls) HTTPS, for mobile and web developers.
package serverauthtest
