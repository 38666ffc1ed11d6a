package secretdigest

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"testing"
)

func TestSignVerifiesItsOwnPartsOnly(t *testing.T) {
	d := testDigester(t)
	parts := []string{"uid-1", "app-1", "https://hooks.example.com/a"}
	sig := d.Sign("purpose", parts...)
	if !strings.HasPrefix(sig, signaturePrefix) {
		t.Fatalf("unexpected signature format: %s", sig)
	}
	if !d.Verify("purpose", sig, parts...) {
		t.Fatal("a signature does not verify its own parts")
	}
	if d.Sign("purpose", parts...) != sig {
		t.Fatal("a signature is not deterministic")
	}
	for name, tt := range map[string]struct {
		purpose string
		sig     string
		parts   []string
	}{
		"another part":           {"purpose", sig, []string{"uid-1", "app-1", "https://hooks.example.com/b"}},
		"another purpose":        {"other", sig, parts},
		"a part less":            {"purpose", sig, parts[:2]},
		"a part more":            {"purpose", sig, append(append([]string(nil), parts...), "")},
		"parts joined otherwise": {"purpose", sig, []string{"uid-1app-1", "", "https://hooks.example.com/a"}},
		"boundary moved":         {"purpose", sig, []string{"uid-", "1app-1", "https://hooks.example.com/a"}},
		"empty":                  {"purpose", "", parts},
		"no prefix":              {"purpose", strings.TrimPrefix(sig, signaturePrefix), parts},
		"truncated":              {"purpose", sig[:len(sig)-2], parts},
		"not base64":             {"purpose", signaturePrefix + "!!!!", parts},
	} {
		if d.Verify(tt.purpose, tt.sig, tt.parts...) {
			t.Errorf("%s: verified", name)
		}
	}
}

func TestSignatureNeedsTheKey(t *testing.T) {
	d, other := testDigester(t), testDigester(t)
	sig := d.Sign("purpose", "a")
	if other.Verify("purpose", sig, "a") {
		t.Fatal("a signature verifies under another key")
	}
	if other.Sign("purpose", "a") == sig {
		t.Fatal("two keys make one signature")
	}
}

func TestSignatureIsNotADigest(t *testing.T) {
	d := testDigester(t)
	// A digest is a MAC under the digest key of a value a user may choose
	// (a webhook secret): neither it nor its MAC may pass as a signature.
	digest, err := d.Digest("chosen")
	if err != nil {
		t.Fatal(err)
	}
	if d.Verify("purpose", digest, "chosen") {
		t.Fatal("a digest verifies as a signature")
	}
	_, _, mac, err := decodeKeyed(digest)
	if err != nil {
		t.Fatal(err)
	}
	if d.Verify("purpose", signaturePrefix+b64.EncodeToString(mac), "chosen") {
		t.Fatal("the MAC of a digest verifies as a signature")
	}
	// Nor a MAC under the digest key itself.
	direct := hmac.New(sha256.New, d.key)
	direct.Write([]byte("chosen"))
	if d.Verify("purpose", signaturePrefix+b64.EncodeToString(direct.Sum(nil)), "chosen") {
		t.Fatal("a MAC under the digest key verifies as a signature")
	}
}
