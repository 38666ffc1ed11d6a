package controller

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

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

// headerName is RFC 9110's token; the CRD applies the same rule to inline headers.
var headerName = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")

// buildDesired combines the spec with the referenced Secret (nil when the
// spec has no secretRef). Only the keys `secret` and `headers` of the Secret
// are read. Errors are configuration errors that need the user.
func buildDesired(spec webhooksv1alpha1.OutgoingWebhookSpec, secret *corev1.Secret) (desiredWebhook, error) {
	d := desiredWebhook{
		URL:     spec.URL,
		Events:  normalizeEvents(spec.Events),
		Headers: maps.Clone(spec.Headers),
	}
	if d.Headers == nil {
		d.Headers = map[string]string{}
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
	d.Secret = string(secretValue)
	if hasHeaders {
		fromSecret, err := parseSecretHeaders(rawHeaders)
		if err != nil {
			return d, stalled(webhooksv1alpha1.ReasonInvalidSecret, "key %q of Secret %s: %s", webhooksv1alpha1.SecretKeyHeaders, ref, err)
		}
		for _, name := range slices.Sorted(maps.Keys(fromSecret)) {
			if _, dup := d.Headers[name]; dup {
				return d, stalled(webhooksv1alpha1.ReasonInvalidSecret,
					"header %q is defined both in spec.headers and in Secret %s: define it in one place", name, ref)
			}
			d.Headers[name] = fromSecret[name]
			d.secretHeaders = append(d.secretHeaders, name)
		}
	}
	return d, nil
}

// parseSecretHeaders reads a YAML or JSON map of header name to scalar value.
// Its errors never quote the input: it holds header values.
func parseSecretHeaders(raw []byte) (map[string]string, error) {
	var parsed map[string]any
	if err := yaml.Unmarshal(raw, &parsed); err != nil {
		return nil, fmt.Errorf("not a YAML or JSON map of header name to value")
	}
	headers := make(map[string]string, len(parsed))
	for _, name := range slices.Sorted(maps.Keys(parsed)) {
		if !headerName.MatchString(name) {
			return nil, fmt.Errorf("%q is not a valid HTTP header name", name)
		}
		switch v := parsed[name].(type) {
		case string:
			headers[name] = v
		case bool:
			headers[name] = strconv.FormatBool(v)
		case float64:
			headers[name] = strconv.FormatFloat(v, 'f', -1, 64)
		case int64:
			headers[name] = strconv.FormatInt(v, 10)
		default:
			return nil, fmt.Errorf("the value of header %q is not a string", name)
		}
	}
	return headers, nil
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
	return !maps.Equal(d.Headers, remote.Headers) && (len(d.Headers) > 0 || len(remote.Headers) > 0)
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
