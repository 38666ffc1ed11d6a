package secretdigest

import (
	"strings"
	"testing"
)

func TestNewAndMatches(t *testing.T) {
	d, err := New("s3cret-value")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(d, "s3cret-value") {
		t.Fatalf("digest contains the secret: %s", d)
	}
	if !strings.HasPrefix(d, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("unexpected digest format: %s", d)
	}
	if !Matches(d, "s3cret-value") {
		t.Fatal("digest does not match its secret")
	}
	if Matches(d, "other") {
		t.Fatal("digest matches another secret")
	}
}

func TestSaltedDigestsDiffer(t *testing.T) {
	a, _ := New("same")
	b, _ := New("same")
	if a == b {
		t.Fatal("two digests of one secret are equal: salt missing")
	}
}

func TestMatchesWithoutMemo(t *testing.T) {
	d, _ := New("abc")
	clear(matches.entries)
	if !Matches(d, "abc") || Matches(d, "abd") {
		t.Fatal("recomputed match is wrong")
	}
}

func TestMalformedDigestsMatchNothing(t *testing.T) {
	for _, d := range []string{
		"",
		"abc",
		"$argon2id$v=19$m=19456,t=2,p=1$!!$!!",
		"$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$a2V5",
		"$argon2id$v=19$m=999999999,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE",
	} {
		if Matches(d, "") || Matches(d, "abc") {
			t.Errorf("malformed digest %q matched", d)
		}
	}
}
