package serverauthtest

import (
	mrand "math/rand/v2"
	"slices"
	"strings"
)

// Google's full names of the OpenID Connect scope aliases.
const (
	scopeOpenID  = "openid"
	scopeEmail   = "https://www.googleapis.com/auth/userinfo.email"
	scopeProfile = "https://www.googleapis.com/auth/userinfo.profile"
	scopePrefix  = "https://www.googleapis.com/auth/"
)

// normalizeScope returns Google's name for a scope: "email" and "profile"
// become the userinfo scopes, "openid" and full URLs stay, and a short name
// such as "drive.appdata" gets the https://www.googleapis.com/auth/ prefix.
func normalizeScope(s string) string {
	switch {
	case s == "email":
		return scopeEmail
	case s == "profile":
		return scopeProfile
	case s == scopeOpenID, strings.Contains(s, "://"):
		return s
	}
	return scopePrefix + s
}

// normalizeScopes normalises scopes and drops empty names and duplicates,
// keeping the first occurrence's position.
func normalizeScopes(scopes []string) []string {
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if s == "" {
			continue
		}
		if n := normalizeScope(s); !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// shuffledScope returns scopes space-separated in a random order: Google's
// order is not stable.
func shuffledScope(scopes []string) string {
	s := slices.Clone(scopes)
	mrand.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return strings.Join(s, " ")
}

// wantsIDToken reports whether scopes earn an ID token.
func wantsIDToken(scopes []string) bool {
	return slices.Contains(scopes, scopeOpenID) || slices.Contains(scopes, scopeEmail) || slices.Contains(scopes, scopeProfile)
}
