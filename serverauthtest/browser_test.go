package serverauthtest_test

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/serverauth/serverauth/serverauthtest"
)

// These tests click through the fake's browser pages over HTTP, as a
// browser would: a cookie jar, forms read from the HTML and submitted with
// the button pressed.

const (
	scopeDriveFile = "https://www.googleapis.com/auth/drive.file"
	appOrigin      = "http://127.0.0.1"
)

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	t      *testing.T
	f      *fixture
	client *http.Client
}

func newBrowser(t *testing.T, f *fixture) *browser {
	jar, _ := cookiejar.New(nil)
	c := *f.srv.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{t: t, f: f, client: &c}
}

// page is a fetched HTML page.
type page struct {
	status int
	header http.Header
	body   string
	loc    *url.URL // the redirect target, for 3xx
}

func (b *browser) send(req *http.Request) *page {
	b.t.Helper()
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	p := &page{status: res.StatusCode, header: res.Header, body: string(raw)}
	if loc, err := res.Location(); err == nil {
		p.loc = loc
	}
	return p
}

func (b *browser) get(path string) *page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.f.srv.URL+path, nil)
	return b.send(req)
}

func (b *browser) post(path string, form url.Values) *page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.f.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.send(req)
}

var (
	formRE   = regexp.MustCompile(`(?s)<form\b([^>]*)>(.*?)</form>`)
	tagRE    = regexp.MustCompile(`(?s)<(input|button|select|option)\b([^>]*)>(?:([^<]*)</button>)?`)
	attrRE   = regexp.MustCompile(`([a-z_-]+)(?:="([^"]*)")?`)
	buttonRE = regexp.MustCompile(`(?s)<button\b([^>]*)>([^<]*)</button>`)
)

func attrs(s string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRE.FindAllStringSubmatch(s, -1) {
		m[a[1]] = html.UnescapeString(a[2])
	}
	return m
}

// element is an input, button or option of a form.
type element struct {
	tag   string
	attr  map[string]string
	text  string // a button's text
	group string // an option's select name
}

// form is a form on a page.
type form struct {
	attr  map[string]string
	elems []element
}

// forms returns the page's forms, with the buttons outside them that name
// them with form="id".
func (p *page) forms() []*form {
	var out []*form
	byID := map[string]*form{}
	for _, m := range formRE.FindAllStringSubmatch(p.body, -1) {
		f := &form{attr: attrs(m[1])}
		sel := ""
		for _, e := range tagRE.FindAllStringSubmatch(m[2], -1) {
			el := element{tag: e[1], attr: attrs(e[2]), text: html.UnescapeString(e[3])}
			switch el.tag {
			case "select":
				sel = el.attr["name"]
			case "option":
				el.group = sel
			}
			f.elems = append(f.elems, el)
		}
		out = append(out, f)
		byID[f.attr["id"]] = f
	}
	outside := formRE.ReplaceAllString(p.body, "")
	for _, m := range buttonRE.FindAllStringSubmatch(outside, -1) {
		a := attrs(m[1])
		if f := byID[a["form"]]; f != nil && a["form"] != "" {
			f.elems = append(f.elems, element{tag: "button", attr: a, text: html.UnescapeString(m[2])})
		}
	}
	return out
}

// buttons returns the text of every button on the page, in order.
func (p *page) buttons() []string {
	var out []string
	for _, m := range buttonRE.FindAllStringSubmatch(p.body, -1) {
		out = append(out, html.UnescapeString(m[2]))
	}
	return out
}

// findButton returns the form holding the button with text and the button.
func (p *page) findButton(t *testing.T, text string) (*form, element) {
	t.Helper()
	for _, f := range p.forms() {
		for _, e := range f.elems {
			if e.tag == "button" && e.text == text {
				return f, e
			}
		}
	}
	t.Fatalf("no button %q on the page (buttons %q):\n%s", text, p.buttons(), p.body)
	return nil, element{}
}

// checkboxes returns the page's checkboxes named name: value → checked.
func (p *page) checkboxes(name string) map[string]bool {
	out := map[string]bool{}
	for _, f := range p.forms() {
		for _, e := range f.elems {
			if e.tag == "input" && e.attr["type"] == "checkbox" && e.attr["name"] == name {
				_, checked := e.attr["checked"]
				out[e.attr["value"]] = checked
			}
		}
	}
	return out
}

