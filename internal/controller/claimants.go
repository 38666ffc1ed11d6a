package controller

import (
	"context"
	"fmt"
	"sync/atomic"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

// fieldAppSlug is the CRD's selectable field (selectableFields, Kubernetes
// 1.32+; beta and on by default in 1.31): the API server can list the
// OutgoingWebhooks of one app, `kubectl get owh -A --field-selector
// spec.appSlug=...` included.
const fieldAppSlug = "spec.appSlug"

// claimantLister lists every OutgoingWebhook of an app in the cluster,
// straight from the API server, whatever part of them the manager's cache
// holds: a sharded manager (--watch-namespace, --watch-label-selector) must
// still see the claims of the other shards on an app and URL.
//
// It lists full objects (the claim check needs spec.url, the creation time
// and status.slug, which metadata does not carry), selected by the API server
// with the field selector spec.appSlug=<app>. An API server that cannot
// select on it (before 1.31, or with the CustomResourceFieldSelectors
// feature off) answers 400 Bad Request; from then on the lister lists every
// OutgoingWebhook and filters them itself, which costs more but sees the same.
type claimantLister struct {
	reader   client.Reader
	fallback atomic.Bool
}

func (l *claimantLister) list(ctx context.Context, app string) ([]webhooksv1alpha1.OutgoingWebhook, error) {
	var list webhooksv1alpha1.OutgoingWebhookList
	if !l.fallback.Load() {
		err := l.reader.List(ctx, &list, client.MatchingFields{fieldAppSlug: app})
		if err == nil {
			return list.Items, nil
		}
		if !apierrors.IsBadRequest(err) {
			return nil, fmt.Errorf("listing OutgoingWebhooks of app %s from the API server: %w", app, err)
		}
		logf.FromContext(ctx).Info("the API server cannot select OutgoingWebhooks by spec.appSlug (Kubernetes before 1.31?): listing them all instead", "error", err.Error())
		l.fallback.Store(true)
	}
	if err := l.reader.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("listing OutgoingWebhooks from the API server: %w", err)
	}
	items := list.Items[:0]
	for _, item := range list.Items {
		if item.Spec.AppSlug == app {
			items = append(items, item)
		}
	}
	return items, nil
}
