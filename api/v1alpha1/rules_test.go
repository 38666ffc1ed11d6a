package v1alpha1_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

// The CEL rules of the CRD cannot reference Go constants: these tests
// check that the generated CRD and the constants the controller uses agree.

const crdFile = "../../config/crd/bases/webhooks.bitrise.io_outgoingwebhooks.yaml"

// specRules returns the CEL rules of spec.<field> in the generated CRD.
func specRules(t *testing.T, field string) []string {
	t.Helper()
	data, err := os.ReadFile(crdFile)
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema struct {
						Properties map[string]struct {
							Properties map[string]struct {
								Validations []struct {
									Rule string `json:"rule"`
								} `json:"x-kubernetes-validations"`
							} `json:"properties"`
						} `json:"properties"`
					} `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &crd); err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, v := range crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties[field].Validations {
		rules = append(rules, v.Rule)
	}
	return rules
}

func TestCRDHeaderRulesMatchTheCode(t *testing.T) {
	rules := specRules(t, "headers")
	for _, want := range []string{
		fmt.Sprintf("self.all(k, k.matches('%s'))", webhooksv1alpha1.HeaderNamePattern),
		fmt.Sprintf("self.all(k, size(bytes(self[k])) <= %d)", webhooksv1alpha1.MaxHeaderValueBytes),
	} {
		if !slices.Contains(rules, want) {
			t.Errorf("the CRD's rules of spec.headers %q lack %q: run make manifests, or align HeaderNamePattern/MaxHeaderValueBytes", rules, want)
		}
	}
}

func TestCRDIntervalBoundMatchesTheCode(t *testing.T) {
	rules := specRules(t, "interval")
	for _, rule := range rules {
		bound, ok := strings.CutPrefix(rule, "duration(self) <= duration('")
		if !ok {
			continue
		}
		bound = strings.TrimSuffix(bound, "')")
		if d, err := time.ParseDuration(bound); err != nil || d != webhooksv1alpha1.MaxInterval {
			t.Fatalf("the CRD bounds spec.interval at %q, the code at %v", bound, webhooksv1alpha1.MaxInterval)
		}
		return
	}
	t.Fatalf("the CRD's rules of spec.interval %q set no upper bound", rules)
}
