package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Event is a kind of Bitrise event that triggers a delivery.
// +kubebuilder:validation:Enum=all;build;pipeline
type Event string

const (
	// EventAll delivers every event Bitrise sends; it cannot be combined with others.
	EventAll Event = "all"
	// EventBuild delivers build events (triggered, finished).
	EventBuild Event = "build"
	// EventPipeline delivers pipeline events.
	EventPipeline Event = "pipeline"
)

// DeletionPolicy says what happens to the remote webhook when the resource is deleted.
// +kubebuilder:validation:Enum=Delete;Orphan
type DeletionPolicy string

const (
	// DeletionPolicyDelete deletes the remote webhook on Bitrise.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyOrphan leaves the remote webhook on Bitrise untouched.
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
)

const (
	// ReconcileRequestedAtAnnotation asks for an immediate reconcile, drift
	// check included, whenever its value changes (Flux's requestedAt convention).
	ReconcileRequestedAtAnnotation = "webhooks.bitrise.io/reconcile-requested-at"

	// CreatePendingAnnotation is set, before the remote create is sent, to
	// the URL the create sends. While it is set and status.slug is empty, the
	// outcome of that create is unknown and is resolved by listing the app's
	// webhooks (looking for that URL, even if the spec changed since) before
	// any new create (Crossplane's create-pending marker).
	CreatePendingAnnotation = "webhooks.bitrise.io/create-pending"

	// CreatePendingSecretDigestAnnotation is set with CreatePendingAnnotation
	// (in the same write as the finalizer, before the create is sent) to the
	// digest of the webhook secret the create sends, and removed with it.
	// When a pending create is resolved, it becomes status.secretDigest: the
	// webhook found has the secret that was sent, whatever the Secret holds
	// now.
	CreatePendingSecretDigestAnnotation = "webhooks.bitrise.io/create-pending-secret-digest"

	// CreatePendingSentAnnotation is set with CreatePendingAnnotation to the
	// digest of the url, events and headers the create sends (the
	// status.lastWrite.sent to be), and removed with it. When a pending
	// create is resolved it becomes status.lastWrite.sent, so that what the
	// API made of the create is recorded as its answer and not taken for
	// drift.
	CreatePendingSentAnnotation = "webhooks.bitrise.io/create-pending-sent"

	// CreatePendingSignatureAnnotation is written by the operator in the
	// same write as CreatePendingAnnotation: a signature, under a key only
	// the operator holds, of the resource's UID, spec.appSlug and the
	// presence and value of each create-pending annotation. Anyone who may
	// edit the resource may write annotations, so a create-pending marker
	// whose signature does not verify (written by hand, copied from another
	// resource, edited) is removed and ignored, with a Warning event
	// CreatePendingRejected: it never decides which remote webhook is
	// adopted or deleted. The signature does not cover metadata.generation,
	// so a lost create is still found after a change of the spec.
	CreatePendingSignatureAnnotation = "webhooks.bitrise.io/create-pending-signature"

	// Finalizer guards the remote webhook: it is removed once the remote
	// webhook is deleted (or orphaned by policy).
	Finalizer = "webhooks.bitrise.io/finalizer"

	// SecretKeyWebhookSecret is the key of the referenced Secret holding the
	// webhook secret.
	SecretKeyWebhookSecret = "secret"
	// SecretKeyHeaders is the key of the referenced Secret holding a YAML or
	// JSON map of header name to header value.
	SecretKeyHeaders = "headers"
	// DefaultCredentialsKey is the default key of the credentials Secret.
	DefaultCredentialsKey = "token"
)

// SecretReference names a Secret in the namespace of the OutgoingWebhook.
type SecretReference struct {
	// Name of a Secret in the same namespace. Its key `secret` holds the
	// webhook secret Bitrise signs deliveries with; its key `headers` holds a
	// YAML or JSON map of header name to value, for headers whose values are
	// sensitive. At least one of the two keys must be present. No other key
	// of the Secret is ever read.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
}

// CredentialsReference names the Bitrise API token of an OutgoingWebhook:
// a key of a Secret in its own namespace (kind Secret, the default), or a
// ClusterCredentials that allows the resource's namespace and app (kind
// ClusterCredentials, name only).
// +kubebuilder:validation:XValidation:rule="!(has(self.kind) && self.kind == 'ClusterCredentials' && has(self.key))",message="credentialsRef.key cannot be set with kind ClusterCredentials: the ClusterCredentials names its own key in spec.tokenSecretRef"
type CredentialsReference struct {
	// Kind of the object named: `Secret` (a Secret in the same namespace;
	// the default) or `ClusterCredentials` (a cluster-scoped
	// ClusterCredentials).
	// +kubebuilder:default=Secret
	// +optional
	Kind CredentialsKind `json:"kind,omitempty"`

	// Name of the Secret in the same namespace holding a Bitrise API token
	// (a Workspace API token or a personal access token with the Admin or
	// Owner role on the app), or of the ClusterCredentials.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// Key of the Secret holding the token; `token` when unset. Only with
	// kind Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Key string `json:"key,omitempty"`
}