// click submits the form of the button with text, as a browser does: the
// hidden fields, the ticked checkboxes, the selected options, typed text
// and the button's own name and value. edit changes the values first
// (unticking a box, typing an email).
func (b *browser) click(p *page, text string, edit func(url.Values)) *page {
	b.t.Helper()
	f, btn := p.findButton(b.t, text)
	v := url.Values{}
	for _, e := range f.elems {
		switch {
		case e.tag == "input" && (e.attr["type"] == "hidden" || e.attr["type"] == "email"):
			v.Add(e.attr["name"], e.attr["value"])
		case e.tag == "input" && e.attr["type"] == "checkbox":
			if _, ok := e.attr["checked"]; ok {
				v.Add(e.attr["name"], e.attr["value"])
			}
		case e.tag == "option":
			if _, ok := e.attr["selected"]; ok {
				v.Add(e.group, e.attr["value"])
			}
		}
	}
	if btn.attr["name"] != "" {
		v.Add(btn.attr["name"], btn.attr["value"])
	}
	if edit != nil {
		edit(v)
	}
	if f.attr["method"] != "post" {
		b.t.Fatalf("form method %q, want post", f.attr["method"])
	}
	return b.post(f.attr["action"], v)
}

// untick removes value from the field name.
func untick(name, value string) func(url.Values) {
	return func(v url.Values) {
		v[name] = slices.DeleteFunc(v[name], func(s string) bool { return s == value })
		if len(v[name]) == 0 {
			delete(v, name)
		}
	}
}

// authPath returns an authorization request for the default client.
func authPath(edit func(url.Values)) string {
	v := url.Values{
		"client_id":     {serverauthtest.DefaultWebClientID},
		"redirect_uri":  {serverauthtest.DefaultRedirectURI},
		"response_type": {"code"},
		"scope":         {"openid email profile drive.appdata"},
		"access_type":   {"offline"},
		"state":         {"st-1"},
	}
	if edit != nil {
		edit(v)
	}
	return "/o/oauth2/v2/auth?" + v.Encode()
}

// redirected checks p is a redirect to the default redirect URI and returns
// its query.
func redirected(t *testing.T, p *page) url.Values {
	t.Helper()
	if p.status != http.StatusFound || p.loc == nil || !strings.HasPrefix(p.loc.String(), serverauthtest.DefaultRedirectURI+"?") {
		t.Fatalf("answer = %d to %v, want 302 to %s (body %s)", p.status, p.loc, serverauthtest.DefaultRedirectURI, p.body)
	}
	return p.loc.Query()
}

func consentFixture(t *testing.T, opts serverauthtest.Options) (*fixture, *browser) {
	opts.ConsentPage = true
	f := newFixture(t, opts)
	return f, newBrowser(t, f)
}

func TestChooserPage(t *testing.T) {
	f, b := consentFixture(t, serverauthtest.Options{})
	p := b.get(authPath(nil))
	if p.status != http.StatusOK {
		t.Fatalf("auth = %d %s, want 200 (the chooser)", p.status, p.body)
	}
	var want []string
	for _, u := range serverauthtest.DemoAccounts() {
		want = append(want, u.Email)
	}
	want = append(want, "Next", "Cancel")
	if got := p.buttons(); !slices.Equal(got, want) {
		t.Errorf("chooser buttons = %q, want %q", got, want)
	}
	if !strings.Contains(p.body, `<input type="email" id="email" name="account"`) {
		t.Errorf("chooser has no email input for another account:\n%s", p.body)
	}
	csp := p.header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "form-action 'self' " + appOrigin + ";", "frame-ancestors 'none'", "script-src 'nonce-"} {
		if !strings.Contains(csp, d) {
			t.Errorf("Content-Security-Policy = %q, want it to contain %q", csp, d)
		}
	}
	if strings.Contains(p.body, "http://") && regexp.MustCompile(`(src|href)="https?:`).MatchString(p.body) {
		t.Errorf("the chooser loads an external resource:\n%s", p.body)
	}
	for h, v := range map[string]string{"X-Frame-Options": "DENY", "Cache-Control": "no-cache, no-store, max-age=0, must-revalidate", "Content-Type": "text/html; charset=utf-8"} {
		if got := p.header.Get(h); got != v {
			t.Errorf("%s = %q, want %q", h, got, v)
		}
	}
	if n := len(f.srv.Requests(serverauthtest.EndpointAuth)); n != 1 {
		t.Errorf("auth requests = %d, want 1", n)
	}

	t.Run("login_hint first", func(t *testing.T) {
		p := b.get(authPath(func(v url.Values) { v.Set("login_hint", "john.roe.demo@gmail.com") }))
		if got := p.buttons(); len(got) == 0 || got[0] != "john.roe.demo@gmail.com" || len(got) != 5 {
			t.Errorf("chooser buttons with login_hint = %q, want john.roe.demo@gmail.com first, each account once", got)
		}
		p = b.get(authPath(func(v url.Values) { v.Set("login_hint", "dana@corp.example") }))
		if got := p.buttons(); len(got) == 0 || got[0] != "dana@corp.example" {
			t.Errorf("chooser buttons with an unlisted login_hint = %q, want it first", got)
		}
		// Google also takes the account's sub as a login_hint.
		var john serverauthtest.User
		for _, u := range serverauthtest.DemoAccounts() {
			if u.Email == "john.roe.demo@gmail.com" {
				john = u
			}
		}
		p = b.get(authPath(func(v url.Values) { v.Set("login_hint", john.Sub) }))
		if got := p.buttons(); john.Sub == "" || len(got) != 5 || got[0] != john.Email {
			t.Errorf("chooser buttons with login_hint = the sub %q = %q, want %s first, each account once", john.Sub, got, john.Email)
		}
	})
}

