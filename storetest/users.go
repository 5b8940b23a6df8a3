package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/serverauth/serverauth"
)

// listerTests check [serverauth.Lister].
var listerTests = []storeTest{
	{"Empty", testUsersEmpty},
	{"All", testUsersAll},
	{"Break", testUsersBreak},
	{"CancelDuringWalk", testUsersCancel},
}

// checkUsers fails the test unless a walk yields each of want exactly once
// and nothing else.
func checkUsers(t *testing.T, l serverauth.Lister, want []string) {
	t.Helper()
	seen := make(map[string]int, len(want))
	for id, err := range l.Users(t.Context()) {
		if err != nil {
			t.Fatalf("Users yielded error %v after %d users, want none", err, len(seen))
		}
		seen[id]++
	}
	var missing, extra, repeated []string
	for _, id := range want {
		if seen[id] == 0 {
			missing = append(missing, id)
		}
	}
	for id, n := range seen {
		if !slices.Contains(want, id) {
			extra = append(extra, id)
		}
		if n > 1 {
			repeated = append(repeated, id)
		}
	}
	if len(missing)+len(extra)+len(repeated) > 0 {
		t.Errorf("Users yielded %d distinct users, want %d: missing %q, unexpected %q, repeated %q",
			len(seen), len(want), missing, extra, repeated)
	}
}

func testUsersEmpty(t *testing.T, s serverauth.TokenStore) {
	l := s.(serverauth.Lister)
	checkUsers(t, l, nil)
	put(t, s, sampleRecord("gone", 1))
	if err := s.Delete(t.Context(), "gone"); err != nil {
		t.Fatalf(`Delete("gone") = %v, want nil`, err)
	}
	checkUsers(t, l, nil)
}

func manyUsers(t *testing.T, s serverauth.TokenStore, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("user-%03d", i)
		put(t, s, &serverauth.Record{UserID: ids[i], Status: serverauth.StatusActive})
	}
	return ids
}

func testUsersAll(t *testing.T, s serverauth.TokenStore) {
	l := s.(serverauth.Lister)
	ids := manyUsers(t, s, 200)
	checkUsers(t, l, ids)

	// Leases and updates do not show as users or hide them.
	if lr, ok := s.(serverauth.Leaser); ok {
		for _, id := range ids[:10] {
			if _, err := lr.Lease(t.Context(), id, "owner", leaseNow, leaseTTL); err != nil {
				t.Fatalf("Lease(%q) = %v, want nil error", id, err)
			}
		}
	}
	for _, id := range ids[:100] {
		if err := s.Delete(t.Context(), id); err != nil {
			t.Fatalf("Delete(%q) = %v, want nil", id, err)
		}
	}
	checkUsers(t, l, ids[100:])
}

func testUsersBreak(t *testing.T, s serverauth.TokenStore) {
	l := s.(serverauth.Lister)
	manyUsers(t, s, 5)
	n := 0
	for _, err := range l.Users(t.Context()) {
		if err != nil {
			t.Fatalf("Users yielded error %v, want none", err)
		}
		n++
		break // the iterator must stop here, without panicking
	}
	if n != 1 {
		t.Errorf("Users yielded %d values before break, want 1", n)
	}
}

func testUsersCancel(t *testing.T, s serverauth.TokenStore) {
	l := s.(serverauth.Lister)
	manyUsers(t, s, 200)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var (
		ids     int
		last    error
		afterIt bool
	)
	for _, err := range l.Users(ctx) {
		if last != nil {
			afterIt = true
		}
		if err != nil {
			last = err
			continue
		}
		ids++
		cancel()
	}
	if !errors.Is(last, context.Canceled) {
		t.Errorf("Users cancelled after the first user ended with %v after %d users, want error wrapping context.Canceled", last, ids)
	}
	if afterIt {
		t.Errorf("Users yielded values after an error, want the error last")
	}
	if ids >= 200 {
		t.Errorf("Users cancelled after the first user yielded all %d users, want the walk to stop early", ids)
	}
}
