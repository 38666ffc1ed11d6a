package controller

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
)

// desiredWebhook is what the remote webhook should be. Secret and the
// values of headers from the Secret are sensitive: never log or print them.
type desiredWebhook struct {
	URL     string
	Events  []string // sorted, unique
	Headers map[string]string
	Secret  string
	// secretHeaders are the names of the headers whose values come from the Secret.
	secretHeaders []string
}

// sensitive returns the values that must never show: the webhook secret
// and the values of headers from the Secret.
func (d desiredWebhook) sensitive() []string {
	values := []string{d.Secret}
	for _, name := range d.secretHeaders {
		values = append(values, d.Headers[name])
	}
	return values
}

// headerName is the rule for header names, shared with the CRD's CEL rule
// of spec.headers.
var headerName = regexp.MustCompile(webhooksv1alpha1.HeaderNamePattern)

// buildDesired combines the spec with the referenced Secret (nil when the
// spec has no secretRef). Only the keys `secret` and `headers` of the Secret
// are read. Errors are configuration errors that need the user; they name
// the Secret, key and header, never a value.
func buildDesired(spec webhooksv1alpha1.OutgoingWebhookSpec, secret *corev1.Secret) (desiredWebhook, error) {
	d := desiredWebhook{
		URL:     spec.URL,
		Events:  normalizeEvents(spec.Events),
		Headers: maps.Clone(spec.Headers),
	}
	if d.Headers == nil {
		d.Headers = map[string]string{}
	}
	// Header names are case-insensitive (RFC 9110 section 5.1): the lower
	// case of each name maps to the spelling it was defined with.
	names := make(map[string]string, len(d.Headers))
	for _, name := range slices.Sorted(maps.Keys(d.Headers)) {
		if first, dup := names[strings.ToLower(name)]; dup {
			return d, stalled(webhooksv1alpha1.ReasonInvalidSecret,
				"header %q is defined twice in spec.headers (as %q and %q): header names are case-insensitive", name, first, name)
		}
		names[strings.ToLower(name)] = name
	}
	if secret == nil {
		return d, nil
	}
	ref := secret.Name
	secretValue, hasSecret := secret.Data[webhooksv1alpha1.SecretKeyWebhookSecret]
	rawHeaders, hasHeaders := secret.Data[webhooksv1alpha1.SecretKeyHeaders]
	if !hasSecret && !hasHeaders {
		return d, stalled(webhooksv1alpha1.ReasonInvalidSecret,
			"Secret %s holds neither key %q nor key %q", ref,
			webhooksv1alpha1.SecretKeyWebhookSecret, webhooksv1alpha1.SecretKeyHeaders)
	}
	if hasSecret {
		d.Secret = trimLineEnding(string(secretValue))
		if d.Secret == "" {
			// Fail closed: an empty value (a secret store that synced
			// nothing, a typo) must not turn into unsigned deliveries.
			return d, stalled(webhooksv1alpha1.ReasonInvalidSecret,
				"key %q of Secret %s is empty: set the webhook secret, or remove the key to send unsigned deliveries",
				webhooksv1alpha1.SecretKeyWebhookSecret, ref)
		}
	}
	if hasHeaders {
		fromSecret, err := parseSecretHeaders(rawHeaders)
		if err != nil {
			return d, stalled(webhooksv1alpha1.ReasonInvalidSecret, "key %q of Secret %s: %s", webhooksv1alpha1.SecretKeyHeaders, ref, err)
		}
		for _, name := range slices.Sorted(maps.Keys(fromSecret)) {
			if inline, dup := names[strings.ToLower(name)]; dup {
				return d, stalled(webhooksv1alpha1.ReasonInvalidSecret,
					"header %q is defined both in spec.headers (as %q) and in Secret %s: header names are case-insensitive, define it in one place", name, inline, ref)
			}
			d.Headers[name] = fromSecret[name]
			d.secretHeaders = append(d.secretHeaders, name)
		}
	}
	return d, nil
}

// trimLineEnding removes one trailing line ending (LF or CRLF), which
// files, and so Secrets made with `kubectl create secret --from-file`, end
// with. Only one: a secret that really ends with blank lines keeps the rest.
func trimLineEnding(s string) string {
	if rest, ok := strings.CutSuffix(s, "\r\n"); ok {
		return rest
	}
	return strings.TrimSuffix(s, "\n")
}

