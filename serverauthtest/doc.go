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
// The same emulator, [Google], is an http.Handler: cmd/fakegoogle serves it
// over plain HTTP on loopback for mobile and web developers.
package serverauthtest
