package gitops

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"sigs.k8s.io/yaml"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

// grafanaDashboard is the part of a Grafana dashboard model the test reads.
type grafanaDashboard struct {
	Title         string         `json:"title"`
	UID           string         `json:"uid"`
	SchemaVersion int            `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type grafanaPanel struct {
	ID      int            `json:"id"`
	Type    string         `json:"type"`
	Title   string         `json:"title"`
	Panels  []grafanaPanel `json:"panels"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
}

// prometheusRule is a monitoring.coreos.com/v1 PrometheusRule.
type prometheusRule struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				For         string            `json:"for"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

// namedExpr is a PromQL expression and where it comes from.
type namedExpr struct {
	where, expr string
	panel       bool // a query of a dashboard panel
}

func dashboardExprs(t *testing.T) []namedExpr {
	t.Helper()
	var d grafanaDashboard
	dec := json.NewDecoder(strings.NewReader(string(readRepoFile(t, "dist", "grafana", "dashboard.json"))))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	if d.Title == "" || d.UID == "" || d.SchemaVersion == 0 || len(d.Panels) == 0 {
		t.Errorf("dashboard.json lacks a title, uid, schemaVersion or panels")
	}
	var exprs []namedExpr
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(map[string]any); ok {
			if s, _ := q["query"].(string); s != "" {
				// label_values(metric, label) is Grafana's, not PromQL.
				m := regexp.MustCompile(`^label_values\((\w+),\s*(\w+)\)$`).FindStringSubmatch(s)
				if m == nil {
					t.Errorf("variable %s: unexpected query %q", v.Name, s)
					continue
				}
				exprs = append(exprs, namedExpr{where: "variable " + v.Name, expr: m[1]})
			}
		}
	}
	ids := map[int]bool{}
	var walk func(panels []grafanaPanel)
	walk = func(panels []grafanaPanel) {
		for _, p := range panels {
			if ids[p.ID] {
				t.Errorf("panel id %d used twice", p.ID)
			}
			ids[p.ID] = true
			if p.Title == "" || p.GridPos.W == 0 || p.GridPos.H == 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("panel %d %q: no title or a bad gridPos %+v", p.ID, p.Title, p.GridPos)
			}
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			refs := map[string]bool{}
			for _, target := range p.Targets {
				if target.Expr == "" || target.RefID == "" || refs[target.RefID] {
					t.Errorf("panel %q: a target without expr, or a missing or repeated refId", p.Title)
				}
				refs[target.RefID] = true
				exprs = append(exprs, namedExpr{fmt.Sprintf("panel %q %s", p.Title, target.RefID), expandGrafana(target.Expr), true})
			}
		}
	}
	walk(d.Panels)
	return exprs
}

var promDuration = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)

func alertExprs(t *testing.T) []namedExpr {
	t.Helper()
	var rule prometheusRule
	if err := yaml.UnmarshalStrict(readRepoFile(t, "dist", "prometheus", "alerts.yaml"), &rule); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	if rule.APIVersion != "monitoring.coreos.com/v1" || rule.Kind != "PrometheusRule" || rule.Metadata.Name == "" {
		t.Errorf("alerts.yaml is not a named monitoring.coreos.com/v1 PrometheusRule")
	}
	var exprs []namedExpr
	seen := map[string]bool{}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || seen[r.Alert] {
				t.Errorf("group %s: an alert without a name, or a repeated name %q", g.Name, r.Alert)
			}
			seen[r.Alert] = true
			if !promDuration.MatchString(r.For) {
				t.Errorf("alert %s: for %q is not a duration", r.Alert, r.For)
			}
			if !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) {
				t.Errorf("alert %s: severity %q", r.Alert, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: no summary or description", r.Alert)
			}
			exprs = append(exprs, namedExpr{where: "alert " + r.Alert, expr: r.Expr})
		}
	}
	if len(exprs) == 0 {
		t.Error("alerts.yaml has no rules")
	}
	return exprs
}

// family is a metric family as the manager exports it.
type family struct {
	typ    dto.MetricType
	labels map[string]map[string]bool // label name -> values seen
}

// scrape reads the manager's /metrics.
func scrape(t *testing.T) map[string]family {
	t.Helper()
	body, err := localenv.Scrape(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]family{}
	for name, mf := range families {
		f := family{typ: mf.GetType(), labels: map[string]map[string]bool{}}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if f.labels[l.GetName()] == nil {
					f.labels[l.GetName()] = map[string]bool{}
				}
				f.labels[l.GetName()][l.GetValue()] = true
			}
		}
		if f.typ == dto.MetricType_HISTOGRAM {
			f.labels["le"] = map[string]bool{}
		}
		out[name] = f
	}
	return out
}

// resolve finds the family of a series name: histogram series carry
// _bucket, _sum and _count suffixes.
func resolve(families map[string]family, series string) (string, family, bool) {
	if f, ok := families[series]; ok {
		return series, f, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, found := strings.CutSuffix(series, suffix)
		if f, ok := families[base]; found && ok && f.typ == dto.MetricType_HISTOGRAM {
			return base, f, true
		}
	}
	return "", family{}, false
}

// targetLabels are added by Prometheus to every scraped series.
var targetLabels = setOf("job", "instance", "namespace", "pod", "service", "container", "endpoint")

// TestDashboardAndAlertsMatchExportedMetrics parses the dashboard and the
// alerts, checks every PromQL expression, and checks that every metric,
// label and label value they use is exported by the real manager.
func TestDashboardAndAlertsMatchExportedMetrics(t *testing.T) {
	t.Parallel()
	exprs := append(dashboardExprs(t), alertExprs(t)...)

	// Traffic, so that the vectors have their label combinations.
	ready, stalled := newNamespace(t), newNamespace(t)
	create(t, webhook(ready, "metrics-ready", readyApp))
	create(t, webhook(stalled, "metrics-stalled", missingApp))
	waitFor(t, ready, "metrics-ready", "Ready", handled(webhooksv1alpha1.ConditionReady, webhooksv1alpha1.ReasonSucceeded))
	waitFor(t, stalled, "metrics-stalled", "Stalled", handled(webhooksv1alpha1.ConditionStalled, webhooksv1alpha1.ReasonAppNotFound))
	families := scrape(t)

	onDashboard := map[string]bool{}
	for _, e := range exprs {
		q, err := checkPromQL(e.expr)
		if err != nil {
			t.Errorf("%s: %v\n%s", e.where, err, e.expr)
			continue
		}
		if len(q.selectors) == 0 {
			t.Errorf("%s: no metric in %s", e.where, e.expr)
		}
		labelsOfExpr := setOf("le")
		for _, sel := range q.selectors {
			name, f, ok := resolve(families, sel.metric)
			if !ok {
				t.Errorf("%s: the manager exports no %s", e.where, sel.metric)
				continue
			}
			if e.panel {
				onDashboard[name] = true
			}
			for label := range f.labels {
				labelsOfExpr[label] = true
			}
			for _, m := range sel.matchers {
				if targetLabels[m.label] {
					continue
				}
				values, ok := f.labels[m.label]
				if !ok {
					t.Errorf("%s: %s has no label %s", e.where, sel.metric, m.label)
				} else if m.op == "=" && !values[m.value] {
					t.Errorf("%s: %s{%s=%q} is never exported (values: %v)", e.where, sel.metric, m.label, m.value, values)
				}
			}
		}
		for _, l := range q.grouping {
			if !labelsOfExpr[l] && !targetLabels[l] {
				t.Errorf("%s: groups by %s, a label of none of its metrics", e.where, l)
			}
		}
	}

	// Every metric of the operator's own is on the dashboard and documented.
	docs := string(readRepoFile(t, "docs", "metrics.md"))
	for name := range families {
		if !strings.HasPrefix(name, "bitrise_webhooks_") {
			continue
		}
		if !onDashboard[name] {
			t.Errorf("%s is exported but not on the dashboard", name)
		}
		if !strings.Contains(docs, name) {
			t.Errorf("%s is exported but not described in docs/metrics.md", name)
		}
	}
}
