package secretdigest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Argon2id is the digest format of versions before the keyed digest: a
// salted Argon2id hash in the PHC string format,
// "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>", with OWASP's minimum
// parameters (19 MiB, 2 passes). Such digests are still verified, so that an
// upgrade does not rotate every webhook, and are then re-stamped as keyed
// digests. Each verification allocates 19 MiB and takes tens of
// milliseconds, so at most one runs at a time in the process.
const (
	memoryKiB   = 19 * 1024
	iterations  = 2
	parallelism = 1
	saltLen     = 16
	keyLen      = 32
)

const argon2idPrefix = "$argon2id$"

// NewArgon2id returns a digest of secret in the format of earlier versions,
// with a random salt. The operator no longer writes it; tests use it to
// stand for what an earlier version left in status.
func NewArgon2id(secret string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("reading random salt: %w", err)
	}
	p := params{memory: memoryKiB, iterations: iterations, parallelism: parallelism, salt: salt}
	return p.encode(p.hash(secret)), nil
}

// argon2idSlot admits one Argon2id computation at a time: with several
// reconciles at once, each would otherwise hold its own 19 MiB.
var argon2idSlot = make(chan struct{}, 1)

// matchesArgon2id reports whether an Argon2id digest was made from secret.
// A malformed digest matches nothing. Results are memoised (keyed by a
// SHA-256 that never leaves the process).
func matchesArgon2id(digest, secret string) bool {
	if ok, known := argon2idMemo.lookup(digest, secret); known {
		return ok
	}
	p, want, err := decode(digest)
	if err != nil {
		return false
	}
	argon2idSlot <- struct{}{}
	ok := subtle.ConstantTimeCompare(p.hash(secret), want) == 1
	<-argon2idSlot
	argon2idMemo.remember(digest, secret, ok)
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
	// Refuse parameters other than the ones earlier versions wrote: a
	// digest is user-writable status, and must not make the operator
	// allocate more than it planned for.
	if p.memory != memoryKiB || p.iterations != iterations || p.parallelism != parallelism {
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

// memo is a bounded in-memory cache of Argon2id results.
type memo struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]bool
}

const memoLimit = 1 << 16

var argon2idMemo = &memo{entries: map[[sha256.Size]byte]bool{}}

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
