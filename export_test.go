package serverauth

// FullVerifications reports how many verifications VerifyIDToken made in
// full (signature checked) since e was made, and whether its verification
// cache is on: the tests' view of cache hits.
func FullVerifications(e *Exchanger) (n int64, cached bool) {
	if e.verifier.verified == nil {
		return 0, false
	}
	return e.verifier.verified.full.Load(), true
}
