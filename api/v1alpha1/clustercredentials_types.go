package v1alpha1

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// AnyApp in ClusterCredentialsSpec.Apps allows every app the token reaches.
const AnyApp = "*"

// DefaultClusterCredentialsName is the ClusterCredentials used by an
// OutgoingWebhook without spec.credentialsRef, unless the manager's
// --default-credentials flag names another.
const DefaultClusterCredentialsName = "default"

// CredentialsKind is the kind of object spec.credentialsRef names.
// +kubebuilder:validation:Enum=Secret;ClusterCredentials
type CredentialsKind string

const (
	// CredentialsKindSecret names a Secret in the OutgoingWebhook's own
	// namespace (name and key).
	CredentialsKindSecret CredentialsKind = "Secret"
	// CredentialsKindClusterCredentials names a cluster-scoped
	// ClusterCredentials object (name only), whose spec says which
	// namespaces and apps may use its token.
	CredentialsKindClusterCredentials CredentialsKind = "ClusterCredentials"
)

// TokenSecretReference names a key of a Secret, in any namespace, holding a
// Bitrise API token. Only cluster administrators create ClusterCredentials,
// so only they can point the operator at a Secret of another namespace.
type TokenSecretReference struct {
	// Namespace of the Secret, such as the operator's own namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Namespace string `json:"namespace"`

	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// Key of the Secret holding the token (trimmed of surrounding
	// whitespace when read).
	// +kubebuilder:default=token
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Key string `json:"key,omitempty"`
}

// ClusterCredentialsSpec is a shared Bitrise API token and who may use it:
// the namespaces whose OutgoingWebhooks may use it, and for which apps
// (the model of External Secrets' ClusterSecretStore conditions and
// Crossplane's ProviderConfig).
type ClusterCredentialsSpec struct {
	// TokenSecretRef names the Secret key holding the shared token.
	// +required
	TokenSecretRef TokenSecretReference `json:"tokenSecretRef"`

	// NamespaceSelector selects, by label, the namespaces whose
	// OutgoingWebhooks may use this token: `{}` selects every namespace;
	// absent selects none (then only spec.namespaces may).
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// Namespaces are names of namespaces whose OutgoingWebhooks may use
	// this token, in addition to those namespaceSelector selects.
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +listType=set
	// +optional
	Namespaces []string `json:"namespaces,omitempty"`

	// Apps are the slugs of the Bitrise apps this token may be used for;
	// `*` allows any app the token reaches. At least one.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1024
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=128
	// +kubebuilder:validation:items:Pattern=`^([A-Za-z0-9_-]+|\*)$`
	// +listType=set
	// +required
	Apps []string `json:"apps"`
}

// ClusterCredentialsStatus is the observed state of a ClusterCredentials.
type ClusterCredentialsStatus struct {
	// ObservedGeneration is the generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready is True when the token Secret exists and its key
	// holds a usable token.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ClusterCredentials is a shared Bitrise API token, held in a Secret, and
// the namespaces and apps allowed to use it. It is cluster-scoped: only
// cluster administrators create it, and a tenant can use it only where it
// allows them to.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=bcc,categories=bitrise
// +kubebuilder:printcolumn:name="Apps",type=string,JSONPath=`.spec.apps`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterCredentials struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the token and who may use it.
	// +required
	Spec ClusterCredentialsSpec `json:"spec"`

	// Status tells whether the token Secret is usable.
	// +optional
	Status ClusterCredentialsStatus `json:"status,omitempty"`
}

// GetConditions returns the conditions of the status.
func (in *ClusterCredentials) GetConditions() []metav1.Condition {
	return in.Status.Conditions
}

// SetConditions replaces the conditions of the status.
func (in *ClusterCredentials) SetConditions(conditions []metav1.Condition) {
	in.Status.Conditions = conditions
}

// TokenKey returns spec.tokenSecretRef.key, or DefaultCredentialsKey when
// empty (an object stored without the CRD default).
func (in *ClusterCredentials) TokenKey() string {
	if in.Spec.TokenSecretRef.Key == "" {
		return DefaultCredentialsKey
	}
	return in.Spec.TokenSecretRef.Key
}

// ClusterCredentialsList is a list of ClusterCredentials.
// +kubebuilder:object:root=true
type ClusterCredentialsList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterCredentials `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ClusterCredentials{}, &ClusterCredentialsList{})
}

// AllowsApp reports whether spec.apps lists app or AnyApp.
func (in *ClusterCredentialsSpec) AllowsApp(app string) bool {
	return slices.Contains(in.Apps, app) || slices.Contains(in.Apps, AnyApp)
}

// AllowsNamespace reports whether a namespace may use the token: it is
// listed in spec.namespaces, or spec.namespaceSelector selects its labels
// (`{}` selects every namespace; an absent selector, or one that does not
// parse, selects none). nsLabels is called only when a non-empty selector
// must be matched, and its error is returned as is.
func (in *ClusterCredentialsSpec) AllowsNamespace(namespace string, nsLabels func() (labels.Set, error)) (bool, error) {
	if slices.Contains(in.Namespaces, namespace) {
		return true, nil
	}
	if in.NamespaceSelector == nil {
		return false, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(in.NamespaceSelector)
	if err != nil {
		return false, nil // the ClusterCredentials' Ready condition says InvalidNamespaceSelector
	}
	if sel.Empty() {
		return true, nil
	}
	set, err := nsLabels()
	if err != nil {
		return false, err
	}
	return sel.Matches(set), nil
}
