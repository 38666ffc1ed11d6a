package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

// suspendPatch and resumePatch are JSON merge patches (RFC 7386) of
// spec.suspend alone. A patch that is not an apply takes ownership of the
// fields it changes and nothing else, so a GitOps tool's server-side apply
// keeps owning every other field. Resume removes the field rather than
// setting false, so that the plugin then owns no field at all.
var (
	suspendPatch = []byte(`{"spec":{"suspend":true}}`)
	resumePatch  = []byte(`{"spec":{"suspend":null}}`)
)

// newSuspendCommand is `kubectl bitrise suspend` (suspend true) or
// `kubectl bitrise resume` (false), for owh NAME, --all or -A.
func newSuspendCommand(c *cli, suspend bool) *cobra.Command {
	var all, allNamespaces bool
	verb, short := "resume", "Let the operator call the Bitrise API again for OutgoingWebhooks"
	if suspend {
		verb, short = "suspend", "Stop all Bitrise API calls for OutgoingWebhooks (spec.suspend: true)"
	}
	cmd := &cobra.Command{
		Use:   verb + " owh (NAME | --all | -A)",
		Short: short,
		Long: short + `.

Patches spec.suspend alone, with a JSON merge patch: a GitOps tool that
applies the resource with server-side apply keeps owning every other field.
While suspended, the operator makes no call to Bitrise, deletion included.`,
		Example: fmt.Sprintf("  kubectl bitrise %[1]s owh build-notifier -n ci\n  kubectl bitrise %[1]s owh --all -n ci\n  kubectl bitrise %[1]s owh -A", verb),
		Args:    cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := splitTarget(args, true)
			if err != nil {
				return err
			}
			switch {
			case name == "" && !all && !allNamespaces:
				return fmt.Errorf("a NAME, --all or -A is required")
			case name != "" && (all || allNamespaces):
				return errors.New("give a NAME or --all/-A, not both")
			}
			return runSuspend(cmd.Context(), c, suspend, name, allNamespaces)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "every OutgoingWebhook of the namespace")
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "every OutgoingWebhook of every namespace")
	return cmd
}

// runSuspend patches spec.suspend of owh/name, or of every OutgoingWebhook
// of the namespace (or of all namespaces), and reports each; it goes on
// after a failure and returns every error.
func runSuspend(ctx context.Context, c *cli, suspend bool, name string, allNamespaces bool) error {
	cl, ns, err := c.clientInNamespace()
	if err != nil {
		return err
	}
	var targets []client.ObjectKey
	if name != "" {
		targets = append(targets, client.ObjectKey{Namespace: ns, Name: name})
	} else {
		var list webhooksv1alpha1.OutgoingWebhookList
		var opts []client.ListOption
		if !allNamespaces {
			opts = append(opts, client.InNamespace(ns))
		}
		if err := cl.List(ctx, &list, opts...); err != nil {
			return err
		}
		for _, o := range list.Items {
			targets = append(targets, client.ObjectKeyFromObject(&o))
		}
		if len(targets) == 0 {
			fmt.Fprintln(c.streams.ErrOut, "no OutgoingWebhooks found")
			return nil
		}
	}
	patch, done := resumePatch, "resumed"
	if suspend {
		patch, done = suspendPatch, "suspended"
	}
	var errs []error
	for _, key := range targets {
		obj := &webhooksv1alpha1.OutgoingWebhook{}
		obj.Namespace, obj.Name = key.Namespace, key.Name
		if err := cl.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch), client.FieldOwner(fieldManager)); err != nil {
			errs = append(errs, notFoundOr(err, key))
			continue
		}
		if allNamespaces {
			fmt.Fprintf(c.streams.Out, "owh/%s in %s %s\n", key.Name, key.Namespace, done)
		} else {
			fmt.Fprintf(c.streams.Out, "owh/%s %s\n", key.Name, done)
		}
	}
	return errors.Join(errs...)
}
