// Command kubectl-bitrise is a kubectl plugin (`kubectl bitrise`) for the
// OutgoingWebhook resources of the Bitrise webhook operator: it imports the
// webhooks an app already has on Bitrise as manifests, lists resources with
// their status, and asks the operator to reconcile, suspend or resume them.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand(streams).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}
