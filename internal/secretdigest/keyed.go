// Package secretdigest records which webhook secret was applied, in a form
// a reader of the status can neither turn back into the secret nor test
// guesses against: an HMAC-SHA256 under a key only the operator holds.
// Bitrise never returns the secret, so this digest is how a change of the
// secret is detected.
//
// A digest is a PHC-like string:
//
//	$hmac-sha256$k=<key id>$<salt>$<mac>
//
// where the key id names the key (the first 9 bytes of a SHA-256 of it, so
// it tells nothing about the key), the salt is 16 random bytes (two
// resources with one secret get different digests), mac is
// HMAC-SHA256(key, salt || secret), and every field is unpadded standard
// base64.
package secretdigest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

var b64 = base64.RawStdEncoding

// KeyLen is the size of a digest key in bytes; a longer key is accepted.
const KeyLen = 32

const (
	hmacPrefix  = "$hmac-sha256$"
	hmacSaltLen = 16
)

// Verdict is what a digest says about a secret.
type Verdict int

const (
	// Mismatch: the digest was not made from the secret, or is empty or
	// malformed. The secret must be (re)applied.
	Mismatch Verdict = iota
	// Match: a keyed digest of the secret under the current key.
	Match
	// MatchLegacy: an Argon2id digest of the secret, written by an
	// earlier version. Re-stamp it with Digest.
	MatchLegacy
	// UnknownKey: a keyed digest made with a key the operator no longer
	// has (its Secret was deleted or replaced), which cannot be checked.
	UnknownKey
)

// String names the verdict.
func (v Verdict) String() string {
	switch v {
	case Match:
		return "Match"
	case MatchLegacy:
		return "MatchLegacy"
	case UnknownKey:
		return "UnknownKey"
	default:
		return "Mismatch"
	}
}

// Digester makes and checks keyed digests with one key. It is safe for
// concurrent use.
type Digester struct {
	key   []byte
	keyID string
}

// NewDigester returns a Digester for key, which must hold at least KeyLen
// bytes (random ones: see NewKey).
func NewDigester(key []byte) (*Digester, error) {
	if len(key) < KeyLen {
		return nil, fmt.Errorf("a digest key needs at least %d bytes, got %d", KeyLen, len(key))
	}
	id := sha256.Sum256(append([]byte("secretdigest key id\x00"), key...))
	return &Digester{key: append([]byte(nil), key...), keyID: b64.EncodeToString(id[:9])}, nil
}

// NewKey returns KeyLen random bytes.
func NewKey() ([]byte, error) {
	key := make([]byte, KeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("reading a random digest key: %w", err)
	}
	return key, nil
}

// KeyID is the id digests made with this key carry.
func (d *Digester) KeyID() string { return d.keyID }

// Digest returns a fresh digest of secret with a random salt.
func (d *Digester) Digest(secret string) (string, error) {
	salt := make([]byte, hmacSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("reading random salt: %w", err)
	}
	return hmacPrefix + "k=" + d.keyID + "$" + b64.EncodeToString(salt) + "$" + b64.EncodeToString(d.mac(salt, secret)), nil
}

// Check tells whether digest was made from secret: by this key, by an
// earlier version's Argon2id (at most one such check runs at a time in the
// process), or by a key this Digester does not have.
func (d *Digester) Check(digest, secret string) Verdict {
	switch {
	case strings.HasPrefix(digest, argon2idPrefix):
		if matchesArgon2id(digest, secret) {
			return MatchLegacy
		}
		return Mismatch
	case strings.HasPrefix(digest, hmacPrefix):
		keyID, salt, mac, err := decodeKeyed(digest)
		switch {
		case err != nil:
			return Mismatch
		case keyID != d.keyID:
			return UnknownKey
		case hmac.Equal(mac, d.mac(salt, secret)):
			return Match
		}
	}
	return Mismatch
}

// Matches reports whether digest was made from secret, by this key or as
// an earlier version's Argon2id.
func (d *Digester) Matches(digest, secret string) bool {
	v := d.Check(digest, secret)
	return v == Match || v == MatchLegacy
}

func (d *Digester) mac(salt []byte, secret string) []byte {
	h := hmac.New(sha256.New, d.key)
	h.Write(salt)
	h.Write([]byte(secret))
	return h.Sum(nil)
}

var errMalformedKeyed = errors.New("malformed keyed digest")

func decodeKeyed(digest string) (keyID string, salt, mac []byte, err error) {
	parts := strings.Split(digest, "$")
	if len(parts) != 5 || parts[1] != "hmac-sha256" || !strings.HasPrefix(parts[2], "k=") {
		return "", nil, nil, errMalformedKeyed
	}
	keyID = strings.TrimPrefix(parts[2], "k=")
	salt, err = b64.DecodeString(parts[3])
	if err != nil || len(salt) != hmacSaltLen {
		return "", nil, nil, errMalformedKeyed
	}
	mac, err = b64.DecodeString(parts[4])
	if err != nil || len(mac) != sha256.Size {
		return "", nil, nil, errMalformedKeyed
	}
	return keyID, salt, mac, nil
}
