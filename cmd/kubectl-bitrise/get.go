package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/util/jsonpath"
	"sigs.k8s.io/controller-runtime/pkg/client"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

// lastDeliveryPath is where the operator reports the HTTP status of the
// webhook's last delivery. It is read with JSONPath, not the Go type, so
// that the table works with operators that do not report it (the column
// then shows "-").
const lastDeliveryPath = "{.status.lastDelivery.httpStatus}"

// newGetCommand is `kubectl bitrise get [owh] [NAME]`.
func newGetCommand(c *cli) *cobra.Command {
	var allNamespaces bool
	cmd := &cobra.Command{
		Use:   "get [owh] [NAME]",
		Short: "List OutgoingWebhooks with their app, URL, slug, Ready condition and last delivery",
		Example: `  kubectl bitrise get -n ci
  kubectl bitrise get owh build-notifier
  kubectl bitrise get -A`,
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := splitTarget(args, false)
			if err != nil {
				return err
			}
			if name != "" && allNamespaces {
				return fmt.Errorf("a NAME cannot be combined with -A")
			}
			return runGet(cmd.Context(), c, name, allNamespaces)
		},
	}
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "list the OutgoingWebhooks of every namespace")
	return cmd
}

// runGet prints the table of one OutgoingWebhook (name), of the namespace,
// or of every namespace (allNamespaces), read as unstructured objects so
// that fields this build does not know (status.lastDelivery) are kept.
func runGet(ctx context.Context, c *cli, name string, allNamespaces bool) error {
	cl, ns, err := c.clientInNamespace()
	if err != nil {
		return err
	}
	gvk := webhooksv1alpha1.GroupVersion.WithKind("OutgoingWebhook")
	var items []unstructured.Unstructured
	if name != "" {
		obj := &unstructured.Unstructured{}
		obj.SetGroupVersionKind(gvk)
		key := client.ObjectKey{Namespace: ns, Name: name}
		if err := cl.Get(ctx, key, obj); err != nil {
			return notFoundOr(err, key)
		}
		items = append(items, *obj)
	} else {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind("OutgoingWebhookList"))
		var opts []client.ListOption
		if !allNamespaces {
			opts = append(opts, client.InNamespace(ns))
		}
		if err := cl.List(ctx, list, opts...); err != nil {
			return err
		}
		items = list.Items
	}
	if len(items) == 0 {
		if allNamespaces {
			fmt.Fprintln(c.streams.ErrOut, "No OutgoingWebhooks found.")
		} else {
			fmt.Fprintf(c.streams.ErrOut, "No OutgoingWebhooks found in namespace %s.\n", ns)
		}
		return nil
	}
	return printTable(c.streams.Out, items, allNamespaces, time.Now())
}

// printTable writes items as kubectl prints a table: NAMESPACE (with -A),
// NAME, APP, URL, SLUG, READY, REASON, LAST-DELIVERY and AGE.
func printTable(out io.Writer, items []unstructured.Unstructured, withNamespace bool, now time.Time) error {
	w := printers.GetNewTabWriter(out)
	header := []string{"NAME", "APP", "URL", "SLUG", "READY", "REASON", "LAST-DELIVERY", "AGE"}
	if withNamespace {
		header = append([]string{"NAMESPACE"}, header...)
	}
	fmt.Fprintln(w, strings.Join(header, "\t"))
	for i := range items {
		row, err := tableRow(&items[i], now)
		if err != nil {
			return err
		}
		if withNamespace {
			row = append([]string{items[i].GetNamespace()}, row...)
		}
		fmt.Fprintln(w, strings.Join(row, "\t"))
	}
	return w.Flush()
}

// tableRow is the row of one OutgoingWebhook, without the namespace; now
// gives the age. The reason is Suspended while spec.suspend is true.
func tableRow(u *unstructured.Unstructured, now time.Time) ([]string, error) {
	var obj webhooksv1alpha1.OutgoingWebhook
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &obj); err != nil {
		return nil, fmt.Errorf("owh/%s: %w", u.GetName(), err)
	}
	ready, reason := "Unknown", "-"
	if c := meta.FindStatusCondition(obj.Status.Conditions, webhooksv1alpha1.ConditionReady); c != nil {
		ready, reason = string(c.Status), orDash(c.Reason)
	}
	if obj.Spec.Suspend {
		reason = webhooksv1alpha1.ReasonSuspended
	}
	return []string{
		obj.Name,
		obj.Spec.AppSlug,
		obj.Spec.URL,
		orDash(obj.Status.Slug),
		ready,
		reason,
		lastDelivery(u),
		duration.HumanDuration(now.Sub(obj.CreationTimestamp.Time)),
	}, nil
}

// lastDelivery is status.lastDelivery.httpStatus, or "-" when the operator
// does not report it.
func lastDelivery(u *unstructured.Unstructured) string {
	jp := jsonpath.New("lastDelivery").AllowMissingKeys(true)
	if err := jp.Parse(lastDeliveryPath); err != nil {
		return "-"
	}
	var buf bytes.Buffer
	if err := jp.Execute(&buf, u.Object); err != nil {
		return "-"
	}
	return orDash(buf.String())
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
