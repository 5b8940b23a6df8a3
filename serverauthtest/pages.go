package serverauthtest

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file holds the HTML of the fake's browser pages: the account
// chooser, the consent page, the popup result and the login_uri post.
// Every page is rendered by html/template (so every value is escaped for
// where it lands), loads nothing from elsewhere, and is served with a
// Content-Security-Policy that allows only its own nonce'd style and
// script and form posts to the fake and to the client's redirect target.

// accountView is an account as the chooser shows it.
type accountView struct {
	Email, Name, Initial string
	Color                int // one of the avatar colours
}

func viewAccount(u User, i int) accountView {
	name := u.Name
	if name == "" {
		name = u.Email
	}
	r, _ := utf8.DecodeRuneInString(name)
	return accountView{Email: u.Email, Name: name, Initial: string(unicode.ToUpper(r)), Color: i % 6}
}

// scopeView is a scope as the consent page shows it.
type scopeView struct {
	URL, Description string
}

// durationView is a choice of time-limited access.
type durationView struct {
	Seconds  int64
	Label    string
	Selected bool
}

// pageData is what the chooser and consent templates read.
type pageData struct {
	Nonce    string
	AuthzID  string
	CSRF     string
	App      string // who asks: the host of the redirect URI or page origin
	ClientID string
	IDToken  bool // the chooser of a GIS ID-token sign-in
	Error    string
	Typed    string // the email typed into "Use another account"

	Accounts []accountView

	Account   accountView
	SignIn    []scopeView // consented as a block
	Scopes    []scopeView // each with a checkbox
	Fixed     []scopeView // consented with the page, no checkbox
	Offline   bool        // the grant has a refresh token: show the time-limited choice
	Durations []durationView
}

// appName returns the host:port that asks for access, as the pages name it.
func (a *authzRequest) appName() string {
	target := a.redirectURI
	if a.popup() || a.kind == kindIDToken {
		target = a.origin
	}
	if u, err := url.Parse(target); err == nil && u.Host != "" {
		return u.Host
	}
	return target
}

// pageCSP returns the Content-Security-Policy of a page with nonce whose
// forms post to the fake and whose answers may redirect to target (an
// absolute URL, or "" for none): browsers apply form-action to the
// redirects that follow a form post too.
func pageCSP(nonce, target string) string {
	action := "'self'"
	if src := cspSource(target); src != "" {
		action += " " + src
	}
	return "default-src 'none'; style-src 'nonce-" + nonce + "'; script-src 'nonce-" + nonce + "'; img-src data:; " +
		"form-action " + action + "; base-uri 'none'; frame-ancestors 'none'"
}

// cspSource returns the CSP source expression for the origin of target:
// scheme://host:port, or the scheme alone for hosts CSP cannot name (IPv6
// literals).
func cspSource(target string) string {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	if strings.IndexFunc(u.Host, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '-' || r == ':')
	}) >= 0 {
		return u.Scheme + ":"
	}
	return u.Scheme + "://" + u.Host
}

// pageHeaders sets the headers every page of the fake carries.
func pageHeaders(w http.ResponseWriter, csp string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	noStore(w)
}

// redirectTarget is where a page's answer may redirect to.
func (a *authzRequest) redirectTarget() string {
	switch {
	case a.popup():
		return ""
	case a.kind == kindIDToken:
		return a.origin
	}
	return a.redirectURI
}

// showChooser writes the account chooser for a.
func (g *Google) showChooser(w http.ResponseWriter, r *http.Request, a *authzRequest) {
	g.writeChooser(w, r, a, "", "")
}

// showChooserError writes the chooser again with an error about the email
// address typed in.
func (g *Google) showChooserError(w http.ResponseWriter, r *http.Request, a *authzRequest, msg string) {
	g.writeChooser(w, r, a, msg, r.PostForm.Get("account"))
}

func (g *Google) writeChooser(w http.ResponseWriter, r *http.Request, a *authzRequest, errMsg, typed string) {
	accounts := g.opts.Accounts
	if a.loginHint != "" {
		// The hinted account comes first, added when not listed.
		hinted := g.hintedUser(a.loginHint)
		if strings.EqualFold(hinted.Email, a.loginHint) || hinted.Sub == a.loginHint {
			rest := []User{hinted}
			for _, u := range accounts {
				if !strings.EqualFold(u.Email, hinted.Email) {
					rest = append(rest, u)
				}
			}
			accounts = rest
		}
	}
	d := pageData{
		Nonce: randomToken("", 22), AuthzID: a.id, CSRF: a.csrf, App: a.appName(), ClientID: a.client.ID,
		IDToken: a.kind == kindIDToken, Error: errMsg, Typed: typed,
	}
	for i, u := range accounts {
		d.Accounts = append(d.Accounts, viewAccount(u, i))
	}
	status := http.StatusOK
	if errMsg != "" {
		status = http.StatusBadRequest
	}
	setCSRFCookie(w, r, a)
	pageHeaders(w, pageCSP(d.Nonce, a.redirectTarget()))
	w.WriteHeader(status)
	pageTemplates.ExecuteTemplate(w, "chooser", d)
}

