package chaos

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The suite-wide registry of values that must never be readable outside
// the Secrets holding them: webhook secrets, header values from Secrets and
// API tokens. Each is distinctive and random.
var leakRegistry = struct {
	sync.Mutex
	values []string
	totals leakScan
}{}

func registerSecret(v string) {
	leakRegistry.Lock()
	defer leakRegistry.Unlock()
	leakRegistry.values = append(leakRegistry.values, v)
}

func registeredSecrets() []string {
	leakRegistry.Lock()
	defer leakRegistry.Unlock()
	return append([]string(nil), leakRegistry.values...)
}

// leakScan counts what was scanned and what was found.
type leakScan struct {
	scenarios, logBytes, events, statuses, leaks int
}

// needles are the forms in which a value would be readable: as is, and
// base64-encoded (as a careless dump of a Secret or a header would show it).
func needles(v string) []string {
	return []string{v, base64.StdEncoding.EncodeToString([]byte(v)), base64.RawURLEncoding.EncodeToString([]byte(v))}
}

// checkNoLeaks stops the scenario's managers (so that their output is
// complete) and scans their output, the Events of the scenario's namespaces
// (events.k8s.io/v1 and core/v1) and the status and annotations of every
// OutgoingWebhook for every value registered so far in the suite.
func (s *scenario) checkNoLeaks() {
	s.t.Helper()
	s.stopManagers()
	values := registeredSecrets()
	var scan leakScan
	found := func(where, text string) { scan.leaks += s.scanText(where, text) }

	s.mu.Lock()
	managers := append([]*manager(nil), s.managers...)
	s.mu.Unlock()
	for _, m := range managers {
		out := m.logs.String()
		scan.logBytes += len(out)
		found("the output of manager "+m.name, out)
	}

	for _, ns := range s.namespaces {
		var newEvents eventsv1.EventList
		if err := s.c.List(s.ctx(), &newEvents, client.InNamespace(ns)); err != nil {
			s.t.Fatal(err)
		}
		for i := range newEvents.Items {
			scan.events++
			found("event "+ns+"/"+newEvents.Items[i].Name, mustJSON(s, &newEvents.Items[i]))
		}
		var coreEvents corev1.EventList
		if err := s.c.List(s.ctx(), &coreEvents, client.InNamespace(ns)); err != nil {
			s.t.Fatal(err)
		}
		for i := range coreEvents.Items {
			scan.events++
			found("core event "+ns+"/"+coreEvents.Items[i].Name, mustJSON(s, &coreEvents.Items[i]))
		}
	}

	hooks, err := s.hooks()
	if err != nil {
		s.t.Fatal(err)
	}
	for i := range hooks {
		scan.statuses++
		h := &hooks[i]
		found("the status of "+h.Namespace+"/"+h.Name, mustJSON(s, h.Status))
		found("the annotations of "+h.Namespace+"/"+h.Name, mustJSON(s, h.Annotations))
	}

	scan.scenarios = 1
	logf(s.t, "chaos[%s] leaks: secrets=%d logBytes=%d events=%d statuses=%d leaks=%d",
		s.name, len(values), scan.logBytes, scan.events, scan.statuses, scan.leaks)
	leakRegistry.Lock()
	t := &leakRegistry.totals
	t.scenarios += scan.scenarios
	t.logBytes += scan.logBytes
	t.events += scan.events
	t.statuses += scan.statuses
	t.leaks += scan.leaks
	leakRegistry.Unlock()
}

// scanText reports, as test errors, every registered value found in text,
// and returns how many were found. It names the kind of value (its prefix),
// never the value.
func (s *scenario) scanText(where, text string) int {
	s.t.Helper()
	n := 0
	for _, v := range registeredSecrets() {
		for _, needle := range needles(v) {
			if strings.Contains(text, needle) {
				n++
				s.t.Errorf("leak: a %s value appears in %s", v[:strings.LastIndex(v, "-")], where)
			}
		}
	}
	return n
}

func mustJSON(s *scenario, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		s.t.Fatal(err)
	}
	return string(b)
}

func printLeakSummary() {
	leakRegistry.Lock()
	defer leakRegistry.Unlock()
	t := leakRegistry.totals
	fmt.Printf("chaos leaks (whole suite): scenarios=%d secrets=%d logBytes=%d events=%d statuses=%d leaks=%d\n",
		t.scenarios, len(leakRegistry.values), t.logBytes, t.events, t.statuses, t.leaks)
}
