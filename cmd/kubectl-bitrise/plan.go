package main

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
)

// appWebhook is a remote webhook and the app it belongs to.
type appWebhook struct {
	App  string
	Hook bitrise.Webhook
}

// importOptions say how remote webhooks become manifests.
type importOptions struct {
	// Namespace is written into every manifest.
	Namespace string
	// DeletionPolicy is spec.deletionPolicy of every OutgoingWebhook.
	DeletionPolicy webhooksv1alpha1.DeletionPolicy
	// InlineHeaders puts header values in spec.headers instead of a Secret;
	// masked values still go to a Secret (see plannedWebhook.Masked).
	InlineHeaders bool
	// Credentials, when set, is the ClusterCredentials every OutgoingWebhook
	// names in spec.credentialsRef (the one whose token the import used);
	// empty writes no credentialsRef (the operator's default credentials).
	Credentials string
	// Managed maps the slug of a remote webhook that an OutgoingWebhook of
	// the cluster already holds (status.slug) to that resource, as
	// "namespace/name"; such webhooks are skipped with a note, as a
	// second resource for them would only stall with AlreadyManaged.
	Managed map[string]string
}

// plannedWebhook is one imported webhook: an OutgoingWebhook named Name
// and, when SecretHeaders is not empty, a Secret named SecretName.
type plannedWebhook struct {
	App  string
	Name string
	Hook bitrise.Webhook
	// Events are the remote events without duplicates, in the remote order
	// (the operator compares them as a set).
	Events []string
	// InlineHeaders go to spec.headers.
	InlineHeaders map[string]string
	// SecretHeaders go to key `headers` of the Secret. Masked names are in
	// it with an empty value and are rendered as an empty placeholder.
	SecretHeaders map[string]string
	// Masked are the names of headers whose value Bitrise returned masked
	// (only `*`, or empty), sorted.
	Masked []string
}

// SecretName is the name of the webhook's headers Secret.
func (p plannedWebhook) SecretName() string { return p.Name + "-headers" }

// importPlan is what an import writes: the webhooks to render, and notes
// for stderr about what was skipped or needs the user.
type importPlan struct {
	Webhooks []plannedWebhook
	Notes    []string
}

// headerNamePattern is the CRD's rule for header names (RFC 9110 tokens).
var headerNamePattern = regexp.MustCompile(`^[A-Za-z0-9!#$%&*+.^_|~-]+$`)

// appSlugPattern is the CRD's rule for spec.appSlug.
var appSlugPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// maxURLLength is the CRD's limit on spec.url.
const maxURLLength = 2048

// isMasked reports whether a header value looks masked by Bitrise (hidden
// values cannot be read back in the UI): empty, or only `*`.
func isMasked(value string) bool {
	return strings.Trim(value, "*") == ""
}

