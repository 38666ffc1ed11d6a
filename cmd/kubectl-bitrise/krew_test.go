package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestKrewManifestTemplate renders dist/krew/bitrise.yaml as krew-release-bot
// does (tag, then each addURIAndSha call as uri and sha256) and checks that
// it is a Krew plugin with an archive for linux, darwin and windows on amd64
// and arm64.
func TestKrewManifestTemplate(t *testing.T) {
	raw, err := os.ReadFile("../../dist/krew/bitrise.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(raw), "{{ .TagName }}", "v1.2.3")
	call := regexp.MustCompile(`\{\{addURIAndSha "([^"]+)" \.TagName \}\}`)
	if n := len(call.FindAllString(text, -1)); n != 6 {
		t.Fatalf("want 6 addURIAndSha calls, got %d", n)
	}
	text = call.ReplaceAllString(text, "uri: $1\n      sha256: "+strings.Repeat("ab", 32))
	if strings.Contains(text, "{{") {
		t.Fatalf("placeholders left after rendering:\n%s", text)
	}
	var plugin struct {
		APIVersion string
		Kind       string
		Metadata   struct{ Name string }
		Spec       struct {
			Version          string
			Homepage         string
			ShortDescription string `json:"shortDescription"`
			Description      string
			Caveats          string
			Platforms        []struct {
				Selector struct{ MatchLabels map[string]string } `json:"selector"`
				URI      string                                  `json:"uri"`
				Sha256   string                                  `json:"sha256"`
				Bin      string                                  `json:"bin"`
			}
		}
	}
	if err := yaml.UnmarshalStrict([]byte(text), &plugin); err != nil {
		t.Fatalf("rendered manifest: %v\n%s", err, text)
	}
	if plugin.Kind != "Plugin" || plugin.Metadata.Name != "bitrise" || plugin.Spec.Version != "v1.2.3" {
		t.Errorf("kind %q, name %q, version %q", plugin.Kind, plugin.Metadata.Name, plugin.Spec.Version)
	}
	seen := map[string]bool{}
	for _, p := range plugin.Spec.Platforms {
		osArch := p.Selector.MatchLabels["os"] + "_" + p.Selector.MatchLabels["arch"]
		seen[osArch] = true
		if !strings.Contains(p.URI, "/v1.2.3/kubectl-bitrise_v1.2.3_"+osArch+".") || len(p.Sha256) != 64 {
			t.Errorf("%s: uri %q, sha256 %q", osArch, p.URI, p.Sha256)
		}
		wantBin := "kubectl-bitrise"
		if p.Selector.MatchLabels["os"] == "windows" {
			wantBin += ".exe"
		}
		if p.Bin != wantBin {
			t.Errorf("%s: bin %q, want %q", osArch, p.Bin, wantBin)
		}
	}
	for _, osArch := range []string{"linux_amd64", "linux_arm64", "darwin_amd64", "darwin_arm64", "windows_amd64", "windows_arm64"} {
		if !seen[osArch] {
			t.Errorf("no platform for %s", osArch)
		}
	}
}
