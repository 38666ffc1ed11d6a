package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/template"
	"time"
)

// manifestTemplate renders one imported webhook: its headers Secret, if it
// has header values to keep out of the resource, then the OutgoingWebhook.
// Every value from Bitrise is a double-quoted YAML scalar (see quote), so
// that YAML keeps it literal ("true", "0123", "*", "# x" stay strings).
var manifestTemplate = template.Must(template.New("manifest").Funcs(template.FuncMap{
	"q":      quote,
	"sorted": sortedKeys,
	"masked": func(p plannedWebhook, name string) bool { return slices.Contains(p.Masked, name) },
	"time":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}).Parse(`{{- $p := .Webhook -}}
{{- if $p.SecretHeaders -}}
---
{{- if .InlineHeaders }}
# Header values of Bitrise webhook {{ $p.Hook.Slug }} of app {{ $p.App }}
# that Bitrise returned masked. Fill them in: until then the operator leaves
# the webhook alone (Ready=False, reason InvalidSecret).
{{- else }}
# Header values of Bitrise webhook {{ $p.Hook.Slug }} of app {{ $p.App }},
# all of them, since the import cannot tell which are sensitive. Plain ones
# may move to spec.headers of the OutgoingWebhook (not to both places).
{{- end }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ q $p.SecretName }}
  namespace: {{ q .Namespace }}
type: Opaque
stringData:
  headers: |
{{- range $name := sorted $p.SecretHeaders }}
{{- if masked $p $name }}
    {{ q $name }}: "" # FILL IN: Bitrise returned the value masked
{{- else }}
    {{ q $name }}: {{ index $p.SecretHeaders $name | q }}
{{- end }}
{{- end }}
{{ end -}}
---
# Bitrise webhook {{ $p.Hook.Slug }} of app {{ $p.App }},
# created {{ time $p.Hook.CreatedAt }}. The operator adopts it (same app and URL)
# without changing it on Bitrise.
# Its secret cannot be read back from Bitrise, so none is set here. To sign
# deliveries, add key "secret" to {{ if $p.SecretHeaders }}the Secret above{{ else }}a Secret named in spec.secretRef{{ end }}; the
# operator then replaces the webhook once (deletes it, then creates it with
# the secret; the slug changes).
apiVersion: webhooks.bitrise.io/v1alpha1
kind: OutgoingWebhook
metadata:
  name: {{ q $p.Name }}
  namespace: {{ q .Namespace }}
spec:
  appSlug: {{ q $p.App }}
  url: {{ q $p.Hook.URL }}
  events:
{{- range $p.Events }}
    - {{ q . }}
{{- end }}
{{- if $p.InlineHeaders }}
  headers:
{{- range $name := sorted $p.InlineHeaders }}
    {{ q $name }}: {{ index $p.InlineHeaders $name | q }}
{{- end }}
{{- end }}
{{- if $p.SecretHeaders }}
  secretRef:
    name: {{ q $p.SecretName }}
{{- end }}
{{- if .Credentials }}
  credentialsRef:
    kind: ClusterCredentials
    name: {{ q .Credentials }}
{{- end }}
  deletionPolicy: {{ q .DeletionPolicy }}
`))

// renderWebhook writes the YAML documents of one imported webhook.
func renderWebhook(w io.Writer, p plannedWebhook, opts importOptions) error {
	var buf bytes.Buffer
	err := manifestTemplate.Execute(&buf, struct {
		Webhook        plannedWebhook
		Namespace      string
		DeletionPolicy string
		InlineHeaders  bool
		Credentials    string
	}{p, opts.Namespace, string(opts.DeletionPolicy), opts.InlineHeaders, opts.Credentials})
	if err != nil {
		return fmt.Errorf("rendering %s: %w", p.Name, err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// renderAll writes every imported webhook as one multi-document YAML stream,
// in the order of the plan.
func renderAll(w io.Writer, plan importPlan, opts importOptions) error {
	for _, p := range plan.Webhooks {
		if err := renderWebhook(w, p, opts); err != nil {
			return err
		}
	}
	return nil
}

// quote renders s as a YAML double-quoted scalar. A JSON string is one:
// YAML 1.2 double-quoted scalars accept every JSON escape.
func quote(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // encoding a string cannot fail
	return strings.TrimSuffix(buf.String(), "\n")
}

// sortedKeys are the keys of m in order, so that output is stable.
func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
