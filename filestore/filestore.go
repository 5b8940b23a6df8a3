// Package filestore is a [serverauth.TokenStore] that keeps each user's
// record in a file of one directory on the local disk. It also implements
// [serverauth.Leaser], [serverauth.Lister], [serverauth.RefreshTokenIndex]
// (by reading every record file) and [serverauth.EventLedger].
//
// It is meant for a backend on a single host: one process, or several
// processes on the same host sharing the directory (they coordinate through
// an advisory lock). It is not for network file systems such as NFS or SMB,
// whose locking and rename semantics it does not trust, nor for replicas on
// several hosts: use sqlstore or redisstore there.
//
// # Layout
//
// The directory, created with mode 0700 if it is missing, holds:
//
//	lock              empty file; its advisory lock (flock on Unix,
//	                  LockFileEx on Windows) serialises writers
//	<sha256>.json     one file per user, mode 0600, named by the lowercase
//	                  hex SHA-256 of the user ID, so that any user ID is a
//	                  safe file name on any file system
//	events/<sha256>.json  one file per Cross-Account Protection event
//	                  claimed or handled (package risc), named by the hex
//	                  SHA-256 of its ID: {"format": 1, "event_id": "…",
//	                  "owner": "…", "expires": "…"}, owner empty once
//	                  handled; files past their expiry are removed as
//	                  events are finished
//	.tmp-*            a file being written; left behind only by a crash,
//	                  and removed by the next New
//
// A record file is a JSON object:
//
//	{
//	  "format": 1,                          // this layout; others are refused
//	  "user_id": "109876543210987654321",
//	  "version": 3,
//	  "refresh_token": "base64…",           // sealed bytes, standard base64
//	  "access_token": "base64…",
//	  "expiry": "2025-03-14T16:09:26.535897932Z",
//	  "refresh_token_expiry": "…",          // RFC 3339, UTC, with nanoseconds
//	  "scopes": ["openid", "email"],
//	  "client_id": "…apps.googleusercontent.com",
//	  "status": "active",
//	  "refresh_token_prefix_hash": "…",     // digests naming the refresh token for
//	  "refresh_token_hash": "…",            // Google's token-revoked events
//	  "consented": "…",
//	  "profile": "base64…",                 // sealed profile claims
//	  "refresh_token_timeout_us": 604800000000, // idle limit, microseconds
//	  "created": "…",
//	  "updated": "…",
//	  "lease": {"owner": "replica-1", "expires": "…"}
//	}
//
// Empty fields and zero times are left out; "lease" is present only while a
// lease is held or until it is released or taken over.
//
// # Guarantees
//
// A write replaces the whole file atomically: it writes a temporary file in
// the same directory, syncs it, renames it over the record and syncs the
// directory, so a crash leaves either the old record or the new one, never a
// mixture. Every write (Put, Delete, Lease, Release, and the event ledger's) holds the directory's
// lock exclusively and every read holds it shared, so the version check of
// Put and the lease check of Lease are atomic across goroutines and across
// processes. Writes are therefore serialised for the whole directory;
// reads run in parallel.
//
// Waiting for the lock does not observe the context: the lock is only ever
// held for one file operation, and a context cancelled meanwhile is noticed
// as soon as the lock is acquired, before anything is written.
//
// Times are kept to the nanosecond, in UTC.
package filestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/serverauth/serverauth"
)

var (
	_ serverauth.TokenStore        = (*Store)(nil)
	_ serverauth.Leaser            = (*Store)(nil)
	_ serverauth.Lister            = (*Store)(nil)
	_ serverauth.RefreshTokenIndex = (*Store)(nil)
	_ serverauth.EventLedger       = (*Store)(nil)
)

// Store is a [serverauth.TokenStore], [serverauth.Leaser],
// [serverauth.Lister], [serverauth.RefreshTokenIndex] and
// [serverauth.EventLedger] backed by a directory. It holds no open files between
// calls and needs no closing. It is safe for concurrent use by multiple
// goroutines and by multiple processes on one host.
type Store struct {
	dir string // absolute
}

const (
	lockName   = "lock"
	tempPrefix = ".tmp-"
	recordExt  = ".json"
)