func TestConsentPage(t *testing.T) {
	f, b := consentFixture(t, serverauthtest.Options{})
	p := b.get(authPath(func(v url.Values) { v.Set("scope", "openid email profile drive.appdata drive.file") }))
	p = b.click(p, serverauthtest.DemoUser().Email, nil)
	if p.status != http.StatusOK {
		t.Fatalf("choosing an account = %d %s, want 200 (the consent page)", p.status, p.body)
	}
	if got, want := p.checkboxes("scope"), map[string]bool{scopeAppData: true, scopeDriveFile: true}; !mapsEqual(got, want) {
		t.Errorf("scope checkboxes = %v, want %v (the sign-in scopes have none)", got, want)
	}
	if got := p.checkboxes("ongoing_access"); !mapsEqual(got, map[string]bool{"on": true}) {
		t.Errorf("ongoing_access checkbox = %v, want one, ticked", got)
	}
	for _, s := range []string{"openid", scopeEmail, scopeProfile} {
		if !strings.Contains(p.body, `<span class="scope-url">`+s+`</span>`) {
			t.Errorf("consent page does not list the sign-in scope %s", s)
		}
	}
	if got, want := p.buttons(), []string{"Continue", "Cancel"}; !slices.Equal(got, want) {
		t.Errorf("consent buttons = %q, want %q", got, want)
	}
	if !strings.Contains(p.body, serverauthtest.DemoUser().Email) {
		t.Error("consent page does not name the chosen account")
	}

	q := redirected(t, b.click(p, "Continue", untick("scope", scopeAppData)))
	if q.Get("state") != "st-1" || q.Get("authuser") != "0" || q.Get("prompt") != "consent" || !sameSet(q.Get("scope"), "openid", scopeEmail, scopeProfile, scopeDriveFile) {
		t.Errorf("redirect query = %v, want state st-1, prompt consent and the scope without drive.appdata", q)
	}
	tok := f.mustExchange(t, q.Get("code"), "redirect_uri", serverauthtest.DefaultRedirectURI)
	if !sameSet(tok.str("scope"), "openid", scopeEmail, scopeProfile, scopeDriveFile) {
		t.Errorf("token scope = %q, want the granted scopes, without drive.appdata", tok.str("scope"))
	}
	if tok.str("refresh_token") == "" || tok.json["refresh_token_expires_in"] != nil {
		t.Errorf("token = %s, want a refresh token without refresh_token_expires_in (ongoing access)", tok.raw)
	}
	if j := f.verifyJWT(t, tok.str("id_token")); j.claims["sub"] != serverauthtest.DemoUser().Sub || j.claims["aud"] != f.srv.WebClientID() {
		t.Errorf("ID token claims = %v, want the chosen account's sub for the web client", j.claims)
	}
	// The page is answered: posting it again is refused.
	if again := b.click(p, "Continue", nil); again.status != http.StatusForbidden {
		t.Errorf("answering the consent page twice = %d, want 403", again.status)
	}
}

