package storetest

import (
	"cmp"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/serverauth/serverauth"
)

// leaseNow is the synthetic clock the lease tests start from; leaseTTL the
// default lease length.
var leaseNow = time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)

const leaseTTL = time.Minute

// leaseOp is what a step of a lease test does.
type leaseOp int

const (
	opLease    leaseOp = iota // Lease(user, owner, leaseNow+at, ttl) = want
	opRelease                 // Release(user, owner)
	opDelete                  // Delete(user)
	opRecreate                // Put a new record for user, version 0
	opUpdate                  // Get user and Put it back changed

	// RecordLeaser steps.
	opLeaseGet   // LeaseGet(user, owner, version, leaseNow+at, ttl) = the record, want
	opPutRelease // Get user, change it, PutRelease(it, owner)
)

// leaseStep is one call of a lease test.
type leaseStep struct {
	op    leaseOp
	owner string
	at    time.Duration // for opLease: offset from leaseNow
	ttl   time.Duration // for opLease: zero means leaseTTL
	want  bool          // for opLease and opLeaseGet
	user  string        // zero means "user"
	stale bool          // opLeaseGet, opPutRelease: with the version before the stored one
}

// leaseGet is an opLeaseGet step on "user" with the default TTL and the
// stored version (or, stale, the one before it).
func leaseGet(owner string, at time.Duration, stale, want bool) leaseStep {
	return leaseStep{op: opLeaseGet, owner: owner, at: at, stale: stale, want: want}
}

// leaseTest is a sequence of lease calls on one store, each with its
// expected answer.
type leaseTest struct {
	name  string
	steps []leaseStep
}

// lease is an opLease step on "user" with the default TTL.
func lease(owner string, at time.Duration, want bool) leaseStep {
	return leaseStep{op: opLease, owner: owner, at: at, want: want}
}

// leaseTests check [serverauth.Leaser] step by step, against synthetic
// times.
var leaseTests = []leaseTest{
	{"Acquire", []leaseStep{
		lease("a", 0, true),
	}},
	{"OtherOwnerRefused", []leaseStep{
		lease("a", 0, true),
		lease("b", 0, false),
		lease("b", time.Second, false),
		lease("b", leaseTTL-time.Second, false),
	}},
	{"SameOwnerReacquires", []leaseStep{
		lease("a", 0, true),
		lease("a", 0, true),
		lease("a", time.Second, true),
	}},
	{"SameOwnerExtends", []leaseStep{
		lease("a", 0, true),
		lease("a", 30*time.Second, true), // now held until 90s
		lease("b", leaseTTL+time.Second, false),
		lease("b", 30*time.Second+leaseTTL-time.Second, false),
		lease("b", 30*time.Second+leaseTTL+time.Second, true),
	}},
	{"Expiry", []leaseStep{
		lease("a", 0, true),
		lease("b", leaseTTL-time.Second, false),
		lease("b", leaseTTL+time.Second, true),
		lease("a", leaseTTL+2*time.Second, false),
	}},
	{"ShortTTL", []leaseStep{
		{op: opLease, owner: "a", ttl: 10 * time.Second, want: true},
		lease("b", 9*time.Second, false),
		lease("b", 11*time.Second, true),
	}},
	{"ExpiredSameOwnerAgain", []leaseStep{
		lease("a", 0, true),
		lease("a", 10*leaseTTL, true),
		lease("b", 10*leaseTTL+time.Second, false),
	}},
	{"Release", []leaseStep{
		lease("a", 0, true),
		{op: opRelease, owner: "a"},
		lease("b", time.Second, true),
	}},
	{"ReleaseTwice", []leaseStep{
		lease("a", 0, true),
		{op: opRelease, owner: "a"},
		{op: opRelease, owner: "a"},
		lease("a", time.Second, true),
	}},
	{"ReleaseByNonHolder", []leaseStep{
		lease("a", 0, true),
		{op: opRelease, owner: "b"},
		lease("b", time.Second, false),
		lease("c", time.Second, false),
		lease("a", 2*time.Second, true),
	}},
	{"ReleaseNothing", []leaseStep{
		{op: opRelease, owner: "a"},
		lease("a", 0, true),
	}},
	{"ReleaseAfterTakeover", []leaseStep{
		lease("a", 0, true),
		lease("b", leaseTTL+time.Second, true),
		{op: opRelease, owner: "a"},
		lease("c", leaseTTL+2*time.Second, false),
		lease("b", leaseTTL+3*time.Second, true),
	}},
	{"PerUser", []leaseStep{
		lease("a", 0, true),
		{op: opLease, owner: "b", user: "user2", want: true},
		{op: opLease, owner: "a", user: "user2", want: false},
		{op: opRelease, owner: "a", user: "user2"},
		lease("b", 0, false),
		{op: opLease, owner: "a", user: "user2", want: false},
	}},
	{"DeleteDropsLease", []leaseStep{
		lease("a", 0, true),
		{op: opDelete},
		{op: opRecreate},
		lease("b", time.Second, true),
	}},
	{"PutKeepsLease", []leaseStep{
		lease("a", 0, true),
		{op: opUpdate},
		lease("b", time.Second, false),
		{op: opUpdate},
		lease("a", 2*time.Second, true),
		lease("b", 3*time.Second, false),
	}},
	{"LeaseKeepsRecord", []leaseStep{
		lease("a", 0, true),
		{op: opUpdate},
		{op: opRelease, owner: "a"},
		{op: opUpdate},
	}},
}

