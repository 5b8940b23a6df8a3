package drive

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ensureFolder creates sp's folder if it does not exist yet. c.d.mu must be
// held.
func (c *call) ensureFolder(sp *space) {
	if sp.folderID == "" {
		sp.folderID = "0A" + randomID(11) + "Uk9PVA"
		sp.folderCreated = c.d.clock()
	}
}

// isFolderAlias reports whether id names the app data folder without being
// its real ID.
func (c *call) isFolderAlias(id string) bool {
	return id == appDataAlias || (id == v2Alias && c.d.opts.AcceptV2AppFolderAlias)
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

// metadataCreate serves POST /drive/v3/files.
func (c *call) metadataCreate() *apiError {
	if mt := baseType(c.r.Header.Get("Content-Type")); mt != "" && mt != "application/json" {
		return newError(http.StatusBadRequest, "badRequest", "Upload requests must include an uploadType URL parameter and a URL path beginning with /upload/.")
	}
	meta, err := c.readMeta()
	if err != nil {
		return err
	}
	return c.finishCreate(meta, nil)
}

// finishCreate creates the file and writes it as the response.
func (c *call) finishCreate(meta metadata, media *mediaData) *apiError {
	return c.writeFile(func(sp *space) (*File, *apiError) { return c.create(sp, meta, media) })
}

// writeFile runs write (a create or an update) on the caller's space and
// writes the file it returns as the response.
func (c *call) writeFile(write func(sp *space) (*File, *apiError)) *apiError {
	mask, err := c.fileFields()
	if err != nil {
		return err
	}
	var obj object
	err = c.inSpace(func(sp *space) *apiError {
		f, err := write(sp)
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
	if err := checkMeta(meta); err != nil {
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

// metadataUpdate serves PATCH /drive/v3/files/{id}.
func (c *call) metadataUpdate(id string) *apiError {
	meta, err := c.readMeta()
	if err != nil {
		return err
	}
	return c.finishUpdate(id, meta, c.q.Get("addParents"), c.q.Get("removeParents"), nil)
}

// finishUpdate updates the file and writes it as the response.
func (c *call) finishUpdate(id string, meta metadata, add, remove string, media *mediaData) *apiError {
	return c.writeFile(func(sp *space) (*File, *apiError) { return c.update(sp, id, meta, add, remove, media) })
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
	if err := checkMeta(meta); err != nil {
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
