package serverauth

import (
	"slices"
	"strings"
)

// Scope URLs Google reports in a token response's scope.
const (
	ScopeOpenID       = "openid"
	ScopeEmail        = "https://www.googleapis.com/auth/userinfo.email"
	ScopeProfile      = "https://www.googleapis.com/auth/userinfo.profile"
	ScopeDriveAppData = "https://www.googleapis.com/auth/drive.appdata"
	ScopeDrive        = "https://www.googleapis.com/auth/drive"
)

const googleScopePrefix = "https://www.googleapis.com/auth/"

// NormalizeScope returns the form Google reports a scope in: "email" and
// "profile" become their userinfo URLs, "openid" stays, a short name such as
// "drive.appdata" gets Google's prefix, and the legacy "drive.appfolder"
// becomes drive.appdata. Anything else is returned trimmed.
func NormalizeScope(s string) string {
	s = strings.TrimSpace(s)
	switch s {
	case "", ScopeOpenID:
		return s
	case "email":
		return ScopeEmail
	case "profile":
		return ScopeProfile
	}
	if !strings.Contains(s, ":") {
		s = googleScopePrefix + s
	}
	if s == googleScopePrefix+"drive.appfolder" {
		return ScopeDriveAppData
	}
	return s
}

// normalizeScopes normalises a list of scopes (entries may themselves be
// space-separated), drops duplicates and sorts the result.
func normalizeScopes(in []string) []string {
	var out []string
	for _, field := range in {
		for _, s := range strings.Fields(field) {
			out = append(out, NormalizeScope(s))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// scopeImplied lists scopes that grant another: full Drive access includes
// the app data folder.
var scopeImplied = map[string][]string{
	ScopeDriveAppData: {ScopeDrive},
}

// missingScopes returns the scopes of required (normalised) not covered by
// granted (normalised, sorted).
func missingScopes(required, granted []string) []string {
	var missing []string
	for _, r := range required {
		if hasScope(granted, r) {
			continue
		}
		missing = append(missing, r)
	}
	return missing
}

// hasScope reports whether granted (normalised, sorted) covers scope.
func hasScope(granted []string, scope string) bool {
	if _, ok := slices.BinarySearch(granted, scope); ok {
		return true
	}
	for _, alt := range scopeImplied[scope] {
		if _, ok := slices.BinarySearch(granted, alt); ok {
			return true
		}
	}
	return false
}

// identityScope reports whether granted includes a scope that makes Google
// return an ID token.
func identityScope(granted []string) bool {
	return hasScope(granted, ScopeOpenID) || hasScope(granted, ScopeEmail) || hasScope(granted, ScopeProfile)
}