// recordLeaseTests check what [serverauth.RecordLeaser] adds to a lease:
// LeaseGet's version condition and PutRelease. runLeaseTest also runs every
// one of leaseTests with its Lease calls made through LeaseGet.
var recordLeaseTests = []leaseTest{
	{"LeaseGetStaleVersionTakesNoLease", []leaseStep{
		{op: opUpdate},
		leaseGet("a", 0, true, false),
		lease("b", 0, true),
	}},
	{"LeaseGetStaleVersionKeepsOwnersLease", []leaseStep{
		leaseGet("a", 0, false, true),
		{op: opUpdate},
		leaseGet("a", time.Second, true, true), // a still holds it
		leaseGet("b", time.Second, false, false),
		leaseGet("a", leaseTTL+time.Second, true, false), // a's lease ended, not renewed
		lease("b", leaseTTL+time.Second, true),
	}},
	{"LeaseGetStaleVersionDoesNotExtend", []leaseStep{
		leaseGet("a", 0, false, true),
		{op: opUpdate},
		leaseGet("a", 30*time.Second, true, true),
		lease("b", leaseTTL+time.Second, true), // still a's first lease's expiry
	}},
	{"PutReleaseReleases", []leaseStep{
		leaseGet("a", 0, false, true),
		{op: opPutRelease, owner: "a"},
		leaseGet("b", time.Second, false, true),
	}},
	{"PutReleaseByNonHolder", []leaseStep{
		leaseGet("a", 0, false, true),
		{op: opPutRelease, owner: "b"},
		leaseGet("b", time.Second, false, false),
		leaseGet("a", time.Second, false, true),
	}},
	{"PutReleaseConflictKeepsLease", []leaseStep{
		leaseGet("a", 0, false, true),
		{op: opUpdate},
		{op: opPutRelease, owner: "a", stale: true},
		leaseGet("b", time.Second, false, false),
	}},
	{"PutReleaseAfterTakeover", []leaseStep{
		leaseGet("a", 0, false, true),
		leaseGet("b", leaseTTL+time.Second, false, true),
		{op: opPutRelease, owner: "a"},
		leaseGet("c", leaseTTL+2*time.Second, false, false),
		leaseGet("b", leaseTTL+3*time.Second, false, true),
	}},
	{"PutReleaseWithoutLease", []leaseStep{
		{op: opPutRelease, owner: "a"},
		leaseGet("b", 0, false, true),
	}},
}

