package gitops

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// A light PromQL check, enough to catch what breaks dashboards and alerts in
// practice (unbalanced brackets, a misspelt function, a malformed matcher,
// a metric or label that does not exist) without the weight of
// github.com/prometheus/prometheus/promql/parser.

// selector is one vector selector of an expression.
type selector struct {
	metric   string
	matchers []matcher
}

type matcher struct{ label, op, value string }

// promQuery is what checkPromQL finds in an expression.
type promQuery struct {
	selectors []selector
	// grouping holds the labels of by, without, on and ignoring clauses.
	grouping []string
}

// promFunctions are PromQL's functions and aggregation operators.
var promFunctions = setOf(
	// aggregations
	"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
	"bottomk", "topk", "quantile", "limitk", "limit_ratio",
	// functions
	"abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min",
	"day_of_month", "day_of_week", "day_of_year", "days_in_month", "delta", "deriv", "exp", "floor",
	"histogram_avg", "histogram_count", "histogram_fraction", "histogram_quantile", "histogram_stddev",
	"histogram_stdvar", "histogram_sum", "holt_winters", "hour", "idelta", "increase", "irate",
	"label_join", "label_replace", "ln", "log2", "log10", "minute", "month", "predict_linear", "rate",
	"resets", "round", "scalar", "sgn", "sort", "sort_desc", "sqrt", "time", "timestamp", "vector", "year",
	"avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
	"quantile_over_time", "stddev_over_time", "stdvar_over_time", "last_over_time", "present_over_time",
)

// matchOps are the operators of label matchers.
var matchOps = setOf("=", "!=", "=~", "!~")

// promKeywords are the words of PromQL that are neither metrics nor functions.
var promKeywords = setOf("by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or", "unless", "atan2")

func setOf(words ...string) map[string]bool {
	m := map[string]bool{}
	for _, w := range words {
		m[w] = true
	}
	return m
}

type promToken struct {
	kind string // ident, string, number, duration, op, punct
	text string
}

