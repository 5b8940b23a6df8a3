package setup

import (
	"fmt"
	"net/url"
	"strings"
)

// mask stands in for a password in a store URL.
const mask = "xxxxx"

// storeURL is a network store's URL with its password taken out, so that no
// parser ever sees the password and no error or log line can quote it: the
// parsers get masked, and the password is put into their result.
type storeURL struct {
	masked      string // the URL with the password replaced by xxxxx: safe to print and to parse
	password    string // unescaped
	hasPassword bool
}

// splitStoreURL takes the password out of the user info of raw
// (scheme://user:password@host…), and out of a password= query parameter,
// which PostgreSQL also reads. As in net/url, the user info ends at the last
// @ before the first /, ? or #; an @ after those means a password with such
// a character unescaped, and is refused rather than guessed at.
func splitStoreURL(raw string) (storeURL, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return storeURL{masked: raw}, nil
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 && strings.Contains(rest[end:], "@") {
		hidden := scheme + "://" + mask + rest[strings.LastIndex(rest, "@"):]
		return storeURL{masked: hidden}, fmt.Errorf("store %s: an @ after the host: percent-encode /, ?, #, @ and : in the user name and password (%%2F, %%3F, %%23, %%40, %%3A), and @ elsewhere as %%40", hidden)
	}
	var u storeURL
	authority, tail := rest[:end], rest[end:]
	if at >= 0 {
		if user, pass, ok := strings.Cut(authority[:at], ":"); ok {
			authority = user + ":" + mask + authority[at:]
			u.password, u.hasPassword = pass, true
		}
	}
	var queryPass string
	tail, queryPass = maskQueryPassword(tail)
	u.masked = scheme + "://" + authority + tail
	var err error
	if u.hasPassword {
		if u.password, err = url.PathUnescape(u.password); err != nil {
			return u, fmt.Errorf("store %s: the password is not percent-encoded correctly", u.masked)
		}
	}
	if queryPass != "" {
		if u.password, err = url.QueryUnescape(queryPass); err != nil {
			return u, fmt.Errorf("store %s: the password parameter is not percent-encoded correctly", u.masked)
		}
		u.hasPassword = true
	}
	return u, nil
}

// maskQueryPassword replaces the value of the last password= parameter of
// the query in tail (a URL's path, query and fragment) with xxxxx, and
// returns it.
func maskQueryPassword(tail string) (masked, password string) {
	start := strings.Index(tail, "?")
	if start < 0 {
		return tail, ""
	}
	query, fragment, hasFragment := strings.Cut(tail[start+1:], "#")
	params := strings.Split(query, "&")
	for i, p := range params {
		if k, v, ok := strings.Cut(p, "="); ok && k == "password" {
			params[i], password = k+"="+mask, v
		}
	}
	masked = tail[:start+1] + strings.Join(params, "&")
	if hasFragment {
		masked += "#" + fragment
	}
	return masked, password
}
