package localenv

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

// LeakScanner holds the values that must never be readable outside the
// Secrets holding them (webhook secrets, header values from Secrets, API
// tokens, delivery payloads) and looks for them where a user or an
// observer could read them: a manager's output, Events, and the status and
// annotations of OutgoingWebhooks. A value counts as leaked in each form
// that Needles lists. It is safe for concurrent use; one scanner may serve
// a whole test package, so that every check looks for every value
// registered so far.
type LeakScanner struct {
	mu     sync.Mutex
	values []leakValue
	totals LeakFigures
}

type leakValue struct{ kind, value string }

// LeakFigures count what was scanned and what was found.
type LeakFigures struct {
	// Checks counts the calls of Check.
	Checks int
	// Values is how many values were looked for (in Totals: registered).
	Values int
	// LogBytes counts the bytes of process output scanned.
	LogBytes int
	// Events counts the Events (events.k8s.io/v1 and core/v1) scanned.
	Events int
	// Statuses counts the OutgoingWebhooks whose status and annotations
	// were scanned.
	Statuses int
	// Leaks counts the values found, once per form and place.
	Leaks int
}

// String renders the figures on one line, for test logs.
func (f LeakFigures) String() string {
	return fmt.Sprintf("checks=%d secrets=%d logBytes=%d events=%d statuses=%d leaks=%d",
		f.Checks, f.Values, f.LogBytes, f.Events, f.Statuses, f.Leaks)
}

// Register adds a value to look for. kind names it in failure messages
// (such as "webhook secret"); the value itself is never printed.
func (s *LeakScanner) Register(kind, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values = append(s.values, leakValue{kind: kind, value: value})
}

// NewValue returns a distinctive random value, kind followed by 24 hex
// digits, and registers it under kind.
func (s *LeakScanner) NewValue(kind string) string {
	v := kind + "-" + RandomHex(12)
	s.Register(kind, v)
	return v
}

func (s *LeakScanner) registered() []leakValue {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]leakValue(nil), s.values...)
}

// Needles are the forms in which a value would be readable: as is, and
// base64-encoded, standard and raw URL alphabet (as a careless dump of a
// Secret, a header or a JWT-like field would show it).
func Needles(v string) []string {
	return []string{v, base64.StdEncoding.EncodeToString([]byte(v)), base64.RawURLEncoding.EncodeToString([]byte(v))}
}

// ScanText reports, as test errors naming the kind of value and where, every
// registered value found in text, and returns how many were found.
func (s *LeakScanner) ScanText(t testing.TB, where, text string) int {
	t.Helper()
	n := 0
	for _, v := range s.registered() {
		for _, needle := range Needles(v.value) {
			if strings.Contains(text, needle) {
				n++
				t.Errorf("leak: a %s value appears in %s", v.kind, where)
			}
		}
	}
	return n
}

// ScanObject scans the JSON form of v, as ScanText does.
func (s *LeakScanner) ScanObject(t testing.TB, where string, v any) int {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encoding %s: %v", where, err)
	}
	return s.ScanText(t, where, string(b))
}

// Check scans, for every value registered so far: each output (a process's
// name to what it wrote; stop the process first so that it is complete),
// the Events of each namespace (events.k8s.io/v1 and core/v1, whole
// objects), and the status and annotations of every OutgoingWebhook in
// those namespaces. c must know the core, events and webhooks types. Each
// leak is a test error; the figures of this check are returned and added
// to Totals.
func (s *LeakScanner) Check(ctx context.Context, t testing.TB, c client.Client, namespaces []string, outputs map[string]string) LeakFigures {
	t.Helper()
	f := LeakFigures{Checks: 1, Values: len(s.registered())}
	for name, out := range outputs {
		f.LogBytes += len(out)
		f.Leaks += s.ScanText(t, "the output of "+name, out)
	}
	for _, ns := range namespaces {
		for _, events := range []struct {
			what string
			list client.ObjectList
		}{{"event", &eventsv1.EventList{}}, {"core event", &corev1.EventList{}}} {
			if err := c.List(ctx, events.list, client.InNamespace(ns)); err != nil {
				t.Fatal(err)
			}
			_ = meta.EachListItem(events.list, func(o runtime.Object) error {
				f.Events++
				f.Leaks += s.ScanObject(t, events.what+" "+ns+"/"+o.(client.Object).GetName(), o)
				return nil
			})
		}
		var hooks webhooksv1alpha1.OutgoingWebhookList
		if err := c.List(ctx, &hooks, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		for i := range hooks.Items {
			h := &hooks.Items[i]
			f.Statuses++
			f.Leaks += s.ScanObject(t, "the status of "+ns+"/"+h.Name, h.Status)
			f.Leaks += s.ScanObject(t, "the annotations of "+ns+"/"+h.Name, h.Annotations)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.totals.Checks += f.Checks
	s.totals.LogBytes += f.LogBytes
	s.totals.Events += f.Events
	s.totals.Statuses += f.Statuses
	s.totals.Leaks += f.Leaks
	return f
}

// Totals sums the figures of every Check so far; Values is the number of
// values registered.
func (s *LeakScanner) Totals() LeakFigures {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.totals
	t.Values = len(s.values)
	return t
}

// RandomHex returns n random bytes from crypto/rand, hex-encoded (2n
// characters), for names and values that must not collide across runs.
func RandomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
