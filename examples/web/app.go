package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/serverauth/serverauth"
)

// app is the web app: its pages, its sessions, and the three sign-in
// endpoints.
type app struct {
	mux      *http.ServeMux
	ex       *serverauth.Exchanger
	web      *serverauth.WebSignIn
	sessions *sessions
	page     pageData
	csp      string
}

// pageData is what every page shows of the app's setup.
type pageData struct {
	ClientID string
	GSIURL   string
	LoginURI string
}

func newApp(cfg serverauth.Config, base, gsiURL string) (*app, error) {
	ex, err := serverauth.New(cfg)
	if err != nil {
		return nil, err
	}
	a := &app{mux: http.NewServeMux(), ex: ex, sessions: &sessions{m: map[string]session{}}}
	gsi, err := url.Parse(gsiURL)
	if err != nil {
		return nil, err
	}
	gsiOrigin := gsi.Scheme + "://" + gsi.Host
	a.page = pageData{ClientID: ex.ClientID(), GSIURL: gsiURL, LoginURI: base + "/login/gis"}
	// The pages run only their own script and Google's (or the fake's); a
	// form goes to the app, or on to Google's sign-in page (the login_uri
	// post may redirect there, and form-action covers redirects).
	a.csp = "default-src 'none'; script-src 'self' " + gsiOrigin + "; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self' " + gsiOrigin + "; frame-ancestors 'none'; base-uri 'none'"

	// The redirect flow: /login sends the browser to Google, /auth/callback
	// takes it back.
	a.web, err = ex.WebSignIn(serverauth.WebSignInConfig{
		RedirectURL: base + "/auth/callback",
		OnSignIn: func(w http.ResponseWriter, r *http.Request, res *serverauth.Result) {
			a.sessions.start(w, res) // then the redirect to StartReturnTo's path
		},
		OnError: func(w http.ResponseWriter, r *http.Request, res *serverauth.Result, err error) {
			if errors.Is(err, serverauth.ErrScopeNotGranted) {
				// Signed in, but Drive unticked: the profile page explains
				// and offers to ask again.
				a.sessions.start(w, res)
				http.Redirect(w, r, "/profile", http.StatusSeeOther)
				return
			}
			a.errorPage(w, err)
		},
	})
	if err != nil {
		return nil, err
	}
	// The popup code client posts its code here (same origin, so the
	// handler exchanges it with redirect_uri=postmessage).
	signIn, err := ex.SignInHandler(serverauth.HandlerConfig{
		AllowedOrigins: []string{base},
		OnSignIn: func(w http.ResponseWriter, r *http.Request, res *serverauth.Result) {
			a.sessions.start(w, res)
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(res.PublicProfile())
		},
	})
	if err != nil {
		return nil, err
	}
	// The Sign in with Google button posts its ID token here.
	gis, err := ex.GISLoginHandler(serverauth.GISLoginConfig{
		WebSignIn: a.web, // a user without a grant grants offline access first
		StartOptions: func(*http.Request, *serverauth.Result) []serverauth.StartOption {
			return []serverauth.StartOption{serverauth.StartReturnTo("/profile")}
		},
		OnSignIn: func(w http.ResponseWriter, r *http.Request, res *serverauth.Result) {
			a.sessions.start(w, res)
			http.Redirect(w, r, "/profile", http.StatusSeeOther)
		},
	})
	if err != nil {
		return nil, err
	}

	a.mux.HandleFunc("GET /{$}", a.home)
	a.mux.HandleFunc("GET /app.js", static("text/javascript; charset=utf-8", appJS))
	a.mux.HandleFunc("GET /style.css", static("text/css; charset=utf-8", styleCSS))
	a.mux.Handle("POST /signin", signIn)
	a.mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		a.start(w, r, serverauth.StartReturnTo("/profile"))
	})
	a.mux.HandleFunc("GET /auth/callback", a.web.Callback)
	a.mux.Handle("POST /login/gis", gis)
	a.mux.HandleFunc("GET /profile", a.profile)
	a.mux.HandleFunc("GET /grant-drive", func(w http.ResponseWriter, r *http.Request) {
		s, ok := a.sessions.get(r)
		if !ok {
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		// Incremental authorization: the stored grant keeps its refresh
		// token and gains the scope.
		a.start(w, r, serverauth.StartForUser(s.UserID), serverauth.StartReturnTo("/profile"))
	})
	a.mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		a.sessions.end(w, r)
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	return a, nil
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", a.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	a.mux.ServeHTTP(w, r)
}

