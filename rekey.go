package serverauth

import (
	"context"
	"errors"
	"fmt"
)

// RekeyReport is what [Exchanger.Rekey] did.
type RekeyReport struct {
	// Rewritten counts the records re-encrypted under the primary key.
	Rewritten int
	// Undecryptable lists the users whose stored tokens could not be
	// decrypted (ErrDecrypt): their records were left as they were. Until
	// it is empty, keep the old keys, or restore the one they need (a
	// Keyring's *DecryptError names it); or delete those records, and the
	// users sign in again.
	Undecryptable []string
}

// Rekey re-encrypts every stored record whose tokens the Cipher says need
// it (for a Keyring: sealed by a key other than the primary, after a new
// key was put first, or in its older ciphertext version), so that old keys
// can be retired. It needs a store that implements Lister.
//
// A record whose tokens cannot be decrypted does not stop it: Rekey leaves
// the record alone, lists its user in the report's Undecryptable, and
// carries on. A Cipher that fails for a while (a KMS outage) lists every
// record so; run Rekey again. Any other error (the store's, or one from
// encrypting) stops the walk, with the report of what was done until then;
// run Rekey again to finish.
func (e *Exchanger) Rekey(ctx context.Context) (RekeyReport, error) {
	var report RekeyReport
	l, ok := e.cfg.Store.(Lister)
	if !ok {
		return report, errors.New("serverauth: Rekey needs a Store that implements Lister")
	}
	needs := func([]byte) bool { return true }
	if r, ok := e.cfg.Cipher.(interface{ NeedsRekey([]byte) bool }); ok {
		needs = r.NeedsRekey
	}
	for userID, err := range l.Users(ctx) {
		if err != nil {
			return report, err
		}
		rec, err := e.storeGet(ctx, userID)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return report, err
		}
		if !(len(rec.RefreshToken) > 0 && needs(rec.RefreshToken) || len(rec.AccessToken) > 0 && needs(rec.AccessToken) || len(rec.Profile) > 0 && needs(rec.Profile)) {
			continue
		}
		err = e.update(ctx, rec, func(r *Record) error {
			for _, f := range []struct {
				name string
				v    *[]byte
			}{{fieldRefreshToken, &r.RefreshToken}, {fieldAccessToken, &r.AccessToken}, {fieldProfile, &r.Profile}} {
				if len(*f.v) == 0 || !needs(*f.v) {
					continue
				}
				plain, err := e.open(r.UserID, f.name, *f.v)
				if err != nil {
					return err // wraps ErrDecrypt
				}
				if *f.v, err = e.seal(r.UserID, f.name, plain); err != nil {
					return err
				}
			}
			return nil
		})
		switch {
		case errors.Is(err, ErrNotFound):
		case errors.Is(err, ErrDecrypt):
			report.Undecryptable = append(report.Undecryptable, userID)
		case err != nil:
			return report, fmt.Errorf("serverauth: rekeying user %q: %w", userID, err)
		default:
			report.Rewritten++
		}
	}
	return report, nil
}