func TestConsentPageScopesWithoutCheckbox(t *testing.T) {
	// One non-sign-in scope and no sign-in scope: Google shows no checkbox.
	f, b := consentFixture(t, serverauthtest.Options{})
	p := b.click(b.get(authPath(func(v url.Values) { v.Set("scope", "drive.appdata") })), serverauthtest.DemoUser().Email, nil)
	if got := p.checkboxes("scope"); len(got) != 0 {
		t.Errorf("scope checkboxes = %v, want none for a lone scope", got)
	}
	q := redirected(t, b.click(p, "Continue", nil))
	if tok := f.mustExchange(t, q.Get("code"), "redirect_uri", serverauthtest.DefaultRedirectURI); tok.str("scope") != scopeAppData {
		t.Errorf("token scope = %q, want %s", tok.str("scope"), scopeAppData)
	}

	t.Run("an unrequested scope posted", func(t *testing.T) {
		p := b.click(b.get(authPath(nil)), serverauthtest.DemoUser().Email, nil)
		r := b.click(p, "Continue", func(v url.Values) { v.Add("scope", "https://www.googleapis.com/auth/drive") })
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, "was not requested") {
			t.Errorf("consent with an unrequested scope = %d %s, want 400", r.status, r.body)
		}
	})
	t.Run("every scope unticked", func(t *testing.T) {
		p := b.click(b.get(authPath(func(v url.Values) { v.Set("scope", "drive.appdata drive.file") })), serverauthtest.DemoUser().Email, nil)
		q := redirected(t, b.click(p, "Continue", func(v url.Values) { delete(v, "scope") }))
		if q.Get("error") != "access_denied" || q.Get("code") != "" {
			t.Errorf("consent with nothing granted redirects with %v, want error=access_denied", q)
		}
	})
}

func TestConsentPageTimeLimitedAccess(t *testing.T) {
	for _, tt := range []struct {
		name     string
		duration string // "" keeps the default
		want     time.Duration
	}{
		{"default duration", "", 7 * 24 * time.Hour},
		{"one hour", "3600", time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, b := consentFixture(t, serverauthtest.Options{})
			p := b.click(b.get(authPath(nil)), serverauthtest.DemoUser().Email, nil)
			q := redirected(t, b.click(p, "Continue", func(v url.Values) {
				untick("ongoing_access", "on")(v)
				if tt.duration != "" {
					v.Set("access_duration", tt.duration)
				}
			}))
			tok := f.mustExchange(t, q.Get("code"), "redirect_uri", serverauthtest.DefaultRedirectURI)
			if got := jsonInt(tok.json["refresh_token_expires_in"]); got != int64(tt.want/time.Second) {
				t.Fatalf("refresh_token_expires_in = %d, want %d (%s)", got, int64(tt.want/time.Second), tok.raw)
			}
			rt := tok.str("refresh_token")
			f.clock.Advance(tt.want - time.Minute)
			if r := f.refresh(t, rt); r.status != http.StatusOK {
				t.Fatalf("refresh before the end = %d %s, want 200", r.status, r.raw)
			}
			f.clock.Advance(time.Minute)
			wantOAuthError(t, f.refresh(t, rt), http.StatusBadRequest, "invalid_grant", "Token has been expired or revoked.")
		})
	}
	t.Run("a duration not offered", func(t *testing.T) {
		_, b := consentFixture(t, serverauthtest.Options{})
		p := b.click(b.get(authPath(nil)), serverauthtest.DemoUser().Email, nil)
		r := b.click(p, "Continue", func(v url.Values) { untick("ongoing_access", "on")(v); v.Set("access_duration", "99") })
		if r.status != http.StatusBadRequest {
			t.Errorf("access_duration 99 = %d, want 400", r.status)
		}
	})
}

