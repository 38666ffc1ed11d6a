package chaos

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

// report compares the resources of a scenario with the remote webhooks of
// its apps. The desired state is read back from the API server (spec and
// referenced Secrets), never from what the test meant to write.
type report struct {
	resources   int // existing, not terminating
	ready       int // Ready=True for the current generation (and the last poke)
	terminating int // deletion requested, finalizer not released yet
	remote      int // remote webhooks in the scenario's apps
	duplicates  int // remote webhooks beyond one per resource (same URL or slug)
	orphans     int // remote webhooks no resource references by status.slug
	leftovers   int // remote webhooks with the URL of a deleted resource
	missing     int // resources whose status.slug is not on Bitrise
	mismatched  int // remote webhooks that differ from the desired state
	problems    []string
}

func (r report) ok() bool {
	return r.ready == r.resources && r.terminating == 0 && r.duplicates == 0 &&
		r.orphans == 0 && r.leftovers == 0 && r.missing == 0 && r.mismatched == 0
}

func (r report) String() string {
	return fmt.Sprintf("resources=%d ready=%d terminating=%d remote=%d duplicates=%d orphans=%d leftovers=%d missing=%d mismatched=%d",
		r.resources, r.ready, r.terminating, r.remote, r.duplicates, r.orphans, r.leftovers, r.missing, r.mismatched)
}

