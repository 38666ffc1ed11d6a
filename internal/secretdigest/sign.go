package secretdigest

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"strings"
)

// signaturePrefix starts every signature Sign makes: the version of the
// message encoding and of the key derivation.
const signaturePrefix = "$sig-v1$"

// Sign returns a signature of parts for one purpose: "$sig-v1$" followed by
// the unpadded standard base64 of HMAC-SHA256(K, message), where
//
//   - K = HKDF-SHA256(digest key, info "secretdigest signature: "+purpose)
//     (RFC 5869, no salt), a key of its own per purpose: never the digest
//     key itself, so that a keyed digest of a value a user chose (as in
//     status.secretDigest) is never a valid signature, and the signatures
//     of one purpose are not valid for another;
//   - message is the number of parts, then each part as its length and its
//     bytes (lengths as 8-byte big-endian integers), so that no two lists
//     of parts share a message.
//
// Whoever lacks the digest key can neither make a signature nor learn the
// key from one. A signature is deterministic: it holds no salt, and it
// says nothing about the parts beyond whether they match.
func (d *Digester) Sign(purpose string, parts ...string) string {
	return signaturePrefix + b64.EncodeToString(d.signatureMAC(purpose, parts))
}

// Verify reports whether signature is what Sign(purpose, parts...) makes
// with this Digester's key, comparing in constant time. A malformed
// signature, or one made with another key or for another purpose or
// other parts, does not verify.
func (d *Digester) Verify(purpose, signature string, parts ...string) bool {
	encoded, ok := strings.CutPrefix(signature, signaturePrefix)
	if !ok {
		return false
	}
	mac, err := b64.DecodeString(encoded)
	if err != nil || len(mac) != sha256.Size {
		return false
	}
	return hmac.Equal(mac, d.signatureMAC(purpose, parts))
}

func (d *Digester) signatureMAC(purpose string, parts []string) []byte {
	key, err := hkdf.Key(sha256.New, d.key, nil, "secretdigest signature: "+purpose, sha256.Size)
	if err != nil {
		// hkdf.Key fails only for a key length beyond 255 hash sizes.
		panic("secretdigest: deriving a signature key: " + err.Error())
	}
	h := hmac.New(sha256.New, key)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(parts)))
	h.Write(n[:])
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return h.Sum(nil)
}