// planImport turns the remote webhooks into manifests the operator adopts
// without a write to Bitrise: the OutgoingWebhook has the exact URL, events
// and headers of the remote webhook, so that the operator's comparison
// (URL, set of events, header map) finds nothing to update, and no secret,
// so that it does not replace the webhook. Webhooks that cannot be imported
// that way are skipped with a note: addon webhooks, a URL or events the CRD
// rejects, invalid header names, a webhook an OutgoingWebhook already holds
// (opts.Managed), and a second webhook with the same URL in one app (the
// operator manages one webhook per app and URL).
func planImport(hooks []appWebhook, opts importOptions) importPlan {
	var plan importPlan
	note := func(h appWebhook, format string, args ...any) {
		plan.Notes = append(plan.Notes, fmt.Sprintf("app %s, webhook %s (%s): ", h.App, h.Hook.Slug, urlOrigin(h.Hook.URL))+fmt.Sprintf(format, args...))
	}
	seen := map[[2]string]string{} // app and URL -> slug imported
	for _, h := range hooks {
		if h.Hook.RegisteredByAddon {
			note(h, "skipped: registered by an addon; the operator never manages addon webhooks")
			continue
		}
		if reason := unimportableURL(h.Hook.URL); reason != "" {
			note(h, "skipped: %s", reason)
			continue
		}
		events, reason := importableEvents(h.Hook.Events)
		if reason != "" {
			note(h, "skipped: %s", reason)
			continue
		}
		if bad := invalidHeaderNames(h.Hook.Headers); len(bad) > 0 {
			note(h, "skipped: header names %q are not valid HTTP header names, which the CRD rejects", bad)
			continue
		}
		if owner, ok := opts.Managed[h.Hook.Slug]; ok {
			note(h, "skipped: already managed by OutgoingWebhook %s", owner)
			continue
		}
		key := [2]string{h.App, h.Hook.URL}
		if first, dup := seen[key]; dup {
			note(h, "skipped: webhook %s of the same app has the same URL, and the operator manages one webhook per app and URL; delete one of them on Bitrise", first)
			continue
		}
		seen[key] = h.Hook.Slug

		p := plannedWebhook{App: h.App, Hook: h.Hook, Events: events,
			InlineHeaders: map[string]string{}, SecretHeaders: map[string]string{}}
		for _, name := range slices.Sorted(maps.Keys(h.Hook.Headers)) {
			value := h.Hook.Headers[name]
			switch {
			case isMasked(value):
				p.Masked = append(p.Masked, name)
				p.SecretHeaders[name] = ""
			case opts.InlineHeaders:
				p.InlineHeaders[name] = value
			default:
				p.SecretHeaders[name] = value
			}
		}
		if len(p.Masked) > 0 {
			note(h, "header values of %q look masked and were not imported: fill them in (the placeholder is an empty string) before applying; until then the resource stays Stalled with reason InvalidSecret and Bitrise keeps its values", p.Masked)
		}
		plan.Webhooks = append(plan.Webhooks, p)
	}

	sources := make([]nameSource, len(plan.Webhooks))
	for i, p := range plan.Webhooks {
		sources[i] = nameSource{URL: p.Hook.URL, Slug: p.Hook.Slug, CreatedAt: p.Hook.CreatedAt.UTC().Format(time.RFC3339Nano)}
	}
	for i, name := range assignNames(sources) {
		plan.Webhooks[i].Name = name
	}
	return plan
}

// urlOrigin is the scheme and host of a URL, to name a webhook in a note
// without its path or query, which may hold a token (as Slack's do).
func urlOrigin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "unparsable URL"
	}
	return u.Scheme + "://" + u.Host
}

// unimportableURL says why the CRD would reject url, or "".
func unimportableURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" {
		return "the URL is not an absolute https:// URL, the only kind the OutgoingWebhook CRD accepts"
	}
	if len(raw) > maxURLLength {
		return fmt.Sprintf("the URL is longer than the %d characters the CRD accepts", maxURLLength)
	}
	return ""
}

// importableEvents returns the events without duplicates, or why the CRD
// would reject them.
func importableEvents(events []string) ([]string, string) {
	var out []string
	for _, e := range events {
		switch webhooksv1alpha1.Event(e) {
		case webhooksv1alpha1.EventAll, webhooksv1alpha1.EventBuild, webhooksv1alpha1.EventPipeline:
		default:
			return nil, fmt.Sprintf("event %q is not one the CRD accepts (all, build, pipeline)", e)
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	switch {
	case len(out) == 0:
		return nil, "the webhook has no events, and the CRD needs at least one"
	case len(out) > 1 && slices.Contains(out, string(webhooksv1alpha1.EventAll)):
		return nil, fmt.Sprintf("events %q combine `all` with others, which the CRD rejects", out)
	}
	return out, ""
}

// invalidHeaderNames are the header names the CRD would reject, sorted.
func invalidHeaderNames(headers map[string]string) []string {
	var bad []string
	for _, name := range slices.Sorted(maps.Keys(headers)) {
		if !headerNamePattern.MatchString(name) {
			bad = append(bad, name)
		}
	}
	return bad
}
