package drive

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// call is one request being served.
type call struct {
	d       *Emulator
	w       http.ResponseWriter
	r       *http.Request
	q       url.Values
	pretty  bool
	rpc     string // the Drive method, for ErrorInfo details: DriveFiles.List, ...
	grant   Grant
	appData bool // the token holds drive.appdata
	full    bool // the token holds drive
}

// ServeHTTP serves /drive/v3/... and /upload/drive/v3/... .
func (d *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{d: d, w: w, r: r, q: r.URL.Query()}
	c.pretty = c.q.Get("prettyPrint") != "false"
	if err := c.serve(); err != nil {
		c.writeError(err)
	}
}

// serve routes the call. Unknown paths get 404 before authentication, as
// Google's front end answers them.
func (c *call) serve() *apiError {
	p := c.r.URL.EscapedPath()
	var upload bool
	switch {
	case strings.HasPrefix(p, "/upload/drive/v3/"):
		upload, p = true, strings.TrimPrefix(p, "/upload/drive/v3/")
	case strings.HasPrefix(p, "/drive/v3/"):
		p = strings.TrimPrefix(p, "/drive/v3/")
	default:
		return errNoMethod()
	}
	if upload && c.q.Has("upload_id") {
		return c.resumeUpload()
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil {
			return errNoMethod()
		}
		segs[i] = u
	}
	m := c.r.Method
	switch {
	case len(segs) == 1 && segs[0] == "files":
		switch {
		case upload && m == http.MethodPost:
			return c.authed("DriveFiles.Create", c.uploadCreate)
		case upload:
			return errMethod("POST")
		case m == http.MethodGet:
			return c.authed("DriveFiles.List", c.list)
		case m == http.MethodPost:
			return c.authed("DriveFiles.Create", c.metadataCreate)
		}
		return errMethod("GET, POST")
	case len(segs) == 2 && segs[0] == "files" && (segs[1] == "generateIds" || segs[1] == "trash") && !upload:
		return errUnimplemented(m, p)
	case len(segs) == 2 && segs[0] == "files" && segs[1] != "":
		id := segs[1]
		switch {
		case upload && m == http.MethodPatch:
			return c.authed("DriveFiles.Update", func() *apiError { return c.uploadUpdate(id) })
		case upload:
			return errMethod("PATCH")
		case m == http.MethodGet:
			return c.authed("DriveFiles.Get", func() *apiError { return c.get(id) })
		case m == http.MethodPatch:
			return c.authed("DriveFiles.Update", func() *apiError { return c.metadataUpdate(id) })
		case m == http.MethodDelete:
			return c.authed("DriveFiles.Delete", func() *apiError { return c.delete(id) })
		}
		return errMethod("DELETE, GET, PATCH")
	case len(segs) == 3 && segs[0] == "files" && segs[1] != "" && segs[2] == "permissions" && !upload && m == http.MethodPost:
		c.rpc = "DrivePermissions.Create"
		return c.authed("", func() *apiError { return c.share(segs[1]) })
	case !upload && len(segs) >= 3 && segs[0] == "files" && segs[1] != "",
		!upload && slices.Contains([]string{"about", "apps", "changes", "channels", "drives", "teamdrives", "operations"}, segs[0]):
		return errUnimplemented(m, p)
	}
	return errNoMethod()
}

// authed authenticates the call as rpc (unless rpc is "", when c.rpc is
// already set) and then runs h.
func (c *call) authed(rpc string, h func() *apiError) *apiError {
	if rpc != "" {
		c.rpc = rpc
	}
	if err := c.authenticate(); err != nil {
		return err
	}
	return h()
}

// authenticate resolves the bearer token and checks that it holds a scope
// that reaches the app data folder.
func (c *call) authenticate() *apiError {
	h := c.r.Header.Get("Authorization")
	if h == "" {
		return errLoginRequired(c.rpc)
	}
	scheme, tok, _ := strings.Cut(strings.TrimSpace(h), " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return errInvalidCredentials()
	}
	g, ok := c.d.lookup(tok)
	if !ok {
		return errInvalidCredentials()
	}
	for _, s := range g.Scopes {
		switch s {
		case scopeAppData:
			c.appData = true
		case scopeFull:
			c.full = true
		}
	}
	if !c.appData && !c.full {
		return errInsufficientScope(c.rpc)
	}
	c.grant = g
	return nil
}

// space returns the caller's app data folder state, creating the record (but
// not the folder) on first use. c.d.mu must be held.
func (c *call) callerSpace() (*space, *apiError) {
	if c.d.opts.RequireAppDataScope && !c.appData {
		return nil, newError(http.StatusForbidden, "insufficientScopes", "The granted scopes do not allow use of the Application Data folder.")
	}
	k := spaceKey{c.grant.Sub, c.grant.Project}
	sp := c.d.spaces[k]
	if sp == nil {
		sp = &space{}
		c.d.spaces[k] = sp
	}
	return sp, nil
}

// inSpace runs fn on the caller's app data space with the emulator's lock
// held.
func (c *call) inSpace(fn func(sp *space) *apiError) *apiError {
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	sp, err := c.callerSpace()
	if err != nil {
		return err
	}
	return fn(sp)
}

// readBody reads the whole request body, up to maxBody.
func (c *call) readBody() ([]byte, *apiError) {
	b, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, maxBody))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, newError(http.StatusRequestEntityTooLarge, "uploadTooLarge", "serverauthtest: the request body is larger than the Drive emulator keeps.")
		}
		return nil, newError(http.StatusBadRequest, "badRequest", "Failed to read the request body.")
	}
	return b, nil
}

// writeJSON writes v as the response, indented unless prettyPrint=false.
func (c *call) writeJSON(status int, v any) {
	var b []byte
	var err error
	if c.pretty {
		b, err = json.MarshalIndent(v, "", "  ")
		b = append(b, '\n')
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		http.Error(c.w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := c.w.Header()
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	c.w.WriteHeader(status)
	c.w.Write(b)
}

// writeError writes e in Google's {"error": {...}} envelope.
func (c *call) writeError(e *apiError) {
	for k, vs := range e.header {
		c.w.Header()[http.CanonicalHeaderKey(k)] = vs
	}
	c.writeJSON(e.Code, errorBody{e})
}
