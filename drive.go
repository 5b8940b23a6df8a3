package serverauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/api/drive/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/serverauth/serverauth/internal/redact"
)

// Drive scopes that give access to some of a user's Drive.
var driveScopes = []string{
	ScopeDrive, ScopeDriveAppData,
	googleScopePrefix + "drive.file", googleScopePrefix + "drive.readonly",
	googleScopePrefix + "drive.metadata", googleScopePrefix + "drive.metadata.readonly",
}

// Drive returns a Drive v3 client acting as the user, for code that needs
// more than AppData offers. Its requests carry the user's auto-refreshing
// token (a 401 triggers one refresh and one retry) and go to
// Endpoints.DriveURL. A user who granted no Drive scope gets
// ErrScopeNotGranted before any Drive call; a user whose grant is dead,
// ErrReauthRequired.
//
// Its error answers (status 400 and up) are scrubbed of the user's token
// and of credential-shaped strings before the Drive client parses them, so
// a *googleapi.Error's Body, Message, Errors and Header never show them; an
// answer over 64 KiB is replaced by a short note. They are not truncated,
// and content the caller sent is not masked: AppData does both.
func (e *Exchanger) Drive(ctx context.Context, userID string) (*drive.Service, error) {
	rec, err := e.driveUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(driveScopes, func(s string) bool { return hasScope(rec.Scopes, s) }) {
		return nil, &ScopeError{Missing: []string{ScopeDriveAppData}}
	}
	return e.driveService(ctx, userID)
}

// driveUser loads the user's record and makes sure a token can be had.
func (e *Exchanger) driveUser(ctx context.Context, userID string) (*Record, error) {
	if e.cfg.Store == nil {
		return nil, errNoStore
	}
	if _, err := e.Token(ctx, userID); err != nil {
		return nil, err
	}
	rec, err := e.load(ctx, userID)
	if err != nil {
		return nil, err
	}
	return rec, nil
}

func (e *Exchanger) driveService(ctx context.Context, userID string) (*drive.Service, error) {
	svc, err := drive.NewService(ctx, option.WithHTTPClient(e.driveClient(userID)), option.WithEndpoint(e.cfg.Endpoints.DriveURL))
	if err != nil {
		return nil, fmt.Errorf("serverauth: creating the Drive client: %w", err)
	}
	return svc, nil
}

// AppData returns helpers for the user's Drive app data folder: a hidden
// folder only this app (this Cloud project) can see, for per-user state. The
// user must have granted drive.appdata (or full drive): otherwise
// ErrScopeNotGranted, before any Drive call.
func (e *Exchanger) AppData(ctx context.Context, userID string) (*AppData, error) {
	rec, err := e.driveUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	if !hasScope(rec.Scopes, ScopeDriveAppData) {
		return nil, &ScopeError{Missing: []string{ScopeDriveAppData}}
	}
	svc, err := e.driveService(ctx, userID)
	if err != nil {
		return nil, err
	}
	return &AppData{Service: svc, e: e, userID: userID}, nil
}

// AppData works on one user's Drive app data folder, getting right what is
// easy to get wrong: every listing passes spaces=appDataFolder, files are
// found by name (the oldest wins if a race made duplicates), writes are
// upserts, and responses ask for the fields they use. It is safe for
// concurrent use.
//
// Its errors hold no token and no content it wrote: Google's text in them
// (a *googleapi.Error's Body, Message, Errors and Header) is scrubbed and
// truncated, and errors.As finds a scrubbed copy of the *googleapi.Error,
// its Code intact, instead of the original (without its Details and its
// wrapped *apierror.APIError, which would show the original). errors.Is
// still finds ErrFileNotFound, ErrReauthRequired and the other sentinels.
type AppData struct {
	// Service is the underlying Drive client, authorised as the user.
	Service *drive.Service

	e      *Exchanger // nil for an AppData the caller built
	userID string
}

// AppDataFolder is Drive v3's alias for the app data folder. The Drive v2
// alias "appfolder" (as in files().get("appfolder")) is accepted by AppData
// methods and mapped to it.
const AppDataFolder = "appDataFolder"

// appDataFields are the file fields AppData asks for.
const appDataFields = "id,name,mimeType,size,createdTime,modifiedTime,version,md5Checksum,appProperties"

// ErrFileNotFound is returned by AppData for a name or ID with no file.
var ErrFileNotFound = errors.New("serverauth: no such file in the app data folder")

// Folder returns the app data folder's own metadata (its real ID, name and
// MIME type): what files().get("appfolder") meant in Drive v2.
func (a *AppData) Folder(ctx context.Context) (*drive.File, error) {
	return a.File(ctx, AppDataFolder)
}