// runLeaseTest runs lt's steps on s, which implements [serverauth.Leaser];
// with viaLeaseGet, its opLease steps are made by LeaseGet at the stored
// version, and s implements [serverauth.RecordLeaser].
func runLeaseTest(t *testing.T, s serverauth.TokenStore, lt leaseTest, viaLeaseGet bool) {
	l := s.(serverauth.Leaser)
	rl, _ := s.(serverauth.RecordLeaser)
	ctx := t.Context()
	recs := map[string]*serverauth.Record{
		"user":  sampleRecord("user", 1),
		"user2": sampleRecord("user2", 2),
	}
	for _, r := range recs {
		put(t, s, r)
	}
	for i, st := range lt.steps {
		user := cmp.Or(st.user, "user")
		op := st.op
		if op == opLease && viaLeaseGet {
			op = opLeaseGet
		}
		switch op {
		case opLeaseGet:
			ttl := cmp.Or(st.ttl, leaseTTL)
			version := recs[user].Version
			if st.stale {
				version--
			}
			got, held, err := rl.LeaseGet(ctx, user, st.owner, version, leaseNow.Add(st.at), ttl)
			if err != nil || held != st.want {
				t.Fatalf("step %d: LeaseGet(%q, %q, version %d, now+%v, %v) = %v, %v; want %v, nil", i, user, st.owner, version, st.at, ttl, held, err, st.want)
			}
			if d := recordDiff(got, recs[user]); d != "" {
				t.Fatalf("step %d: LeaseGet(%q, %q, version %d) returned a record other than the stored one:\n%s", i, user, st.owner, version, d)
			}
		case opPutRelease:
			rec := get(t, s, user)
			rec.AccessToken = fmt.Appendf(nil, "access token at step %d", i)
			if st.stale {
				rec.Version--
				if err := rl.PutRelease(ctx, rec, st.owner); !errors.Is(err, serverauth.ErrVersionConflict) {
					t.Fatalf("step %d: PutRelease(%q at the version before the stored one, %q) = %v, want an error wrapping ErrVersionConflict", i, user, st.owner, err)
				}
				continue
			}
			v := rec.Version
			if err := rl.PutRelease(ctx, rec, st.owner); err != nil {
				t.Fatalf("step %d: PutRelease(%q, %q) = %v, want nil", i, user, st.owner, err)
			}
			if rec.Version != v+1 {
				t.Fatalf("step %d: PutRelease set Version to %d, want %d", i, rec.Version, v+1)
			}
			recs[user] = rec
		case opLease:
			ttl := cmp.Or(st.ttl, leaseTTL)
			ok, err := l.Lease(ctx, user, st.owner, leaseNow.Add(st.at), ttl)
			if err != nil || ok != st.want {
				t.Fatalf("step %d: Lease(%q, %q, now+%v, %v) = %v, %v; want %v, nil", i, user, st.owner, st.at, ttl, ok, err, st.want)
			}
		case opRelease:
			if err := l.Release(ctx, user, st.owner); err != nil {
				t.Fatalf("step %d: Release(%q, %q) = %v, want nil", i, user, st.owner, err)
			}
		case opDelete:
			if err := s.Delete(ctx, user); err != nil {
				t.Fatalf("step %d: Delete(%q) = %v, want nil", i, user, err)
			}
		case opRecreate:
			recs[user] = sampleRecord(user, uint64(10+i))
			put(t, s, recs[user])
		case opUpdate:
			rec := get(t, s, user)
			rec.AccessToken = fmt.Appendf(nil, "access token at step %d", i)
			put(t, s, rec)
			recs[user] = rec
		}
	}
	// Leases never change the records.
	for _, r := range recs {
		checkStored(t, s, r)
	}
}

// recordLeaserTests check [serverauth.RecordLeaser] beyond single steps.
var recordLeaserTests = []storeTest{
	{"MissingUser", testLeaseGetMissingUser},
	{"BadArguments", testLeaseGetBadArguments},
	{"Race", testLeaseGetRace},
}

func testLeaseGetMissingUser(t *testing.T, s serverauth.TokenStore) {
	rl := s.(serverauth.RecordLeaser)
	ctx := t.Context()
	rec, held, err := rl.LeaseGet(ctx, "absent", "a", 0, leaseNow, leaseTTL)
	if rec != nil || held || !errors.Is(err, serverauth.ErrNotFound) {
		t.Errorf(`LeaseGet("absent", "a", 0) = %v, %v, %v; want nil, false, error wrapping ErrNotFound`, rec, held, err)
	}
	checkNotFound(t, s, "absent")
	// PutRelease of a new record creates it, as Put does.
	created := sampleRecord("created", 3)
	if err := rl.PutRelease(ctx, created, "a"); err != nil || created.Version != 1 {
		t.Fatalf(`PutRelease of a new record = %v (version %d); want nil (version 1)`, err, created.Version)
	}
	checkStored(t, s, created)
	// A deleted user is missing too, lease or not.
	if _, held, err := rl.LeaseGet(ctx, "created", "a", 1, leaseNow, leaseTTL); !held || err != nil {
		t.Fatalf(`LeaseGet("created", "a", 1) = %v, %v; want true, nil`, held, err)
	}
	if err := s.Delete(ctx, "created"); err != nil {
		t.Fatal(err)
	}
	if rec, held, err := rl.LeaseGet(ctx, "created", "b", 1, leaseNow, leaseTTL); rec != nil || held || !errors.Is(err, serverauth.ErrNotFound) {
		t.Errorf(`LeaseGet("created", "b") after Delete = %v, %v, %v; want nil, false, error wrapping ErrNotFound`, rec, held, err)
	}
	checkNotFound(t, s, "created")
}

