package controller

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
	"github.com/bitrise-webhook-operator/operator/internal/secretdigest"
)

// The in-sync rule for APIs that normalise what they store (issue 7 §4).
// Bitrise's documentation does not say whether it changes the URL it stores
// or how it answers the values of hidden headers, so the operator remembers
// what the API answered to its own last write (status.lastWrite) and calls a
// remote webhook in sync when:
//
//  1. what was last sent is the desired state, and the remote webhook is
//     exactly what the API answered to it; or
//  2. what was last sent is the desired state, and the remote webhook
//     matches it but for the form of its values: the URL compared with
//     sameWebhookURL, header names case-insensitively, and the value of a
//     header from the Secret masked (only '*') or left out (an API may
//     answer writes and lists differently); or
//  3. nothing is known of the last write, or the desired state changed
//     since: the remote webhook equals the desired state (needsUpdate).
//
// Real drift (someone changes the webhook outside Kubernetes) fails 1 and 2
// and is corrected; a change of the desired state, a header value from the
// Secret included, fails the first half of 1 and 2 and is written even when
// the API masks the old value.

// webhookShape is what a write sends and an answer holds, minus the secret
// (never answered): the material of the lastWrite digests.
type webhookShape struct {
	URL     string            `json:"url"`
	Events  []string          `json:"events"`
	Headers map[string]string `json:"headers"`
}

func desiredShape(d desiredWebhook) webhookShape {
	return webhookShape{URL: d.URL, Events: d.Events, Headers: nonNilHeaders(d.Headers)}
}

func remoteShape(w bitrise.Webhook) webhookShape {
	events := slices.Clone(w.Events)
	slices.Sort(events)
	return webhookShape{URL: w.URL, Events: slices.Compact(events), Headers: nonNilHeaders(w.Headers)}
}

func nonNilHeaders(h map[string]string) map[string]string {
	if h == nil {
		return map[string]string{}
	}
	return h
}

// material is the canonical JSON of the shapes (map keys sorted).
func material(shapes ...webhookShape) string {
	data, _ := json.Marshal(shapes) // plain strings: cannot fail
	return string(data)
}

const sha256Prefix = "sha256:"

// newWriteDigest digests material. It is a keyed digest (the operator's
// digest key, as status.secretDigest) when the material holds header values
// from the Secret, and a SHA-256 otherwise: then everything in it is in the
// spec already.
func newWriteDigest(dg *secretdigest.Digester, material string, sensitive bool) (string, error) {
	if sensitive {
		return dg.Digest(material)
	}
	sum := sha256.Sum256([]byte(material))
	return sha256Prefix + hex.EncodeToString(sum[:]), nil
}

// writeDigestMatches reports whether digest was made from material by
// newWriteDigest; an empty or malformed digest matches nothing.
func writeDigestMatches(dg *secretdigest.Digester, digest, material string) bool {
	if rest, ok := strings.CutPrefix(digest, sha256Prefix); ok {
		sum := sha256.Sum256([]byte(material))
		return subtle.ConstantTimeCompare([]byte(rest), []byte(hex.EncodeToString(sum[:]))) == 1
	}
	return dg.Matches(digest, material)
}

// sentDigest records that d is about to be sent.
func (r *OutgoingWebhookReconciler) sentDigest(d desiredWebhook) (*webhooksv1alpha1.LastWrite, error) {
	sent, err := newWriteDigest(r.Digests, material(desiredShape(d)), len(d.secretHeaders) > 0)
	if err != nil {
		return nil, err
	}
	return &webhooksv1alpha1.LastWrite{Sent: sent}, nil
}

// answeredDigest records that the API answered answer to the write of d.
func (r *OutgoingWebhookReconciler) answeredDigest(lw *webhooksv1alpha1.LastWrite, d desiredWebhook, answer bitrise.Webhook) error {
	digest, err := newWriteDigest(r.Digests, material(desiredShape(d), remoteShape(answer)), len(d.secretHeaders) > 0)
	if err != nil {
		return err
	}
	lw.Answer = digest
	return nil
}

// lastSent reports whether d is what the last write sent.
func (r *OutgoingWebhookReconciler) lastSent(lw *webhooksv1alpha1.LastWrite, d desiredWebhook) bool {
	return lw != nil && writeDigestMatches(r.Digests, lw.Sent, material(desiredShape(d)))
}

// needsWrite reports whether the remote webhook must be updated to match
// the desired state, by the rule at the top of this file.
func (r *OutgoingWebhookReconciler) needsWrite(d desiredWebhook, remote bitrise.Webhook, lw *webhooksv1alpha1.LastWrite) bool {
	if !r.lastSent(lw, d) {
		return needsUpdate(d, remote)
	}
	if lw.Answer != "" && writeDigestMatches(r.Digests, lw.Answer, material(desiredShape(d), remoteShape(remote))) {
		return false
	}
	return !sameButForm(d, remote)
}

// sameButForm reports whether remote is d in another form: the URL by
// sameWebhookURL, events as a set, header names case-insensitively, header
// values exactly, except that a header from the Secret may be masked or
// left out.
func sameButForm(d desiredWebhook, remote bitrise.Webhook) bool {
	if !sameWebhookURL(d.URL, remote.URL) {
		return false
	}
	if !slices.Equal(d.Events, remoteShape(remote).Events) {
		return false
	}
	remoteHeaders := make(map[string]string, len(remote.Headers))
	for name, value := range remote.Headers {
		remoteHeaders[strings.ToLower(name)] = value
	}
	for _, name := range slices.Sorted(maps.Keys(d.Headers)) {
		key := strings.ToLower(name)
		value, present := remoteHeaders[key]
		delete(remoteHeaders, key)
		if present && value == d.Headers[name] {
			continue
		}
		if !slices.Contains(d.secretHeaders, name) || (present && !isMasked(value)) {
			return false
		}
	}
	return len(remoteHeaders) == 0
}

// isMasked reports whether an answered header value is a mask: not empty
// and made of '*' only.
func isMasked(value string) bool {
	return value != "" && strings.Trim(value, "*") == ""
}
