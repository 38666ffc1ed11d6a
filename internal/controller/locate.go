package controller

import (
	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
)

// locateHow says how the remote webhook of a resource was found.
type locateHow int

const (
	// locateNone: nothing to manage was found; a webhook must be created.
	locateNone locateHow = iota
	// locateBySlug: the webhook of status.slug is listed.
	locateBySlug
	// locatePendingCreate: the outcome of our own create whose answer was
	// lost, found by the URL that create sent.
	locatePendingCreate
	// locateAdopted: a webhook with the spec's URL that no other resource
	// owns, made elsewhere (by hand, or by a create whose marker is gone).
	locateAdopted
)

func (h locateHow) String() string {
	switch h {
	case locateBySlug:
		return "bySlug"
	case locatePendingCreate:
		return "pendingCreate"
	case locateAdopted:
		return "adopted"
	default:
		return "none"
	}
}

// locateInput is what locate needs of a resource: a snapshot of its status
// slug, its create-pending marker and its spec URL.
type locateInput struct {
	// slug is status.slug: the webhook the resource last managed.
	slug string
	// pending tells a create whose outcome is unknown; pendingURL is the
	// URL it sent (the spec's URL for a marker without one).
	pending    bool
	pendingURL string
	// specURL is spec.url.
	specURL string
}

// locateInputOf takes the snapshot locate needs of obj.
func locateInputOf(obj *webhooksv1alpha1.OutgoingWebhook) locateInput {
	in := locateInput{slug: obj.Status.Slug, specURL: obj.Spec.URL}
	in.pendingURL, in.pending = pendingCreate(obj)
	return in
}

// location is locate's answer.
type location struct {
	// webhook is the remote webhook found, nil for locateNone.
	webhook *bitrise.Webhook
	how     locateHow
	// goneSlug is status.slug when it is set but no longer listed (deleted
	// outside Kubernetes): the resource must forget it, whatever how says
	// of the search by URL that follows.
	goneSlug string
}

// locate finds, in one observation of the app's webhooks (remote), the
// webhook a resource manages: by status.slug; else, for a create whose
// outcome is unknown, one with the URL it sent; else one with the spec's
// URL to adopt. The webhooks other resources hold (claimed) are never
// taken: not by slug, and none is adopted by the spec's URL while another
// resource has a create pending for that URL. It has no effects:
// resolveCurrent acts on its answer.
func locate(in locateInput, remote []bitrise.Webhook, claimed claimedWebhooks) location {
	var loc location
	if in.slug != "" {
		if w := findBySlug(remote, in.slug); w != nil {
			return location{webhook: w, how: locateBySlug}
		}
		loc.goneSlug = in.slug
	}
	if in.pending {
		// Look for what the create made, with the URL it sent: the spec
		// may have changed since.
		if w := findAdoptable(remote, in.pendingURL, claimed.slugs); w != nil {
			loc.webhook, loc.how = w, locatePendingCreate
			return loc
		}
	}
	if claimed.pendingAt(in.specURL) {
		return loc
	}
	if w := findAdoptable(remote, in.specURL, claimed.slugs); w != nil {
		loc.webhook, loc.how = w, locateAdopted
	}
	return loc
}