func testLeaseGetBadArguments(t *testing.T, s serverauth.TokenStore) {
	rl := s.(serverauth.RecordLeaser)
	ctx := t.Context()
	r := sampleRecord("user", 1)
	put(t, s, r)
	for _, c := range []struct {
		owner string
		ttl   time.Duration
	}{{"", leaseTTL}, {"a", 0}, {"a", -time.Second}} {
		if _, held, err := rl.LeaseGet(ctx, "user", c.owner, r.Version, leaseNow, c.ttl); held || err == nil {
			t.Errorf("LeaseGet(owner %q, ttl %v) = %v, %v; want false and an error", c.owner, c.ttl, held, err)
		}
	}
	// Nobody got the lease.
	if _, held, err := rl.LeaseGet(ctx, "user", "b", r.Version, leaseNow, leaseTTL); !held || err != nil {
		t.Errorf("LeaseGet after the refused calls = %v, %v; want true, nil", held, err)
	}
	checkStored(t, s, r)
}

func testLeaseGetRace(t *testing.T, s serverauth.TokenStore) {
	rl := s.(serverauth.RecordLeaser)
	r := sampleRecord("user", 1)
	put(t, s, r)
	race(t, "one lease with LeaseGet", func(owner string) bool {
		rec, held, err := rl.LeaseGet(t.Context(), "user", owner, r.Version, leaseNow, leaseTTL)
		if err != nil {
			t.Errorf("LeaseGet(%q, %q) = %v, want nil error", "user", owner, err)
			return false
		}
		if d := recordDiff(rec, r); d != "" {
			t.Errorf("LeaseGet(%q, %q) returned another record:\n%s", "user", owner, d)
		}
		return held
	})
}

// racers is how many owners race for one lease or event claim.
const racers = 16

// race runs try for racers owners at once and fails t unless exactly one
// won (try returned true); it returns the winners.
func race(t *testing.T, what string, try func(owner string) bool) []string {
	t.Helper()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []string
	)
	for i := range racers {
		wg.Go(func() {
			owner := fmt.Sprintf("owner-%02d", i)
			if try(owner) {
				mu.Lock()
				winners = append(winners, owner)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d owners racing for %s: %d won (%q), want exactly 1", racers, what, len(winners), winners)
	}
	return winners
}

// leaserTests check [serverauth.Leaser] beyond single steps.
var leaserTests = []storeTest{
	{"MissingUser", testLeaseMissingUser},
	{"Race", testLeaseRace},
}

func testLeaseMissingUser(t *testing.T, s serverauth.TokenStore) {
	l := s.(serverauth.Leaser)
	ctx := t.Context()
	ok, err := l.Lease(ctx, "absent", "a", leaseNow, leaseTTL)
	if ok || !errors.Is(err, serverauth.ErrNotFound) {
		t.Errorf(`Lease("absent", "a") = %v, %v; want false, error wrapping ErrNotFound`, ok, err)
	}
	if err := l.Release(ctx, "absent", "a"); err != nil {
		t.Errorf(`Release("absent", "a") = %v, want nil`, err)
	}
	checkNotFound(t, s, "absent")

	// A deleted user is missing too, lease or not.
	put(t, s, sampleRecord("deleted", 1))
	if ok, err := l.Lease(ctx, "deleted", "a", leaseNow, leaseTTL); !ok || err != nil {
		t.Fatalf(`Lease("deleted", "a") = %v, %v; want true, nil`, ok, err)
	}
	if err := s.Delete(ctx, "deleted"); err != nil {
		t.Fatalf(`Delete("deleted") = %v, want nil`, err)
	}
	ok, err = l.Lease(ctx, "deleted", "b", leaseNow, leaseTTL)
	if ok || !errors.Is(err, serverauth.ErrNotFound) {
		t.Errorf(`Lease("deleted", "b") after Delete = %v, %v; want false, error wrapping ErrNotFound`, ok, err)
	}
	checkNotFound(t, s, "deleted")
}

func testLeaseRace(t *testing.T, s serverauth.TokenStore) {
	l := s.(serverauth.Leaser)
	put(t, s, sampleRecord("user", 1))
	winners := race(t, "one lease", func(owner string) bool {
		ok, err := l.Lease(t.Context(), "user", owner, leaseNow, leaseTTL)
		if err != nil {
			t.Errorf("Lease(%q, %q) = %v, want nil error", "user", owner, err)
		}
		return ok
	})
	// The winner holds it; everybody else is still refused.
	if ok, err := l.Lease(t.Context(), "user", winners[0], leaseNow.Add(time.Second), leaseTTL); !ok || err != nil {
		t.Errorf("Lease(%q, %q) by the winner = %v, %v; want true, nil", "user", winners[0], ok, err)
	}
	if ok, err := l.Lease(t.Context(), "user", "late", leaseNow.Add(time.Second), leaseTTL); ok || err != nil {
		t.Errorf("Lease(%q, %q) = %v, %v; want false, nil", "user", "late", ok, err)
	}
}
