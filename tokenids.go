package serverauth

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
)

// riscPrefixLen is how many leading characters of a refresh token Google's
// token-revoked security event sends under token_identifier_alg "prefix".
const riscPrefixLen = 16

// RefreshTokenPrefixHash returns the lookup key a store keeps for the
// "prefix" token identifier of Google's Cross-Account Protection
// token-revoked event: the hex SHA-256 of the token's first 16 characters
// (all of it when shorter). Hashing the prefix keeps every part of the
// token out of the store while a lookup stays one indexed query: hash the
// identifier the event carries the same way and compare.
func RefreshTokenPrefixHash(prefix string) string {
	if len(prefix) > riscPrefixLen {
		prefix = prefix[:riscPrefixLen]
	}
	sum := sha256.Sum256([]byte(prefix))
	return hex.EncodeToString(sum[:])
}

// RefreshTokenHash returns the "hash_base64_sha512_sha512" token identifier
// of Google's Cross-Account Protection token-revoked event for a refresh
// token: the standard, padded base64 of SHA-512 applied twice (to the
// token, then to the raw digest). Stores keep it beside the sealed token;
// it reveals nothing about the token.
func RefreshTokenHash(refreshToken string) string {
	first := sha512.Sum512([]byte(refreshToken))
	second := sha512.Sum512(first[:])
	return base64.StdEncoding.EncodeToString(second[:])
}

// setRefreshToken seals rt into r with its lookup identifiers; an empty rt
// clears all three.
func (e *Exchanger) setRefreshToken(r *Record, rt string) error {
	if rt == "" {
		r.RefreshToken, r.RefreshTokenPrefixHash, r.RefreshTokenHash = nil, "", ""
		return nil
	}
	sealed, err := e.seal(r.UserID, fieldRefreshToken, rt)
	if err != nil {
		return err
	}
	r.RefreshToken, r.RefreshTokenPrefixHash, r.RefreshTokenHash = sealed, RefreshTokenPrefixHash(rt), RefreshTokenHash(rt)
	return nil
}