// showConsent writes the consent page for a, whose account is chosen.
func (g *Google) showConsent(w http.ResponseWriter, r *http.Request, a *authzRequest) {
	d := pageData{
		Nonce: randomToken("", 22), AuthzID: a.id, CSRF: a.csrf, App: a.appName(), ClientID: a.client.ID,
		Account: viewAccount(*a.user, 0), Offline: !a.online,
	}
	for _, s := range a.scopes {
		v := scopeView{URL: s, Description: scopeDescription(s)}
		switch {
		case signInScope(s):
			d.SignIn = append(d.SignIn, v)
		case granular(a.scopes):
			d.Scopes = append(d.Scopes, v)
		default:
			d.Fixed = append(d.Fixed, v)
		}
	}
	for _, c := range accessDurations {
		d.Durations = append(d.Durations, durationView{Seconds: c.seconds, Label: c.label, Selected: c.seconds == defaultAccessDuration})
	}
	setCSRFCookie(w, r, a)
	pageHeaders(w, pageCSP(d.Nonce, a.redirectTarget()))
	pageTemplates.ExecuteTemplate(w, "consent", d)
}

// popupResult is what the popup page posts to its opener: a message of
// type "fakegoogle-gsi" whose kind is "code" (an authorization response:
// code, scope, state, authuser, prompt, or error and state) or "id" (a
// GIS credential response, or error).
type popupResult struct {
	Origin   string            `json:"origin"`
	Kind     string            `json:"kind"`
	Response map[string]string `json:"response"`
}

// writePopupResult writes the page that hands resp to the window that
// opened the popup, by postMessage to origin only (a registered
// JavaScript origin), and closes the popup.
func writePopupResult(w http.ResponseWriter, origin, kind string, resp map[string]string) {
	nonce := randomToken("", 22)
	pageHeaders(w, "default-src 'none'; style-src 'nonce-"+nonce+"'; script-src 'nonce-"+nonce+"'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")
	pageTemplates.ExecuteTemplate(w, "popup", struct {
		Nonce  string
		Result popupResult
	}{nonce, popupResult{Origin: origin, Kind: kind, Response: resp}})
}

// writeAutoPost writes the page that posts fields to action as
// application/x-www-form-urlencoded at once (a button does it without
// script), as Google posts a credential to a login_uri.
func writeAutoPost(w http.ResponseWriter, action string, fields [][2]string) {
	nonce := randomToken("", 22)
	pageHeaders(w, "default-src 'none'; style-src 'nonce-"+nonce+"'; script-src 'nonce-"+nonce+"'; form-action "+cspSource(action)+"; base-uri 'none'; frame-ancestors 'none'")
	pageTemplates.ExecuteTemplate(w, "autopost", struct {
		Nonce  string
		Action string
		Fields [][2]string
	}{nonce, action, fields})
}

var pageTemplates = template.Must(template.New("pages").Parse(pagesHTML))

