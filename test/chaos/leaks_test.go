package chaos

import (
	"fmt"
)

// checkNoLeaks stops the scenario's managers (so that their output is
// complete) and scans their output, the Events of the scenario's namespaces
// and the status and annotations of every OutgoingWebhook for every value
// registered so far in the suite (localenv.LeakScanner.Check).
func (s *scenario) checkNoLeaks() {
	s.t.Helper()
	s.stopManagers()
	s.mu.Lock()
	outputs := map[string]string{}
	for _, m := range s.managers {
		outputs["manager "+m.name] = m.Logs.String()
	}
	namespaces := append([]string(nil), s.namespaces...)
	s.mu.Unlock()
	figures := leaks.Check(s.ctx(), s.t, s.c, namespaces, outputs)
	logf(s.t, "chaos[%s] leaks: %s", s.name, figures)
}

// scanObject reports every registered value found in the JSON form of v.
func (s *scenario) scanObject(where string, v any) {
	s.t.Helper()
	leaks.ScanObject(s.t, where, v)
}

func printLeakSummary() {
	fmt.Printf("chaos leaks (whole suite): %s\n", leaks.Totals())
}
