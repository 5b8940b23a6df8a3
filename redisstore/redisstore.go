// Package redisstore is a [serverauth.TokenStore] in Redis (6.0 or later,
// or a compatible server such as Valkey), reached through go-redis v9. It
// also implements [serverauth.Leaser], [serverauth.RecordLeaser],
// [serverauth.Lister], [serverauth.RefreshTokenIndex] and
// [serverauth.EventLedger]. Every replica of a backend can share it; it
// works with a single server, Sentinel, and Redis Cluster.
//
// The store uses the [redis.UniversalClient] it is given and never closes
// it. It is a module of its own, github.com/serverauth/serverauth/redisstore,
// so that only its users get go-redis in their module graph.
//
// # Layout
//
// Each user is one hash at key <prefix><user ID> (the prefix is
// [Config.Prefix], "serverauth:" by default; the user ID is used as is, any
// bytes):
//
//	version        the record's version, decimal: "1", "2", …
//	record         the record, JSON, described below
//	rt_ids         the record's refresh_token_prefix_hash and refresh_token_hash,
//	               space-separated ("" when none), for Put to tell whether the
//	               index sets below already name the user for them
//	lease_owner    the lease's owner; absent when there is no lease
//	lease_expires  the lease's expiry, decimal Unix milliseconds
//
// The record field is a JSON object:
//
//	{
//	  "format": 1,                          // this layout; others are refused
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
//	  "updated": "…"
//	}
//
// Empty fields and zero times are left out. Keys never expire: a record
// lives until it is deleted.
//
// Beside the users' hashes, under the same prefix and each with a NUL byte,
// which no user ID holds:
//
//	<prefix>\x00rt-prefix:<hash>  a set: the users whose record holds a refresh
//	<prefix>\x00rt-hash:<hash>    token with this refresh_token_prefix_hash or
//	                              refresh_token_hash (digests, never the token)
//	<prefix>\x00event:<event ID>  a string, "<expiry, Unix ms>:<owner>": a
//	                              claim on a Cross-Account Protection event, or
//	                              with an empty owner an event handled
//
// Put adds the user to its record's two sets before writing the record
// (unless rt_ids shows that the stored record already has the same
// identifiers, so the sets already name the user), and Delete removes it;
// UsersByRefreshToken checks each member against its record and drops the
// ones that no longer hold the identifier, so the sets may briefly hold
// extra members but never lack the current holder (the sets and the hash
// lie in different cluster slots, so no script can update them together).
// Event keys expire an hour after the time they record.
//
// # Atomicity
//
// Put, Lease, Release, LeaseGet and PutRelease are Lua scripts (EVALSHA,
// falling back to EVAL) touching only the user's key (ClaimEvent and
// ReleaseEvent only the event's), so each is atomic and each works on Redis
// Cluster, where a script may touch only keys of one slot. Put checks and
// bumps version and writes record, leaving the lease fields alone
// (PutRelease then ends the caller's lease); LeaseGet takes the lease only
// over the version the caller read and returns the record; Lease compares
// the caller's now, in Unix milliseconds, with lease_expires; Delete is a
// DEL of the key, lease included. An expired lease stays in the hash,
// harmless, until it is taken over or released or the user is deleted.
//
// Users walks the keyspace with SCAN MATCH <prefix>* TYPE hash (on every
// master of a cluster, or every shard of a ring), dropping the keys SCAN may
// return twice. The prefix names a key space that belongs to the store:
// any other hash under it would be listed as a user.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/serverauth/serverauth"
)

// DefaultPrefix is the key prefix used when [Config.Prefix] is empty.
const DefaultPrefix = "serverauth:"

// Config configures a [Store].
type Config struct {
	// Prefix is put before each user ID to make the user's key. Empty means
	// DefaultPrefix. Stores sharing a Redis must use prefixes of which none
	// is a prefix of another.
	Prefix string
}

