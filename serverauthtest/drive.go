package serverauthtest

import (
	"slices"

	"github.com/serverauth/serverauth/serverauthtest/internal/drive"
)

// DriveFile is a file in a user's emulated Drive app data folder, as
// [Google.DriveFiles] returns it: its ID, name, MIME type, parents (the
// folder's real ID), content, app and public properties, description,
// creation and modification times (UTC, to the millisecond) and version (1
// at creation, plus 1 for each change). The fake hands out deep copies,
// which are the caller's own.
type DriveFile = drive.File

// DriveOptions selects the Drive emulator's behaviour where Google's is
// unverified (behaviour Google does not document), in
// Options.Drive. The zero value is the default each field documents:
//   - AcceptV2AppFolderAlias lets the Drive v2 alias "appfolder" name the
//     app data folder; by default it is an unknown ID (404).
//   - ReportParentsAsAlias reports the folder as the parent
//     "appDataFolder"; by default responses give its real ID.
//   - AppDataFolderName is the folder's own name; empty means
//     "Application Data".
//   - RequireAppDataScope makes drive.appdata necessary; by default the full
//     drive scope reaches the folder too.
type DriveOptions = drive.Options

// DriveFiles returns a copy of the files in sub's Drive app data folder of
// the web client's project.
func (g *Google) DriveFiles(sub string) []DriveFile {
	return g.drive.Files(sub, g.opts.ProjectID)
}

// driveLookup is the Drive emulator's view of an access token.
func (g *Google) driveLookup(accessToken string) (drive.Grant, bool) {
	t, _, ok := g.liveAccessToken(accessToken)
	if !ok {
		return drive.Grant{}, false
	}
	return drive.Grant{Sub: t.sub, Project: t.project, Scopes: slices.Clone(t.scopes)}, true
}