func TestConsentPageCancel(t *testing.T) {
	for _, tt := range []struct {
		name  string
		reach func(b *browser) *page // the page whose Cancel is clicked
	}{
		{"on the chooser", func(b *browser) *page { return b.get(authPath(nil)) }},
		{"on the consent page", func(b *browser) *page {
			return b.click(b.get(authPath(nil)), serverauthtest.DemoUser().Email, nil)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, b := consentFixture(t, serverauthtest.Options{})
			p := tt.reach(b)
			q := redirected(t, b.click(p, "Cancel", nil))
			if q.Get("error") != "access_denied" || q.Get("state") != "st-1" || q.Get("code") != "" {
				t.Errorf("Cancel redirects with %v, want error=access_denied and state st-1, no code", q)
			}
			if again := b.click(p, "Cancel", nil); again.status != http.StatusForbidden {
				t.Errorf("answering a cancelled page again = %d, want 403", again.status)
			}
			if n := f.srv.RequestCount(serverauthtest.EndpointToken); n != 0 {
				t.Errorf("token requests = %d", n)
			}
		})
	}
}

func TestChooserAnotherAccount(t *testing.T) {
	f, b := consentFixture(t, serverauthtest.Options{})
	p := b.click(b.get(authPath(nil)), "Next", func(v url.Values) { v.Set("account", "carol@corp.example") })
	if p.status != http.StatusOK || !strings.Contains(p.body, "carol@corp.example") {
		t.Fatalf("another account = %d, want the consent page for it:\n%s", p.status, p.body)
	}
	q := redirected(t, b.click(p, "Continue", nil))
	j := f.verifyJWT(t, f.mustExchange(t, q.Get("code"), "redirect_uri", serverauthtest.DefaultRedirectURI).str("id_token"))
	if j.claims["email"] != "carol@corp.example" || j.claims["hd"] != "corp.example" || j.claims["sub"] == serverauthtest.DemoUser().Sub {
		t.Errorf("ID token claims = %v, want carol@corp.example with hd corp.example and a sub of her own", j.claims)
	}

	for _, bad := range []string{"", "carol", "carol@", "@corp.example", "carol@corp", "ca rol@corp.example", `"><script>alert(1)</script>@x.example`} {
		p := b.click(b.get(authPath(nil)), "Next", func(v url.Values) { v.Set("account", bad) })
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, `role="alert"`) {
			t.Errorf("another account %q = %d, want 400 with the chooser and an error", bad, p.status)
		}
		if strings.Contains(p.body, "<script>alert") {
			t.Errorf("another account %q is echoed unescaped:\n%s", bad, p.body)
		}
	}
}

func TestConsentPageEscapesHTML(t *testing.T) {
	evil := serverauthtest.User{Sub: "1234", Email: `x"><img src=x onerror=alert(1)>@evil.example`, Name: `<script>alert(1)</script>`, EmailVerified: true}
	_, b := consentFixture(t, serverauthtest.Options{Accounts: []serverauthtest.User{evil}})
	p := b.get(authPath(nil))
	for _, raw := range []string{"<script>alert", "<img src=x"} {
		if strings.Contains(p.body, raw) {
			t.Errorf("chooser contains %q unescaped:\n%s", raw, p.body)
		}
	}
	p = b.click(p, evil.Email, nil)
	if p.status != http.StatusOK || strings.Contains(p.body, "<img src=x") {
		t.Errorf("consent page = %d, want 200 with the email escaped:\n%s", p.status, p.body)
	}
}

