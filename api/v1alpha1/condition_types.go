package v1alpha1

import "time"

// DefaultInterval is the drift-check interval when spec.interval is unset.
const DefaultInterval = 10 * time.Minute

// MaxInterval is the longest drift-check interval, enforced by the CRD.
const MaxInterval = 24 * time.Hour

// Condition types, as kstatus (and so Helm --wait, Flux and kpt) reads them.
const (
	// ConditionReady is True when the remote webhook matches the spec.
	ConditionReady = "Ready"
	// ConditionReconciling is True while work is in progress or a transient
	// error is being retried.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when progress needs the user to act.
	ConditionStalled = "Stalled"

	// ConditionDeliveriesHealthy is True when the webhook's latest
	// deliveries reached the receiver (2xx). It is only set with
	// spec.deliveryCheck, and kstatus does not read it: a receiver outage
	// never fails a deploy waiting for Ready.
	ConditionDeliveriesHealthy = "DeliveriesHealthy"
)

// Reasons of the conditions. Each says what the user can do in the README.
const (
	// ReasonSucceeded: the remote webhook matches the spec.
	ReasonSucceeded = "Succeeded"
	// ReasonProgressing: a create, update or replacement is under way.
	ReasonProgressing = "Progressing"
	// ReasonDeleting: the remote webhook is being deleted.
	ReasonDeleting = "Deleting"

	// ReasonAPIUnavailable: the Bitrise API answered 429 or 5xx, or could not
	// be reached; retried with backoff.
	ReasonAPIUnavailable = "APIUnavailable"

	// ReasonSecretNotFound: the Secret named by secretRef does not exist.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonInvalidSecret: the Secret holds neither key, its secret is
	// empty, its headers do not parse or hold an empty, multi-line or
	// over-long value, or a header name is defined twice in any letter case.
	ReasonInvalidSecret = "InvalidSecret"
	// ReasonCredentialsNotFound: no usable API token could be read: none,
	// empty, or one that cannot be sent as a header (a line break inside).
	ReasonCredentialsNotFound = "CredentialsNotFound"
	// ReasonCredentialsNotAllowed: the ClusterCredentials used does not
	// allow the resource's namespace (spec.namespaces,
	// spec.namespaceSelector) or app (spec.apps). No Bitrise call is made.
	ReasonCredentialsNotAllowed = "CredentialsNotAllowed"
	// ReasonAuthenticationFailed: Bitrise answered 401 or 403 to the token.
	ReasonAuthenticationFailed = "AuthenticationFailed"
	// ReasonAppNotFound: Bitrise answered 404 for the app.
	ReasonAppNotFound = "AppNotFound"
	// ReasonInvalidRequest: Bitrise rejected the webhook with 400.
	ReasonInvalidRequest = "InvalidRequest"
	// ReasonAlreadyManaged: another OutgoingWebhook manages the same app and URL.
	ReasonAlreadyManaged = "AlreadyManaged"
	// ReasonSuspended: spec.suspend is true.
	ReasonSuspended = "Suspended"

	// ReasonDeliveriesSucceeded (DeliveriesHealthy=True): the latest
	// deliveries were answered with 2xx, or fewer than failureThreshold of
	// them failed in a row.
	ReasonDeliveriesSucceeded = "DeliveriesSucceeded"
	// ReasonDeliveryFailed (DeliveriesHealthy=False): the failureThreshold
	// most recent deliveries all failed.
	ReasonDeliveryFailed = "DeliveryFailed"
	// ReasonNoDeliveries (DeliveriesHealthy=Unknown): the webhook has made
	// no delivery yet.
	ReasonNoDeliveries = "NoDeliveries"
	// ReasonDeliveryCheckFailed (DeliveriesHealthy=Unknown): Bitrise refused
	// to list the deliveries (401, 403, 400, 404), e.g. a token that may
	// not read them; the health is unknown until a read succeeds.
	ReasonDeliveryCheckFailed = "DeliveryCheckFailed"

	// Reasons of a ClusterCredentials' Ready condition.

	// ReasonTokenSecretNotFound: the Secret of spec.tokenSecretRef does not exist.
	ReasonTokenSecretNotFound = "TokenSecretNotFound"
	// ReasonTokenSecretForbidden: the operator may not read the Secret of
	// spec.tokenSecretRef (its RBAC does not reach that namespace).
	ReasonTokenSecretForbidden = "TokenSecretForbidden"
	// ReasonTokenKeyMissing: the Secret lacks the key of
	// spec.tokenSecretRef, or its value is empty.
	ReasonTokenKeyMissing = "TokenKeyMissing"
	// ReasonTokenInvalid: the value cannot be sent as a header (a line
	// break or another control character inside).
	ReasonTokenInvalid = "TokenInvalid"
	// ReasonInvalidNamespaceSelector: spec.namespaceSelector does not parse.
	ReasonInvalidNamespaceSelector = "InvalidNamespaceSelector"
)
