package redisstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/serverauth/serverauth"
)

// format is the version of the record JSON this package writes and reads.
const format = 1

// jsonRecord is the JSON in a user's record field; see the package doc.
type jsonRecord struct {
	Format             int       `json:"format"`
	RefreshToken       []byte    `json:"refresh_token,omitempty"`
	AccessToken        []byte    `json:"access_token,omitempty"`
	Expiry             time.Time `json:"expiry,omitzero"`
	RefreshTokenExpiry time.Time `json:"refresh_token_expiry,omitzero"`
	Scopes             []string  `json:"scopes,omitempty"`
	ClientID           string    `json:"client_id,omitempty"`
	RTPrefixHash       string    `json:"refresh_token_prefix_hash,omitempty"`
	RTHash             string    `json:"refresh_token_hash,omitempty"`
	Consented          time.Time `json:"consented,omitzero"`
	Profile            []byte    `json:"profile,omitempty"`
	TimeoutUS          int64     `json:"refresh_token_timeout_us,omitempty"`
	Status             string    `json:"status,omitempty"`
	Created            time.Time `json:"created,omitzero"`
	Updated            time.Time `json:"updated,omitzero"`
}

// encodeRecord returns the record field for rec. Its error never quotes the
// record's values.
func encodeRecord(rec *serverauth.Record) ([]byte, error) {
	data, err := json.Marshal(jsonRecord{
		Format:             format,
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
	})
	if err != nil {
		// Only a time outside the years 0 to 9999 gets here.
		return nil, errors.New("record has a time outside the years 0 to 9999")
	}
	return data, nil
}

// decodeRecord returns userID's record from its hash's version and record
// fields. Its errors never quote the data.
func decodeRecord(userID, version string, data []byte) (*serverauth.Record, error) {
	v, err := strconv.ParseInt(version, 10, 64)
	if err != nil || v < 1 {
		return nil, errors.New("malformed record: bad version field")
	}
	var jr jsonRecord
	if err := json.Unmarshal(data, &jr); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("malformed record: JSON syntax error at byte %d", se.Offset)
		}
		return nil, errors.New("malformed record: unexpected JSON value")
	}
	if jr.Format != format {
		return nil, fmt.Errorf("record format %d, want %d", jr.Format, format)
	}
	// A time with an offset can lie within the years 0 to 9999 and its UTC
	// instant outside them, where encodeRecord could not write it back.
	for _, t := range []time.Time{jr.Expiry, jr.RefreshTokenExpiry, jr.Consented, jr.Created, jr.Updated} {
		if y := t.UTC().Year(); !t.IsZero() && (y < 0 || y > 9999) {
			return nil, errors.New("malformed record: a time outside the years 0 to 9999")
		}
	}
	return &serverauth.Record{
		UserID:                 userID,
		RefreshToken:           jr.RefreshToken,
		AccessToken:            jr.AccessToken,
		Expiry:                 utc(jr.Expiry),
		RefreshTokenExpiry:     utc(jr.RefreshTokenExpiry),
		Scopes:                 jr.Scopes,
		ClientID:               jr.ClientID,
		RefreshTokenPrefixHash: jr.RTPrefixHash,
		RefreshTokenHash:       jr.RTHash,
		Consented:              utc(jr.Consented),
		Profile:                jr.Profile,
		RefreshTokenTimeout:    time.Duration(jr.TimeoutUS) * time.Microsecond,
		Status:                 serverauth.Status(jr.Status),
		Created:                utc(jr.Created),
		Updated:                utc(jr.Updated),
		Version:                v,
	}, nil
}

// utc returns t in UTC without its monotonic clock reading; the zero time
// stays zero.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Round(0)
}