func TestConsentPageCSRF(t *testing.T) {
	f, b := consentFixture(t, serverauthtest.Options{})
	chooser := b.get(authPath(nil))
	fm, _ := chooser.findButton(t, serverauthtest.DemoUser().Email)
	var id, token string
	for _, e := range fm.elems {
		switch e.attr["name"] {
		case "authz":
			id = e.attr["value"]
		case "csrf":
			token = e.attr["value"]
		}
	}
	account := serverauthtest.DemoUser().Email
	other := newBrowser(t, f) // a browser that did not load the page
	tests := []struct {
		name string
		b    *browser
		form url.Values
	}{
		{"no token", b, url.Values{"authz": {id}, "account": {account}}},
		{"wrong token", b, url.Values{"authz": {id}, "csrf": {token + "x"}, "account": {account}}},
		{"unknown request", b, url.Values{"authz": {"nope"}, "csrf": {token}, "account": {account}}},
		{"another browser (no cookie)", other, url.Values{"authz": {id}, "csrf": {token}, "account": {account}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p := tt.b.post("/signin/oauth/consent", tt.form); p.status != http.StatusForbidden {
				t.Errorf("chooser post = %d, want 403", p.status)
			}
		})
	}
	t.Run("another page's cookie", func(t *testing.T) {
		// The other browser loads a page of its own: its cookie names its
		// own request, not this one.
		other.get(authPath(nil))
		if p := other.post("/signin/oauth/consent", url.Values{"authz": {id}, "csrf": {token}, "account": {account}}); p.status != http.StatusForbidden {
			t.Errorf("chooser post with another page's cookie = %d, want 403", p.status)
		}
	})
	t.Run("forged cookie", func(t *testing.T) {
		// A page on another port of the same host can set cookies for the
		// fake's host; without the token it cannot set the right value.
		var name string
		for _, c := range (&http.Response{Header: chooser.header}).Cookies() {
			name = c.Name
		}
		forger := newBrowser(t, f)
		u, _ := url.Parse(f.srv.URL + "/signin/")
		forger.client.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: "forged", Path: "/signin/"}})
		if p := forger.post("/signin/oauth/consent", url.Values{"authz": {id}, "csrf": {token}, "account": {account}}); p.status != http.StatusForbidden {
			t.Errorf("chooser post with a forged cookie = %d, want 403", p.status)
		}
	})
	t.Run("GET", func(t *testing.T) {
		if p := b.get("/signin/oauth/consent?" + url.Values{"authz": {id}, "csrf": {token}, "account": {account}}.Encode()); p.status != http.StatusMethodNotAllowed {
			t.Errorf("GET chooser post = %d, want 405", p.status)
		}
	})
	// The browser that loaded the page still can answer it.
	if p := b.click(chooser, account, nil); p.status != http.StatusOK {
		t.Errorf("the chooser's own browser answering = %d %s, want 200", p.status, p.body)
	}
	t.Run("expired", func(t *testing.T) {
		p := b.get(authPath(nil))
		f.clock.Advance(31 * time.Minute)
		if r := b.click(p, account, nil); r.status != http.StatusForbidden {
			t.Errorf("chooser answered after 31 minutes = %d, want 403", r.status)
		}
	})
}

// popupMessage returns what a popup result page posts to its opener.
func popupMessage(t *testing.T, p *page) (origin, kind string, resp map[string]string) {
	t.Helper()
	m := regexp.MustCompile(`var r = (\{.*\});`).FindStringSubmatch(p.body)
	if p.status != http.StatusOK || m == nil {
		t.Fatalf("popup result = %d, want 200 with a message:\n%s", p.status, p.body)
	}
	var r struct {
		Origin   string            `json:"origin"`
		Kind     string            `json:"kind"`
		Response map[string]string `json:"response"`
	}
	if err := json.Unmarshal([]byte(m[1]), &r); err != nil {
		t.Fatalf("popup message %s: %v", m[1], err)
	}
	if !strings.Contains(p.body, "window.opener.postMessage(") || !strings.Contains(p.header.Get("Content-Security-Policy"), "script-src 'nonce-") {
		t.Errorf("popup result does not post to its opener under a nonce CSP:\n%s", p.body)
	}
	return r.Origin, r.Kind, r.Response
}

