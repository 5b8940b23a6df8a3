package serverauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/api/drive/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
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
	svc, err := drive.NewService(ctx, option.WithHTTPClient(e.Client(userID)), option.WithEndpoint(e.cfg.Endpoints.DriveURL))
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
	return &AppData{Service: svc}, nil
}

// AppData works on one user's Drive app data folder, getting right what is
// easy to get wrong: every listing passes spaces=appDataFolder, files are
// found by name (the oldest wins if a race made duplicates), writes are
// upserts, and responses ask for the fields they use. It is safe for
// concurrent use.
type AppData struct {
	// Service is the underlying Drive client, authorised as the user.
	Service *drive.Service
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
	return f, driveErr(err, id)
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
		return nil, driveErr(err, "")
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
		return nil, false, driveErr(err, "")
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
		return nil, driveErr(err, f.Id)
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
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
	return f, driveErr(err, "")
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
			return driveErr(err, f.Id)
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

// driveErr maps a Drive 404 on id to ErrFileNotFound and prefixes the rest.
func driveErr(err error, id string) error {
	if err == nil {
		return nil
	}
	if id != "" && isNotFound(err) {
		return fmt.Errorf("%w: %q: %w", ErrFileNotFound, id, err)
	}
	return fmt.Errorf("serverauth: drive: %w", err)
}
