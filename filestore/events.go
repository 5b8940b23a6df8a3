package filestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/serverauth/serverauth"
)

// eventsDir is the subdirectory of the event ledger's files.
const eventsDir = "events"

// eventFile is the JSON of an event file: a claim on an event, or with an
// empty owner an event handled.
type eventFile struct {
	Format  int       `json:"format"`
	EventID string    `json:"event_id"`
	Owner   string    `json:"owner,omitempty"`
	Expires time.Time `json:"expires"`
}

// eventPath returns the path of eventID's file.
func (s *Store) eventPath(eventID string) string {
	h := sha256.Sum256([]byte(eventID))
	return filepath.Join(s.dir, eventsDir, hex.EncodeToString(h[:])+recordExt)
}

// readEvent returns eventID's file, decoded, or nil when there is none.
// The caller holds the lock.
func (s *Store) readEvent(eventID string) (*eventFile, error) {
	data, err := os.ReadFile(s.eventPath(eventID))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ef eventFile
	if err := json.Unmarshal(data, &ef); err != nil || ef.Format != format || ef.EventID != eventID {
		return nil, fmt.Errorf("%s: not an event file of this store", filepath.Base(s.eventPath(eventID)))
	}
	return &ef, nil
}

// writeEvent replaces ef's file atomically, as write does a record's. The
// caller holds the lock exclusively.
func (s *Store) writeEvent(ef *eventFile) error {
	ef.Format = format
	data, err := json.Marshal(ef)
	if err != nil {
		return err
	}
	dir := filepath.Join(s.dir, eventsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return s.replaceFile(s.eventPath(ef.EventID), data)
}

// ClaimEvent implements [serverauth.EventLedger]: the event's file under
// events/ holds its claim, read and written under the directory's
// exclusive lock.
func (s *Store) ClaimEvent(ctx context.Context, eventID, owner string, now time.Time, ttl time.Duration) (serverauth.EventClaim, error) {
	if eventID == "" || owner == "" || !utf8.ValidString(eventID) || !utf8.ValidString(owner) {
		return 0, errors.New("filestore: claim event: the event ID and owner must be non-empty UTF-8")
	}
	if ttl <= 0 {
		return 0, errors.New("filestore: claim event: ttl must be positive")
	}
	var claim serverauth.EventClaim
	err := s.withLock(ctx, true, func() error {
		ef, err := s.readEvent(eventID)
		if err != nil {
			return err
		}
		if ef != nil && now.Before(ef.Expires) {
			switch {
			case ef.Owner == "":
				claim = serverauth.EventDone
				return nil
			case ef.Owner != owner:
				claim = serverauth.EventBusy
				return nil
			}
		}
		if err := s.writeEvent(&eventFile{EventID: eventID, Owner: owner, Expires: now.Add(ttl).UTC()}); err != nil {
			return err
		}
		claim = serverauth.EventClaimed
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("filestore: claim event: %w", err)
	}
	return claim, nil
}

// FinishEvent implements [serverauth.EventLedger]. It also removes the
// event files whose time has passed.
func (s *Store) FinishEvent(ctx context.Context, eventID, owner string, now time.Time, keep time.Duration) error {
	if eventID == "" || !utf8.ValidString(eventID) {
		return errors.New("filestore: finish event: the event ID must be non-empty UTF-8")
	}
	err := s.withLock(ctx, true, func() error {
		if err := s.writeEvent(&eventFile{EventID: eventID, Expires: now.Add(keep).UTC()}); err != nil {
			return err
		}
		return s.pruneEvents(now)
	})
	if err != nil {
		return fmt.Errorf("filestore: finish event: %w", err)
	}
	return nil
}

// pruneEvents removes the event files expired at now. The caller holds the
// lock exclusively.
func (s *Store) pruneEvents(now time.Time) error {
	dir := filepath.Join(s.dir, eventsDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), recordExt) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		var ef eventFile
		if json.Unmarshal(data, &ef) == nil && ef.Format == format && !now.Before(ef.Expires) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// ReleaseEvent implements [serverauth.EventLedger].
func (s *Store) ReleaseEvent(ctx context.Context, eventID, owner string) error {
	err := s.withLock(ctx, true, func() error {
		ef, err := s.readEvent(eventID)
		if err != nil || ef == nil || ef.Owner == "" || ef.Owner != owner {
			return err
		}
		if err := os.Remove(s.eventPath(eventID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return syncDir(filepath.Join(s.dir, eventsDir))
	})
	if err != nil {
		return fmt.Errorf("filestore: release event: %w", err)
	}
	return nil
}

// UsersByRefreshToken implements [serverauth.RefreshTokenIndex] by reading
// every record file: the store is meant for one host and modest numbers of
// users, and the token-revoked events that look tokens up are rare.
func (s *Store) UsersByRefreshToken(ctx context.Context, prefixHash, hash string) ([]string, error) {
	if (prefixHash == "") == (hash == "") {
		return nil, errors.New("filestore: users by refresh token: give exactly one of prefixHash and hash")
	}
	var ids []string
	err := s.withLock(ctx, false, func() error {
		entries, err := os.ReadDir(s.dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if !isRecordFile(e.Name()) {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			data, err := os.ReadFile(filepath.Join(s.dir, e.Name()))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			fr, err := decodeRecord(data)
			if err != nil {
				return fmt.Errorf("%s: %w", e.Name(), err)
			}
			if prefixHash != "" && fr.RTPrefixHash == prefixHash || hash != "" && fr.RTHash == hash {
				ids = append(ids, fr.UserID)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("filestore: users by refresh token: %w", err)
	}
	return ids, nil
}
