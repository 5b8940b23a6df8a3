package drive

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// The Drive emulator serves the subset of Drive v3 that an app needs to keep
// per-user state in the app data folder, as GOOGLE-PROTOCOL.md section 10
// describes it:
//
//	GET    /drive/v3/files                        files.list
//	POST   /drive/v3/files                        files.create, metadata only
//	POST   /upload/drive/v3/files                 files.create, uploadType=multipart, media or resumable
//	GET    /drive/v3/files/{id}                   files.get; alt=media downloads the content
//	PATCH  /drive/v3/files/{id}                   files.update, metadata only
//	PATCH  /upload/drive/v3/files/{id}            files.update, uploadType=multipart, media or resumable
//	DELETE /drive/v3/files/{id}                   files.delete
//	POST   /drive/v3/files/{id}/permissions       always 403 notSupportedForAppDataFolderFiles
//	PUT or POST /upload/drive/v3/files?upload_id= a resumable upload's session URI; DELETE cancels it
//
// Every file lives in the app data folder of one (user, Cloud project) pair:
// a token sees only the files of its own user and project, and anything else
// is 404 notFound, as Drive answers for another app's data. The emulator
// keeps no "My Drive": a request that would create or move a file outside the
// app data folder gets 403 (with only the drive.appdata scope) or 501 (with
// the full drive scope, which would reach parts of Drive the emulator lacks).
//
// Choices the emulator makes where GOOGLE-PROTOCOL.md has no wire facts:
//   - A create with no parents, or with "root", while holding only
//     drive.appdata: 403 insufficientPermissions, "Insufficient Permission:
//     Request had insufficient authentication scopes.", with
//     WWW-Authenticate error="insufficient_scope" naming the drive and
//     drive.file scopes. An unknown parent ID: 404 notFound for that ID. More
//     than one parent: 403 cannotAddParent.
//   - An update with addParents naming anything but the app data folder or one
//     of its subfolders, or one that would leave a file with no parent: 403
//     notSupportedForAppDataFolderFiles. A "parents" member in an update body:
//     403 fieldNotWritable.
//   - Updating or deleting the app data folder itself: 403
//     insufficientFilePermissions.
//   - fields= naming a member Drive v3 does not have: 400 invalidParameter
//     "Invalid field selection <name>", location fields. Members Drive has but
//     the emulator does not keep (owners, capabilities, ...) are left out.
//   - q supports name (=, !=, contains), mimeType (=, !=, contains), trashed
//     and starred (= or != true/false; never true here), createdTime and
//     modifiedTime (=, !=, <, <=, >, >=), '<id>' in parents, appProperties
//     and properties has { key='k' and value='v' }, with and, or, not and
//     parentheses. name contains is a case-insensitive prefix match on the
//     name and on each word in it, as Drive documents it ("HelloWorld"
//     contains 'Hello' but not 'World'). Anything else is 400 invalid,
//     location q. An unknown ID in "'<id>' in parents" is 404 notFound.
//   - Files are listed in creation order unless orderBy says otherwise.
//   - The folder is created on first use (a create into it, or a get of it),
//     with a random ID shaped like Drive's root IDs.
//   - A content upload takes its MIME type, without parameters, from the media
//     when the metadata names none; an update keeps the stored MIME type unless
//     the metadata changes it. Drive's 124-byte limit on an appProperties or
//     properties entry (key plus value) is enforced: 400 invalid.
//   - Resumable session URIs need no Authorization header: the upload_id is
//     the capability, as on Google.
//   - Responses are indented unless prettyPrint=false, as on Google.

// Drive names and limits the emulator knows.
const (
	scopeAppData      = "https://www.googleapis.com/auth/drive.appdata"
	scopeFull         = "https://www.googleapis.com/auth/drive"
	scopeFile         = "https://www.googleapis.com/auth/drive.file"
	appDataAlias      = "appDataFolder"
	v2Alias           = "appfolder"
	folderType        = "application/vnd.google-apps.folder"
	googleAppsType    = "application/vnd.google-apps."
	defaultName       = "Untitled"
	defaultType       = "application/octet-stream"
	defaultFolderName = "Application Data"
	maxBody           = 64 << 20 // the largest request body the emulator reads
	maxProperty       = 124      // bytes of key plus value in one (app) property
	defaultPageSize   = 100
	maxPageSize       = 1000
	timeLayout        = "2006-01-02T15:04:05.000Z"
	authRealm         = `Bearer realm="https://accounts.google.com/"`
	errorInfoType     = "type.googleapis.com/google.rpc.ErrorInfo"
	serviceName       = "drive.googleapis.com"
	rpcPrefix         = "google.apps.drive.v3."
)

// Grant is what the Drive emulator needs to know about the grant behind
// a bearer access token.
type Grant struct {
	Sub     string   // the user
	Project string   // the Cloud project of the client the token was issued to; app data is per project
	Scopes  []string // granted scopes, full URLs
}

// Lookup reports the grant behind a bearer access token; ok is false for
// an unknown, revoked or expired token.
type Lookup func(accessToken string) (g Grant, ok bool)

// File is a file in a user's emulated Drive app data folder. The fake
// hands out deep copies, which are the caller's own.
type File struct {
	ID            string
	Name          string
	MimeType      string
	Parents       []string // the folder's real ID, as Drive reports it
	Content       []byte
	AppProperties map[string]string
	Properties    map[string]string // public properties; nil when there are none
	Description   string
	Created       time.Time // UTC, to the millisecond, as Drive reports it
	Modified      time.Time // UTC, to the millisecond; set by every change unless the request sets modifiedTime
	Version       int64     // 1 at creation, plus 1 for each change
}

// Options selects the Drive emulator's behaviour where Google's is
// unverified (the items tagged [U] in GOOGLE-PROTOCOL.md section 10). The
// zero value is the default each field documents. It is a plain value, read
// once by the emulator when it is built.
type Options struct {
	// AcceptV2AppFolderAlias makes the Drive v2 alias "appfolder" name the app
	// data folder, as "appDataFolder" does. When false (the default) it is an
	// unknown file ID wherever it appears (a file ID, a parent, a q term), so
	// it gets 404 notFound and legacy v2 usage fails loudly.
	AcceptV2AppFolderAlias bool

	// ReportParentsAsAlias makes responses give the parent of a file at the
	// top of the app data folder as the literal "appDataFolder". When false
	// (the default) they give the folder's real ID, which is what Drive is
	// believed to do, and code that compares parents with "appDataFolder"
	// breaks as it would against Google. File.Parents always holds the
	// real ID.
	ReportParentsAsAlias bool

	// AppDataFolderName is the name reported for the app data folder itself
	// (files.get of "appDataFolder"). Empty (the default) means
	// "Application Data".
	AppDataFolderName string

	// RequireAppDataScope makes the drive.appdata scope necessary for the app
	// data folder: a token holding only the full drive scope gets 403
	// insufficientScopes "The granted scopes do not allow use of the
	// Application Data folder.". When false (the default) either scope gives
	// access.
	RequireAppDataScope bool
}

// drive emulates the Drive v3 subset for appDataFolder. It is safe for
// concurrent use.
type Emulator struct {
	now    func() time.Time
	lookup Lookup
	opts   Options

	mu      sync.Mutex          // guards spaces and uploads
	spaces  map[spaceKey]*space // one app data folder per user and project
	uploads map[string]*session // resumable upload sessions by upload_id
}

// spaceKey names one app data folder.
type spaceKey struct{ sub, project string }

// space is one user's app data folder for one project.
type space struct {
	folderID      string // "" until the folder is first used
	folderCreated time.Time
	files         []*File // in creation order; the folder itself is not here
}