var (
	tokenPatterns = []struct {
		kind string
		re   *regexp.Regexp
	}{
		{"space", regexp.MustCompile(`^\s+`)},
		{"string", regexp.MustCompile(`^("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`" + `)`)},
		{"duration", regexp.MustCompile(`^(?:[0-9]+(?:ms|s|m|h|d|w|y))+\b`)},
		{"number", regexp.MustCompile(`^(?:0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf\b|NaN\b)`)},
		{"ident", regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*`)},
		{"op", regexp.MustCompile(`^(?:==|!=|>=|<=|=~|!~|[-+*/%^<>=])`)},
		{"punct", regexp.MustCompile(`^[(){}\[\],]`)},
	}
	// grafanaVariable matches $var, ${var}, ${var:format} and $__interval-like macros.
	grafanaVariable = regexp.MustCompile(`\$\{[^}]+\}|\$[a-zA-Z_][a-zA-Z0-9_]*`)
)

// expandGrafana replaces Grafana's variables with values that keep the
// expression valid PromQL: ranges for the $__ macros, `.*` for variables
// (which the dashboard only uses inside regex matchers).
func expandGrafana(expr string) string {
	return grafanaVariable.ReplaceAllStringFunc(expr, func(v string) string {
		if strings.HasPrefix(strings.TrimPrefix(v, "${"), "$__") || strings.HasPrefix(v, "${__") {
			return "5m"
		}
		return ".*"
	})
}

func tokenize(expr string) ([]promToken, error) {
	var tokens []promToken
	for rest := expr; rest != ""; {
		matched := false
		for _, p := range tokenPatterns {
			if m := p.re.FindString(rest); m != "" {
				if p.kind != "space" {
					tokens = append(tokens, promToken{p.kind, m})
				}
				rest = rest[len(m):]
				matched = true
				break
			}
		}
		if !matched {
			return nil, fmt.Errorf("unexpected %q", rest)
		}
	}
	return tokens, nil
}

// groupingKeywords introduce a list of labels.
var groupingKeywords = setOf("by", "without", "on", "ignoring", "group_left", "group_right")

// checkPromQL tokenizes and walks expr: brackets must balance, functions
// must exist, matchers must be `label op "value"`, grouping clauses lists of
// labels, and two operands need an operator between them.
func checkPromQL(expr string) (promQuery, error) {
	var q promQuery
	tokens, err := tokenize(expr)
	if err != nil {
		return q, err
	}
	if len(tokens) == 0 {
		return q, fmt.Errorf("empty expression")
	}
	var stack []string
	closing := map[string]string{")": "(", "]": "["}
	// afterOperand: the previous token ended an operand, so the next one
	// must not start another.
	afterOperand := false
	for i := 0; i < len(tokens); i++ {
		tok := tokens[i]
		nextText := ""
		if i+1 < len(tokens) {
			nextText = tokens[i+1].text
		}
		startsOperand := tok.text == "(" || tok.kind == "number" || tok.kind == "string" ||
			(tok.kind == "ident" && !promKeywords[tok.text]) || (tok.text == "{" && (i == 0 || tokens[i-1].kind != "ident"))
		if afterOperand && startsOperand {
			return q, fmt.Errorf("missing operator before %q", tok.text)
		}
		afterOperand = false
		switch {
		case tok.text == "(" || tok.text == "[":
			stack = append(stack, tok.text)
		case tok.text == ")" || tok.text == "]":
			if len(stack) == 0 || stack[len(stack)-1] != closing[tok.text] {
				return q, fmt.Errorf("unbalanced %q at token %d", tok.text, i)
			}
			stack = stack[:len(stack)-1]
			afterOperand = true
		case tok.text == "}":
			return q, fmt.Errorf("unbalanced } at token %d", i)
		case tok.text == "{":
			// A matcher list, after a metric name or alone.
			sel := selector{}
			if n := len(q.selectors); i > 0 && tokens[i-1].kind == "ident" && n > 0 && q.selectors[n-1].metric == tokens[i-1].text {
				sel = q.selectors[n-1]
				q.selectors = q.selectors[:len(q.selectors)-1]
			}
			j := i + 1
			for j >= len(tokens) || tokens[j].text != "}" {
				if j+2 >= len(tokens) {
					return q, fmt.Errorf("unclosed {")
				}
				label, op, value := tokens[j], tokens[j+1], tokens[j+2]
				if label.kind != "ident" || !matchOps[op.text] || value.kind != "string" {
					return q, fmt.Errorf("malformed matcher near %s %s %s", label.text, op.text, value.text)
				}
				sel.matchers = append(sel.matchers, matcher{label.text, op.text, strings.Trim(value.text, "\"'`")})
				j += 3
				if j < len(tokens) && tokens[j].text == "," {
					j++
				} else if j >= len(tokens) || tokens[j].text != "}" {
					return q, fmt.Errorf("expected , or } after the matcher of %s", label.text)
				}
			}
			if sel.metric == "" && len(sel.matchers) == 0 {
				return q, fmt.Errorf("empty selector {}")
			}
			q.selectors = append(q.selectors, sel)
			i = j
			afterOperand = true
		case tok.kind == "ident" && groupingKeywords[tok.text]:
			if nextText != "(" {
				if tok.text == "group_left" || tok.text == "group_right" {
					continue
				}
				return q, fmt.Errorf("%s without a label list", tok.text)
			}
			j := i + 2
			for ; j < len(tokens) && tokens[j].text != ")"; j++ {
				switch {
				case tokens[j].kind == "ident":
					q.grouping = append(q.grouping, tokens[j].text)
				case tokens[j].text != ",":
					return q, fmt.Errorf("unexpected %q in %s (...)", tokens[j].text, tok.text)
				}
			}
			if j >= len(tokens) {
				return q, fmt.Errorf("unclosed %s (", tok.text)
			}
			i = j
		case tok.kind == "ident" && promKeywords[tok.text]:
			// offset, bool, and, or, unless, atan2: followed by an operand.
		case tok.kind == "ident" && (nextText == "(" || nextText == "by" || nextText == "without"):
			if !promFunctions[tok.text] {
				return q, fmt.Errorf("unknown function %q", tok.text)
			}
		case tok.kind == "ident":
			if len(stack) > 0 && stack[len(stack)-1] == "[" {
				return q, fmt.Errorf("unexpected %q in a range", tok.text)
			}
			q.selectors = append(q.selectors, selector{metric: tok.text})
			afterOperand = true
		case tok.kind == "number" || tok.kind == "string" || tok.kind == "duration":
			afterOperand = true
		}
	}
	if len(stack) > 0 {
		return q, fmt.Errorf("unclosed %q", stack[len(stack)-1])
	}
	if !afterOperand {
		return q, fmt.Errorf("the expression ends without an operand")
	}
	return q, nil
}

func TestCheckPromQL(t *testing.T) {
	good := `sum by (code) (rate(bitrise_webhooks_api_requests_total{job=~".*", code!="200"}[5m])) / ignoring(code) group_left sum(rate(x[5m])) > 0.1`
	q, err := checkPromQL(good)
	if err != nil {
		t.Fatalf("%s: %v", good, err)
	}
	if len(q.selectors) != 2 || q.selectors[0].metric != "bitrise_webhooks_api_requests_total" ||
		len(q.selectors[0].matchers) != 2 || q.selectors[0].matchers[1] != (matcher{"code", "!=", "200"}) || q.selectors[1].metric != "x" {
		t.Errorf("selectors: %+v", q.selectors)
	}
	if strings.Join(q.grouping, ",") != "code,code" {
		t.Errorf("grouping: %v", q.grouping)
	}
	if q, err := checkPromQL(`histogram_quantile(0.99, sum by (le) (rate(a_bucket[5m])))`); err != nil || q.selectors[0].metric != "a_bucket" {
		t.Errorf("histogram_quantile: %+v %v", q, err)
	}
	for _, bad := range []string{
		`sum(rate(a[5m])`,
		`sum(rate(a[5m]))))`,
		`sum(rate(a{b="c"[5m]))`,
		`summ(rate(a[5m]))`,
		`rate(a{b=c}[5m])`,
		`rate(a{b="c" d="e"}[5m])`,
		`sum by code (a)`,
		`sum(rate(a[5m])) sum(rate(b[5m]))`,
		`a{b="c"} 1`,
		`sum(a) >`,
		`rate(a[5m]}`,
		`sum(a) and {b="c"`,
		``,
	} {
		if _, err := checkPromQL(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