// parseSecretHeaders reads a YAML (or JSON, which is YAML) map of header
// name to value. Every scalar value is taken as its literal text, as written
// in the Secret: `1.10`, `NO`, `on`, `0123`, `~` or `1e3` stay what they
// are, instead of turning into 1.1, false, true, 83, null or 1000 as YAML
// 1.1 type resolution would have it. Quoted and block scalars give their
// content. A list or map value, an empty value, a value with a line break or
// one longer than MaxHeaderValueBytes, an invalid name and a name defined
// twice in any letter case are errors. Empty input is no headers.
// Its errors never quote a value: header values are sensitive.
func parseSecretHeaders(raw []byte) (map[string]string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("not a YAML or JSON map of header name to value")
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return map[string]string{}, nil // empty, or only comments
	}
	root := resolveAlias(doc.Content[0])
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return map[string]string{}, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("not a YAML or JSON map of header name to value")
	}
	headers := make(map[string]string, len(root.Content)/2)
	seen := make(map[string]string, len(root.Content)/2)
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, value := resolveAlias(root.Content[i]), resolveAlias(root.Content[i+1])
		if key.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("a header name (line %d) is not a string", key.Line)
		}
		name := key.Value
		if !headerName.MatchString(name) {
			return nil, fmt.Errorf("%q is not a valid HTTP header name", name)
		}
		if first, dup := seen[strings.ToLower(name)]; dup {
			return nil, fmt.Errorf("header %q is defined twice (as %q and %q): header names are case-insensitive", name, first, name)
		}
		seen[strings.ToLower(name)] = name
		if value.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("the value of header %q is not a string (a list or a map)", name)
		}
		if err := checkHeaderValue(value.Value); err != nil {
			return nil, fmt.Errorf("header %q: %w", name, err)
		}
		headers[name] = value.Value
	}
	return headers, nil
}

// checkHeaderValue applies the CRD's rules for inline header values to a
// value from the Secret. Its errors never quote the value.
func checkHeaderValue(v string) error {
	switch {
	case v == "":
		return fmt.Errorf("the value is empty")
	case strings.ContainsAny(v, "\r\n"):
		return fmt.Errorf("the value holds a line break (a YAML block scalar | or > keeps its final newline: use |- or >-)")
	case len(v) > webhooksv1alpha1.MaxHeaderValueBytes:
		return fmt.Errorf("the value is longer than 8 KiB (%d bytes)", webhooksv1alpha1.MaxHeaderValueBytes)
	}
	return nil
}

// resolveAlias follows a YAML alias (*name) to the node it names.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func normalizeEvents(events []webhooksv1alpha1.Event) []string {
	out := make([]string, 0, len(events))
	for _, e := range events {
		out = append(out, string(e))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// needsUpdate reports whether the remote webhook differs from the desired
// one in what a PUT can change: the URL, the set of events and the headers.
func needsUpdate(d desiredWebhook, remote bitrise.Webhook) bool {
	if d.URL != remote.URL {
		return true
	}
	remoteEvents := slices.Clone(remote.Events)
	slices.Sort(remoteEvents)
	if !slices.Equal(d.Events, slices.Compact(remoteEvents)) {
		return true
	}
	return !sameHeaders(d.Headers, remote.Headers)
}

// sameHeaders reports whether two header maps are equal, names compared
// case-insensitively (RFC 9110 section 5.1) and values exactly; nil and empty
// are equal. An API that returns `x-team` for `X-Team` is in sync.
func sameHeaders(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	lower := make(map[string]string, len(b))
	for name, v := range b {
		lower[strings.ToLower(name)] = v
	}
	for name, v := range a {
		if w, ok := lower[strings.ToLower(name)]; !ok || w != v {
			return false
		}
	}
	return len(lower) == len(b)
}

// findBySlug returns the webhook with that slug, or nil.
func findBySlug(webhooks []bitrise.Webhook, slug string) *bitrise.Webhook {
	for i := range webhooks {
		if webhooks[i].Slug == slug {
			return &webhooks[i]
		}
	}
	return nil
}

// findAdoptable returns the first webhook with the desired URL (compared
// with sameWebhookURL) that no other resource owns and that no addon
// registered, or nil.
func findAdoptable(webhooks []bitrise.Webhook, url string, ownedByOthers map[string]string) *bitrise.Webhook {
	for i := range webhooks {
		w := &webhooks[i]
		if !sameWebhookURL(w.URL, url) || w.RegisteredByAddon {
			continue
		}
		if _, owned := ownedByOthers[w.Slug]; owned {
			continue
		}
		return w
	}
	return nil
}
