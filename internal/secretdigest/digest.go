// Package secretdigest records which webhook secret was applied, in a form
// that cannot be turned back into the secret: a salted Argon2id hash in the
// PHC string format. Bitrise never returns the secret, so this digest is how
// a change of the secret is detected.
package secretdigest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: OWASP's minimum recommendation (19 MiB, 2 passes),
// which makes guessing a weak secret expensive for a reader of the status.
const (
	memoryKiB   = 19 * 1024
	iterations  = 2
	parallelism = 1
	saltLen     = 16
	keyLen      = 32
)

var b64 = base64.RawStdEncoding

// New returns a fresh digest of secret with a random salt.
func New(secret string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("reading random salt: %w", err)
	}
	p := params{memory: memoryKiB, iterations: iterations, parallelism: parallelism, salt: salt}
	digest := p.encode(p.hash(secret))
	matches.remember(digest, secret, true)
	return digest, nil
}

// Matches reports whether digest was made from secret. An empty or
// malformed digest matches nothing. Results are memoised in memory (keyed by
// a SHA-256 that never leaves the process) so that steady-state reconciles
// do not pay for Argon2id again.
func Matches(digest, secret string) bool {
	if digest == "" {
		return false
	}
	if ok, known := matches.lookup(digest, secret); known {
		return ok
	}
	p, want, err := decode(digest)
	if err != nil {
		return false
	}
	ok := subtle.ConstantTimeCompare(p.hash(secret), want) == 1
	matches.remember(digest, secret, ok)
	return ok
}

type params struct {
	memory      uint32
	iterations  uint32
	parallelism uint8
	salt        []byte
}

func (p params) hash(secret string) []byte {
	return argon2.IDKey([]byte(secret), p.salt, p.iterations, p.memory, p.parallelism, keyLen)
}

func (p params) encode(key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.iterations, p.parallelism, b64.EncodeToString(p.salt), b64.EncodeToString(key))
}

var errMalformed = errors.New("malformed argon2id digest")

func decode(digest string) (params, []byte, error) {
	parts := strings.Split(digest, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return params{}, nil, errMalformed
	}
	var p params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.iterations, &p.parallelism); err != nil {
		return params{}, nil, errMalformed
	}
	// Refuse parameters far above ours: a digest is user-writable status, and
	// must not make the operator allocate gigabytes.
	if p.memory == 0 || p.memory > 4*memoryKiB || p.iterations == 0 || p.iterations > 8 || p.parallelism == 0 || p.parallelism > 4 {
		return params{}, nil, errMalformed
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return params{}, nil, errMalformed
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) != keyLen {
		return params{}, nil, errMalformed
	}
	p.salt = salt
	return p, key, nil
}

// memo is a bounded in-memory cache of Matches results.
type memo struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]bool
}

const memoLimit = 1 << 16

var matches = &memo{entries: map[[sha256.Size]byte]bool{}}

func memoKey(digest, secret string) [sha256.Size]byte {
	return sha256.Sum256([]byte(digest + "\x00" + secret))
}

func (m *memo) lookup(digest, secret string) (ok, known bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ok, known = m.entries[memoKey(digest, secret)]
	return ok, known
}

func (m *memo) remember(digest, secret string, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.entries) >= memoLimit {
		clear(m.entries)
	}
	m.entries[memoKey(digest, secret)] = ok
}