// File returns a file's metadata by ID; "appfolder" and "appDataFolder"
// name the folder itself.
func (a *AppData) File(ctx context.Context, id string) (*drive.File, error) {
	if strings.EqualFold(id, "appfolder") {
		id = AppDataFolder
	}
	f, err := a.Service.Files.Get(id).Fields(appDataFields).Context(ctx).Do()
	return f, a.driveErr(err, id, nil)
}

// List returns every file in the folder, all pages, oldest first.
func (a *AppData) List(ctx context.Context) ([]*drive.File, error) {
	return a.list(ctx, "'appDataFolder' in parents and trashed = false")
}

func (a *AppData) list(ctx context.Context, q string) ([]*drive.File, error) {
	var files []*drive.File
	call := a.Service.Files.List().Spaces(AppDataFolder).Q(q).OrderBy("createdTime").PageSize(1000).
		Fields(googleapi.Field("nextPageToken,files(" + appDataFields + ")"))
	err := call.Pages(ctx, func(l *drive.FileList) error {
		files = append(files, l.Files...)
		return nil
	})
	if err != nil {
		return nil, a.driveErr(err, "", nil)
	}
	return files, nil
}

// Find returns the file called name (the oldest, if there are several), or
// ErrFileNotFound.
func (a *AppData) Find(ctx context.Context, name string) (*drive.File, error) {
	files, err := a.list(ctx, "name = "+quoteQ(name)+" and 'appDataFolder' in parents and trashed = false")
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrFileNotFound, name)
	}
	return files[0], nil
}

// GetOrCreate returns the file called name, creating it empty with mimeType
// if there is none. created reports which.
func (a *AppData) GetOrCreate(ctx context.Context, name, mimeType string) (f *drive.File, created bool, err error) {
	f, err = a.Find(ctx, name)
	if !errors.Is(err, ErrFileNotFound) {
		return f, false, err
	}
	f, err = a.Service.Files.Create(&drive.File{Name: name, MimeType: mimeType, Parents: []string{AppDataFolder}}).
		Fields(appDataFields).Context(ctx).Do()
	if err != nil {
		return nil, false, a.driveErr(err, "", nil)
	}
	return f, true, nil
}

// Read returns the content of the file called name, or ErrFileNotFound.
func (a *AppData) Read(ctx context.Context, name string) ([]byte, error) {
	f, err := a.Find(ctx, name)
	if err != nil {
		return nil, err
	}
	resp, err := a.Service.Files.Get(f.Id).Context(ctx).Download()
	if err != nil {
		return nil, a.driveErr(err, f.Id, nil)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, a.driveErr(err, "", nil)
	}
	return b, nil
}

// Write stores content as the file called name, creating it or replacing
// its content (an upsert), and returns its metadata.
func (a *AppData) Write(ctx context.Context, name, mimeType string, content []byte) (*drive.File, error) {
	f, err := a.Find(ctx, name)
	switch {
	case errors.Is(err, ErrFileNotFound):
		f, err = a.Service.Files.Create(&drive.File{Name: name, MimeType: mimeType, Parents: []string{AppDataFolder}}).
			Media(bytes.NewReader(content), googleapi.ContentType(mimeType)).Fields(appDataFields).Context(ctx).Do()
	case err == nil:
		f, err = a.Service.Files.Update(f.Id, &drive.File{}).
			Media(bytes.NewReader(content), googleapi.ContentType(mimeType)).Fields(appDataFields).Context(ctx).Do()
	default:
		return nil, err
	}
	return f, a.driveErr(err, "", content)
}

// Delete removes every file called name. Deleting a name with no file is
// not an error.
func (a *AppData) Delete(ctx context.Context, name string) error {
	files, err := a.list(ctx, "name = "+quoteQ(name)+" and 'appDataFolder' in parents and trashed = false")
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := a.Service.Files.Delete(f.Id).Context(ctx).Do(); err != nil && !isNotFound(err) {
			return a.driveErr(err, f.Id, nil)
		}
	}
	return nil
}

