package filestore

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/serverauth/serverauth"
)

// format is the version of the record file layout this package writes and
// reads.
const format = 1

// fileRecord is the JSON form of a record file; see the package doc.
type fileRecord struct {
	Format             int        `json:"format"`
	UserID             string     `json:"user_id"`
	Version            int64      `json:"version"`
	RefreshToken       []byte     `json:"refresh_token,omitempty"`
	AccessToken        []byte     `json:"access_token,omitempty"`
	Expiry             time.Time  `json:"expiry,omitzero"`
	RefreshTokenExpiry time.Time  `json:"refresh_token_expiry,omitzero"`
	Scopes             []string   `json:"scopes,omitempty"`
	ClientID           string     `json:"client_id,omitempty"`
	RTPrefixHash       string     `json:"refresh_token_prefix_hash,omitempty"`
	RTHash             string     `json:"refresh_token_hash,omitempty"`
	Consented          time.Time  `json:"consented,omitzero"`
	Profile            []byte     `json:"profile,omitempty"`
	TimeoutUS          int64      `json:"refresh_token_timeout_us,omitempty"`
	Status             string     `json:"status,omitempty"`
	Created            time.Time  `json:"created,omitzero"`
	Updated            time.Time  `json:"updated,omitzero"`
	Lease              *fileLease `json:"lease,omitempty"`
}

type fileLease struct {
	Owner   string    `json:"owner"`
	Expires time.Time `json:"expires"`
}

// newFileRecord returns rec's file form, without version or lease.
func newFileRecord(rec *serverauth.Record) *fileRecord {
	return &fileRecord{
		Format:             format,
		UserID:             rec.UserID,
		RefreshToken:       rec.RefreshToken,
		AccessToken:        rec.AccessToken,
		Expiry:             utc(rec.Expiry),
		RefreshTokenExpiry: utc(rec.RefreshTokenExpiry),
		Scopes:             rec.Scopes,
		ClientID:           rec.ClientID,
		RTPrefixHash:       rec.RefreshTokenPrefixHash,
		RTHash:             rec.RefreshTokenHash,
		Consented:          utc(rec.Consented),
		Profile:            rec.Profile,
		TimeoutUS:          rec.RefreshTokenTimeout.Microseconds(),
		Status:             string(rec.Status),
		Created:            utc(rec.Created),
		Updated:            utc(rec.Updated),
	}
}

// record returns the Record fr holds. fr must not be used afterwards: the
// record shares its slices.
func (fr *fileRecord) record() *serverauth.Record {
	return &serverauth.Record{
		UserID:                 fr.UserID,
		RefreshToken:           fr.RefreshToken,
		AccessToken:            fr.AccessToken,
		Expiry:                 fr.Expiry,
		RefreshTokenExpiry:     fr.RefreshTokenExpiry,
		Scopes:                 fr.Scopes,
		ClientID:               fr.ClientID,
		RefreshTokenPrefixHash: fr.RTPrefixHash,
		RefreshTokenHash:       fr.RTHash,
		Consented:              fr.Consented,
		Profile:                fr.Profile,
		RefreshTokenTimeout:    time.Duration(fr.TimeoutUS) * time.Microsecond,
		Status:                 serverauth.Status(fr.Status),
		Created:                fr.Created,
		Updated:                fr.Updated,
		Version:                fr.Version,
	}
}

// utc returns t in UTC without its monotonic clock reading; the zero time
// stays zero.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Round(0)
}

func encodeRecord(fr *fileRecord) ([]byte, error) {
	data, err := json.Marshal(fr)
	if err != nil {
		// Only times outside the years 0 to 9999 get here; the message
		// holds no token bytes.
		return nil, fmt.Errorf("encoding record: %w", err)
	}
	return append(data, '\n'), nil
}

// decodeRecord parses a record file and checks what a well-formed one must
// hold. The error never quotes the file's contents.
func decodeRecord(data []byte) (*fileRecord, error) {
	var fr fileRecord
	if err := json.Unmarshal(data, &fr); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("malformed record file: JSON syntax error at byte %d", se.Offset)
		}
		return nil, errors.New("malformed record file: unexpected JSON value")
	}
	switch {
	case fr.Format != format:
		return nil, fmt.Errorf("record file format %d, want %d", fr.Format, format)
	case fr.UserID == "":
		return nil, errors.New("malformed record file: no user ID")
	case fr.Version < 1:
		return nil, errors.New("malformed record file: version below 1")
	case fr.Lease != nil && fr.Lease.Owner == "":
		return nil, errors.New("malformed record file: lease without owner")
	}
	for _, t := range []*time.Time{&fr.Expiry, &fr.RefreshTokenExpiry, &fr.Consented, &fr.Created, &fr.Updated} {
		*t = utc(*t)
	}
	if fr.Lease != nil {
		fr.Lease.Expires = utc(fr.Lease.Expires)
	}
	return &fr, nil
}
