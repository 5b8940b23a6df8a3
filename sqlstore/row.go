package sqlstore

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/serverauth/serverauth"
)

// maxIDLen is the longest user ID or lease owner, in characters.
const maxIDLen = 255

// maxTokenIDLen is the longest refresh-token identifier, in bytes: the
// identifiers are hex or base64 digests of at most 88 characters.
const maxTokenIDLen = 100

// checkID checks a user ID or lease owner against the package's limits.
func checkID(id string) error {
	switch {
	case id == "":
		return errors.New("empty")
	case utf8.RuneCountInString(id) > maxIDLen:
		return fmt.Errorf("longer than %d characters", maxIDLen)
	}
	return checkText(id)
}

// checkText checks that s can be stored in a text column of every dialect.
func checkText(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return errors.New("contains NUL")
	}
	return nil
}

// checkRecord checks that rec can be stored and read back unchanged. Its
// errors never quote the record's values.
func checkRecord(rec *serverauth.Record) error {
	if err := checkID(rec.UserID); err != nil {
		return fmt.Errorf("user ID: %w", err)
	}
	if err := checkText(rec.ClientID); err != nil {
		return fmt.Errorf("client ID: %w", err)
	}
	if err := checkText(string(rec.Status)); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	for _, id := range []string{rec.RefreshTokenPrefixHash, rec.RefreshTokenHash} {
		if len(id) > maxTokenIDLen {
			return fmt.Errorf("refresh token identifier: longer than %d bytes", maxTokenIDLen)
		}
		if err := checkText(id); err != nil {
			return fmt.Errorf("refresh token identifier: %w", err)
		}
	}
	for i, sc := range rec.Scopes {
		if sc == "" || strings.IndexFunc(sc, unicode.IsSpace) >= 0 {
			return fmt.Errorf("scope %d: empty or contains white space", i)
		}
		if err := checkText(sc); err != nil {
			return fmt.Errorf("scope %d: %w", i, err)
		}
	}
	return nil
}

// row is a table row as scanned, without user_id and the lease columns.
type row struct {
	refresh, access, profile                      []byte
	expiry, rtExpiry, consented, created, updated nullTime
	scopes, clientID, status, rtPrefix, rtHash    string
	version, timeoutUS                            int64
}

// dest returns the scan destinations for the columns of dataCols and
// version, in order.
func (r *row) dest() []any {
	return []any{&r.refresh, &r.access, &r.expiry, &r.rtExpiry, &r.scopes, &r.clientID, &r.status, &r.created, &r.updated,
		&r.rtPrefix, &r.rtHash, &r.consented, &r.profile, &r.timeoutUS, &r.version}
}

// record returns the Record r holds for userID.
func (r *row) record(userID string) (*serverauth.Record, error) {
	if r.version < 1 {
		return nil, errors.New("stored version below 1")
	}
	return &serverauth.Record{
		UserID:                 userID,
		RefreshToken:           r.refresh,
		AccessToken:            r.access,
		Expiry:                 r.expiry.t,
		RefreshTokenExpiry:     r.rtExpiry.t,
		Scopes:                 decodeScopes(r.scopes),
		ClientID:               r.clientID,
		RefreshTokenPrefixHash: r.rtPrefix,
		RefreshTokenHash:       r.rtHash,
		Consented:              r.consented.t,
		Profile:                r.profile,
		RefreshTokenTimeout:    time.Duration(r.timeoutUS) * time.Microsecond,
		Status:                 serverauth.Status(r.status),
		Created:                r.created.t,
		Updated:                r.updated.t,
		Version:                r.version,
	}, nil
}

// args returns rec's values for the columns of dataCols, in order.
func (s *Store) args(rec *serverauth.Record) []any {
	return []any{
		nonNil(rec.RefreshToken),
		nonNil(rec.AccessToken),
		s.timeArg(truncate(rec.Expiry)),
		s.timeArg(truncate(rec.RefreshTokenExpiry)),
		encodeScopes(rec.Scopes),
		rec.ClientID,
		string(rec.Status),
		s.timeArg(truncate(rec.Created)),
		s.timeArg(truncate(rec.Updated)),
		rec.RefreshTokenPrefixHash,
		rec.RefreshTokenHash,
		s.timeArg(truncate(rec.Consented)),
		nullable(rec.Profile),
		rec.RefreshTokenTimeout.Microseconds(),
	}
}

// nonNil returns b, or an empty slice for nil: drivers send nil as NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// nullable returns b, or NULL for an empty b.
func nullable(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func encodeScopes(scopes []string) string { return strings.Join(scopes, " ") }

func decodeScopes(s string) []string { return strings.Fields(s) }

// truncate returns t in UTC to the microsecond, as every dialect stores it.
func truncate(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// timeArg returns the parameter for a timestamp column: NULL for the zero
// time, Unix microseconds for SQLite, the time itself otherwise.
func (s *Store) timeArg(t time.Time) any {
	switch {
	case t.IsZero():
		return nil
	case s.dialect == SQLite:
		return t.UnixMicro()
	}
	return t
}

// nullTime scans a timestamp column of any dialect: NULL (the zero time), a
// time.Time (PostgreSQL; MySQL with parseTime=true), an int64 of Unix
// microseconds (SQLite), or MySQL's text form in UTC (MySQL without
// parseTime).
type nullTime struct{ t time.Time }

// mysqlLayout is MySQL's DATETIME text form; the fraction is optional.
const mysqlLayout = "2006-01-02 15:04:05.999999999"

// Scan implements sql.Scanner.
func (n *nullTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		n.t = time.Time{}
	case time.Time:
		n.t = v.UTC()
	case int64:
		n.t = time.UnixMicro(v).UTC()
	case []byte:
		return n.parse(string(v))
	case string:
		return n.parse(v)
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into a time", v)
	}
	return nil
}

func (n *nullTime) parse(s string) error {
	if strings.HasPrefix(s, "0000-00-00") {
		n.t = time.Time{}
		return nil
	}
	t, err := time.Parse(mysqlLayout, s)
	if err != nil {
		return errors.New("sqlstore: malformed timestamp text")
	}
	n.t = t
	return nil
}
