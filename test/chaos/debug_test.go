package chaos

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// dumpDebug writes the managers' output and the fake's requests to
// $CHAOS_DUMP_DIR when set (a debugging aid).
func (s *scenario) dumpDebug() {
	dir := os.Getenv("CHAOS_DUMP_DIR")
	if dir == "" {
		return
	}
	var b strings.Builder
	for _, r := range s.env.Fake.Requests() {
		fmt.Fprintf(&b, "%s %s %s status=%d dropped=%v\n", r.Time.Format("15:04:05.000000"), r.Method, r.Path, r.Status, r.Dropped)
	}
	_ = os.WriteFile(filepath.Join(dir, s.name+"-requests.txt"), []byte(b.String()), 0o644)
	s.mu.Lock()
	managers := append([]*manager(nil), s.managers...)
	s.mu.Unlock()
	for _, m := range managers {
		_ = os.WriteFile(filepath.Join(dir, s.name+"-"+m.name+".log"), []byte(m.Logs.String()), 0o644)
	}
}