// session is a resumable upload session.
type session struct {
	key        spaceKey
	appData    bool // the initiating token held drive.appdata
	full       bool // the initiating token held drive
	fileID     string
	rpc        string // DriveFiles.Create or DriveFiles.Update
	meta       metadata
	addParents string
	rmParents  string
	mediaType  string
	total      int64 // -1 until the client says
	data       []byte
}

// New returns a Drive emulator that reads the time from now, resolves
// bearer tokens with lookup and behaves as opts says where Google's
// behaviour is unverified.
func New(now func() time.Time, lookup Lookup, opts Options) *Emulator {
	d := &Emulator{
		now:     now,
		lookup:  lookup,
		opts:    opts,
		spaces:  make(map[spaceKey]*space),
		uploads: make(map[string]*session),
	}
	if d.opts.AppDataFolderName == "" {
		d.opts.AppDataFolderName = defaultFolderName
	}
	return d
}

// files returns a copy of the user's app data files for project, sorted by
// creation. The folder itself is not included; its subfolders are.
func (d *Emulator) Files(sub, project string) []File {
	d.mu.Lock()
	defer d.mu.Unlock()
	sp := d.spaces[spaceKey{sub, project}]
	if sp == nil {
		return nil
	}
	out := make([]File, 0, len(sp.files))
	for _, f := range sp.files {
		out = append(out, f.clone())
	}
	return out
}

// clone returns a deep copy of f.
func (f *File) clone() File {
	c := *f
	c.Parents = slices.Clone(f.Parents)
	c.Content = bytes.Clone(f.Content)
	c.AppProperties = maps.Clone(f.AppProperties)
	c.Properties = maps.Clone(f.Properties)
	return c
}

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

// ensureFolder creates sp's folder if it does not exist yet. c.d.mu must be
// held.
func (c *call) ensureFolder(sp *space) {
	if sp.folderID == "" {
		sp.folderID = "0A" + randomID(11) + "Uk9PVA"
		sp.folderCreated = c.d.clock()
	}
}

// clock returns the emulator's time as Drive keeps it: UTC, to the
// millisecond.
func (d *Emulator) clock() time.Time { return d.now().UTC().Truncate(time.Millisecond) }

// isFolderAlias reports whether id names the app data folder without being
// its real ID.
func (c *call) isFolderAlias(id string) bool {
	return id == appDataAlias || (id == v2Alias && c.d.opts.AcceptV2AppFolderAlias)
}

// find returns the file id in sp, or nil.
func (sp *space) find(id string) *File {
	for _, f := range sp.files {
		if f.ID == id {
			return f
		}
	}
	return nil
}

// resolve finds id in sp: root is true for the folder itself (which it
// creates if need be), else f is the file. An unknown id is 404. c.d.mu must
// be held.
func (c *call) resolve(sp *space, id string) (f *File, root bool, err *apiError) {
	if c.isFolderAlias(id) || (sp.folderID != "" && id == sp.folderID) {
		c.ensureFolder(sp)
		return nil, true, nil
	}
	if f := sp.find(id); f != nil {
		return f, false, nil
	}
	return nil, false, errNotFound(id)
}

// folderRef resolves id as a folder inside sp, for a parent: the folder's
// real ID, or ok false when id is not inside the app data folder.
func (c *call) folderRef(sp *space, id string) (real string, ok bool, err *apiError) {
	if c.isFolderAlias(id) || (sp.folderID != "" && id == sp.folderID) {
		c.ensureFolder(sp)
		return sp.folderID, true, nil
	}
	if f := sp.find(id); f != nil {
		if f.MimeType != folderType {
			return "", false, newError(http.StatusBadRequest, "badRequest", "The specified parent is not a folder.")
		}
		return f.ID, true, nil
	}
	return "", false, nil
}

// outsideAppData is the error for creating or moving a file out of the app
// data folder, which the emulator cannot hold.
func (c *call) outsideAppData() *apiError {
	if c.full {
		return newError(http.StatusNotImplemented, "notImplemented", "serverauthtest: the Drive emulator only holds the appDataFolder space; set parents to [\"appDataFolder\"].")
	}
	e := newError(http.StatusForbidden, "insufficientPermissions", "Insufficient Permission: Request had insufficient authentication scopes.")
	e.header = http.Header{"Www-Authenticate": {authRealm + `, error="insufficient_scope", scope="` + scopeFull + " " + scopeFile + `"`}}
	return e
}

// ---- request bodies ----

// metadata is the writable part of a File resource in a request body.
type metadata struct {
	Name          *string            `json:"name"`
	MimeType      *string            `json:"mimeType"`
	Description   *string            `json:"description"`
	Parents       []string           `json:"parents"`
	AppProperties map[string]*string `json:"appProperties"`
	Properties    map[string]*string `json:"properties"`
	ModifiedTime  *string            `json:"modifiedTime"`
}

// mediaData is uploaded content.
type mediaData struct {
	data []byte
	typ  string // the media's Content-Type, parameters dropped; may be ""
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

// decodeMeta parses a JSON File resource; an empty body is an empty resource.
func decodeMeta(b []byte) (metadata, *apiError) {
	var m metadata
	if len(bytes.TrimSpace(b)) == 0 {
		return m, nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, newError(http.StatusBadRequest, "parseError", "Parse Error")
	}
	return m, nil
}

// baseType returns a Content-Type without its parameters.
func baseType(ct string) string {
	if ct == "" {
		return ""
	}
	if mt, _, err := mime.ParseMediaType(ct); err == nil {
		return mt
	}
	return strings.TrimSpace(strings.SplitN(ct, ";", 2)[0])
}

// readMultipart splits a multipart/related upload into its metadata and
// media parts.
func (c *call) readMultipart() (metadata, mediaData, *apiError) {
	bad := newError(http.StatusBadRequest, "badContent", "Bad content type. Please use multipart.")
	mt, params, err := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" || params["boundary"] == "" {
		return metadata{}, mediaData{}, bad
	}
	body, derr := c.readBody()
	if derr != nil {
		return metadata{}, mediaData{}, derr
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var parts [][]byte
	var types []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return metadata{}, mediaData{}, newError(http.StatusBadRequest, "badContent", "Malformed multipart body.")
		}
		b, err := io.ReadAll(p)
		if err == nil && strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "base64") {
			b, err = base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(b), nil)))
		}
		if err != nil {
			return metadata{}, mediaData{}, newError(http.StatusBadRequest, "badContent", "Malformed multipart body.")
		}
		parts = append(parts, b)
		types = append(types, p.Header.Get("Content-Type"))
	}
	if len(parts) != 2 {
		return metadata{}, mediaData{}, newError(http.StatusBadRequest, "badContent", "A multipart upload must have exactly two parts: metadata, then media.")
	}
	meta, derr := decodeMeta(parts[0])
	if derr != nil {
		return metadata{}, mediaData{}, derr
	}
	return meta, mediaData{data: parts[1], typ: baseType(types[1])}, nil
}

// checkProperties enforces Drive's size limit on one (app) property.
func checkProperties(m map[string]*string) *apiError {
	for k, v := range m {
		n := len(k)
		if v != nil {
			n += len(*v)
		}
		if k == "" || n > maxProperty {
			return newError(http.StatusBadRequest, "invalid", fmt.Sprintf("The property %q is invalid: a key must be non-empty and key plus value at most %d bytes.", k, maxProperty))
		}
	}
	return nil
}