// IsClusterCredentials reports whether the reference names a
// ClusterCredentials rather than a Secret.
func (in *CredentialsReference) IsClusterCredentials() bool {
	return in != nil && in.Kind == CredentialsKindClusterCredentials
}

// SecretKey returns the key of a Secret reference, DefaultCredentialsKey
// when unset.
func (in *CredentialsReference) SecretKey() string {
	if in == nil || in.Key == "" {
		return DefaultCredentialsKey
	}
	return in.Key
}

// OutgoingWebhookSpec is the desired outgoing webhook of a Bitrise app.
type OutgoingWebhookSpec struct {
	// AppSlug is the slug of the Bitrise app the webhook belongs to.
	// It cannot be changed once set: create a new resource instead.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="appSlug is immutable: create a new OutgoingWebhook for another app"
	// +required
	AppSlug string `json:"appSlug"`

	// URL is where Bitrise delivers the events: an absolute https:// URL.
	// +kubebuilder:validation:MinLength=9
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() == 'https' && url(self).getHostname() != ''",message="url must be an absolute https:// URL, such as https://hooks.example.com/bitrise"
	// +required
	URL string `json:"url"`

	// Events are the kinds of events delivered: `all`, or any of `build` and
	// `pipeline`. `all` cannot be combined with other events.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=3
	// +listType=set
	// +kubebuilder:validation:XValidation:rule="!('all' in self) || size(self) == 1",message="events: 'all' cannot be combined with other events"
	// +required
	Events []Event `json:"events"`

	// Headers are plain, non-secret HTTP headers Bitrise adds to every
	// delivery. Put sensitive header values in the Secret named by
	// secretRef (key `headers`) instead. Header names are case-insensitive:
	// a name may be defined only once, in any letter case, here and in the
	// Secret together. Values hold no line break and at most 8 KiB.
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[A-Za-z0-9!#$%&*+.^_|~-]+$'))",message="headers: every name must be a valid HTTP header name (letters, digits and !#$%&*+.^_|~-)"
	// +kubebuilder:validation:XValidation:rule="self.all(k, self.all(j, j == k || j.lowerAscii() != k.lowerAscii()))",message="headers: a name is defined twice in different letter case; header names are case-insensitive"
	// +optional
	Headers map[string]HeaderValue `json:"headers,omitempty"`

	// SecretRef names a Secret in the same namespace holding the webhook
	// secret (key `secret`) and sensitive headers (key `headers`, a YAML or
	// JSON map), the layout Flux notification Provider Secrets use.
	// +optional
	SecretRef *SecretReference `json:"secretRef,omitempty"`

	// CredentialsRef names the Bitrise API token of this webhook: a Secret
	// key in the same namespace, or a ClusterCredentials that allows this
	// namespace and app. Absent: the ClusterCredentials named by the
	// manager's --default-credentials flag (`default` unless set).
	// +optional
	CredentialsRef *CredentialsReference `json:"credentialsRef,omitempty"`

	// Interval is how often the remote webhook is checked for drift and
	// corrected, such as `10m` or `1h`. At least 5s, at most 24h.
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('5s')",message="interval must be at least 5s"
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('24h')",message="interval must be at most 24h"
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`

	// Suspend stops all calls to the Bitrise API for this resource while
	// true, deletion included (the finalizer then waits).
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// DeletionPolicy says what happens to the remote webhook when this
	// resource is deleted: `Delete` (the default) deletes it on Bitrise,
	// `Orphan` leaves it there.
	// +kubebuilder:default=Delete
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// DeliveryCheck turns on reading the webhook's recent deliveries into
	// status.lastDelivery, status.recentDeliveries and the DeliveriesHealthy
	// condition. Absent: the deliveries are never read (no API call).
	// +optional
	DeliveryCheck *DeliveryCheck `json:"deliveryCheck,omitempty"`
}

// OutgoingWebhookStatus is the observed state of the remote webhook.
type OutgoingWebhookStatus struct {
	// ObservedGeneration is the last generation fully handled, with success
	// or with an error that needs the user. -1 until the first pass.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration"`

	// Slug is the identifier Bitrise gave the remote webhook.
	// +optional
	Slug string `json:"slug,omitempty"`

	// CreatedAt is when Bitrise created the remote webhook.
	// +optional
	CreatedAt *metav1.Time `json:"createdAt,omitempty"`

	// UpdatedAt is when Bitrise last updated the remote webhook.
	// +optional
	UpdatedAt *metav1.Time `json:"updatedAt,omitempty"`

	// LastHandledReconcileAt is the value of the
	// webhooks.bitrise.io/reconcile-requested-at annotation last handled.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`

	// SecretDigest identifies the webhook secret last applied, so that a
	// change of the secret (which Bitrise never returns) is detected. It is a
	// salted HMAC-SHA256 under a key only the operator holds, in a PHC-like
	// string ($hmac-sha256$k=<key id>$<salt>$<mac>): without the key it can
	// neither be turned back into the secret nor used to test guesses.
	// Earlier versions wrote a salted Argon2id hash ($argon2id$...), which is
	// still verified and then re-stamped. Empty when no secret is applied or
	// the secret of an adopted webhook is unknown.
	// +optional
	SecretDigest string `json:"secretDigest,omitempty"`

	// LastWrite identifies the operator's last write of the remote webhook
	// and what Bitrise answered to it, so that an API that stores a value in
	// another form than the one sent (a normalised URL, masked header values)
	// is not taken for drift. Empty for an adopted webhook until the first
	// write.
	// +optional
	LastWrite *LastWrite `json:"lastWrite,omitempty"`

	// LastDelivery is the newest delivery of the webhook read by the
	// delivery check (spec.deliveryCheck). It is kept when the webhook is
	// replaced (a new slug) until the new webhook has a delivery.
	// +optional
	LastDelivery *DeliveryRecord `json:"lastDelivery,omitempty"`

	// RecentDeliveries counts the outcomes of the deliveries read by the
	// last delivery check (the newest page, at most max(10,
	// failureThreshold) deliveries).
	// +optional
	RecentDeliveries *DeliveryCounts `json:"recentDeliveries,omitempty"`

	// LastHandledRedeliver is the redelivery request last handled: the
	// value of the webhooks.bitrise.io/redeliver or
	// webhooks.bitrise.io/redeliver-failed-since annotation, or both joined
	// by a comma (redeliver first) when both are set.
	// +optional
	LastHandledRedeliver string `json:"lastHandledRedeliver,omitempty"`

	// Conditions: Ready, Reconciling and Stalled, as kstatus reads them, and
	// DeliveriesHealthy (not read by kstatus) with spec.deliveryCheck.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// LastWrite holds digests of the operator's last write of the remote webhook:
// what was sent and what the API answered. Neither can be turned back into a
// header value: a digest that covers a header value from the Secret is a
// keyed digest made with the operator's digest key (as status.secretDigest),
// any other a SHA-256 of values the spec shows anyway ("sha256:" and 64 hex
// digits).
type LastWrite struct {
	// Sent is the digest of the url, events and headers last sent.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Sent string `json:"sent,omitempty"`

	// Answer is the digest of what was sent together with the url, events
	// and headers the API answered to it. A remote webhook whose digest with
	// the desired state equals it is in sync, whatever form the API gave the
	// values. Empty when the answer is not known yet (a create whose
	// response was lost).
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Answer string `json:"answer,omitempty"`
}

// OutgoingWebhook keeps an outgoing webhook of a Bitrise app in sync with
// this resource.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=owh,categories=bitrise
// +kubebuilder:printcolumn:name="App",type=string,JSONPath=`.spec.appSlug`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`
// +kubebuilder:printcolumn:name="Slug",type=string,JSONPath=`.status.slug`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Last-Delivery",type=integer,priority=1,JSONPath=`.status.lastDelivery.httpStatus`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:selectablefield:JSONPath=".spec.appSlug"
type OutgoingWebhook struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired webhook.
	// +required
	Spec OutgoingWebhookSpec `json:"spec"`

	// Status is the observed state of the remote webhook.
	// +kubebuilder:default={"observedGeneration":-1}
	// +optional
	Status OutgoingWebhookStatus `json:"status,omitempty"`
}

// GetConditions returns the conditions of the status.
func (in *OutgoingWebhook) GetConditions() []metav1.Condition {
	return in.Status.Conditions
}

// SetConditions replaces the conditions of the status.
func (in *OutgoingWebhook) SetConditions(conditions []metav1.Condition) {
	in.Status.Conditions = conditions
}

// GetInterval returns the drift-check interval, with the default applied,
// and at most MaxInterval (which the CRD enforces; an object stored before
// that rule is clamped, so that jitter arithmetic cannot overflow).
func (in *OutgoingWebhook) GetInterval() metav1.Duration {
	if in.Spec.Interval == nil || in.Spec.Interval.Duration <= 0 {
		return metav1.Duration{Duration: DefaultInterval}
	}
	return metav1.Duration{Duration: min(in.Spec.Interval.Duration, MaxInterval)}
}

// OutgoingWebhookList is a list of OutgoingWebhook.
// +kubebuilder:object:root=true
type OutgoingWebhookList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []OutgoingWebhook `json:"items"`
}

func init() {
	SchemeBuilder.Register(&OutgoingWebhook{}, &OutgoingWebhookList{})
}
