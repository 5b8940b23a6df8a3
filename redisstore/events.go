package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/serverauth/serverauth"
)

// The keys beside the users' hashes. Each holds a NUL, which no user ID
// does (serverauth.Record), so none is any user's key, and none is a hash,
// so Users never lists one.
func (s *Store) prefixIndexKey(prefixHash string) string {
	return s.prefix + "\x00rt-prefix:" + prefixHash
}
func (s *Store) hashIndexKey(hash string) string { return s.prefix + "\x00rt-hash:" + hash }
func (s *Store) eventKey(eventID string) string  { return s.prefix + "\x00event:" + eventID }

// indexKeys returns the index sets rec belongs to.
func (s *Store) indexKeys(rec *serverauth.Record) []string {
	var keys []string
	if rec.RefreshTokenPrefixHash != "" {
		keys = append(keys, s.prefixIndexKey(rec.RefreshTokenPrefixHash))
	}
	if rec.RefreshTokenHash != "" {
		keys = append(keys, s.hashIndexKey(rec.RefreshTokenHash))
	}
	return keys
}

// addToIndex adds userID to the sets of keys, in one round trip (the sets
// may lie on different cluster nodes, so no script can do it).
func (s *Store) addToIndex(ctx context.Context, userID string, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.SAdd(ctx, k, userID)
		}
		return nil
	})
	return err
}

// UsersByRefreshToken implements [serverauth.RefreshTokenIndex]. The index
// is a set per identifier, of the users whose record has held it; Put adds
// a user to its record's sets before it writes the record, so the set is
// never missing the current holder. Members whose record no longer holds
// the identifier are dropped here, after a second look that puts back one
// written meanwhile.
func (s *Store) UsersByRefreshToken(ctx context.Context, prefixHash, hash string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redisstore: users by refresh token: %w", err)
	}
	if (prefixHash == "") == (hash == "") {
		return nil, errors.New("redisstore: users by refresh token: give exactly one of prefixHash and hash")
	}
	key := s.prefixIndexKey(prefixHash)
	holds := func(r *serverauth.Record) bool { return r.RefreshTokenPrefixHash == prefixHash }
	if hash != "" {
		key = s.hashIndexKey(hash)
		holds = func(r *serverauth.Record) bool { return r.RefreshTokenHash == hash }
	}
	members, err := s.client.SMembers(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: users by refresh token: %w", err)
	}
	var ids []string
	for _, id := range members {
		ok, err := s.holdsNow(ctx, id, holds)
		if err != nil {
			return nil, err
		}
		if ok {
			ids = append(ids, id)
			continue
		}
		if err := s.client.SRem(ctx, key, id).Err(); err != nil {
			return nil, fmt.Errorf("redisstore: users by refresh token: %w", err)
		}
		// A Put may have written the identifier between the look and the
		// removal: look again, and put the member back if so.
		if ok, err = s.holdsNow(ctx, id, holds); err != nil {
			return nil, err
		}
		if ok {
			if err := s.client.SAdd(ctx, key, id).Err(); err != nil {
				return nil, fmt.Errorf("redisstore: users by refresh token: %w", err)
			}
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// holdsNow reports whether userID's stored record satisfies holds.
func (s *Store) holdsNow(ctx context.Context, userID string, holds func(*serverauth.Record) bool) (bool, error) {
	rec, err := s.Get(ctx, userID)
	switch {
	case errors.Is(err, serverauth.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("redisstore: users by refresh token: %w", err)
	}
	return holds(rec), nil
}

// Event values are "<expiry, Unix ms>:<owner>": a claim, or with an empty
// owner a handled event. The caller's now is compared with the expiry; the
// key's own Redis TTL, an hour past it, only collects the garbage.
const eventGC = time.Hour

// claimScript claims an event.
// KEYS[1]: the event's key. ARGV[1]: owner; ARGV[2]: now, Unix ms;
// ARGV[3]: the claim's expiry, Unix ms; ARGV[4]: the key's TTL, ms.
// Returns 1 claimed, 2 busy, 3 done.
var claimScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
  local sep = string.find(v, ':', 1, true)
  local exp, owner = tonumber(string.sub(v, 1, sep - 1)), string.sub(v, sep + 1)
  if exp > tonumber(ARGV[2]) then
    if owner == '' then return 3 end
    if owner ~= ARGV[1] then return 2 end
  end
end
redis.call('SET', KEYS[1], ARGV[3] .. ':' .. ARGV[1], 'PX', ARGV[4])
return 1
`)

// releaseEventScript drops owner's claim.
// KEYS[1]: the event's key. ARGV[1]: owner.
var releaseEventScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
  local sep = string.find(v, ':', 1, true)
  if string.sub(v, sep + 1) == ARGV[1] then redis.call('DEL', KEYS[1]) end
end
return 1
`)

// ClaimEvent implements [serverauth.EventLedger] with one script on the
// event's key. Times are compared in whole Unix milliseconds.
func (s *Store) ClaimEvent(ctx context.Context, eventID, owner string, now time.Time, ttl time.Duration) (serverauth.EventClaim, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("redisstore: claim event: %w", err)
	}
	if eventID == "" || owner == "" {
		return 0, errors.New("redisstore: claim event: empty event ID or owner")
	}
	if ttl <= 0 {
		return 0, errors.New("redisstore: claim event: ttl must be positive")
	}
	n, err := claimScript.Run(ctx, s.client, []string{s.eventKey(eventID)}, owner,
		strconv.FormatInt(now.UnixMilli(), 10), strconv.FormatInt(now.Add(ttl).UnixMilli(), 10),
		strconv.FormatInt((ttl+eventGC).Milliseconds(), 10)).Int()
	if err != nil {
		return 0, fmt.Errorf("redisstore: claim event: %w", err)
	}
	switch n {
	case 1:
		return serverauth.EventClaimed, nil
	case 2:
		return serverauth.EventBusy, nil
	}
	return serverauth.EventDone, nil
}

// FinishEvent implements [serverauth.EventLedger]: one SET of the event's
// key.
func (s *Store) FinishEvent(ctx context.Context, eventID, owner string, now time.Time, keep time.Duration) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: finish event: %w", err)
	}
	if eventID == "" {
		return errors.New("redisstore: finish event: empty event ID")
	}
	v := strconv.FormatInt(now.Add(keep).UnixMilli(), 10) + ":"
	if err := s.client.Set(ctx, s.eventKey(eventID), v, max(keep, 0)+eventGC).Err(); err != nil {
		return fmt.Errorf("redisstore: finish event: %w", err)
	}
	return nil
}

// ReleaseEvent implements [serverauth.EventLedger] with one script on the
// event's key.
func (s *Store) ReleaseEvent(ctx context.Context, eventID, owner string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: release event: %w", err)
	}
	if eventID == "" || owner == "" {
		return nil
	}
	if err := releaseEventScript.Run(ctx, s.client, []string{s.eventKey(eventID)}, owner).Err(); err != nil {
		return fmt.Errorf("redisstore: release event: %w", err)
	}
	return nil
}
