package main

import (
	"encoding/json"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// guard wraps the fake so that a web page the developer visits cannot use
// it: requests to /emulator/ (which mint codes and arm faults) must name a
// loopback Host, which defeats DNS rebinding; must come from a loopback
// Origin if they carry one, which defeats cross-site requests; and must send
// their body as application/json, which a cross-site form or simple fetch
// cannot do without a CORS preflight, which the fake never grants. Other
// paths are Google's and are served as Google serves them.
//
// Every request reaches the fake with Host set to addr, the address the fake
// listens on, so that the URLs it builds (the discovery document's, a Drive
// upload's Location) point at the fake and never at a Host the client chose.
func guard(fake http.Handler, addr string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(path.Clean("/"+r.URL.Path), "/emulator") {
			if status, msg := checkEmulatorRequest(r); status != 0 {
				refuse(w, status, msg)
				return
			}
		}
		pinned := new(http.Request)
		*pinned = *r
		pinned.Host = addr
		fake.ServeHTTP(w, pinned)
	})
}

// checkEmulatorRequest returns the status and message that refuse r, or 0.
func checkEmulatorRequest(r *http.Request) (int, string) {
	if !loopbackHost(r.Host) {
		return http.StatusForbidden, fmt.Sprintf("Host %q is not loopback: use http://127.0.0.1, http://[::1] or http://localhost", r.Host)
	}
	if origin, ok := r.Header["Origin"]; ok && (len(origin) != 1 || !loopbackOrigin(origin[0])) {
		return http.StatusForbidden, fmt.Sprintf("Origin %q is not a loopback origin", strings.Join(origin, ", "))
	}
	hasBody := r.ContentLength != 0 || r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch
	if hasBody {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			return http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q: send the body as application/json", r.Header.Get("Content-Type"))
		}
	}
	return 0, ""
}

// loopbackHost reports whether a Host header (host or host:port) names
// localhost or a loopback IP address (127.0.0.0/8, ::1).
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackOrigin reports whether an Origin header is an http or https
// origin on a loopback host, with any port. "null" (a sandboxed or file:
// page) is not.
func loopbackOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Host == "" {
		return false
	}
	return loopbackHost(u.Host)
}

// refuse writes an error in the shape of the emulator's own errors.
func refuse(w http.ResponseWriter, status int, msg string) {
	code := "forbidden"
	if status == http.StatusUnsupportedMediaType {
		code = "unsupported_media_type"
	}
	body, _ := json.Marshal(map[string]string{"error": code, "error_description": "fakegoogle: " + msg})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}
