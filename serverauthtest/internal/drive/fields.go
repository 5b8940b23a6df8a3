package drive

import (
	"net/http"
	"slices"
	"strings"
)

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
