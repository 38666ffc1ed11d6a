package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

// applySampleTokens gives each ClusterCredentials of the samples file path
// a token, as its administrator would: a dev token "dev-token-NAME" in the
// Secret its spec.tokenSecretRef names (which must be in
// localenv.CredentialsNamespace; its key is "token"), which the fake
// accepts for the apps it lists ("*": every one of sampleApps).
func applySampleTokens(ctx context.Context, env *localenv.Env, path string, sampleApps []string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var cc webhooksv1alpha1.ClusterCredentials
		if err := dec.Decode(&cc); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if cc.Kind != "ClusterCredentials" {
			continue
		}
		ref := cc.Spec.TokenSecretRef
		if ref.Namespace != localenv.CredentialsNamespace || cc.TokenKey() != webhooksv1alpha1.DefaultCredentialsKey {
			return fmt.Errorf("%s: ClusterCredentials %s: want its token in key %q of a Secret in %s",
				path, cc.Name, webhooksv1alpha1.DefaultCredentialsKey, localenv.CredentialsNamespace)
		}
		token := "dev-token-" + cc.Name
		if err := env.ApplyTokenSecret(ctx, ref.Name, token); err != nil {
			return err
		}
		apps := cc.Spec.Apps
		if slices.Contains(apps, webhooksv1alpha1.AnyApp) {
			apps = sampleApps
		}
		env.Fake.AddToken(token, apps...)
	}
}
