package secretdigest

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestArgon2idDigestsOfEarlierVersionsStillMatch(t *testing.T) {
	d := testDigester(t)
	legacy, err := NewArgon2id("s3cret-value")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(legacy, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(legacy, "s3cret-value") {
		t.Fatalf("unexpected legacy digest: %s", legacy)
	}
	if got := d.Check(legacy, "s3cret-value"); got != MatchLegacy {
		t.Fatalf("Check(legacy, secret) = %s, want MatchLegacy", got)
	}
	clear(argon2idMemo.entries)
	if got := d.Check(legacy, "other"); got != Mismatch {
		t.Fatalf("Check(legacy, other) = %s, want Mismatch", got)
	}
}

func TestMalformedArgon2idDigestsMatchNothing(t *testing.T) {
	d := testDigester(t)
	for _, digest := range []string{
		"$argon2id$v=19$m=19456,t=2,p=1$!!$!!",
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$a2V5",
		// Parameters other than those earlier versions wrote are refused
		// before anything is allocated.
		"$argon2id$v=19$m=999999999,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE",
		"$argon2id$v=19$m=38912,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE",
	} {
		if d.Check(digest, "") != Mismatch || d.Check(digest, "abc") != Mismatch {
			t.Errorf("malformed digest %q matched", digest)
		}
	}
}

// At most one Argon2id computation runs at a time, however many
// reconciles check legacy digests at once: each holds 19 MiB.
func TestArgon2idChecksRunOneAtATime(t *testing.T) {
	d := testDigester(t)
	var digests []string
	for range 4 {
		legacy, err := NewArgon2id("same")
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, legacy)
	}
	clear(argon2idMemo.entries)
	var running, most atomic.Int32
	stop := make(chan struct{})
	go func() { // sample how many hold the slot
		for {
			select {
			case <-stop:
				return
			default:
			}
			n := int32(len(argon2idSlot))
			if n > most.Load() {
				most.Store(n)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	var wg sync.WaitGroup
	for _, legacy := range digests {
		wg.Go(func() {
			running.Add(1)
			if d.Check(legacy, "same") != MatchLegacy {
				t.Error("legacy digest did not match")
			}
		})
	}
	wg.Wait()
	close(stop)
	if cap(argon2idSlot) != 1 || most.Load() > 1 {
		t.Fatalf("argon2id slot capacity %d, most held %d: want 1", cap(argon2idSlot), most.Load())
	}
}
