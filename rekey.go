package serverauth

import (
	"context"
	"errors"
	"fmt"
)

// Rekey re-encrypts every stored record whose tokens are not sealed by the
// Cipher's current primary key (for a Keyring: after a new key was put
// first), so that old keys can be retired. It needs a store that implements
// Lister. It returns how many records it rewrote; run it again after an
// error to finish.
func (e *Exchanger) Rekey(ctx context.Context) (int, error) {
	l, ok := e.cfg.Store.(Lister)
	if !ok {
		return 0, errors.New("serverauth: Rekey needs a Store that implements Lister")
	}
	needs := func([]byte) bool { return true }
	if r, ok := e.cfg.Cipher.(interface{ NeedsRekey([]byte) bool }); ok {
		needs = r.NeedsRekey
	}
	n := 0
	for userID, err := range l.Users(ctx) {
		if err != nil {
			return n, err
		}
		rec, err := e.cfg.Store.Get(ctx, userID)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		if !(len(rec.RefreshToken) > 0 && needs(rec.RefreshToken) || len(rec.AccessToken) > 0 && needs(rec.AccessToken)) {
			continue
		}
		err = e.update(ctx, rec, func(r *Record) error {
			for _, f := range []struct {
				name string
				v    *[]byte
			}{{fieldRefreshToken, &r.RefreshToken}, {fieldAccessToken, &r.AccessToken}} {
				if len(*f.v) == 0 || !needs(*f.v) {
					continue
				}
				plain, err := e.open(r.UserID, f.name, *f.v)
				if err != nil {
					return err
				}
				if *f.v, err = e.seal(r.UserID, f.name, plain); err != nil {
					return err
				}
			}
			return nil
		})
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("serverauth: rekeying user %q: %w", userID, err)
		}
		n++
	}
	return n, nil
}