var (
	_ serverauth.TokenStore        = (*Store)(nil)
	_ serverauth.Leaser            = (*Store)(nil)
	_ serverauth.RecordLeaser      = (*Store)(nil)
	_ serverauth.Lister            = (*Store)(nil)
	_ serverauth.RefreshTokenIndex = (*Store)(nil)
	_ serverauth.EventLedger       = (*Store)(nil)
)

// Store is a [serverauth.TokenStore], [serverauth.Leaser],
// [serverauth.Lister], [serverauth.RefreshTokenIndex] and
// [serverauth.EventLedger] in Redis. It is safe for concurrent use by multiple
// goroutines, and by multiple processes sharing the Redis.
type Store struct {
	client redis.UniversalClient
	prefix string
}

// New returns a Store keeping its records in client's Redis under
// cfg.Prefix. It does not contact Redis. The store never closes client.
func New(client redis.UniversalClient, cfg Config) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisstore: nil client")
	}
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Store{client: client, prefix: prefix}, nil
}

// Prefix returns the store's key prefix.
func (s *Store) Prefix() string { return s.prefix }

func (s *Store) key(userID string) string { return s.prefix + userID }

// Hash fields.
const (
	fieldVersion      = "version"
	fieldRecord       = "record"
	fieldLeaseOwner   = "lease_owner"
	fieldLeaseExpires = "lease_expires"
)

// putScript stores a record if its version matches and its refresh token's
// identifiers are indexed, and then ends a lease if asked to.
// KEYS[1]: the user's key. ARGV[1]: the version the caller read ("0": none);
// ARGV[2]: the new version; ARGV[3]: the record JSON; ARGV[4]: the record's
// identifiers, as in the rt_ids field ("" when none); ARGV[5]: "1" when the
// caller has just added the user to their index sets, else "0"; ARGV[6]: the
// owner whose lease to end ("": none).
// Returns 1 when stored, 0 on a version conflict, -2 when the identifiers
// differ from the stored ones and were not indexed: index, then call again.
var putScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'version')
if ARGV[1] == '0' then
  if cur then return 0 end
elseif cur ~= ARGV[1] then
  return 0
end
if ARGV[5] == '0' and ARGV[4] ~= '' and redis.call('HGET', KEYS[1], 'rt_ids') ~= ARGV[4] then
  return -2
end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'record', ARGV[3], 'rt_ids', ARGV[4])
if ARGV[6] ~= '' and redis.call('HGET', KEYS[1], 'lease_owner') == ARGV[6] then
  redis.call('HDEL', KEYS[1], 'lease_owner', 'lease_expires')
end
return 1
`)

// leaseGetScript is leaseScript over one version, returning the record.
// KEYS[1]: the user's key. ARGV[1]: owner; ARGV[2]: now, Unix ms;
// ARGV[3]: the new expiry, Unix ms; ARGV[4]: the version the caller read.
// Returns {-1} when the user has no record, else {held (1 or 0), version,
// record}.
var leaseGetScript = redis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'version', 'record', 'lease_owner', 'lease_expires')
if not v[1] then return {-1} end
local free = not v[3] or v[3] == ARGV[1] or (tonumber(v[4]) or 0) <= tonumber(ARGV[2])
local held = 0
if v[1] == ARGV[4] and free then
  redis.call('HSET', KEYS[1], 'lease_owner', ARGV[1], 'lease_expires', ARGV[3])
  held = 1
elseif v[3] == ARGV[1] and (tonumber(v[4]) or 0) > tonumber(ARGV[2]) then
  held = 1
end
return {held, v[1], v[2]}
`)

// leaseScript grants a lease unless another owner holds an unexpired one.
// KEYS[1]: the user's key. ARGV[1]: owner; ARGV[2]: now, Unix ms;
// ARGV[3]: the new expiry, Unix ms.
// Returns 1 when granted, 0 when held by another owner, -1 when the user has
// no record.
var leaseScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'version') == 0 then return -1 end
local l = redis.call('HMGET', KEYS[1], 'lease_owner', 'lease_expires')
if l[1] and l[1] ~= ARGV[1] and (tonumber(l[2]) or 0) > tonumber(ARGV[2]) then
  return 0