func TestPostmessagePopup(t *testing.T) {
	popup := func(edit func(url.Values)) string {
		return authPath(func(v url.Values) {
			v.Set("redirect_uri", "postmessage")
			v.Set("origin", appOrigin)
			if edit != nil {
				edit(v)
			}
		})
	}
	t.Run("consent page", func(t *testing.T) {
		f, b := consentFixture(t, serverauthtest.Options{})
		p := b.click(b.get(popup(nil)), serverauthtest.DemoUser().Email, nil)
		if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self';") {
			t.Errorf("popup consent CSP = %q, want form-action 'self' only", csp)
		}
		origin, kind, resp := popupMessage(t, b.click(p, "Continue", untick("scope", scopeAppData)))
		if origin != appOrigin || kind != "code" || resp["state"] != "st-1" || resp["code"] == "" || !sameSet(resp["scope"], "openid", scopeEmail, scopeProfile) {
			t.Errorf("popup message = %q %q %v, want a code for %s with state and the granted scope", origin, kind, resp, appOrigin)
		}
		wantOAuthError(t, f.exchange(t, resp["code"], "redirect_uri", serverauthtest.DefaultRedirectURI), http.StatusBadRequest, "redirect_uri_mismatch", "Bad Request")
		tok := f.mustExchange(t, resp["code"], "redirect_uri", "postmessage")
		if !sameSet(tok.str("scope"), "openid", scopeEmail, scopeProfile) || tok.str("refresh_token") == "" {
			t.Errorf("popup code exchange = %s, want the granted scope and a refresh token", tok.raw)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		_, b := consentFixture(t, serverauthtest.Options{})
		_, kind, resp := popupMessage(t, b.click(b.get(popup(nil)), "Cancel", nil))
		if kind != "code" || resp["error"] != "access_denied" || resp["state"] != "st-1" || resp["code"] != "" {
			t.Errorf("popup Cancel message = %q %v, want error access_denied with state", kind, resp)
		}
	})
	t.Run("auto-consent", func(t *testing.T) {
		f := newFixture(t, serverauthtest.Options{})
		b := newBrowser(t, f)
		origin, _, resp := popupMessage(t, b.get(popup(nil)))
		if origin != appOrigin || resp["code"] == "" {
			t.Fatalf("auto-consent popup message = %q %v, want a code", origin, resp)
		}
		f.mustExchange(t, resp["code"], "redirect_uri", "postmessage")
	})
	t.Run("registered origins", func(t *testing.T) {
		f := newFixture(t, serverauthtest.Options{JavaScriptOrigins: []string{"http://localhost:3000"}})
		b := newBrowser(t, f)
		for _, tt := range []struct {
			origin string
			ok     bool
		}{
			{"http://localhost:3000", true},
			{appOrigin, false}, // the redirect URI's origin no longer counts once origins are given
			{"http://localhost:3001", false},
			{"https://evil.example", false},
			{"", false},
		} {
			p := b.get(popup(func(v url.Values) { v.Set("origin", tt.origin) }))
			if tt.ok {
				if o, _, _ := popupMessage(t, p); o != tt.origin {
					t.Errorf("origin %q: message to %q", tt.origin, o)
				}
				continue
			}
			if p.status != http.StatusBadRequest || !strings.Contains(p.body, "origin_mismatch") || strings.Contains(p.body, "postMessage") {
				t.Errorf("origin %q = %d %s, want 400 origin_mismatch and no message", tt.origin, p.status, p.body)
			}
		}
	})
	t.Run("errors go to the opener", func(t *testing.T) {
		f := newFixture(t, serverauthtest.Options{})
		_, _, resp := popupMessage(t, newBrowser(t, f).get(popup(func(v url.Values) { v.Del("scope") })))
		if resp["error"] != "invalid_request" || resp["state"] != "st-1" {
			t.Errorf("popup without scope = %v, want invalid_request with state", resp)
		}
	})
}

