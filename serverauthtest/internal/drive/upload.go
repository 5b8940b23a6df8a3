package drive

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// mediaData is uploaded content.
type mediaData struct {
	data []byte
	typ  string // the media's Content-Type, parameters dropped; may be ""
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

// startUpload opens a resumable upload session for a create (fileID "") or
// an update of fileID, after validating what can be validated now.
func (c *call) startUpload(fileID string) *apiError {
	if _, err := c.fileFields(); err != nil {
		return err
	}
	meta, err := c.readMeta()
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