end
redis.call('HSET', KEYS[1], 'lease_owner', ARGV[1], 'lease_expires', ARGV[3])
return 1
`)

// releaseScript ends a lease if owner holds it.
// KEYS[1]: the user's key. ARGV[1]: owner.
var releaseScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'lease_owner') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'lease_owner', 'lease_expires')
end
return 1
`)

// Get returns the record stored for userID, or an error wrapping
// [serverauth.ErrNotFound].
func (s *Store) Get(ctx context.Context, userID string) (*serverauth.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redisstore: get: %w", err)
	}
	if userID == "" {
		return nil, fmt.Errorf("redisstore: get: %w", serverauth.ErrNotFound)
	}
	vals, err := s.client.HMGet(ctx, s.key(userID), fieldVersion, fieldRecord).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: get: %w", err)
	}
	version, _ := vals[0].(string)
	data, _ := vals[1].(string)
	if vals[0] == nil && vals[1] == nil {
		return nil, fmt.Errorf("redisstore: get: %w", serverauth.ErrNotFound)
	}
	rec, err := decodeRecord(userID, version, []byte(data))
	if err != nil {
		return nil, fmt.Errorf("redisstore: get: %w", err)
	}
	return rec, nil
}

// Put stores rec if the stored version is rec.Version (0: no record may
// exist yet), and then sets rec.Version to the new version. Otherwise it
// returns an error wrapping [serverauth.ErrVersionConflict]. A lease on the
// user is kept. Put refuses a record with an empty user ID or with text
// fields (client ID, status, scopes) that are not valid UTF-8.
func (s *Store) Put(ctx context.Context, rec *serverauth.Record) error {
	return s.put(ctx, rec, "")
}

// put is Put, ending owner's lease when owner is not "".
func (s *Store) put(ctx context.Context, rec *serverauth.Record, owner string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: put: %w", err)
	}
	if err := checkRecord(rec); err != nil {
		return fmt.Errorf("redisstore: put: %w", err)
	}
	data, err := encodeRecord(rec)
	if err != nil {
		return fmt.Errorf("redisstore: put: %w", err)
	}
	if rec.Version < 0 {
		return fmt.Errorf("redisstore: put: %w", serverauth.ErrVersionConflict)
	}
	// Index before writing, so the index never lacks the current token
	// (a failed write leaves an extra member, which lookups drop). A write
	// that keeps the stored identifiers, as most refreshes do, needs no
	// indexing: the script says when the identifiers changed.
	keys, ids := s.indexKeys(rec), rtIDs(rec)
	indexed := "0"
	if rec.Version == 0 && len(keys) > 0 {
		if err := s.addToIndex(ctx, rec.UserID, keys); err != nil {
			return fmt.Errorf("redisstore: put: indexing the refresh token: %w", err)
		}
		indexed = "1"
	}
	next := rec.Version + 1
	for {
		n, err := putScript.Run(ctx, s.client, []string{s.key(rec.UserID)},
			strconv.FormatInt(rec.Version, 10), strconv.FormatInt(next, 10), data, ids, indexed, owner).Int()
		switch {
		case err != nil:
			return fmt.Errorf("redisstore: put: %w", err)
		case n == -2 && indexed == "0":
			if err := s.addToIndex(ctx, rec.UserID, keys); err != nil {
				return fmt.Errorf("redisstore: put: indexing the refresh token: %w", err)
			}
			indexed = "1"
			continue
		case n != 1:
			return fmt.Errorf("redisstore: put: %w", serverauth.ErrVersionConflict)
		}
		rec.Version = next
		return nil
	}
}

