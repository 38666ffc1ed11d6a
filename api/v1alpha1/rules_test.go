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

type celRules struct {
	Validations []struct {
		Rule string `json:"rule"`
	} `json:"x-kubernetes-validations"`
}

func (c celRules) rules() []string {
	var rules []string
	for _, v := range c.Validations {
		rules = append(rules, v.Rule)
	}
	return rules
}

// specRules returns the CEL rules of spec.<field> in the generated CRD, of
// the field itself and of its map values, and the maxLength of its map values.
func specRules(t *testing.T, field string) (rules, valueRules []string, valueMaxLength int) {
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
								celRules
								AdditionalProperties struct {
									celRules
									MaxLength int `json:"maxLength"`
								} `json:"additionalProperties"`
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
	f := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties[field]
	return f.rules(), f.AdditionalProperties.rules(), f.AdditionalProperties.MaxLength
}

func TestCRDHeaderRulesMatchTheCode(t *testing.T) {
	rules, valueRules, maxLength := specRules(t, "headers")
	if want := fmt.Sprintf("self.all(k, k.matches('%s'))", webhooksv1alpha1.HeaderNamePattern); !slices.Contains(rules, want) {
		t.Errorf("the CRD's rules of spec.headers %q lack %q: run make manifests, or align HeaderNamePattern", rules, want)
	}
	if want := fmt.Sprintf("size(bytes(self)) <= %d", webhooksv1alpha1.MaxHeaderValueBytes); !slices.Contains(valueRules, want) {
		t.Errorf("the CRD's rules of a spec.headers value %q lack %q: align HeaderValue with MaxHeaderValueBytes", valueRules, want)
	}
	if maxLength != webhooksv1alpha1.MaxHeaderValueBytes {
		t.Errorf("the CRD's maxLength of a spec.headers value is %d, want MaxHeaderValueBytes (%d)", maxLength, webhooksv1alpha1.MaxHeaderValueBytes)
	}
}

func TestCRDIntervalBoundMatchesTheCode(t *testing.T) {
	rules, _, _ := specRules(t, "interval")
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
