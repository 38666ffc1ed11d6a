package secretdigest

import (
	"bytes"
	"strings"
	"testing"
)

func testDigester(t *testing.T) *Digester {
	t.Helper()
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDigester(key)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestKeyedDigestMatchesItsSecretOnly(t *testing.T) {
	d := testDigester(t)
	digest, err := d.Digest("s3cret-value")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(digest, "$hmac-sha256$k="+d.KeyID()+"$") {
		t.Fatalf("unexpected digest format: %s", digest)
	}
	if strings.Contains(digest, "s3cret-value") {
		t.Fatalf("digest contains the secret: %s", digest)
	}
	if got := d.Check(digest, "s3cret-value"); got != Match {
		t.Fatalf("Check(digest, secret) = %s, want Match", got)
	}
	if got := d.Check(digest, "s3cret-valuf"); got != Mismatch {
		t.Fatalf("Check(digest, other) = %s, want Mismatch", got)
	}
	if !d.Matches(digest, "s3cret-value") || d.Matches(digest, "") {
		t.Fatal("Matches disagrees with Check")
	}
}

func TestKeyedDigestsAreSalted(t *testing.T) {
	d := testDigester(t)
	a, _ := d.Digest("same")
	b, _ := d.Digest("same")
	if a == b {
		t.Fatal("two digests of one secret are equal: a reader could tell that two webhooks share a secret")
	}
}

// Without the key a digest cannot be checked: a reader of the status, or an
// operator whose key Secret was replaced, learns nothing from it.
func TestDigestUnderAnotherKeyIsUnknownNotMismatch(t *testing.T) {
	old, current := testDigester(t), testDigester(t)
	digest, _ := old.Digest("s3cret")
	if got := current.Check(digest, "s3cret"); got != UnknownKey {
		t.Fatalf("Check under another key = %s, want UnknownKey", got)
	}
	if current.KeyID() == old.KeyID() {
		t.Fatal("two random keys have one id")
	}
	same, err := NewDigester(append([]byte(nil), old.key...))
	if err != nil {
		t.Fatal(err)
	}
	if same.Check(digest, "s3cret") != Match {
		t.Fatal("the same key bytes do not check their own digest")
	}
}

func TestKeyIDTellsNothingOfTheKey(t *testing.T) {
	d := testDigester(t)
	id, err := b64.DecodeString(d.KeyID())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(d.key, id) || len(id) >= KeyLen {
		t.Fatal("the key id holds key material")
	}
}

func TestShortKeysAreRefused(t *testing.T) {
	if _, err := NewDigester(make([]byte, KeyLen-1)); err == nil {
		t.Fatal("a 31-byte key was accepted")
	}
}

func TestMalformedKeyedDigestsMatchNothing(t *testing.T) {
	d := testDigester(t)
	good, _ := d.Digest("abc")
	parts := strings.Split(good, "$")
	for _, digest := range []string{
		"",
		"abc",
		"$hmac-sha256$",
		"$hmac-sha256$k=" + d.KeyID() + "$!!$!!",
		strings.Join([]string{"", "hmac-sha256", "k=" + d.KeyID(), parts[3], parts[4][:10]}, "$"),
		strings.Join([]string{"", "hmac-sha512", "k=" + d.KeyID(), parts[3], parts[4]}, "$"),
		strings.Join([]string{"", "hmac-sha256", d.KeyID(), parts[3], parts[4]}, "$"),
		good + "$extra",
	} {
		if d.Check(digest, "abc") != Mismatch {
			t.Errorf("malformed digest %q did not read as Mismatch", digest)
		}
	}
}