// rtIDs is the rt_ids field for rec: its refresh token's two identifiers,
// space-separated, or "" when it has none.
func rtIDs(rec *serverauth.Record) string {
	if rec.RefreshTokenPrefixHash == "" && rec.RefreshTokenHash == "" {
		return ""
	}
	return rec.RefreshTokenPrefixHash + " " + rec.RefreshTokenHash
}

// PutRelease implements [serverauth.RecordLeaser]: Put, ending owner's lease
// in the same script when the record is stored.
func (s *Store) PutRelease(ctx context.Context, rec *serverauth.Record, owner string) error {
	return s.put(ctx, rec, owner)
}

func checkRecord(rec *serverauth.Record) error {
	if rec.UserID == "" {
		return errors.New("empty user ID")
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
	for i, sc := range rec.Scopes {
		if !utf8.ValidString(sc) {
			return fmt.Errorf("scope %d is not valid UTF-8", i)
		}
	}
	return nil
}

// Delete removes userID's record and any lease on it. Deleting a user that
// is not stored is not an error.
func (s *Store) Delete(ctx context.Context, userID string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: delete: %w", err)
	}
	if userID == "" {
		return nil
	}
	// The record's index entries go too (best effort: lookups drop any
	// left behind).
	rec, err := s.Get(ctx, userID)
	if err := s.client.Del(ctx, s.key(userID)).Err(); err != nil {
		return fmt.Errorf("redisstore: delete: %w", err)
	}
	if err == nil {
		for _, k := range s.indexKeys(rec) {
			if err := s.client.SRem(ctx, k, userID).Err(); err != nil {
				return fmt.Errorf("redisstore: delete: unindexing: %w", err)
			}
		}
	}
	return nil
}

// Lease implements [serverauth.Leaser]: it grants owner the lease on userID
// until now+ttl, and reports true, unless another owner holds a lease that
// has not expired by now (a lease expires at its expiry instant). Times are
// compared in whole Unix milliseconds. Lease returns an error wrapping
// [serverauth.ErrNotFound] for a user without a record, and an error for an
// empty owner or a ttl that is not positive.
func (s *Store) Lease(ctx context.Context, userID, owner string, now time.Time, ttl time.Duration) (bool, error) {
	if err := checkLease(ctx, userID, owner, ttl); err != nil {
		return false, err
	}
	n, err := leaseScript.Run(ctx, s.client, []string{s.key(userID)}, owner,
		strconv.FormatInt(now.UnixMilli(), 10), strconv.FormatInt(now.Add(ttl).UnixMilli(), 10)).Int()
	switch {
	case err != nil:
		return false, fmt.Errorf("redisstore: lease: %w", err)
	case n == -1:
		return false, fmt.Errorf("redisstore: lease: %w", serverauth.ErrNotFound)
	}
	return n == 1, nil
}

// LeaseGet implements [serverauth.RecordLeaser]: one script takes owner's
// lease on userID as Lease does if the stored version is version, and
// returns the record.
func (s *Store) LeaseGet(ctx context.Context, userID, owner string, version int64, now time.Time, ttl time.Duration) (*serverauth.Record, bool, error) {
	if err := checkLease(ctx, userID, owner, ttl); err != nil {
		return nil, false, err
	}
	res, err := leaseGetScript.Run(ctx, s.client, []string{s.key(userID)}, owner,
		strconv.FormatInt(now.UnixMilli(), 10), strconv.FormatInt(now.Add(ttl).UnixMilli(), 10), strconv.FormatInt(version, 10)).Slice()
	if err != nil {
		return nil, false, fmt.Errorf("redisstore: lease: %w", err)
	}
	held, _ := res[0].(int64)
	if held == -1 {
		return nil, false, fmt.Errorf("redisstore: lease: %w", serverauth.ErrNotFound)
	}
	if len(res) != 3 {
		return nil, false, errors.New("redisstore: lease: unexpected script reply")
	}
	v, _ := res[1].(string)
	data, _ := res[2].(string)
	rec, err := decodeRecord(userID, v, []byte(data))
	if err != nil {
		return nil, false, fmt.Errorf("redisstore: lease: %w", err)
	}
	return rec, held == 1, nil
}

