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
