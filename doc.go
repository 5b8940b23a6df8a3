// Package serverauth does the server side of Google Sign-In: it exchanges
// the one-time authorization code that a mobile app or web page posts to the
// backend, verifies the ID token, keeps the refresh token encrypted in a
// store, and gives the backend tokens and HTTP clients for the user while
// they are offline, from any number of replicas.
//
// # The flow
//
// The app signs the user in with Google and receives a one-time code: on iOS
// GIDSignInResult.serverAuthCode (with GIDServerClientID set to the web
// client ID), on Android the server auth code requested for the web client
// ID, on the web the code of a Google Identity Services code client. It posts
// the code to the backend, which calls [Exchanger.Exchange]:
//
//	ex, err := serverauth.New(serverauth.Config{
//		ClientSecretsFile: "client_secret.json", // the web client's
//		AllowedClientIDs:  []string{iosClientID, androidClientID},
//		Scopes:            []string{"email", "drive.appdata"},
//		Store:             store,   // e.g. sqlstore, redisstore, filestore
//		Cipher:            keyring, // serverauth.ParseKeyring(os.Getenv("TOKEN_KEYS"))
//	})
//	res, err := ex.Exchange(ctx, code)
//	// res.UserID is Google's stable user ID; res.Profile the verified identity.
//
// Later, with the user offline, [Exchanger.Token], [Exchanger.TokenSource]
// and [Exchanger.Client] hand out valid access tokens, refreshing them with
// the stored refresh token; [Exchanger.Revoke] disconnects the user. A later
// sign-in that carries only an ID token is checked with
// [Exchanger.VerifyIDToken].
//
// # Browsers
//
// One [Exchanger.SignInHandler] takes codes from apps and from the Google
// Identity Services popup code client: a request with an Origin header is
// exchanged with redirect_uri=postmessage, one without with none.
// [Exchanger.WebSignIn] is the server-side redirect flow (PKCE, state and
// nonce bound to the browser in an encrypted cookie, RFC 9700 §2.1), for
// the first sign-in and for incremental authorization, which keeps the
// stored refresh token. [Exchanger.GISLoginHandler] is the login_uri of the
// Sign in with Google button and One Tap (the g_csrf_token double-submit
// check). ID tokens bound to a nonce (Android Credential Manager, iOS
// GoogleSignIn, GIS) are checked with [RequireNonce] and
// [RequireNonceSHA256].
//
// # What it checks, and the holes it closes
//
//   - The code is sent to Google exactly once: client credentials go one
//     explicit way (never x/oauth2's auth-style probing, which re-sends a
//     failed request), an exchange is never blindly retried, and the same
//     code posted twice (a client retry, a double tap) gets the first
//     exchange's result (Config.DuplicateCodeWindow).
//   - redirect_uri is omitted by default, as iOS and Android server auth
//     codes need, and is never taken from client_secret.json's redirect_uris
//     (google.ConfigFromJSON's redirect_uri_mismatch trap).
//   - The ID token is always verified (OpenID Connect Core §3.1.3.7, RFC
//     8725, and Google's rules at
//     developers.google.com/identity/openid-connect/openid-connect): RS256 only with a kid; strict base64url and strict JSON
//     (a duplicate or case-variant claim never overrides); iss is Google; aud
//     is exactly the server client; azp, when present, is the server client
//     or one of Config.AllowedClientIDs; sub, exp, iat, nbf with leeway and a
//     one-hour lifetime cap; hd when configured; at_hash and nonce when they
//     apply; service-account tokens refused. Every check runs before any
//     claim is used. Failures are [*IDTokenError] values with a [Reason].
//   - Google's signing keys are cached per Cache-Control (an absent Age is
//     zero, not "expired"), refetched once on an unknown kid at most once a
//     minute, never because a signature failed, and kept when a fetch fails.
//   - Token-endpoint failures are [*TokenError] values: classified
//     ([ErrorClass]), unwrapping to [ErrInvalidGrant] or [ErrReauthRequired]
//     and to *oauth2.RetrieveError, with a hint naming the likely cause.
//   - No token, code or client secret reaches an error string or a log.
//
// # Offline access
//
// A [TokenStore] keeps one [Record] per user, keyed by the ID token's sub:
// the refresh token and latest access token (sealed by a [Cipher] above the
// store, with the user and field as associated data), expiries, scopes, the
// presenting client, a health [Status] and a version for optimistic
// concurrency. Exchange merges into it (a response without a refresh token
// keeps the stored one) and saves before returning.
//
// Token serves from an in-memory cache without touching the store; within
// the refresh margin it refreshes through a per-user single flight that runs
// detached from any caller, so one cancelled request does not fail the
// others. With a store that implements [Leaser], replicas elect one
// refresher per user; the others read its result from the store. A store
// that also implements [RecordLeaser] (MemoryStore, sqlstore, redisstore)
// takes three round trips per refresh: read, lease-and-read, and
// write-and-release. An
// invalid_grant marks the grant dead (its refresh token stays sealed, only
// to recognise the record), and later calls fail fast with
// [ErrReauthRequired]; failed refreshes back off per user. A time-limited
// grant (refresh_token_expires_in and the other limits a response may
// state) is never refreshed past its end: [ErrGrantExpired]. A refresh that
// returns an ID token must name the same grant (OpenID Connect Core §12.2)
// and updates the stored profile ([Exchanger.Profile]).
//
// # Operations
//
// [Config.Observer] is told about every operation (exchange, refresh,
// revoke, verification, key fetch, store call, lease, Drive request) with
// its outcome, a low-cardinality reason, duration and counts, never a
// token or user ID; the module github.com/serverauth/serverauth/otel turns
// that into OpenTelemetry spans and metrics. [Exchanger.Stats] has the
// counters and gauges; [Exchanger.ExpiringGrants] reports the grants that
// end soon, with the re-consent to ask for. [Config.PreviousClientSecret]
// lets the client secret be rotated without downtime.
//
// # Design
//
// The exported surface is this package (Config, Exchanger, the result and
// error types, the store contract and MemoryStore), the stores (filestore,
// sqlstore, redisstore), serverauthtest and the OpenTelemetry adapter
// (otel). The plumbing is internal:
// internal/jws (strict compact JWS parsing and RS256 verification),
// internal/jwks (the key cache), internal/flight (keyed single flight with
// result retention and per-caller waits), internal/lru (the lock-free token
// cache), internal/redact. Calls to the token endpoint go through
// golang.org/x/oauth2 with AuthStyleInParams; the one bridge to its context
// key is Exchanger.oauth2Context. Config.Now is the only clock.
//
// An Exchanger is safe for concurrent use and starts no goroutines of its
// own until a call needs one (a key fetch or a refresh, each bounded by a
// timeout); an exchange runs on its caller's goroutine, detached from the
// caller's context.
//
// # Testing
//
// Package serverauthtest is a faithful fake of Google's endpoints (token,
// revoke, keys, tokeninfo, userinfo, Drive app data) with an injectable
// clock, controls for keys and grants, and request counters; its
// Server.Config returns a Config pointing at it. cmd/fakegoogle serves the
// same fake for apps in any language.
package serverauth
