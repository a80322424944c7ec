// Package password is the one place that knows how user passwords are
// stored: [Hash] makes the stored form, [Matches] checks a password against
// it. The HTTP API (register, login) and the node's bootstrap (the first
// admin, the demo accounts) both go through it, so an account created
// either way logs in the same way.
//
// The rules about passwords (length, who may set one) belong to the user
// domain and its callers; this package is the hashing scheme only. It does
// not limit how many hashes run at once: bcrypt is slow on purpose, and the
// API queues its callers itself.
package password

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// DefaultCost is the bcrypt cost [Hash] uses when given none: about 50 ms
// a hash on the machines Outrider runs on.
const DefaultCost = 10

// Hash returns the stored form of password: bcrypt at cost (cost <= 0
// means DefaultCost; bcrypt itself raises a cost below its minimum to its
// default) over the base64 SHA-256 of the password, so passwords longer
// than bcrypt's 72-byte input count in full. It fails only for a cost
// above bcrypt's maximum.
func Hash(password string, cost int) (string, error) {
	if cost <= 0 {
		cost = DefaultCost
	}
	b, err := bcrypt.GenerateFromPassword(prehash(password), cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(b), nil
}

// Matches reports whether password is the one hash was made from by
// [Hash]. It takes as long as hashing at hash's cost; a malformed hash
// never matches.
func Matches(hash, password string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), prehash(password)) == nil
}

// prehash lets passwords longer than bcrypt's 72-byte input count in full:
// bcrypt sees the base64 SHA-256 of the password (44 bytes).
func prehash(password string) []byte {
	sum := sha256.Sum256([]byte(password))
	return []byte(base64.StdEncoding.EncodeToString(sum[:]))
}
