// Package drive is the Drive emulator of serverauthtest's fake Google. It
// serves the subset of Drive v3 that an app needs to keep per-user state in
// the app data folder, as the Drive v3 API reference (developers.google.com/drive/api/reference/rest/v3) and its app data guide describe it:
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
// Choices the emulator makes where Google's documentation gives no wire facts:
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
//
// An [Emulator] is the http.Handler for those paths. It knows nothing of
// OAuth: its [Lookup] tells it the [Grant] behind a bearer token, and
// serverauthtest passes one backed by the tokens its fake issued. The files
// follow the request's path: routes.go routes, authenticates and writes
// answers, files.go has the files.* methods, upload.go the multipart, media
// and resumable uploads, metadata.go the File resource in requests and
// answers, fields.go the fields= mask, query.go the q language, and
// errors.go Google's error bodies.
package drive
