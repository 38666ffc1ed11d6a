package controller

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

// claimant makes a resource of one app for the claim tests: name, creation
// second, spec URL and status.slug; then mutations.
func claimant(name string, sec int64, url, slug string, mutate ...func(*webhooksv1alpha1.OutgoingWebhook)) webhooksv1alpha1.OutgoingWebhook {
	o := webhooksv1alpha1.OutgoingWebhook{}
	o.Name, o.Namespace, o.UID = name, "ns", types.UID(name)
	o.Generation = 1
	o.CreationTimestamp = metav1.Unix(sec, 0)
	o.Spec.URL, o.Status.Slug = url, slug
	for _, m := range mutate {
		m(&o)
	}
	return o
}

func established(o *webhooksv1alpha1.OutgoingWebhook) {
	o.Status.ObservedGeneration = o.Generation
	markReady(o, "in sync")
}

func specChanged(o *webhooksv1alpha1.OutgoingWebhook) { o.Generation++ }

func suspended(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.Suspend = true }

func stalledWith(reason string) func(*webhooksv1alpha1.OutgoingWebhook) {
	return func(o *webhooksv1alpha1.OutgoingWebhook) { markStalled(o, reason, "m") }
}

func pendingAt(url string) func(*webhooksv1alpha1.OutgoingWebhook) {
	return func(o *webhooksv1alpha1.OutgoingWebhook) {
		o.Annotations = map[string]string{webhooksv1alpha1.CreatePendingAnnotation: url}
	}
}

func TestClaimedBy(t *testing.T) {
	const u, v = "https://u.example/hook", "https://v.example/hook"
	tests := []struct {
		name   string
		self   webhooksv1alpha1.OutgoingWebhook
		peers  appPeers
		winner string // "" when self wins
	}{
		{name: "the older of two new resources wins",
			self:   claimant("self", 2, u, ""),
			peers:  appPeers{claimant("older", 1, u, ""), claimant("other-url", 1, v, "s2")},
			winner: "older"},
		{name: "the newer of two new resources loses nothing to a younger one",
			self:  claimant("self", 1, u, ""),
			peers: appPeers{claimant("younger", 2, "https://U.example:443/hook/", "")}},
		{name: "an established resource keeps its URL against an older one switching to it",
			self:   claimant("attacker", 1, u, "s-own", established, specChanged),
			peers:  appPeers{claimant("team", 5, u, "s-team", established)},
			winner: "team"},
		{name: "the younger established resource wins seen from itself",
			self:  claimant("team", 5, u, "s-team", established),
			peers: appPeers{claimant("attacker", 1, u, "s-own", established, specChanged)}},
		{name: "while its spec changes, against one that lost the claim however often that one changes",
			self: claimant("team", 5, u, "s-team", established, specChanged),
			peers: appPeers{claimant("attacker", 1, u, "s-own", established, specChanged,
				stalledWith(webhooksv1alpha1.ReasonAlreadyManaged), specChanged)}},
		{name: "a resource holding a webhook outranks an older one holding none",
			self:   claimant("older", 1, u, "", stalledWith(webhooksv1alpha1.ReasonAlreadyManaged)),
			peers:  appPeers{claimant("holder", 3, u, "s", specChanged)},
			winner: "holder"},
		{name: "a verified pending create holds a webhook",
			self:   claimant("older", 1, u, ""),
			peers:  appPeers{claimant("creating", 3, u, "", pendingAt(u))},
			winner: "creating"},
		{name: "a suspended resource holding nothing does not squat",
			self:  claimant("self", 2, u, ""),
			peers: appPeers{claimant("squatter", 1, u, "", suspended)}},
		{name: "nor one stalled at its generation for a reason of its own",
			self:  claimant("self", 2, u, ""),
			peers: appPeers{claimant("squatter", 1, u, "", stalledWith(webhooksv1alpha1.ReasonSecretNotFound))}},
		{name: "one stalled for an older generation still claims",
			self: claimant("self", 2, u, ""),
			peers: appPeers{claimant("older", 1, u, "", stalledWith(webhooksv1alpha1.ReasonSecretNotFound),
				specChanged)},
			winner: "older"},
		{name: "one waiting for the claim (AlreadyManaged) keeps its place by age",
			self:   claimant("self", 2, u, ""),
			peers:  appPeers{claimant("waiting", 1, u, "", stalledWith(webhooksv1alpha1.ReasonAlreadyManaged))},
			winner: "waiting"},
		{name: "a suspended resource holding a webhook keeps it",
			self:   claimant("self", 1, u, ""),
			peers:  appPeers{claimant("holder", 2, u, "s", suspended)},
			winner: "holder"},
		{name: "a squatter itself yields to any live claim",
			self:   claimant("self", 1, u, "", stalledWith(webhooksv1alpha1.ReasonSecretNotFound)),
			peers:  appPeers{claimant("younger", 2, u, "")},
			winner: "younger"},
		{name: "the strongest of several peers is named",
			self: claimant("self", 9, u, ""),
			peers: appPeers{claimant("old", 1, u, ""), claimant("holder", 3, u, "s1", specChanged),
				claimant("est", 5, u, "s2", established), claimant("est-later", 6, u, "s3", established)},
			winner: "est"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.peers.claimedBy(&tt.self)
			name := ""
			if got != nil {
				name = got.Name
			}
			if name != tt.winner {
				t.Errorf("claimedBy = %q, want %q", name, tt.winner)
			}
		})
	}
}