// pagesHTML holds the templates. The chooser and consent page are the
// contract browser tests click through; the package documentation lists it.
const pagesHTML = `
{{define "head"}}<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{.}}</title>
{{end}}

{{define "style"}}<style nonce="{{.}}">
*{box-sizing:border-box}
body{margin:0;background:#f0f4f9;color:#1f1f1f;font:14px/1.43 "Google Sans",Roboto,"Segoe UI",Arial,sans-serif}
main{max-width:450px;margin:48px auto;background:#fff;border:1px solid #dadce0;border-radius:8px;padding:40px 40px 28px}
.logo{font:500 22px/1 "Product Sans","Google Sans",Arial,sans-serif;letter-spacing:-.5px;text-align:center;margin-bottom:16px}
.logo .b{color:#4285f4}.logo .r{color:#ea4335}.logo .y{color:#fbbc05}.logo .g{color:#34a853}
h1{font-weight:400;font-size:24px;line-height:1.33;text-align:center;margin:0 0 8px}
.sub{text-align:center;margin:0 0 24px;color:#444746}
.sub b{font-weight:500;color:#0b57d0}
ul.accounts{list-style:none;margin:0 0 8px;padding:0;border-top:1px solid #e3e3e3}
ul.accounts li{border-bottom:1px solid #e3e3e3}
button.account{position:relative;display:block;width:100%;border:0;background:none;text-align:left;cursor:pointer;
  padding:30px 12px 10px 60px;font:12px/1.4 Roboto,Arial,sans-serif;color:#444746}
button.account:hover,button.account:focus{background:#f3f6fc;outline:none}
button.account::before{content:attr(data-initial);position:absolute;left:12px;top:50%;margin-top:-16px;width:32px;height:32px;
  border-radius:50%;color:#fff;text-align:center;font:500 15px/32px Roboto,Arial,sans-serif}
button.account::after{content:attr(data-name);position:absolute;left:60px;top:10px;font:500 14px/1.4 "Google Sans",Roboto,Arial,sans-serif;color:#1f1f1f}
.c0::before{background:#1a73e8}.c1::before{background:#e8710a}.c2::before{background:#188038}
.c3::before{background:#a142f4}.c4::before{background:#d93025}.c5::before{background:#12b5cb}
.another{margin:16px 0 0}
.another label{display:block;font-weight:500;margin-bottom:6px}
.row{display:flex;gap:8px}
input[type=email]{flex:1;font:16px Roboto,Arial,sans-serif;padding:10px 12px;border:1px solid #747775;border-radius:4px}
input[type=email]:focus{outline:2px solid #0b57d0;border-color:#0b57d0}
.error{color:#b3261e;margin:6px 0 0}
.chip{display:inline-flex;align-items:center;gap:8px;border:1px solid #747775;border-radius:16px;padding:3px 12px 3px 3px;margin:0 auto 20px}
.chip i{display:inline-block;width:24px;height:24px;border-radius:50%;background:#1a73e8;color:#fff;font:500 12px/24px Roboto,Arial,sans-serif;text-align:center;font-style:normal}
.center{text-align:center}
h2{font-size:16px;font-weight:500;margin:20px 0 8px}
ul.scopes{list-style:none;margin:0;padding:0}
ul.scopes li{display:flex;gap:12px;align-items:flex-start;padding:10px 0;border-bottom:1px solid #e3e3e3}
ul.scopes li:last-child{border-bottom:0}
ul.scopes input{width:18px;height:18px;margin:2px 0 0;accent-color:#0b57d0;flex:none}
.dot{flex:none;width:18px;height:18px;margin-top:2px;border-radius:50%;background:#e8f0fe;position:relative}
.dot::after{content:"";position:absolute;left:6px;top:6px;width:6px;height:6px;border-radius:50%;background:#0b57d0}
.scope-url{display:block;color:#5e5e5e;font-size:12px;word-break:break-all}
.access{margin-top:16px;padding:12px;border:1px solid #dadce0;border-radius:8px;background:#f8fafd}
.access label{display:flex;gap:12px;align-items:flex-start}
.access input{width:18px;height:18px;margin:2px 0 0;accent-color:#0b57d0;flex:none}
.access .until{margin:8px 0 0 30px;color:#444746}
select{font:14px Roboto,Arial,sans-serif;padding:4px 6px;border:1px solid #747775;border-radius:4px;background:#fff}
.note{color:#444746;font-size:12px;margin:20px 0 0}
.buttons{display:flex;flex-direction:row-reverse;justify-content:flex-start;gap:8px;margin-top:24px}
.buttons.chooser{justify-content:space-between;flex-direction:row}
button.primary,button.secondary{font:500 14px "Google Sans",Roboto,Arial,sans-serif;border-radius:20px;padding:10px 24px;cursor:pointer}
button.primary{background:#0b57d0;color:#fff;border:0}
button.primary:hover{background:#0a4fbe}
button.secondary{background:#fff;color:#0b57d0;border:1px solid #747775}
button.secondary:hover{background:#f3f6fc}
footer{max-width:450px;margin:-36px auto 24px;color:#5e5e5e;font-size:12px;text-align:center}
</style>
</head>
{{end}}

{{define "logo"}}<div class="logo" aria-label="Google (fake)"><span class="b">G</span><span class="r">o</span><span class="y">o</span><span class="b">g</span><span class="g">l</span><span class="r">e</span></div>{{end}}

{{define "footer"}}<footer>A fake Google for testing (serverauthtest): nothing is sent to Google, and no password is asked.</footer>{{end}}

{{define "chooser"}}{{template "head" "Sign in – Google Accounts"}}{{template "style" .Nonce}}
<body>
<main>
{{template "logo"}}
<h1>Choose an account</h1>
<p class="sub">to continue to <b>{{.App}}</b></p>
<form method="post" action="/signin/oauth/consent" id="choose">
<input type="hidden" name="authz" value="{{.AuthzID}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<ul class="accounts">
{{range .Accounts}}<li><button type="submit" class="account c{{.Color}}" name="account" value="{{.Email}}" data-initial="{{.Initial}}" data-name="{{.Name}}">{{.Email}}</button></li>
{{end}}</ul>
</form>
<form method="post" action="/signin/oauth/consent" class="another" id="another">
<input type="hidden" name="authz" value="{{.AuthzID}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="email">Use another account</label>
<div class="row"><input type="email" id="email" name="account" placeholder="Email" autocomplete="email" required value="{{.Typed}}"><button type="submit" class="primary" name="action" value="next">Next</button></div>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
</form>
<p class="note">{{if .IDToken}}To continue, Google will share your name, email address and profile picture with {{.App}}.{{else}}You choose what {{.App}} may access on the next page.{{end}}</p>
<div class="buttons chooser"><button type="submit" form="choose" class="secondary" name="action" value="cancel" id="cancel">Cancel</button></div>
</main>
{{template "footer"}}
</body>
</html>
{{end}}

{{define "consent"}}{{template "head" "Sign in – Google Accounts"}}{{template "style" .Nonce}}
<body>
<main>
{{template "logo"}}
<h1>{{.App}} wants access to your Google&nbsp;Account</h1>
<div class="center"><span class="chip" id="account"><i>{{.Account.Initial}}</i>{{.Account.Email}}</span></div>
<form method="post" action="/signin/oauth/approve" id="consent">
<input type="hidden" name="authz" value="{{.AuthzID}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
{{if .SignIn}}<h2>Sign in with Google</h2>
<ul class="scopes" id="signin-scopes">
{{range .SignIn}}<li><span class="dot"></span><span>{{.Description}}<span class="scope-url">{{.URL}}</span></span></li>
{{end}}</ul>{{end}}
{{if or .Scopes .Fixed}}<h2>Select what {{.App}} can access</h2>
<ul class="scopes" id="scopes">
{{range .Scopes}}<li><input type="checkbox" name="scope" value="{{.URL}}" id="scope-{{.URL}}" checked><label for="scope-{{.URL}}">{{.Description}}<span class="scope-url">{{.URL}}</span></label></li>
{{end}}{{range .Fixed}}<li><span class="dot"></span><span>{{.Description}}<span class="scope-url">{{.URL}}</span></span></li>
{{end}}</ul>{{end}}
<div class="access">
<label><input type="checkbox" name="ongoing_access" value="on" id="ongoing_access" checked><span><b>Allow ongoing access</b><br>Untick to give access for a limited time only: the grant’s refresh token then stops working after the time chosen.{{if not .Offline}} (This app asked for online access only: it gets no refresh token either way.){{end}}</span></label>
<div class="until"><label for="access_duration">Access for</label> <select name="access_duration" id="access_duration">{{range .Durations}}<option value="{{.Seconds}}"{{if .Selected}} selected{{end}}>{{.Label}}</option>{{end}}</select> <span>when ongoing access is unticked</span></div>
</div>
<p class="note">Make sure you trust {{.App}}. You may be sharing sensitive info with this site or app. Client ID {{.ClientID}}.</p>
<div class="buttons"><button type="submit" class="primary" name="action" value="continue" id="continue">Continue</button><button type="submit" class="secondary" name="action" value="cancel" id="cancel">Cancel</button></div>
</form>
</main>
{{template "footer"}}
</body>
</html>
{{end}}

{{define "popup"}}{{template "head" "Signing in…"}}<style nonce="{{.Nonce}}">body{font:14px Roboto,Arial,sans-serif;margin:40px;color:#1f1f1f}</style>
</head>
<body>
<p id="status">Returning to the app… You can close this window.</p>
<script nonce="{{.Nonce}}">
(function () {
  var r = {{.Result}};
  if (!window.opener) {
    document.getElementById("status").textContent = "This window was not opened by the app, so the answer cannot reach it. Start the sign-in again from the app.";
    return;
  }
  window.opener.postMessage({type: "fakegoogle-gsi", kind: r.kind, response: r.response}, r.origin);
  setTimeout(function () { window.close(); }, 50);
})();
</script>
</body>
</html>
{{end}}

{{define "autopost"}}{{template "head" "Signing in…"}}<style nonce="{{.Nonce}}">body{font:14px Roboto,Arial,sans-serif;margin:40px;color:#1f1f1f}</style>
</head>
<body>
<form method="post" action="{{.Action}}" id="post">
{{range .Fields}}<input type="hidden" name="{{index . 0}}" value="{{index . 1}}">
{{end}}<p>Returning to the app… <button type="submit">Continue</button></p>
</form>
<script nonce="{{.Nonce}}">document.getElementById("post").submit();</script>
</body>
</html>
{{end}}
`