// New returns a Store keeping its files in dir, which it creates with mode
// 0700 if it does not exist (an existing directory's mode is left alone).
// New also removes temporary files left behind by a crash.
func New(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("filestore: empty directory name")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("filestore: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("filestore: %w", err)
	}
	s := &Store{dir: abs}
	err = s.withLock(context.Background(), true, func() error {
		tmps, err := filepath.Glob(filepath.Join(abs, tempPrefix+"*"))
		if err != nil {
			return err
		}
		for _, p := range tmps {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("filestore: %w", err)
	}
	return s, nil
}

// Dir returns the store's directory, as an absolute path.
func (s *Store) Dir() string { return s.dir }

// fileName returns the name of userID's record file.
func fileName(userID string) string {
	h := sha256.Sum256([]byte(userID))
	return hex.EncodeToString(h[:]) + recordExt
}

// isRecordFile reports whether name has the form fileName produces.
func isRecordFile(name string) bool {
	hexPart, ok := strings.CutSuffix(name, recordExt)
	if !ok || len(hexPart) != 2*sha256.Size {
		return false
	}
	for _, c := range []byte(hexPart) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// withLock runs f holding the directory's lock, exclusively or shared. It
// returns ctx's error, without running f, if ctx is done before or while
// the lock is taken.
func (s *Store) withLock(ctx context.Context, exclusive bool, f func() error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	l, err := lock(filepath.Join(s.dir, lockName), exclusive)
	if err != nil {
		return err
	}
	defer func() {
		if uerr := l.unlock(); err == nil {
			err = uerr
		}
	}()
	if err := ctx.Err(); err != nil {
		return err
	}
	return f()
}

// read returns userID's record file, decoded; errNoFile if there is none.
// The caller holds the lock.
func (s *Store) read(userID string) (*fileRecord, error) {
	name := fileName(userID)
	data, err := os.ReadFile(filepath.Join(s.dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNoFile
	}
	if err != nil {
		return nil, err
	}
	fr, err := decodeRecord(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if fr.UserID != userID {
		return nil, fmt.Errorf("%s: holds another user's record", name)
	}
	return fr, nil
}

var errNoFile = errors.New("no record file")

// write replaces fr's record file atomically. The caller holds the lock
// exclusively.
func (s *Store) write(fr *fileRecord) error {
	data, err := encodeRecord(fr)
	if err != nil {
		return err
	}
	return s.replaceFile(filepath.Join(s.dir, fileName(fr.UserID)), data)
}

// replaceFile replaces the file at path, in the store's directory or below
// it, with data atomically: it writes a temporary file in the store's
// directory, syncs it, renames it over path and syncs path's directory, so
// a crash leaves the old file or the new one, never a mixture.
func (s *Store) replaceFile(path string, data []byte) (err error) {
	f, err := os.CreateTemp(s.dir, tempPrefix+"*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// Get returns the record stored for userID, or an error wrapping
// [serverauth.ErrNotFound].
func (s *Store) Get(ctx context.Context, userID string) (*serverauth.Record, error) {
	var fr *fileRecord
	err := s.withLock(ctx, false, func() error {
		var err error
		fr, err = s.read(userID)
		return err
	})
	if errors.Is(err, errNoFile) {
		return nil, fmt.Errorf("filestore: get: %w", serverauth.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("filestore: get: %w", err)
	}
	return fr.record(), nil
}

// Put stores rec if the stored version is rec.Version (0: no record may
// exist yet), and then sets rec.Version to the new version. Otherwise it
// returns an error wrapping [serverauth.ErrVersionConflict]. A lease on the
// user is kept. Put refuses a record whose user ID is empty or whose text
// fields are not valid UTF-8.
func (s *Store) Put(ctx context.Context, rec *serverauth.Record) error {
	if err := validate(rec); err != nil {
		return fmt.Errorf("filestore: put: %w", err)
	}
	fr := newFileRecord(rec)
	err := s.withLock(ctx, true, func() error {
		old, err := s.read(rec.UserID)
		switch {
		case errors.Is(err, errNoFile):
			if rec.Version != 0 {
				return serverauth.ErrVersionConflict
			}
		case err != nil:
			return err
		case old.Version != rec.Version:
			return serverauth.ErrVersionConflict
		default:
			fr.Lease = old.Lease
		}
		fr.Version = rec.Version + 1
		return s.write(fr)
	})
	if err != nil {
		return fmt.Errorf("filestore: put: %w", err)
	}
	rec.Version = fr.Version
	return nil
}

func validate(rec *serverauth.Record) error {
	if rec.UserID == "" {
		return errors.New("empty user ID")
	}
	if !utf8.ValidString(rec.UserID) {
		return errors.New("user ID is not valid UTF-8")
	}
	if !utf8.ValidString(rec.ClientID) {
		return errors.New("client ID is not valid UTF-8")
	}
	if !utf8.ValidString(string(rec.Status)) {
		return errors.New("status is not valid UTF-8")
	}
	if !utf8.ValidString(rec.RefreshTokenPrefixHash) || !utf8.ValidString(rec.RefreshTokenHash) {
		return errors.New("refresh token identifier is not valid UTF-8")
	}
	for _, sc := range rec.Scopes {
		if !utf8.ValidString(sc) {
			return errors.New("scope is not valid UTF-8")
		}
	}
	return nil
}

// Delete removes userID's record and any lease on it. Deleting a user that
// is not stored is not an error.
func (s *Store) Delete(ctx context.Context, userID string) error {
	err := s.withLock(ctx, true, func() error {
		err := os.Remove(filepath.Join(s.dir, fileName(userID)))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		return syncDir(s.dir)
	})
	if err != nil {
		return fmt.Errorf("filestore: delete: %w", err)
	}
	return nil
}

// Lease implements [serverauth.Leaser]: it grants owner the lease on userID
// until now+ttl, and reports true, unless another owner holds a lease that
// has not expired by now (a lease expires at its expiry instant). The lease
// is kept in the user's record file. Lease returns an error wrapping
// [serverauth.ErrNotFound] for a user without a record, and an error for an
// empty owner or a ttl that is not positive.
func (s *Store) Lease(ctx context.Context, userID, owner string, now time.Time, ttl time.Duration) (bool, error) {
	if owner == "" {
		return false, errors.New("filestore: lease: empty owner")
	}
	if !utf8.ValidString(owner) {
		return false, errors.New("filestore: lease: owner is not valid UTF-8")
	}
	if ttl <= 0 {
		return false, errors.New("filestore: lease: ttl must be positive")
	}
	granted := false
	err := s.withLock(ctx, true, func() error {
		fr, err := s.read(userID)
		if errors.Is(err, errNoFile) {
			return serverauth.ErrNotFound
		}
		if err != nil {
			return err
		}
		if l := fr.Lease; l != nil && l.Owner != owner && now.Before(l.Expires) {
			return nil
		}
		fr.Lease = &fileLease{Owner: owner, Expires: now.Add(ttl).UTC()}
		if err := s.write(fr); err != nil {
			return err
		}
		granted = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("filestore: lease: %w", err)
	}
	return granted, nil
}

// Release implements [serverauth.Leaser]: it ends owner's lease on userID.
// Releasing a lease that owner does not hold, or on a user without a record,
// is not an error.
func (s *Store) Release(ctx context.Context, userID, owner string) error {
	err := s.withLock(ctx, true, func() error {
		fr, err := s.read(userID)
		if errors.Is(err, errNoFile) {
			return nil
		}
		if err != nil {
			return err
		}
		if fr.Lease == nil || fr.Lease.Owner != owner {
			return nil
		}
		fr.Lease = nil
		return s.write(fr)
	})
	if err != nil {
		return fmt.Errorf("filestore: release: %w", err)
	}
	return nil
}

// Users implements [serverauth.Lister]. It lists the directory once, when
// the walk starts, and then reads each record file to learn its user ID.
func (s *Store) Users(ctx context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		var names []string
		err := s.withLock(ctx, false, func() error {
			entries, err := os.ReadDir(s.dir)
			if err != nil {
				return err
			}
			for _, e := range entries {
				if isRecordFile(e.Name()) {
					names = append(names, e.Name())
				}
			}
			return nil
		})
		if err != nil {
			yield("", fmt.Errorf("filestore: users: %w", err))
			return
		}
		for _, name := range names {
			var fr *fileRecord
			err := s.withLock(ctx, false, func() error {
				data, err := os.ReadFile(filepath.Join(s.dir, name))
				if err != nil {
					return err
				}
				fr, err = decodeRecord(data)
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				if fileName(fr.UserID) != name {
					return fmt.Errorf("%s: holds another user's record", name)
				}
				return nil
			})
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted since the listing
			}
			if err != nil {
				yield("", fmt.Errorf("filestore: users: %w", err))
				return
			}
			if !yield(fr.UserID, nil) {
				return
			}
		}
	}
}
