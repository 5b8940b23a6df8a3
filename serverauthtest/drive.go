package serverauthtest

import (
	"net/http"
	"time"
)

// driveGrant is what the Drive emulator needs to know about the grant behind
// a bearer access token.
type driveGrant struct {
	Sub     string   // the user
	Project string   // the Cloud project of the client the token was issued to; app data is per project
	Scopes  []string // granted scopes, full URLs
}

// driveLookup reports the grant behind a bearer access token; ok is false for
// an unknown, revoked or expired token.
type driveLookup func(accessToken string) (g driveGrant, ok bool)

// DriveFile is a file in a user's emulated Drive app data folder.
type DriveFile struct {
	ID            string
	Name          string
	MimeType      string
	Parents       []string // the folder's real ID, as Drive reports it
	Content       []byte
	AppProperties map[string]string
	Created       time.Time
	Modified      time.Time
	Version       int64
}

// drive emulates the Drive v3 subset for appDataFolder.
// TODO(drive helper): implement; this stub only fixes the interface.
type drive struct {
	now    func() time.Time
	lookup driveLookup
}

func newDrive(now func() time.Time, lookup driveLookup) *drive {
	return &drive{now: now, lookup: lookup}
}

// ServeHTTP serves /drive/v3/... and /upload/drive/v3/... .
func (d *drive) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "not implemented", http.StatusNotImplemented)
}

// files returns a copy of the user's app data files for project.
func (d *drive) files(sub, project string) []DriveFile { return nil }
