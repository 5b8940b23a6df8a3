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
// from outside, and [Google.Requests], [Google.CodeExchanges] and
// [Google.RefreshCount] show what the code under test sent.
//
// The fake follows the project's protocol reference (GOOGLE-PROTOCOL.md):
// Google's status codes, error codes and descriptions, the redirect_uri
// rules by code origin, PKCE, refresh tokens only on first consent,
// normalised scopes in random order, JWKS cache headers, and the shapes of
// tokeninfo and userinfo. Where Google's behaviour is unknown, [Options] has
// a switch and documents its default.
//
// The same emulator, [Google], is an http.Handler: cmd/fakegoogle serves it
// over plain HTTP on loopback for mobile and web developers.
package serverauthtest