// checkLease checks the arguments of Lease and LeaseGet: a live context, an
// owner, a positive ttl, and a user ID (else ErrNotFound: no such user).
func checkLease(ctx context.Context, userID, owner string, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: lease: %w", err)
	}
	if owner == "" {
		return errors.New("redisstore: lease: empty owner")
	}
	if ttl <= 0 {
		return errors.New("redisstore: lease: ttl must be positive")
	}
	if userID == "" {
		return fmt.Errorf("redisstore: lease: %w", serverauth.ErrNotFound)
	}
	return nil
}

// Release implements [serverauth.Leaser]: it ends owner's lease on userID.
// Releasing a lease that owner does not hold, or on a user without a record,
// is not an error.
func (s *Store) Release(ctx context.Context, userID, owner string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: release: %w", err)
	}
	if userID == "" || owner == "" {
		return nil
	}
	if err := releaseScript.Run(ctx, s.client, []string{s.key(userID)}, owner).Err(); err != nil {
		return fmt.Errorf("redisstore: release: %w", err)
	}
	return nil
}

// scanCount is the COUNT hint of each SCAN.
const scanCount = 100

// Users implements [serverauth.Lister]. On a single server it yields users
// as SCAN finds them; on a cluster or ring it scans every master or shard
// first, then yields. Either way it remembers the keys it has yielded, to
// drop SCAN's repeats, so a walk's memory grows with the number of users.
func (s *Store) Users(ctx context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		if err := ctx.Err(); err != nil {
			yield("", fmt.Errorf("redisstore: users: %w", err))
			return
		}
		match := escapeGlob(s.prefix) + "*"
		var forEach func(context.Context, func(context.Context, *redis.Client) error) error
		switch c := s.client.(type) {
		case *redis.ClusterClient:
			forEach = c.ForEachMaster
		case *redis.Ring:
			forEach = c.ForEachShard
		}
		if forEach != nil {
			var (
				mu   sync.Mutex
				keys = make(map[string]struct{})
			)
			err := forEach(ctx, func(ctx context.Context, node *redis.Client) error {
				var cursor uint64
				for {
					page, next, err := node.ScanType(ctx, cursor, match, scanCount, "hash").Result()
					if err != nil {
						return err
					}
					mu.Lock()
					for _, k := range page {
						keys[k] = struct{}{}
					}
					mu.Unlock()
					if cursor = next; cursor == 0 {
						return nil
					}
				}
			})
			if err != nil {
				yield("", fmt.Errorf("redisstore: users: %w", err))
				return
			}
			for k := range keys {
				if err := ctx.Err(); err != nil {
					yield("", fmt.Errorf("redisstore: users: %w", err))
					return
				}
				if !yield(strings.TrimPrefix(k, s.prefix), nil) {
					return
				}
			}
			return
		}

		seen := make(map[string]struct{})
		var cursor uint64
		for {
			page, next, err := s.client.ScanType(ctx, cursor, match, scanCount, "hash").Result()
			if err != nil {
				yield("", fmt.Errorf("redisstore: users: %w", err))
				return
			}
			for _, k := range page {
				if _, dup := seen[k]; dup {
					continue
				}
				seen[k] = struct{}{}
				if err := ctx.Err(); err != nil {
					yield("", fmt.Errorf("redisstore: users: %w", err))
					return
				}
				if !yield(strings.TrimPrefix(k, s.prefix), nil) {
					return
				}
			}
			if cursor = next; cursor == 0 {
				return
			}
		}
	}
}

// escapeGlob escapes the characters special in a SCAN MATCH pattern.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch c {
		case '*', '?', '[', ']', '\\', '^', '-':
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}