func (a *app) start(w http.ResponseWriter, r *http.Request, opts ...serverauth.StartOption) {
	if err := a.web.Start(w, r, opts...); err != nil {
		slog.Error("starting a sign-in failed", "error", err)
		http.Error(w, "Sign-in is unavailable; try again shortly.", http.StatusServiceUnavailable)
	}
}

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	s, signedIn := a.sessions.get(r)
	render(w, http.StatusOK, homePage, struct {
		pageData
		SignedIn bool
		Name     string
	}{a.page, signedIn, s.Name})
}

// profile shows the signed-in user and their Drive app data: it counts the
// visits in a file of the app data folder.
func (a *app) profile(w http.ResponseWriter, r *http.Request) {
	s, ok := a.sessions.get(r)
	if !ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	data := struct {
		session
		Visits    int
		Files     []string
		NeedDrive bool
		Problem   string
	}{session: s}
	if err := a.countVisit(r, s.UserID, &data.Visits, &data.Files); err != nil {
		switch {
		case errors.Is(err, serverauth.ErrScopeNotGranted):
			data.NeedDrive = true
		case errors.Is(err, serverauth.ErrReauthRequired), errors.Is(err, serverauth.ErrNoRefreshToken), errors.Is(err, serverauth.ErrNotFound):
			data.Problem = "Google access for this account ended; sign in again."
		case serverauth.ClassOf(err).Temporary():
			data.Problem = "Google Drive is unavailable; reload in a moment."
		default:
			slog.Error("Drive app data failed", "error", err)
			data.Problem = "Drive app data could not be read."
		}
	}
	render(w, http.StatusOK, profilePage, data)
}

// countVisit reads visits.json in the user's app data folder, adds one and
// writes it back, and lists the folder.
func (a *app) countVisit(r *http.Request, userID string, visits *int, files *[]string) error {
	ctx := r.Context()
	ad, err := a.ex.AppData(ctx, userID)
	if err != nil {
		return err
	}
	var state struct {
		Visits int `json:"visits"`
	}
	b, err := ad.Read(ctx, "visits.json")
	switch {
	case errors.Is(err, serverauth.ErrFileNotFound):
	case err != nil:
		return err
	default:
		json.Unmarshal(b, &state)
	}
	state.Visits++
	b, _ = json.Marshal(state)
	if _, err := ad.Write(ctx, "visits.json", "application/json", b); err != nil {
		return err
	}
	list, err := ad.List(ctx)
	if err != nil {
		return err
	}
	for _, f := range list {
		*files = append(*files, f.Name+" ("+strconv.FormatInt(f.Size, 10)+" bytes)")
	}
	*visits = state.Visits
	return nil
}

// errorPage shows a failed redirect sign-in by what the user can do.
func (a *app) errorPage(w http.ResponseWriter, err error) {
	msg := "Sign-in failed. Try again."
	switch {
	case errors.Is(err, serverauth.ErrAccessDenied):
		msg = "Sign-in was cancelled."
	case errors.Is(err, serverauth.ErrInvalidState):
		msg = "This sign-in expired or was started in another browser. Try again."
	case serverauth.ClassOf(err).Temporary():
		msg = "Google is unavailable; try again shortly."
	default:
		slog.Info("sign-in failed", "error", err)
	}
	render(w, http.StatusForbidden, errorPage, msg)
}

// session is what the app remembers of a signed-in user.
type session struct {
	UserID string
	Name   string
	Email  string
}

// sessions is an in-memory session table keyed by a random cookie.
type sessions struct {
	mu sync.Mutex
	m  map[string]session // guards by session ID
}

const sessionCookie = "web_session"