func TestGISSelect(t *testing.T) {
	selectPath := func(edit func(url.Values)) string {
		v := url.Values{"client_id": {serverauthtest.DefaultWebClientID}, "origin": {appOrigin}, "nonce": {"n-0S6_WzA2Mj"}, "ux_mode": {"popup"}}
		if edit != nil {
			edit(v)
		}
		return "/gsi/select?" + v.Encode()
	}
	t.Run("popup", func(t *testing.T) {
		f, b := consentFixture(t, serverauthtest.Options{})
		p := b.get(selectPath(nil))
		if got := p.buttons(); len(got) != 5 || got[1] != "john.roe.demo@gmail.com" {
			t.Fatalf("ID chooser buttons = %q, want the accounts, Next and Cancel", got)
		}
		origin, kind, resp := popupMessage(t, b.click(p, "john.roe.demo@gmail.com", nil))
		if origin != appOrigin || kind != "id" || resp["select_by"] != "btn" || resp["clientId"] != serverauthtest.DefaultWebClientID {
			t.Errorf("ID message = %q %q %v", origin, kind, resp)
		}
		j := f.verifyJWT(t, resp["credential"])
		if j.claims["email"] != "john.roe.demo@gmail.com" || j.claims["aud"] != serverauthtest.DefaultWebClientID ||
			j.claims["azp"] != serverauthtest.DefaultWebClientID || j.claims["nonce"] != "n-0S6_WzA2Mj" || j.claims["iss"] != serverauthtest.DefaultIssuer {
			t.Errorf("credential claims = %v, want john's, for the client, with the nonce", j.claims)
		}
	})
	t.Run("redirect mode posts to login_uri", func(t *testing.T) {
		loginURI := "http://127.0.0.1:3000/login"
		f, b := consentFixture(t, serverauthtest.Options{RedirectURIs: []string{loginURI}})
		p := b.get(selectPath(func(v url.Values) {
			v.Set("ux_mode", "redirect")
			v.Set("login_uri", loginURI)
			v.Set("g_csrf_token", "0123456789abcdef0123")
			v.Set("origin", "http://127.0.0.1:3000")
		}))
		p = b.click(p, serverauthtest.DemoUser().Email, nil)
		forms := p.forms()
		if p.status != http.StatusOK || len(forms) != 1 || forms[0].attr["action"] != loginURI || forms[0].attr["method"] != "post" {
			t.Fatalf("redirect-mode answer = %d, want one form posting to %s:\n%s", p.status, loginURI, p.body)
		}
		fields := map[string]string{}
		for _, e := range forms[0].elems {
			if e.tag == "input" {
				fields[e.attr["name"]] = e.attr["value"]
			}
		}
		if fields["g_csrf_token"] != "0123456789abcdef0123" || len(fields) != 2 {
			t.Errorf("login_uri fields = %v, want credential and the g_csrf_token", fields)
		}
		if j := f.verifyJWT(t, fields["credential"]); j.claims["sub"] != serverauthtest.DemoUser().Sub {
			t.Errorf("credential sub = %v", j.claims["sub"])
		}
		if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action http://127.0.0.1:3000;") {
			t.Errorf("auto-post CSP = %q, want form-action the login_uri's origin", csp)
		}
	})
	t.Run("auto-consent", func(t *testing.T) {
		f := newFixture(t, serverauthtest.Options{})
		_, _, resp := popupMessage(t, newBrowser(t, f).get(selectPath(func(v url.Values) { v.Set("login_hint", "carol@corp.example") })))
		if j := f.verifyJWT(t, resp["credential"]); j.claims["email"] != "carol@corp.example" {
			t.Errorf("auto-consent credential email = %v, want the login_hint's", j.claims["email"])
		}
	})
	for _, tt := range []struct {
		name string
		edit func(url.Values)
		want string
	}{
		{"unknown client", func(v url.Values) { v.Set("client_id", "nope") }, "invalid_client"},
		{"iOS client", func(v url.Values) { v.Set("client_id", serverauthtest.DefaultIOSClientID) }, "invalid_client"},
		{"unregistered origin", func(v url.Values) { v.Set("origin", "https://evil.example") }, "origin_mismatch"},
		{"unregistered login_uri", func(v url.Values) { v.Set("login_uri", "https://evil.example/login") }, "redirect_uri_mismatch"},
		{"redirect without token", func(v url.Values) {
			v.Set("ux_mode", "redirect")
			v.Set("login_uri", serverauthtest.DefaultRedirectURI)
		}, "g_csrf_token"},
		{"bad ux_mode", func(v url.Values) { v.Set("ux_mode", "tab") }, "ux_mode"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, b := consentFixture(t, serverauthtest.Options{})
			p := b.get(selectPath(tt.edit))
			if p.status < 400 || !strings.Contains(p.body, tt.want) || strings.Contains(p.body, "postMessage") {
				t.Errorf("GET /gsi/select = %d %s, want an error page naming %s", p.status, p.body, tt.want)
			}
		})
	}
}

func TestGSIClientScript(t *testing.T) {
	f := newFixture(t, serverauthtest.Options{})
	r := f.get(t, "/gsi/client", nil)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Fatalf("GET /gsi/client = %d %q", r.status, r.header.Get("Content-Type"))
	}
	body := string(r.raw)
	for _, want := range []string{
		`var base = "` + f.srv.URL + `"`, "initCodeClient", "requestCode", `"postmessage"`, "ev.origin !== base || ev.source !== popup",
		"google.accounts.id = {", "renderButton", "prompt:", `"g_csrf_token=" + token`, `["credential", credential], ["g_csrf_token", token]`,
		"g_id_onload", "onGoogleLibraryLoad",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/gsi/client lacks %q", want)
		}
	}
	if n := f.srv.RequestCount(serverauthtest.EndpointGSI); n != 1 {
		t.Errorf("RequestCount(EndpointGSI) = %d, want 1", n)
	}
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func jsonInt(v any) int64 {
	n, _ := v.(json.Number)
	i, _ := n.Int64()
	return i
}
