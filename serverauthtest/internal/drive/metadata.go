package drive

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

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

// readMeta reads the request body as a File resource.
func (c *call) readMeta() (metadata, *apiError) {
	body, err := c.readBody()
	if err != nil {
		return metadata{}, err
	}
	return decodeMeta(body)
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

// checkMeta validates the members of meta that creates and updates treat
// alike: the (app) properties and modifiedTime.
func checkMeta(meta metadata) *apiError {
	if err := checkProperties(meta.AppProperties); err != nil {
		return err
	}
	if err := checkProperties(meta.Properties); err != nil {
		return err
	}
	_, _, err := parseModified(meta.ModifiedTime)
	return err
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