// quoteQ quotes a string for a Drive query.
func quoteQ(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func isNotFound(err error) bool {
	var ge *googleapi.Error
	return errors.As(err, &ge) && ge.Code == http.StatusNotFound
}

// Bounds on what a Drive error keeps of Google's answer, beside the
// maxDescription (Message, each of Errors, each Header value) and
// maxErrorBody (Body) that bound a TokenError's.
const (
	maxDriveErrorRead  = 64 << 10 // a longer error answer is replaced, not parsed
	maxDriveErrorItems = 8        // googleapi.Error.Errors kept
)

// driveClient is Client(userID) with Drive's error answers scrubbed before
// the Drive client parses them. Only an answer of status 400 or more is
// touched: the success path costs one status check.
func (e *Exchanger) driveClient(userID string) *http.Client {
	return &http.Client{Transport: &scrubTransport{next: e.observedTransport(userID, OpDrive), e: e, userID: userID}}
}

// scrubTransport masks, in the body and headers of an error answer, the
// token the request was sent with, the user's cached token and every
// credential-shaped string: an echoing proxy or a misbehaving server may
// reflect the request.
type scrubTransport struct {
	next   http.RoundTripper
	e      *Exchanger
	userID string
}

func (t *scrubTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode < http.StatusBadRequest {
		return resp, err
	}
	secrets := t.e.driveSecrets(t.userID)
	if resp.Request != nil {
		// The request as sent, Authorization header included.
		if tok, ok := strings.CutPrefix(resp.Request.Header.Get("Authorization"), "Bearer "); ok {
			secrets = append(secrets, tok)
		}
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxDriveErrorRead+1)) // a failed read leaves a partial body, parsed as such
	resp.Body.Close()
	text := redact.String(string(body), secrets...)
	if len(body) > maxDriveErrorRead {
		text = fmt.Sprintf("serverauth: an error answer of more than %d bytes was dropped", maxDriveErrorRead)
	}
	resp.Body = io.NopCloser(strings.NewReader(text))
	resp.ContentLength = int64(len(text))
	resp.Header = scrubHeader(resp.Header, secrets)
	return resp, nil
}

// driveSecrets returns the user's cached access token, fresh or not: the
// one a Drive request most likely carried.
func (e *Exchanger) driveSecrets(userID string) []string {
	if e == nil {
		return nil
	}
	if ct, ok := e.users.cache.Load(userID); ok {
		return []string{ct.accessToken()}
	}
	return nil
}

// driveErr scrubs a Drive call's error of the user's token and the content
// sent (raw and JSON-escaped, as an echo would quote it), maps a 404 on id
// to ErrFileNotFound and prefixes the rest.
func (a *AppData) driveErr(err error, id string, content []byte) error {
	if err == nil {
		return nil
	}
	secrets := a.e.driveSecrets(a.userID)
	if len(content) > 0 {
		quoted, _ := json.Marshal(string(content))
		secrets = append(secrets, string(content), string(quoted[1:len(quoted)-1]))
	}
	err = scrubDriveErr(err, secrets)
	if id != "" && isNotFound(err) {
		return fmt.Errorf("%w: %q: %w", ErrFileNotFound, clip(id, maxDescription, secrets), err)
	}
	return fmt.Errorf("serverauth: drive: %w", err)
}

// scrubDriveErr returns a scrubbed, truncated copy of the *googleapi.Error
// err holds; for any other error (the network's or the library's, whose
// text is bounded by the request), err itself if its text holds no secret,
// else a scrubbedError.
func scrubDriveErr(err error, secrets []string) error {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		c := &googleapi.Error{
			Code:    ge.Code,
			Message: clip(ge.Message, maxDescription, secrets),
			Body:    clip(ge.Body, maxErrorBody, secrets),
			Header:  scrubHeader(ge.Header, secrets),
		}
		for _, it := range ge.Errors[:min(len(ge.Errors), maxDriveErrorItems)] {
			c.Errors = append(c.Errors, googleapi.ErrorItem{Reason: clip(it.Reason, maxDescription, secrets), Message: clip(it.Message, maxDescription, secrets)})
		}
		return c
	}
	msg := err.Error()
	if redact.String(msg, secrets...) == msg {
		return err
	}
	se := &scrubbedError{msg: redact.String(msg, secrets...)}
	for _, s := range []error{ErrReauthRequired, ErrNoRefreshToken, ErrNotFound, ErrDecrypt, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, s) {
			se.keep = append(se.keep, s)
		}
	}
	var te *TokenError
	if errors.As(err, &te) {
		se.keep = append(se.keep, te) // scrubbed already
	}
	return se
}

// scrubbedError stands for a Drive call's error whose text held a secret:
// the text scrubbed, unwrapping only to the library's sentinels and
// *TokenError it matched (whose texts are scrubbed), not to the original.
type scrubbedError struct {
	msg  string
	keep []error
}

func (e *scrubbedError) Error() string   { return e.msg }
func (e *scrubbedError) Unwrap() []error { return e.keep }

// clip scrubs s of secrets and credential shapes, then truncates it to n.
func clip(s string, n int, secrets []string) string {
	return redact.Truncate(redact.String(s, secrets...), n)
}

// scrubHeader returns a copy of h with every value scrubbed and truncated,
// and without the fields whose name is credential-shaped.
func scrubHeader(h http.Header, secrets []string) http.Header {
	if h == nil {
		return nil
	}
	c := make(http.Header, len(h))
	for k, vs := range h {
		if redact.String(k, secrets...) != k {
			continue
		}
		c[k] = make([]string, len(vs))
		for i, v := range vs {
			c[k][i] = clip(v, maxDescription, secrets)
		}
	}
	return c
}
