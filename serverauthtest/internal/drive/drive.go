package drive

import (
	"bytes"
	"crypto/rand"
	"maps"
	"slices"
	"sync"
	"time"
)

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
// unverified (behaviour Google does not document). The
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

// Emulator emulates the Drive v3 subset for appDataFolder. It is safe for
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

// Files returns a copy of the user's app data files for project, sorted by
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

// clock returns the emulator's time as Drive keeps it: UTC, to the
// millisecond.
func (d *Emulator) clock() time.Time { return d.now().UTC().Truncate(time.Millisecond) }

// find returns the file id in sp, or nil.
func (sp *space) find(id string) *File {
	for _, f := range sp.files {
		if f.ID == id {
			return f
		}
	}
	return nil
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