func TestClaimedHoldsEveryPeersWebhook(t *testing.T) {
	const u = "https://u.example/hook"
	self := claimant("self", 1, u, "s-self", established)
	peers := appPeers{
		// Lost the claim on u to self, yet its webhook stays its own.
		claimant("loser", 2, u, "s-loser"),
		claimant("other", 1, "https://v.example", "s-other"),
		claimant("creating", 3, "https://w.example", "", pendingAt("https://sent.example")),
	}
	if w := peers.claimedBy(&self); w != nil {
		t.Fatalf("claimedBy = %s, want self to win", w.Name)
	}
	c := peers.claimed()
	if len(c.slugs) != 2 || c.slugs["s-loser"] == "" || c.slugs["s-other"] == "" {
		t.Errorf("slugs = %v, want every peer's slug", c.slugs)
	}
	if !c.pendingAt("https://sent.example/") || c.pendingAt("https://w.example") {
		t.Errorf("pendingURLs = %v, want the URL the pending create sent", c.pendingURLs)
	}
}

func TestAlreadyManagedNamesOnlyItsOwnNamespace(t *testing.T) {
	self := claimant("self", 2, "https://u", "")
	self.Spec.AppSlug = "app1"
	winner := claimant("winner", 1, "https://u", "")
	if msg := alreadyManaged(&self, &winner).Error(); msg != "app app1 already has a webhook for this URL managed by OutgoingWebhook ns/winner" {
		t.Errorf("same namespace: %q", msg)
	}
	winner.Namespace = "team-b"
	if msg := alreadyManaged(&self, &winner).Error(); msg != "app app1 already has a webhook for this URL managed by another OutgoingWebhook" {
		t.Errorf("another namespace: %q", msg)
	}
}

func TestClaimChangedPredicate(t *testing.T) {
	d := unitDigester(t)
	c := claimChanged{digests: d}
	const u = "https://u.example/hook"
	base := claimant("a", 1, u, "s", established)
	change := func(f func(o *webhooksv1alpha1.OutgoingWebhook)) *webhooksv1alpha1.OutgoingWebhook {
		o := base.DeepCopy()
		f(o)
		return o
	}
	forged := change(pendingAt("https://theirs.example"))
	forged.Status.Slug = ""
	noSlug := change(func(o *webhooksv1alpha1.OutgoingWebhook) { o.Status.Slug = "" })
	signed := noSlug.DeepCopy()
	signed.Annotations = map[string]string{webhooksv1alpha1.CreatePendingAnnotation: u}
	signPending(d, signed)
	for name, tt := range map[string]struct {
		old, new *webhooksv1alpha1.OutgoingWebhook
		want     bool
	}{
		"the URL moves":                {&base, change(func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.URL = "https://v.example" }), true},
		"the URL is written otherwise": {&base, change(func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.URL = "https://U.example:443/hook/" }), false},
		"the app changes":              {&base, change(func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.AppSlug = "other" }), true},
		"the spec changes (rank)":      {&base, change(specChanged), true},
		"a message changes":            {&base, change(func(o *webhooksv1alpha1.OutgoingWebhook) { markReady(o, "other text") }), false},
		"the slug goes":                {&base, noSlug, true},
		"a signed create starts":       {noSlug, signed, true},
		"a forged marker is written":   {noSlug, forged, false},
	} {
		if got := c.Update(event.UpdateEvent{ObjectOld: tt.old, ObjectNew: tt.new}); got != tt.want {
			t.Errorf("%s: %v, want %v", name, got, tt.want)
		}
	}
}