// start begins a new session for res's user, under a new ID (never the
// one the browser had: no session fixation).
func (s *sessions) start(w http.ResponseWriter, res *serverauth.Result) {
	var b [32]byte
	rand.Read(b[:])
	id := base64.RawURLEncoding.EncodeToString(b[:])
	se := session{UserID: res.UserID}
	if p := res.Profile; p != nil {
		se.Name, se.Email = p.Name, p.Email
	}
	s.mu.Lock()
	s.m[id] = se
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func (s *sessions) get(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.m[c.Value]
	return se, ok
}

func (s *sessions) end(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.mu.Lock()
		delete(s.m, c.Value)
		s.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func render(w http.ResponseWriter, status int, t *template.Template, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := t.Execute(w, data); err != nil {
		slog.Error("rendering a page failed", "error", err)
	}
}

func static(contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Write([]byte(body))
	}
}

var (
	layout = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>serverauth web example</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/style.css"></head><body><main>
<h1>serverauth web example</h1>
{{template "body" .}}
</main></body></html>`

	homePage = template.Must(template.Must(template.New("home").Parse(layout)).Parse(`{{define "body"}}
{{if .SignedIn}}<p>Signed in as {{.Name}}. <a href="/profile" id="profile">Your profile</a></p>{{end}}
<section>
<h2>Sign in</h2>
<p><button type="button" id="signin-popup" data-client-id="{{.ClientID}}">Sign in with Google</button>
(a popup: the Google Identity Services code client posts a code to <code>/signin</code>)</p>
<p><a href="/login" id="signin-redirect">Sign in with a redirect</a> (the server-side redirect flow)</p>
<div id="g_id_onload" data-client_id="{{.ClientID}}" data-login_uri="{{.LoginURI}}" data-auto_prompt="false"></div>
<div class="g_id_signin" data-type="standard"></div>
<p>(the button above is Sign in with Google's, posting an ID token to <code>/login/gis</code>)</p>
<p id="status" role="status"></p>
</section>
<script src="{{.GSIURL}}" async defer></script>
<script src="/app.js" defer></script>
{{end}}`))

	profilePage = template.Must(template.Must(template.New("profile").Parse(layout)).Parse(`{{define "body"}}
<section id="user">
<h2>{{.Name}}</h2>
<p>{{.Email}} · Google user ID <code>{{.UserID}}</code></p>
</section>
<section id="drive">
<h2>Drive app data</h2>
{{if .NeedDrive}}<p id="need-drive">You signed in without giving the app access to its Drive folder.
<a href="/grant-drive" id="grant-drive">Allow Drive access</a></p>
{{else if .Problem}}<p id="problem">{{.Problem}}</p>
{{else}}<p id="visits">Visits counted in your Drive app data: {{.Visits}}</p>
<ul>{{range .Files}}<li>{{.}}</li>{{end}}</ul>{{end}}
</section>
<form method="post" action="/logout"><button type="submit" id="signout">Sign out</button></form>
{{end}}`))

	errorPage = template.Must(template.Must(template.New("error").Parse(layout)).Parse(`{{define "body"}}
<p id="error">{{.}}</p>
<p><a href="/">Back</a></p>
{{end}}`))
)

// appJS starts the popup code client. It would run unchanged against
// Google: only the GIS script's URL differs.
const appJS = `"use strict";
(function () {
  var button = document.getElementById("signin-popup");
  var status = document.getElementById("status");
  function show(text) { status.textContent = text; }
  function client() {
    return google.accounts.oauth2.initCodeClient({
      client_id: button.dataset.clientId,
      scope: "openid email profile https://www.googleapis.com/auth/drive.appdata",
      ux_mode: "popup",
      callback: function (resp) {
        if (resp.error) { show("Sign-in was cancelled."); return; }
        fetch("/signin", {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-Requested-With": "XMLHttpRequest" },
          body: JSON.stringify({ code: resp.code })
        }).then(function (r) {
          if (r.ok) { location.href = "/profile"; return; }
          return r.json().then(function (e) { show(e.error_description || "Sign-in failed."); });
        }).catch(function () { show("Sign-in failed."); });
      },
      error_callback: function () { show("The sign-in window was closed."); }
    });
  }
  button.addEventListener("click", function () {
    if (!window.google || !google.accounts) { show("Google's script has not loaded yet."); return; }
    client().requestCode();
  });
})();
`

const styleCSS = `body { font-family: system-ui, sans-serif; margin: 2rem; color: #202124; }
main { max-width: 40rem; }
button { font: inherit; padding: .5rem 1rem; cursor: pointer; }
section { margin: 1.5rem 0; }
code { background: #f1f3f4; padding: 0 .2rem; }
`
