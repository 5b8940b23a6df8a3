// Package redact keeps secrets out of text that may reach an error string or
// a log: Google-shaped credentials are masked by pattern, and the caller's
// known secrets (the client secret, the code or token in flight) by value.
package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// Mask replaces a secret.
const Mask = "[REDACTED]"

// credential matches the shapes of Google credentials: access tokens
// (ya29.…), refresh tokens (1//…), authorization codes (4/0…), JWTs
// (eyJ….….…), client secrets (GOCSPX-…), and Bearer header values.
var credential = regexp.MustCompile(`ya29\.[0-9A-Za-z_\-.]+|1(?://|%2[Ff]%2[Ff])[0-9A-Za-z_\-.]+|4(?:/|%2[Ff])[0-9A-Za-z_\-.%]{8,}|eyJ[0-9A-Za-z_\-]*\.[0-9A-Za-z_\-]*\.[0-9A-Za-z_\-]*|GOCSPX-[0-9A-Za-z_\-]+|(?i:bearer\s+)[0-9A-Za-z_\-.~+/]+=*`)

// String masks every known secret (empty ones are ignored), raw or
// URL-encoded as in a form or query echoed back, and every
// credential-shaped substring of s.
func String(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) < 4 {
			continue
		}
		for _, form := range [...]string{sec, url.QueryEscape(sec), url.PathEscape(sec)} {
			if strings.Contains(s, form) {
				s = strings.ReplaceAll(s, form, Mask)
			}
		}
	}
	if credentialHint(s) {
		s = credential.ReplaceAllString(s, Mask)
	}
	return s
}

// credentialHint cheaply rules out text that cannot match credential.
func credentialHint(s string) bool {
	return strings.Contains(s, "ya29.") || strings.Contains(s, "1//") || strings.Contains(s, "4/") || strings.Contains(s, "%2") ||
		strings.Contains(s, "eyJ") || strings.Contains(s, "GOCSPX-") || strings.Contains(strings.ToLower(s), "bearer")
}

// Truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…(truncated)"
}

// Present prints a secret field in a Stringer: Mask when it is set, `""`
// when it is empty, so a reader can tell the two apart without seeing it.
func Present(set bool) string {
	if set {
		return Mask
	}
	return `""`
}