func (r *report) problem(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

func (r report) detail() string {
	const show = 15
	p := r.problems
	more := ""
	if len(p) > show {
		more = fmt.Sprintf("\n  ... and %d more", len(p)-show)
		p = p[:show]
	}
	return r.String() + "\n  " + strings.Join(p, "\n  ") + more
}

// inspect builds the report. deletedURLs are the URLs of the resources the
// scenario deleted; poke, when not empty, must be echoed in
// status.lastHandledReconcileAt for a resource to count as ready.
func (s *scenario) inspect(deletedURLs map[string]bool, poke string) (report, error) {
	var r report
	hooks, err := s.hooks()
	if err != nil {
		return r, err
	}
	secrets := map[string]*corev1.Secret{}
	for _, ns := range s.namespaces {
		var list corev1.SecretList
		if err := s.c.List(s.ctx(), &list, client.InNamespace(ns)); err != nil {
			return r, err
		}
		for i := range list.Items {
			secrets[ns+"/"+list.Items[i].Name] = &list.Items[i]
		}
	}

	type owner struct{ app, key string }
	bySlug := map[string][]owner{}
	live := make([]webhooksv1alpha1.OutgoingWebhook, 0, len(hooks))
	for i := range hooks {
		h := &hooks[i]
		key := h.Namespace + "/" + h.Name
		if !h.DeletionTimestamp.IsZero() {
			r.terminating++
			r.problem("%s: still terminating (finalizers %v, slug %q)", key, h.Finalizers, h.Status.Slug)
			continue
		}
		r.resources++
		live = append(live, *h)
		if why := notReady(h, poke); why != "" {
			r.problem("%s: %s", key, why)
		} else {
			r.ready++
		}
		if h.Status.Slug != "" {
			bySlug[h.Status.Slug] = append(bySlug[h.Status.Slug], owner{h.Spec.AppSlug, key})
		}
	}
	for slug, owners := range bySlug {
		if len(owners) > 1 {
			r.duplicates += len(owners) - 1
			r.problem("slug %s is in the status of %d resources: %v", slug, len(owners), owners)
		}
	}

	remote := map[string][]bitrise.Webhook{}
	for _, app := range s.apps {
		remote[app] = s.env.Fake.Webhooks(app)
		r.remote += len(remote[app])
		for _, w := range remote[app] {
			owners := bySlug[w.Slug]
			if len(owners) > 0 && owners[0].app == app {
				continue
			}
			if deletedURLs[w.URL] {
				r.leftovers++
				r.problem("leftover: app %s webhook %s (%s) belongs to a deleted resource", app, w.Slug, w.URL)
			} else {
				r.orphans++
				r.problem("orphan: app %s webhook %s (%s) is referenced by no resource", app, w.Slug, w.URL)
			}
		}
	}

	for i := range live {
		h := &live[i]
		key := h.Namespace + "/" + h.Name
		sameURL := 0
		for _, w := range remote[h.Spec.AppSlug] {
			if w.URL == h.Spec.URL {
				sameURL++
			}
		}
		if sameURL > 1 {
			r.duplicates += sameURL - 1
			r.problem("%s: %d remote webhooks with URL %s", key, sameURL, h.Spec.URL)
		}
		if h.Status.Slug == "" {
			continue // not ready, already reported
		}
		var got *bitrise.Webhook
		for j, w := range remote[h.Spec.AppSlug] {
			if w.Slug == h.Status.Slug {
				got = &remote[h.Spec.AppSlug][j]
			}
		}
		if got == nil {
			r.missing++
			r.problem("%s: status.slug %s is not a webhook of app %s", key, h.Status.Slug, h.Spec.AppSlug)
			continue
		}
		want, err := desiredOf(h, secrets)
		if err != nil {
			r.mismatched++
			r.problem("%s: %v", key, err)
			continue
		}
		gotSecret, _ := s.env.Fake.Secret(h.Spec.AppSlug, got.Slug)
		if diff := want.diff(*got, gotSecret); diff != "" {
			r.mismatched++
			r.problem("%s: remote webhook %s differs: %s", key, got.Slug, diff)
		}
	}
	sort.Strings(r.problems)
	return r, nil
}

// notReady says why a resource does not count as ready, or "".
func notReady(h *webhooksv1alpha1.OutgoingWebhook, poke string) string {
	c := meta.FindStatusCondition(h.Status.Conditions, webhooksv1alpha1.ConditionReady)
	switch {
	case c == nil:
		return "no Ready condition"
	case c.Status != metav1.ConditionTrue:
		return fmt.Sprintf("Ready=%s %s: %s", c.Status, c.Reason, c.Message)
	case c.ObservedGeneration != h.Generation || h.Status.ObservedGeneration != h.Generation:
		return fmt.Sprintf("generation %d not observed yet (status %d, condition %d)", h.Generation, h.Status.ObservedGeneration, c.ObservedGeneration)
	case poke != "" && h.Status.LastHandledReconcileAt != poke:
		return fmt.Sprintf("reconcile request %s not handled yet (last %q)", poke, h.Status.LastHandledReconcileAt)
	case h.Status.Slug == "":
		return "Ready without status.slug"
	}
	if _, pending := h.Annotations[webhooksv1alpha1.CreatePendingAnnotation]; pending {
		return "Ready but still marked create-pending"
	}
	for _, typ := range []string{webhooksv1alpha1.ConditionReconciling, webhooksv1alpha1.ConditionStalled} {
		if meta.IsStatusConditionTrue(h.Status.Conditions, typ) {
			return "Ready together with " + typ + "=True"
		}
	}
	return ""
}

// desired is the remote webhook a resource should have.
type desired struct {
	url     string
	events  []string
	headers map[string]string
	secret  string
}

func desiredOf(h *webhooksv1alpha1.OutgoingWebhook, secrets map[string]*corev1.Secret) (desired, error) {
	d := desired{url: h.Spec.URL, headers: map[string]string{}}
	for _, e := range h.Spec.Events {
		d.events = append(d.events, string(e))
	}
	slices.Sort(d.events)
	maps.Copy(d.headers, h.Spec.Headers)
	if ref := h.Spec.SecretRef; ref != nil {
		sec := secrets[h.Namespace+"/"+ref.Name]
		if sec == nil {
			return d, fmt.Errorf("Secret %s does not exist", ref.Name)
		}
		d.secret = string(sec.Data[webhooksv1alpha1.SecretKeyWebhookSecret])
		if raw, ok := sec.Data[webhooksv1alpha1.SecretKeyHeaders]; ok {
			fromSecret := map[string]string{}
			if err := yaml.Unmarshal(raw, &fromSecret); err != nil {
				return d, fmt.Errorf("Secret %s: headers: %v", ref.Name, err)
			}
			maps.Copy(d.headers, fromSecret)
		}
	}
	return d, nil
}

// diff describes how a remote webhook differs from d, without printing any
// secret value.
func (d desired) diff(w bitrise.Webhook, secret string) string {
	var out []string
	if w.URL != d.url {
		out = append(out, fmt.Sprintf("url %s, want %s", w.URL, d.url))
	}
	events := slices.Clone(w.Events)
	slices.Sort(events)
	if !slices.Equal(events, d.events) {
		out = append(out, fmt.Sprintf("events %v, want %v", events, d.events))
	}
	if !maps.Equal(w.Headers, d.headers) { // nil and empty are equal
		out = append(out, fmt.Sprintf("header names %v, want %v (or values differ)", slices.Sorted(maps.Keys(w.Headers)), slices.Sorted(maps.Keys(d.headers))))
	}
	if secret != d.secret {
		out = append(out, "webhook secret differs from the Secret's")
	}
	return strings.Join(out, "; ")
}

// waitConverged waits until the report holds every invariant, then prints
// its figures. It fails the test with the problems found if it never does.
func (s *scenario) waitConverged(label string, deletedURLs map[string]bool, poke string) report {
	s.t.Helper()
	start := time.Now()
	var last report
	localenv.Eventually(s.t, pollInterval, convergeTimeout, "converging ("+label+")", func() (bool, string) {
		r, err := s.inspect(deletedURLs, poke)
		if err != nil {
			return false, err.Error()
		}
		last = r
		return r.ok(), r.detail()
	})
	logf(s.t, "chaos[%s] %s: %s (converged in %s)", s.name, label, last, time.Since(start).Round(100*time.Millisecond))
	return last
}

// waitConvergedOrReport is waitConverged for scenarios that reproduce a
// bug: it fails at once with the report if the remote state settled wrong
// (a duplicate or an orphan does not go away by waiting).
func (s *scenario) waitConvergedOrReport(label string, deletedURLs map[string]bool, poke string) {
	s.t.Helper()
	var last report
	errSettled := errors.New("settled, and wrong")
	err := localenv.Poll(s.ctx(), pollInterval, 30*time.Second, func() (bool, error) {
		r, err := s.inspect(deletedURLs, poke)
		if err != nil {
			s.t.Fatal(err)
		}
		last = r
		if !r.ok() && r.ready == r.resources && r.terminating == 0 {
			return false, errSettled
		}
		return r.ok(), nil
	})
	logf(s.t, "chaos[%s] %s: %s", s.name, label, last)
	if err != nil {
		s.t.Fatalf("%s: %s", label, last.detail())
	}
}
