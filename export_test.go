package serverauth

import "time"

// FullVerifications reports how many verifications VerifyIDToken made in
// full (signature checked) since e was made, and whether its verification
// cache is on: the tests' view of cache hits.
func FullVerifications(e *Exchanger) (n int64, cached bool) {
	if e.verifier.verified == nil {
		return 0, false
	}
	return e.verifier.verified.full.Load(), true
}

// SetLeaseRenewal sets how often e renews a lease it holds while it
// refreshes (leaseRenewEvery, 3.3 s), so a test can see renewals without
// waiting; call it before e is used.
func SetLeaseRenewal(e *Exchanger, every time.Duration) { e.renew = every }

// SetSealsPerKey sets how many messages k seals under one derived key
// (1<<20); call it before k is used.
func SetSealsPerKey(k *Keyring, n int64) { k.perKey = n }

// KeyDerivations reports how many keys k derived (HKDF) since it was made.
func KeyDerivations(k *Keyring) int64 { return k.derivations.Load() }

// OpenedKeys reports how many derived keys k keeps for Decrypt.
func OpenedKeys(k *Keyring) int {
	n := 0
	k.opened.Range(func(any, any) bool { n++; return true })
	return n
}

// SharedTokenBuilt reports whether the user's cache entry holds the
// *oauth2.Token that Token calls share, and whether there is an entry.
func SharedTokenBuilt(e *Exchanger, userID string) (built, cached bool) {
	te, ok := e.users.cache.Load(userID)
	if !ok {
		return false, false
	}
	return te.shared.Load() != nil, true
}