// mergeProperties applies a request's (app) properties to old: a null value
// deletes the key. It returns nil for an empty result.
func mergeProperties(old map[string]string, upd map[string]*string) map[string]string {
	out := maps.Clone(old)
	for k, v := range upd {
		if v == nil {
			delete(out, k)
			continue
		}
		if out == nil {
			out = make(map[string]string)
		}
		out[k] = *v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// parseModified parses a request's modifiedTime, if any.
func parseModified(s *string) (time.Time, bool, *apiError) {
	if s == nil {
		return time.Time{}, false, nil
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		return time.Time{}, false, newError(http.StatusBadRequest, "invalid", "Invalid value for: modifiedTime")
	}
	return t.UTC().Truncate(time.Millisecond), true, nil
}

// ---- create ----

// metadataCreate serves POST /drive/v3/files.
func (c *call) metadataCreate() *apiError {
	if mt := baseType(c.r.Header.Get("Content-Type")); mt != "" && mt != "application/json" {
		return newError(http.StatusBadRequest, "badRequest", "Upload requests must include an uploadType URL parameter and a URL path beginning with /upload/.")
	}
	body, err := c.readBody()
	if err != nil {
		return err
	}
	meta, err := decodeMeta(body)
	if err != nil {
		return err
	}
	return c.finishCreate(meta, nil)
}

// uploadCreate serves POST /upload/drive/v3/files.
func (c *call) uploadCreate() *apiError {
	switch t := c.q.Get("uploadType"); t {
	case "multipart":
		meta, media, err := c.readMultipart()
		if err != nil {
			return err
		}
		return c.finishCreate(meta, &media)
	case "media":
		body, err := c.readBody()
		if err != nil {
			return err
		}
		return c.finishCreate(metadata{}, &mediaData{data: body, typ: baseType(c.r.Header.Get("Content-Type"))})
	case "resumable":
		return c.startUpload("")
	case "":
		return newError(http.StatusBadRequest, "badRequest", "Upload requests must include an uploadType URL parameter and a URL path beginning with /upload/.")
	default:
		return errInvalid("uploadType", fmt.Sprintf("Invalid value for uploadType: %s", t))
	}
}

// finishCreate creates the file and writes it as the response.
func (c *call) finishCreate(meta metadata, media *mediaData) *apiError {
	mask, err := c.fileFields()
	if err != nil {
		return err
	}
	var obj object
	err = c.inSpace(func(sp *space) *apiError {
		f, err := c.create(sp, meta, media)
		if err != nil {
			return err
		}
		obj = c.fileJSON(sp, f)
		return nil
	})
	if err != nil {
		return err
	}
	c.writeJSON(http.StatusOK, mask.apply(obj))
	return nil
}

// checkCreate validates meta for a create into sp and returns the parent's
// real ID. c.d.mu must be held.
func (c *call) checkCreate(sp *space, meta metadata) (string, *apiError) {
	switch len(meta.Parents) {
	case 0:
		return "", c.outsideAppData()
	case 1:
	default:
		return "", newError(http.StatusForbidden, "cannotAddParent", "Increasing the number of parents is not allowed.")
	}
	parent, ok, err := c.folderRef(sp, meta.Parents[0])
	switch {
	case err != nil:
		return "", err
	case ok:
	case meta.Parents[0] == "root":
		return "", c.outsideAppData()
	default:
		return "", errNotFound(meta.Parents[0])
	}
	if err := checkProperties(meta.AppProperties); err != nil {
		return "", err
	}
	if err := checkProperties(meta.Properties); err != nil {
		return "", err
	}
	if _, _, err := parseModified(meta.ModifiedTime); err != nil {
		return "", err
	}
	return parent, nil
}

// create adds a file to sp. c.d.mu must be held.
func (c *call) create(sp *space, meta metadata, media *mediaData) (*File, *apiError) {
	parent, err := c.checkCreate(sp, meta)
	if err != nil {
		return nil, err
	}
	now := c.d.clock()
	f := &File{
		ID:            "1" + randomID(32),
		Name:          defaultName,
		MimeType:      defaultType,
		Parents:       []string{parent},
		AppProperties: mergeProperties(nil, meta.AppProperties),
		Properties:    mergeProperties(nil, meta.Properties),
		Created:       now,
		Modified:      now,
		Version:       1,
	}
	if meta.Name != nil && *meta.Name != "" {
		f.Name = *meta.Name
	}
	switch {
	case meta.MimeType != nil && *meta.MimeType != "":
		f.MimeType = *meta.MimeType
	case media != nil && media.typ != "":
		f.MimeType = media.typ
	}
	if meta.Description != nil {
		f.Description = *meta.Description
	}
	if media != nil {
		f.Content = bytes.Clone(media.data)
	}
	if t, ok, _ := parseModified(meta.ModifiedTime); ok {
		f.Modified = t
	}
	sp.files = append(sp.files, f)
	return f, nil
}

// ---- get, list ----

// get serves GET /drive/v3/files/{id}.
func (c *call) get(id string) *apiError {
	alt := c.q.Get("alt")
	if alt != "" && alt != "json" && alt != "media" {
		return errInvalid("alt", fmt.Sprintf("Invalid value for alt: %s", alt))
	}
	mask, err := c.fileFields()
	if err != nil {
		return err
	}
	var obj object
	var content []byte
	var ctype string
	err = c.inSpace(func(sp *space) *apiError {
		f, root, err := c.resolve(sp, id)
		if err != nil {
			return err
		}
		if alt == "media" {
			if root || strings.HasPrefix(f.MimeType, googleAppsType) {
				return newError(http.StatusForbidden, "fileNotDownloadable", "Only files with binary content can be downloaded. Use Export with Docs Editors files.").at("alt", "parameter")
			}
			content, ctype = bytes.Clone(f.Content), f.MimeType
			return nil
		}
		if root {
			obj = c.folderJSON(sp)
		} else {
			obj = c.fileJSON(sp, f)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if alt == "media" {
		c.w.Header().Set("Content-Type", ctype)
		http.ServeContent(c.w, c.r, "", time.Time{}, bytes.NewReader(content))
		return nil
	}
	c.writeJSON(http.StatusOK, mask.apply(obj))
	return nil
}

// sortKey is one orderBy key.
type sortKey struct {
	key  string
	desc bool
}

// orderByKeys are the orderBy keys Drive v3 accepts; the emulator sorts by
// those it keeps and treats the others as ties.
var orderByKeys = []string{"createdTime", "folder", "modifiedByMeTime", "modifiedTime", "name", "name_natural", "quotaBytesUsed", "recency", "sharedWithMeTime", "starred", "viewedByMeTime"}

// parseOrderBy parses orderBy, such as "folder,modifiedTime desc,name".
func parseOrderBy(s string) ([]sortKey, *apiError) {
	var out []sortKey
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for _, item := range strings.Split(s, ",") {
		w := strings.Fields(item)
		if len(w) == 0 || len(w) > 2 || !slices.Contains(orderByKeys, w[0]) || (len(w) == 2 && !strings.EqualFold(w[1], "desc")) {
			return nil, errInvalid("orderBy", fmt.Sprintf("Invalid orderBy: %s", s))
		}
		out = append(out, sortKey{key: w[0], desc: len(w) == 2})
	}
	return out, nil
}

// compareFiles compares a and b by one orderBy key, ascending.
func compareFiles(key string, a, b *File) int {
	switch key {
	case "name", "name_natural":
		if c := strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	case "modifiedTime", "modifiedByMeTime", "recency", "viewedByMeTime":
		return a.Modified.Compare(b.Modified)
	case "createdTime":
		return a.Created.Compare(b.Created)
	case "folder":
		af, bf := a.MimeType == folderType, b.MimeType == folderType
		switch {
		case af && !bf:
			return -1
		case bf && !af:
			return 1
		}
	case "quotaBytesUsed":
		return len(a.Content) - len(b.Content)
	}
	return 0
}

// list serves GET /drive/v3/files.
func (c *call) list() *apiError {
	mask, err := c.fields(listDefault, validateListFields)
	if err != nil {
		return err
	}
	spaces := []string{"drive"}
	if s := c.q.Get("spaces"); s != "" {
		spaces = nil
		for _, v := range strings.Split(s, ",") {
			v = strings.TrimSpace(v)
			if v != "drive" && v != appDataAlias && v != "photos" {
				return errInvalid("spaces", fmt.Sprintf("Invalid value for spaces: %s", s))
			}
			spaces = append(spaces, v)
		}
	}
	if !c.full && (slices.Contains(spaces, "drive") || slices.Contains(spaces, "photos")) {
		return newError(http.StatusForbidden, "insufficientScopes", "The granted scopes do not give access to all of the requested spaces.").at("spaces", "parameter")
	}
	pageSize := defaultPageSize
	if s := c.q.Get("pageSize"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPageSize {
			return errInvalid("pageSize", fmt.Sprintf("Invalid value '%s'. Values must be within the range: [1, %d]", s, maxPageSize))
		}
		pageSize = n
	}
	offset := 0
	if t := c.q.Get("pageToken"); t != "" {
		n, ok := decodePageToken(t)
		if !ok {
			return errInvalid("pageToken", "Invalid Value")
		}
		offset = n
	}
	order, err := parseOrderBy(c.q.Get("orderBy"))
	if err != nil {
		return err
	}

	var objs []object
	next := ""
	c.d.mu.Lock()
	err = func() *apiError {
		var sp *space
		if slices.Contains(spaces, appDataAlias) {
			var err *apiError
			if sp, err = c.callerSpace(); err != nil {
				return err
			}
		}
		match, err := parseQuery(c.q.Get("q"), c.queryParent(sp))
		if err != nil {
			return err
		}
		var hits []*File
		if sp != nil {
			for _, f := range sp.files {
				if match(f) {
					hits = append(hits, f)
				}
			}
		}
		sort.SliceStable(hits, func(i, j int) bool {
			for _, o := range order {
				n := compareFiles(o.key, hits[i], hits[j])
				if o.desc {
					n = -n
				}
				if n != 0 {
					return n < 0
				}
			}
			return false
		})
		if offset > len(hits) {
			offset = len(hits)
		}
		end := min(offset+pageSize, len(hits))
		if end < len(hits) {
			next = encodePageToken(end)
		}
		objs = make([]object, 0, end-offset)
		for _, f := range hits[offset:end] {
			objs = append(objs, c.fileJSON(sp, f))
		}
		return nil
	}()
	c.d.mu.Unlock()
	if err != nil {
		return err
	}
	var o object
	if next != "" {
		o = append(o, member{"nextPageToken", next})
	}
	o = append(o, member{"kind", "drive#fileList"}, member{"incompleteSearch", false}, member{"files", objs})
	c.writeJSON(http.StatusOK, mask.apply(o))
	return nil
}

// queryParent returns the resolver for "'<id>' in parents": the real ID a
// term matches, or 404 for an ID unknown in sp. sp may be nil when the list
// does not search the app data folder; then only the alias is known, and
// matches nothing. c.d.mu must be held while it runs.
func (c *call) queryParent(sp *space) func(string) (string, *apiError) {
	return func(id string) (string, *apiError) {
		if c.isFolderAlias(id) {
			if sp == nil {
				return "", nil
			}
			return sp.folderID, nil // "" (matching nothing) while the folder does not exist
		}
		if sp != nil && (id == sp.folderID || sp.find(id) != nil) {
			return id, nil
		}
		return "", errNotFound(id)
	}
}

// encodePageToken returns an opaque token for the list offset off.
func encodePageToken(off int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("serverauthtest-drive-page:" + strconv.Itoa(off)))
}

// decodePageToken reverses encodePageToken.
func decodePageToken(t string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil {
		return 0, false
	}
	s, ok := strings.CutPrefix(string(b), "serverauthtest-drive-page:")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

// ---- update, delete, share ----

// metadataUpdate serves PATCH /drive/v3/files/{id}.
func (c *call) metadataUpdate(id string) *apiError {
	body, err := c.readBody()
	if err != nil {
		return err
	}
	meta, err := decodeMeta(body)
	if err != nil {
		return err
	}
	return c.finishUpdate(id, meta, c.q.Get("addParents"), c.q.Get("removeParents"), nil)
}

// uploadUpdate serves PATCH /upload/drive/v3/files/{id}.
func (c *call) uploadUpdate(id string) *apiError {
	switch t := c.q.Get("uploadType"); t {
	case "multipart":
		meta, media, err := c.readMultipart()
		if err != nil {
			return err
		}
		return c.finishUpdate(id, meta, c.q.Get("addParents"), c.q.Get("removeParents"), &media)
	case "media":
		body, err := c.readBody()
		if err != nil {
			return err
		}
		return c.finishUpdate(id, metadata{}, c.q.Get("addParents"), c.q.Get("removeParents"), &mediaData{data: body, typ: baseType(c.r.Header.Get("Content-Type"))})
	case "resumable":
		return c.startUpload(id)
	case "":
		return newError(http.StatusBadRequest, "badRequest", "Upload requests must include an uploadType URL parameter and a URL path beginning with /upload/.")
	default:
		return errInvalid("uploadType", fmt.Sprintf("Invalid value for uploadType: %s", t))
	}
}

// finishUpdate updates the file and writes it as the response.
func (c *call) finishUpdate(id string, meta metadata, add, remove string, media *mediaData) *apiError {
	mask, err := c.fileFields()
	if err != nil {
		return err
	}
	var obj object
	err = c.inSpace(func(sp *space) *apiError {
		f, err := c.update(sp, id, meta, add, remove, media)
		if err != nil {
			return err
		}
		obj = c.fileJSON(sp, f)
		return nil
	})
	if err != nil {
		return err
	}
	c.writeJSON(http.StatusOK, mask.apply(obj))
	return nil
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

// splitIDs splits a comma-separated ID list, dropping empty items.
func splitIDs(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// checkUpdate validates an update of id in sp and returns the file and its
// new parents. c.d.mu must be held.
func (c *call) checkUpdate(sp *space, id string, meta metadata, add, remove string) (*File, []string, *apiError) {
	f, root, err := c.resolve(sp, id)
	if err != nil {
		return nil, nil, err
	}
	if root {
		return nil, nil, errFolderItself()
	}
	if meta.Parents != nil {
		return nil, nil, newError(http.StatusForbidden, "fieldNotWritable", "The parents field is not directly writable in update requests. Use the addParents and removeParents parameters instead.")
	}
	parents := slices.Clone(f.Parents)
	for _, r := range splitIDs(remove) {
		if c.isFolderAlias(r) {
			r = sp.folderID
		}
		parents = slices.DeleteFunc(parents, func(p string) bool { return p == r })
	}
	for _, a := range splitIDs(add) {
		real, ok, err := c.folderRef(sp, a)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			return nil, nil, errAppDataOnly()
		}
		if !slices.Contains(parents, real) {
			parents = append(parents, real)
		}
	}
	switch {
	case len(parents) == 0:
		return nil, nil, errAppDataOnly()
	case len(parents) > 1:
		return nil, nil, newError(http.StatusForbidden, "cannotAddParent", "Increasing the number of parents is not allowed.")
	}
	// A folder may not move into itself or below itself.
	for p, hops := parents[0], 0; p != sp.folderID && hops <= len(sp.files); hops++ {
		if p == f.ID {
			return nil, nil, newError(http.StatusBadRequest, "badRequest", "A folder cannot be moved into itself or one of its descendants.")
		}
		pf := sp.find(p)
		if pf == nil || len(pf.Parents) == 0 {
			break
		}
		p = pf.Parents[0]
	}
	if err := checkProperties(meta.AppProperties); err != nil {
		return nil, nil, err
	}
	if err := checkProperties(meta.Properties); err != nil {
		return nil, nil, err
	}
	if _, _, err := parseModified(meta.ModifiedTime); err != nil {
		return nil, nil, err
	}
	return f, parents, nil
}

// update changes the file id in sp. c.d.mu must be held.
func (c *call) update(sp *space, id string, meta metadata, add, remove string, media *mediaData) (*File, *apiError) {
	f, parents, err := c.checkUpdate(sp, id, meta, add, remove)
	if err != nil {
		return nil, err
	}
	if meta.Name != nil {
		f.Name = *meta.Name
		if f.Name == "" {
			f.Name = defaultName
		}
	}
	if meta.MimeType != nil && *meta.MimeType != "" {
		f.MimeType = *meta.MimeType
	}
	if meta.Description != nil {
		f.Description = *meta.Description
	}
	f.AppProperties = mergeProperties(f.AppProperties, meta.AppProperties)
	f.Properties = mergeProperties(f.Properties, meta.Properties)
	f.Parents = parents
	if media != nil {
		f.Content = bytes.Clone(media.data)
	}
	f.Version++
	f.Modified = c.d.clock()
	if t, ok, _ := parseModified(meta.ModifiedTime); ok {
		f.Modified = t
	}
	return f, nil
}

// delete serves DELETE /drive/v3/files/{id}: the file and, for a folder,
// everything below it.
func (c *call) delete(id string) *apiError {
	err := c.inSpace(func(sp *space) *apiError {
		f, root, err := c.resolve(sp, id)
		if err != nil {
			return err
		}
		if root {
			return errFolderItself()
		}
		gone := map[string]bool{f.ID: true}
		for changed := true; changed; {
			changed = false
			for _, g := range sp.files {
				if !gone[g.ID] && slices.ContainsFunc(g.Parents, func(p string) bool { return gone[p] }) {
					gone[g.ID], changed = true, true
				}
			}
		}
		sp.files = slices.DeleteFunc(sp.files, func(g *File) bool { return gone[g.ID] })
		return nil
	})
	if err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// share serves POST /drive/v3/files/{id}/permissions: app data cannot be
// shared.
func (c *call) share(id string) *apiError {
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	sp, err := c.callerSpace()
	if err != nil {
		return err
	}
	if _, _, err := c.resolve(sp, id); err != nil {
		return err
	}
	return errAppDataOnly()
}

// ---- resumable uploads ----

// startUpload opens a resumable upload session for a create (fileID "") or
// an update of fileID, after validating what can be validated now.
func (c *call) startUpload(fileID string) *apiError {
	if _, err := c.fileFields(); err != nil {
		return err
	}
	body, err := c.readBody()
	if err != nil {
		return err
	}
	meta, err := decodeMeta(body)
	if err != nil {
		return err
	}
	u := &session{
		key:        spaceKey{c.grant.Sub, c.grant.Project},
		appData:    c.appData,
		full:       c.full,
		fileID:     fileID,
		rpc:        c.rpc,
		meta:       meta,
		addParents: c.q.Get("addParents"),
		rmParents:  c.q.Get("removeParents"),
		mediaType:  baseType(c.r.Header.Get("X-Upload-Content-Type")),
		total:      -1,
	}
	if s := c.r.Header.Get("X-Upload-Content-Length"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return newError(http.StatusBadRequest, "badRequest", "Invalid X-Upload-Content-Length header.")
		}
		u.total = n
	}
	id := randomID(64)
	err = c.inSpace(func(sp *space) *apiError {
		if fileID == "" {
			_, err = c.checkCreate(sp, meta)
		} else {
			_, _, err = c.checkUpdate(sp, fileID, meta, u.addParents, u.rmParents)
		}
		if err != nil {
			return err
		}
		c.d.uploads[id] = u
		return nil
	})
	if err != nil {
		return err
	}
	q := cloneQuery(c.q)
	q.Set("upload_id", id)
	scheme := "http"
	if c.r.TLS != nil {
		scheme = "https"
	}
	loc := url.URL{Scheme: scheme, Host: c.r.Host, Path: c.r.URL.Path, RawQuery: q.Encode()}
	h := c.w.Header()
	h.Set("Location", loc.String())
	h.Set("X-GUploader-UploadID", id)
	h.Set("Content-Length", "0")
	c.w.WriteHeader(http.StatusOK)
	return nil
}

// cloneQuery copies v.
func cloneQuery(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// resumeUpload serves a resumable session URI: PUT or POST a chunk with
// Content-Range "bytes a-b/total", "bytes a-b/*" or "bytes */total", or the
// whole content without Content-Range; DELETE cancels the session.
func (c *call) resumeUpload() *apiError {
	id := c.q.Get("upload_id")
	m := c.r.Method
	if m != http.MethodPut && m != http.MethodPost && m != http.MethodDelete {
		return errMethod("DELETE, POST, PUT")
	}
	var body []byte
	if m != http.MethodDelete {
		var err *apiError
		if body, err = c.readBody(); err != nil {
			return err
		}
	}
	start, end, total, err := parseContentRange(c.r.Header.Get("Content-Range"), len(body))
	if err != nil {
		return err
	}
	mask, err := c.fileFields()
	if err != nil {
		return err
	}

	var obj object
	var received int
	var done bool
	c.d.mu.Lock()
	err = func() *apiError {
		u := c.d.uploads[id]
		if u == nil {
			return newError(http.StatusNotFound, "notFound", "Upload session not found: "+id+".")
		}
		if m == http.MethodDelete {
			delete(c.d.uploads, id)
			return nil
		}
		if start >= 0 {
			if start > len(u.data) {
				return newError(http.StatusBadRequest, "badRequest", fmt.Sprintf("Content-Range starts at %d but %d bytes were received.", start, len(u.data)))
			}
			if end >= len(u.data) {
				u.data = append(u.data, body[len(u.data)-start:]...)
			}
		}
		if total >= 0 {
			u.total = total
		}
		received = len(u.data)
		if u.total < 0 || int64(received) < u.total {
			return nil
		}
		if int64(received) > u.total {
			delete(c.d.uploads, id)
			return newError(http.StatusBadRequest, "badRequest", "The upload is longer than its declared length.")
		}
		delete(c.d.uploads, id)
		done = true
		c.grant = Grant{Sub: u.key.sub, Project: u.key.project}
		c.appData, c.full, c.rpc = u.appData, u.full, u.rpc
		sp, err := c.callerSpace()
		if err != nil {
			return err
		}
		media := &mediaData{data: u.data, typ: u.mediaType}
		var f *File
		if u.fileID == "" {
			f, err = c.create(sp, u.meta, media)
		} else {
			f, err = c.update(sp, u.fileID, u.meta, u.addParents, u.rmParents, media)
		}
		if err != nil {
			return err
		}
		obj = c.fileJSON(sp, f)
		return nil
	}()
	c.d.mu.Unlock()
	switch {
	case err != nil:
		return err
	case m == http.MethodDelete:
		c.w.Header().Set("Content-Length", "0")
		c.w.WriteHeader(499) // Google's "client closed request"
		return nil
	case done:
		c.writeJSON(http.StatusOK, mask.apply(obj))
		return nil
	}
	h := c.w.Header()
	if received > 0 {
		h.Set("Range", fmt.Sprintf("bytes=0-%d", received-1))
	}
	h.Set("Content-Length", "0")
	if c.r.Header.Get("X-GUploader-No-308") == "yes" {
		h.Set("X-Http-Status-Code-Override", "308")
		c.w.WriteHeader(http.StatusOK)
	} else {
		c.w.WriteHeader(http.StatusPermanentRedirect) // "308 Resume Incomplete"
	}
	return nil
}

// parseContentRange parses a resumable upload's Content-Range for a body of
// n bytes: start is -1 when the request carries no bytes, total is -1 when
// unknown. A missing header means the body is the whole content.
func parseContentRange(h string, n int) (start, end int, total int64, err *apiError) {
	bad := newError(http.StatusBadRequest, "badRequest", "Failed to parse Content-Range header.")
	if h == "" {
		return 0, n - 1, int64(n), nil
	}
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes ")
	if !ok {
		return 0, 0, 0, bad
	}
	rng, tot, ok := strings.Cut(spec, "/")
	if !ok {
		return 0, 0, 0, bad
	}
	total = -1
	if tot != "*" {
		t, perr := strconv.ParseInt(tot, 10, 64)
		if perr != nil || t < 0 {
			return 0, 0, 0, bad
		}
		total = t
	}
	if rng == "*" {
		if n != 0 {
			return 0, 0, 0, bad
		}
		return -1, -1, total, nil
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, 0, bad
	}
	start, e1 := strconv.Atoi(a)
	end, e2 := strconv.Atoi(b)
	if e1 != nil || e2 != nil || start < 0 || end < start || end-start+1 != n || (total >= 0 && int64(end) >= total) {
		return 0, 0, 0, bad
	}
	return start, end, total, nil
}

// ---- resources ----

// member is one member of a object.
type member struct {
	k string
	v any
}

// object is a JSON object that keeps its members in order, as Drive's
// responses do.
type object []member

// MarshalJSON writes o as a JSON object in member order.
func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(f.k)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(f.v)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// propsJSON returns a property map as an object sorted by key.
func propsJSON(m map[string]string) object {
	o := make(object, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		o = append(o, member{k, m[k]})
	}
	return o
}

// fileJSON returns f's full resource. c.d.mu must be held.
func (c *call) fileJSON(sp *space, f *File) object {
	o := object{
		{"kind", "drive#file"},
		{"id", f.ID},
		{"name", f.Name},
		{"mimeType", f.MimeType},
	}
	if f.Description != "" {
		o = append(o, member{"description", f.Description})
	}
	parents := slices.Clone(f.Parents)
	for i, p := range parents {
		if p == sp.folderID && c.d.opts.ReportParentsAsAlias {
			parents[i] = appDataAlias
		}
	}
	o = append(o,
		member{"starred", false},
		member{"trashed", false},
		member{"explicitlyTrashed", false},
		member{"parents", parents},
	)
	if len(f.Properties) > 0 {
		o = append(o, member{"properties", propsJSON(f.Properties)})
	}
	if len(f.AppProperties) > 0 {
		o = append(o, member{"appProperties", propsJSON(f.AppProperties)})
	}
	o = append(o,
		member{"spaces", []string{appDataAlias}},
		member{"version", strconv.FormatInt(f.Version, 10)},
		member{"createdTime", f.Created.UTC().Format(timeLayout)},
		member{"modifiedTime", f.Modified.UTC().Format(timeLayout)},
		member{"ownedByMe", true},
	)
	if f.MimeType != folderType && !strings.HasPrefix(f.MimeType, googleAppsType) {
		m5, s1, s256 := md5.Sum(f.Content), sha1.Sum(f.Content), sha256.Sum256(f.Content)
		o = append(o,
			member{"md5Checksum", hex.EncodeToString(m5[:])},
			member{"sha1Checksum", hex.EncodeToString(s1[:])},
			member{"sha256Checksum", hex.EncodeToString(s256[:])},
			member{"size", strconv.Itoa(len(f.Content))},
		)
	}
	return append(o, member{"quotaBytesUsed", strconv.Itoa(len(f.Content))})
}

// folderJSON returns the app data folder's resource. c.d.mu must be held.
func (c *call) folderJSON(sp *space) object {
	t := sp.folderCreated.UTC().Format(timeLayout)
	return object{
		{"kind", "drive#file"},
		{"id", sp.folderID},
		{"name", c.d.opts.AppDataFolderName},
		{"mimeType", folderType},
		{"starred", false},
		{"trashed", false},
		{"explicitlyTrashed", false},
		{"spaces", []string{appDataAlias}},
		{"version", "1"},
		{"createdTime", t},
		{"modifiedTime", t},
		{"ownedByMe", true},
		{"quotaBytesUsed", "0"},
	}
}

// ---- fields= ----

// fieldMask is a parsed fields= selection: each key selects a member; a nil
// value selects the whole member, a non-nil one the listed members of it. The
// key "*" selects every member.
type fieldMask map[string]fieldMask

// Default selections: what Drive v3 returns when fields= is absent.
var (
	fileDefault = mustParseFields("kind,id,name,mimeType")
	listDefault = mustParseFields("nextPageToken,kind,incompleteSearch,files(kind,id,name,mimeType)")
)

// fileMembers are the members of a Drive v3 File resource (from the
// google.golang.org/api/drive/v3 File type), so fields= can reject names
// Drive would reject.
var fileMembers = strings.Fields(`appProperties capabilities clientEncryptionDetails
	contentHints contentRestrictions copyRequiresWriterPermission createdTime description
	downloadRestrictions driveId explicitlyTrashed exportLinks fileExtension folderColorRgb
	fullFileExtension hasAugmentedPermissions hasThumbnail headRevisionId iconLink id
	imageMediaMetadata inheritedPermissionsDisabled isAppAuthorized kind labelInfo
	lastModifyingUser linkShareMetadata md5Checksum mimeType modifiedByMe modifiedByMeTime
	modifiedTime name originalFilename ownedByMe owners parents permissionIds permissions
	properties quotaBytesUsed resourceKey sha1Checksum sha256Checksum shared sharedWithMeTime
	sharingUser shortcutDetails size spaces starred teamDriveId thumbnailLink thumbnailVersion
	trashed trashedTime trashingUser version videoMediaMetadata viewedByMe viewedByMeTime
	viewersCanCopyContent webContentLink webViewLink writersCanShare`)

// mustParseFields parses a selection known to be valid.
func mustParseFields(s string) fieldMask {
	m, ok := parseFields(s)
	if !ok {
		panic("serverauthtest: bad fields " + s)
	}
	return m
}

// validateFileFields returns the first member of m a File lacks, or "".
func validateFileFields(m fieldMask) string {
	for k := range m {
		if k != "*" && !slices.Contains(fileMembers, k) {
			return k
		}
	}
	return ""
}

// validateListFields returns the first member of m a FileList lacks, or "".
func validateListFields(m fieldMask) string {
	for k, sub := range m {
		switch k {
		case "*", "kind", "incompleteSearch", "nextPageToken":
		case "files":
			if bad := validateFileFields(sub); bad != "" {
				return bad
			}
		default:
			return k
		}
	}
	return ""
}

// fileFields returns the call's selection for a File response.
func (c *call) fileFields() (fieldMask, *apiError) {
	return c.fields(fileDefault, validateFileFields)
}

// fields returns the call's fields= selection, or def when absent.
func (c *call) fields(def fieldMask, validate func(fieldMask) string) (fieldMask, *apiError) {
	s := c.q["fields"]
	if strings.TrimSpace(strings.Join(s, "")) == "" {
		return def, nil
	}
	m, ok := parseFields(strings.Join(s, ","))
	if !ok {
		return nil, newError(http.StatusBadRequest, "invalidParameter", "Invalid field selection "+strings.Join(s, ",")).at("fields", "parameter")
	}
	if bad := validate(m); bad != "" {
		return nil, newError(http.StatusBadRequest, "invalidParameter", "Invalid field selection "+bad).at("fields", "parameter")
	}
	return m, nil
}

// parseFields parses a fields= value: a comma-separated list of member
// paths ("a/b/c"), each optionally followed by a parenthesised sub-list.
func parseFields(s string) (fieldMask, bool) {
	p := &fieldsParser{s: s}
	m := fieldMask{}
	if !p.list(m) {
		return nil, false
	}
	p.space()
	return m, p.i == len(p.s)
}

// fieldsParser is the state of parseFields.
type fieldsParser struct {
	s string
	i int
}

func (p *fieldsParser) space() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *fieldsParser) peek() byte {
	p.space()
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *fieldsParser) list(into fieldMask) bool {
	for {
		if !p.item(into) {
			return false
		}
		if p.peek() != ',' {
			return true
		}
		p.i++
	}
}

func (p *fieldsParser) item(into fieldMask) bool {
	var path []string
	for {
		p.space()
		j := p.i
		for p.i < len(p.s) && !strings.ContainsRune(",()/ ", rune(p.s[p.i])) {
			p.i++
		}
		if p.i == j {
			return false
		}
		path = append(path, p.s[j:p.i])
		if p.peek() != '/' {
			break
		}
		p.i++
	}
	var sub fieldMask
	if p.peek() == '(' {
		p.i++
		sub = fieldMask{}
		if !p.list(sub) || p.peek() != ')' {
			return false
		}
		p.i++
	}
	for i := len(path) - 1; i > 0; i-- {
		sub = fieldMask{path[i]: sub}
	}
	mergeFields(into, path[0], sub)
	return true
}

// mergeFields adds the selection k(sub) to into.
func mergeFields(into fieldMask, k string, sub fieldMask) {
	old, ok := into[k]
	switch {
	case !ok:
		into[k] = sub
	case old == nil || sub == nil:
		into[k] = nil
	default:
		for k2, v2 := range sub {
			mergeFields(old, k2, v2)
		}
	}
}

// apply returns the members of o that m selects.
func (m fieldMask) apply(o object) object {
	if _, all := m["*"]; all {
		return o
	}
	out := object{}
	for _, f := range o {
		sub, ok := m[f.k]
		if !ok {
			continue
		}
		switch v := f.v.(type) {
		case object:
			if sub != nil {
				f.v = sub.apply(v)
			}
		case []object:
			if sub != nil {
				arr := make([]object, len(v))
				for i := range v {
					arr[i] = sub.apply(v[i])
				}
				f.v = arr
			}
		}
		out = append(out, f)
	}
	return out
}

// ---- q= ----

// matcher reports whether a file matches a query.
type matcher func(*File) bool

// parseQuery compiles q (empty matches everything); parent resolves the
// ID of an "in parents" term to a real ID (or errors).
func parseQuery(q string, parent func(string) (string, *apiError)) (matcher, *apiError) {
	if strings.TrimSpace(q) == "" {
		return func(*File) bool { return true }, nil
	}
	toks, ok := lexQuery(q)
	if !ok {
		return nil, errBadQuery()
	}
	p := &queryParser{toks: toks, parent: parent}
	m := p.or()
	if p.err == nil && p.i != len(p.toks) {
		p.fail()
	}
	if p.err != nil {
		return nil, p.err
	}
	return m, nil
}

// queryToken is a query token: kind 'w' a word, 's' a string, 'o' an operator,
// or one of ( ) { }.
type queryToken struct {
	kind byte
	s    string
}

// lexQuery splits q into tokens.
func lexQuery(q string) ([]queryToken, bool) {
	var toks []queryToken
	for i := 0; i < len(q); {
		ch := q[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			i++
		case ch == '(' || ch == ')' || ch == '{' || ch == '}':
			toks = append(toks, queryToken{kind: ch})
			i++
		case ch == '\'':
			var b strings.Builder
			i++
			for {
				if i >= len(q) {
					return nil, false
				}
				if q[i] == '\\' {
					if i+1 >= len(q) || (q[i+1] != '\'' && q[i+1] != '\\') {
						return nil, false
					}
					b.WriteByte(q[i+1])
					i += 2
					continue
				}
				if q[i] == '\'' {
					i++
					break
				}
				b.WriteByte(q[i])
				i++
			}
			toks = append(toks, queryToken{kind: 's', s: b.String()})
		case ch == '=' || ch == '!' || ch == '<' || ch == '>':
			j := i + 1
			if j < len(q) && q[j] == '=' {
				j++
			}
			op := q[i:j]
			if op == "!" {
				return nil, false
			}
			toks = append(toks, queryToken{kind: 'o', s: op})
			i = j
		case ch == '_' || ch == '.' || ch < utf8.RuneSelf && (unicode.IsLetter(rune(ch)) || unicode.IsDigit(rune(ch))):
			j := i
			for j < len(q) && (q[j] == '_' || q[j] == '.' || q[j] < utf8.RuneSelf && (unicode.IsLetter(rune(q[j])) || unicode.IsDigit(rune(q[j])))) {
				j++
			}
			toks = append(toks, queryToken{kind: 'w', s: q[i:j]})
			i = j
		default:
			return nil, false
		}
	}
	return toks, true
}

// queryParser is the state of parseQuery.
type queryParser struct {
	toks   []queryToken
	i      int
	parent func(string) (string, *apiError)
	err    *apiError
}

func (p *queryParser) fail() matcher {
	if p.err == nil {
		p.err = errBadQuery()
	}
	return func(*File) bool { return false }
}

func (p *queryParser) next() queryToken {
	if p.i < len(p.toks) {
		p.i++
		return p.toks[p.i-1]
	}
	return queryToken{}
}

func (p *queryParser) peekWord(w string) bool {
	return p.i < len(p.toks) && p.toks[p.i].kind == 'w' && strings.EqualFold(p.toks[p.i].s, w)
}

func (p *queryParser) or() matcher {
	m := p.and()
	for p.err == nil && p.peekWord("or") {
		p.i++
		a, b := m, p.and()
		m = func(f *File) bool { return a(f) || b(f) }
	}
	return m
}

func (p *queryParser) and() matcher {
	m := p.unary()
	for p.err == nil && p.peekWord("and") {
		p.i++
		a, b := m, p.unary()
		m = func(f *File) bool { return a(f) && b(f) }
	}
	return m
}

func (p *queryParser) unary() matcher {
	switch {
	case p.peekWord("not"):
		p.i++
		m := p.unary()
		return func(f *File) bool { return !m(f) }
	case p.i < len(p.toks) && p.toks[p.i].kind == '(':
		p.i++
		m := p.or()
		if p.next().kind != ')' {
			return p.fail()
		}
		return m
	}
	return p.term()
}

// term parses one comparison.
func (p *queryParser) term() matcher {
	t := p.next()
	if t.kind == 's' { // '<id>' in parents
		if in, field := p.next(), p.next(); in.kind != 'w' || in.s != "in" || field.kind != 'w' || field.s != "parents" {
			return p.fail()
		}
		id, err := p.parent(t.s)
		if err != nil {
			p.err = err
			return p.fail()
		}
		return func(f *File) bool { return id != "" && slices.Contains(f.Parents, id) }
	}
	if t.kind != 'w' {
		return p.fail()
	}
	switch t.s {
	case "name", "mimeType":
		op, v := p.next(), p.next()
		get := func(f *File) string { return f.Name }
		if t.s == "mimeType" {
			get = func(f *File) string { return f.MimeType }
		}
		if v.kind != 's' {
			return p.fail()
		}
		switch {
		case op.kind == 'o' && op.s == "=":
			return func(f *File) bool { return get(f) == v.s }
		case op.kind == 'o' && op.s == "!=":
			return func(f *File) bool { return get(f) != v.s }
		case op.kind == 'w' && op.s == "contains" && t.s == "name":
			return func(f *File) bool { return nameContains(f.Name, v.s) }
		case op.kind == 'w' && op.s == "contains":
			return func(f *File) bool { return strings.Contains(f.MimeType, v.s) }
		}
		return p.fail()
	case "trashed", "starred":
		op, v := p.next(), p.next()
		if op.kind != 'o' || (op.s != "=" && op.s != "!=") || v.kind != 'w' || (v.s != "true" && v.s != "false") {
			return p.fail()
		}
		wantSet := (v.s == "true") == (op.s == "=") // files are never trashed or starred here
		return func(*File) bool { return !wantSet }
	case "createdTime", "modifiedTime":
		op, v := p.next(), p.next()
		if op.kind != 'o' || v.kind != 's' {
			return p.fail()
		}
		at, err := time.Parse(time.RFC3339Nano, v.s)
		if err != nil {
			return p.fail()
		}
		get := func(f *File) time.Time { return f.Created }
		if t.s == "modifiedTime" {
			get = func(f *File) time.Time { return f.Modified }
		}
		cmp := map[string]func(int) bool{
			"=": func(n int) bool { return n == 0 }, "!=": func(n int) bool { return n != 0 },
			"<": func(n int) bool { return n < 0 }, "<=": func(n int) bool { return n <= 0 },
			">": func(n int) bool { return n > 0 }, ">=": func(n int) bool { return n >= 0 },
		}[op.s]
		return func(f *File) bool { return cmp(get(f).Compare(at)) }
	case "appProperties", "properties":
		// appProperties has { key='k' and value='v' }
		want := []byte{'w', '{', 'w', 'o', 's', 'w', 'w', 'o', 's', '}'}
		var got [10]queryToken
		for i, k := range want {
			if got[i] = p.next(); got[i].kind != k {
				return p.fail()
			}
		}
		if got[0].s != "has" || got[2].s != "key" || got[3].s != "=" || !strings.EqualFold(got[5].s, "and") || got[6].s != "value" || got[7].s != "=" {
			return p.fail()
		}
		key, val := got[4].s, got[8].s
		if t.s == "appProperties" {
			return func(f *File) bool { v, ok := f.AppProperties[key]; return ok && v == val }
		}
		return func(f *File) bool { v, ok := f.Properties[key]; return ok && v == val }
	}
	return p.fail()
}

// nameContains is Drive's "name contains": a case-insensitive prefix match
// on the name or on any word in it.
func nameContains(name, v string) bool {
	n, v := []rune(strings.ToLower(name)), strings.ToLower(v)
	for i := range n {
		if i > 0 && (unicode.IsLetter(n[i-1]) || unicode.IsDigit(n[i-1])) {
			continue
		}
		if strings.HasPrefix(string(n[i:]), v) {
			return true
		}
	}
	return v == ""
}

// ---- errors ----

// apiError is a Google-API-style error response: the legacy errors[] array
// plus status and, where Google sends them, details.
type apiError struct {
	Code    int         `json:"code"`
	Message string      `json:"message"`
	Errors  []errorItem `json:"errors"`
	Status  string      `json:"status,omitempty"`
	Details []any       `json:"details,omitempty"`

	header http.Header // extra response headers, such as WWW-Authenticate
}

// errorItem is one entry of errors[].
type errorItem struct {
	Message      string `json:"message"`
	Domain       string `json:"domain"`
	Reason       string `json:"reason"`
	Location     string `json:"location,omitempty"`
	LocationType string `json:"locationType,omitempty"`
}

// errorInfo is a google.rpc.ErrorInfo detail.
type errorInfo struct {
	Type     string            `json:"@type"`
	Reason   string            `json:"reason"`
	Domain   string            `json:"domain"`
	Metadata map[string]string `json:"metadata"`
}

// newError returns an error whose message and single item's message are msg.
func newError(code int, reason, msg string) *apiError {
	return &apiError{
		Code:    code,
		Message: msg,
		Errors:  []errorItem{{Message: msg, Domain: "global", Reason: reason}},
		Status:  rpcStatus(code),
	}
}

// at sets the location of e's item.
func (e *apiError) at(location, locationType string) *apiError {
	e.Errors[0].Location, e.Errors[0].LocationType = location, locationType
	return e
}

// rpcStatus maps an HTTP status to the google.rpc.Code name Google sends.
func rpcStatus(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusRequestEntityTooLarge:
		return "OUT_OF_RANGE"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusInternalServerError:
		return "INTERNAL"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	}
	return ""
}

// errorInfoFor returns the ErrorInfo detail for reason on rpc.
func errorInfoFor(reason, rpc string) []any {
	return []any{errorInfo{
		Type:     errorInfoType,
		Reason:   reason,
		Domain:   "googleapis.com",
		Metadata: map[string]string{"method": rpcPrefix + rpc, "service": serviceName},
	}}
}

func errNotFound(id string) *apiError {
	return newError(http.StatusNotFound, "notFound", "File not found: "+id+".").at("fileId", "parameter")
}

func errInvalid(location, msg string) *apiError {
	return newError(http.StatusBadRequest, "invalid", msg).at(location, "parameter")
}

func errBadQuery() *apiError { return errInvalid("q", "Invalid Value") }

func errAppDataOnly() *apiError {
	return newError(http.StatusForbidden, "notSupportedForAppDataFolderFiles", "Method not supported for files within the Application Data folder.")
}

func errFolderItself() *apiError {
	return newError(http.StatusForbidden, "insufficientFilePermissions", "The user does not have sufficient permissions for this file.")
}

func errNoMethod() *apiError {
	return newError(http.StatusNotFound, "notFound", "Method not found.")
}

func errMethod(allow string) *apiError {
	e := newError(http.StatusMethodNotAllowed, "httpMethodNotAllowed", "HTTP method not allowed.")
	e.header = http.Header{"Allow": {allow}}
	return e
}

func errUnimplemented(method, path string) *apiError {
	return newError(http.StatusNotImplemented, "notImplemented", fmt.Sprintf("serverauthtest: the Drive emulator does not implement %s /drive/v3/%s.", method, path))
}

func errLoginRequired(rpc string) *apiError {
	e := newError(http.StatusUnauthorized, "required", "Login Required.").at("Authorization", "header")
	e.Message = "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
	e.Details = errorInfoFor("CREDENTIALS_MISSING", rpc)
	e.header = http.Header{"Www-Authenticate": {authRealm}}
	return e
}

func errInvalidCredentials() *apiError {
	e := newError(http.StatusUnauthorized, "authError", "Invalid Credentials").at("Authorization", "header")
	e.header = http.Header{"Www-Authenticate": {authRealm + `, error="invalid_token"`}}
	return e
}

func errInsufficientScope(rpc string) *apiError {
	e := newError(http.StatusForbidden, "insufficientPermissions", "Insufficient Permission")
	e.Message = "Request had insufficient authentication scopes."
	e.Details = errorInfoFor("ACCESS_TOKEN_SCOPE_INSUFFICIENT", rpc)
	e.header = http.Header{"Www-Authenticate": {authRealm + `, error="insufficient_scope", scope="` + scopeFull + " " + scopeAppData + `"`}}
	return e
}

// ---- output ----

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

// errorBody is Google's {"error": {...}} envelope.
type errorBody struct {
	Error *apiError `json:"error"`
}

// ErrorBody returns, for JSON encoding, the body of a Google API error with
// a single item: {"error":{"code":…,"message":…,"errors":[{"message":…,
// "domain":"global","reason":…}],"status":…}}. Drive answers in this shape,
// and so do Google's other JSON APIs.
func ErrorBody(code int, reason, msg string) any {
	return errorBody{newError(code, reason, msg)}
}

// randomID returns n random characters of Drive's ID alphabet.
func randomID(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[b[i]&63]
	}
	return string(b)
}
