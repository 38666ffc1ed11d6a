package controller

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

func TestCredentialsDenial(t *testing.T) {
	mobile := &metav1.LabelSelector{MatchLabels: map[string]string{"team": "mobile"}}
	invalid := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Matches"}}}
	const (
		nsDenied  = "namespace team-b is not allowed by ClusterCredentials shared (spec.namespaces, spec.namespaceSelector)"
		appDenied = "app app-x is not in spec.apps of ClusterCredentials shared"
	)
	tests := []struct {
		name       string
		namespaces []string
		selector   *metav1.LabelSelector
		apps       []string
		labels     labels.Set
		want       string
		readLabels bool // whether the namespace's labels must be read
	}{
		{name: "named namespace, listed app", namespaces: []string{"team-a", "team-b"}, apps: []string{"app-x"}},
		{name: "named namespace, any app", namespaces: []string{"team-b"}, apps: []string{"other", "*"}},
		{name: "selected namespace", selector: mobile, apps: []string{"app-x"}, labels: labels.Set{"team": "mobile"}, readLabels: true},
		{name: "{} selects every namespace", selector: &metav1.LabelSelector{}, apps: []string{"*"}},
		{name: "named although not selected", namespaces: []string{"team-b"}, selector: mobile, apps: []string{"*"}, labels: labels.Set{"team": "web"}},
		{name: "absent selector selects none", namespaces: []string{"team-a"}, apps: []string{"*"}, want: nsDenied},
		{name: "no namespaces at all", apps: []string{"*"}, want: nsDenied},
		{name: "not selected", selector: mobile, apps: []string{"*"}, labels: labels.Set{"team": "web"}, want: nsDenied, readLabels: true},
		{name: "unlabelled namespace", selector: mobile, apps: []string{"*"}, want: nsDenied, readLabels: true},
		{name: "invalid selector selects none", selector: invalid, apps: []string{"*"}, labels: labels.Set{"team": "mobile"}, want: nsDenied},
		{name: "invalid selector, named namespace", namespaces: []string{"team-b"}, selector: invalid, apps: []string{"*"}},
		{name: "app not listed", namespaces: []string{"team-b"}, apps: []string{"app-y", "app-z"}, want: appDenied},
		{name: "a longer slug is not the app", namespaces: []string{"team-b"}, apps: []string{"app-x-2"}, want: appDenied},
		{name: "namespace checked before app", apps: []string{"app-y"}, want: nsDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := &webhooksv1alpha1.ClusterCredentials{
				ObjectMeta: metav1.ObjectMeta{Name: "shared"},
				Spec: webhooksv1alpha1.ClusterCredentialsSpec{
					Namespaces: tt.namespaces, NamespaceSelector: tt.selector, Apps: tt.apps,
				},
			}
			read := false
			got, err := credentialsDenial(cc, "team-b", "app-x", func() (labels.Set, error) {
				read = true
				return tt.labels, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("denial %q, want %q", got, tt.want)
			}
			if read != tt.readLabels {
				t.Errorf("read the namespace's labels: %v, want %v", read, tt.readLabels)
			}
			for _, other := range append(append([]string{}, tt.namespaces...), tt.apps...) {
				if other != "team-b" && other != "app-x" && got != "" && strings.Contains(got, other) {
					t.Errorf("the denial %q reveals %q, which the ClusterCredentials allows", got, other)
				}
			}
		})
	}
}

func TestCredentialsDenialLabelError(t *testing.T) {
	cc := &webhooksv1alpha1.ClusterCredentials{Spec: webhooksv1alpha1.ClusterCredentialsSpec{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}, Apps: []string{"*"},
	}}
	boom := errors.New("cache not synced")
	if _, err := credentialsDenial(cc, "ns", "app", func() (labels.Set, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("error %v, want %v: a failed read must not pass for a denial or an allowance", err, boom)
	}
}

// secretReader answers Get of a Secret with secret or err.
type secretReader struct {
	client.Reader
	secret *corev1.Secret
	err    error
}

func (r secretReader) Get(_ context.Context, _ client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	if r.err != nil {
		return r.err
	}
	r.secret.DeepCopyInto(obj.(*corev1.Secret))
	return nil
}

func TestReadClusterToken(t *testing.T) {
	const token = "tok-0123456789"
	gr := schema.GroupResource{Resource: "secrets"}
	tests := []struct {
		name        string
		key         string
		reader      secretReader
		wantToken   string
		wantReason  string
		wantMessage []string
		wantErr     bool
	}{
		{name: "usable, trimmed", reader: secretReader{secret: secretWith("token", " "+token+"\n")}, wantToken: token},
		{name: "other key", key: "pat", reader: secretReader{secret: secretWith("pat", token)}, wantToken: token},
		{name: "missing", reader: secretReader{err: apierrors.NewNotFound(gr, "tok")},
			wantReason: webhooksv1alpha1.ReasonTokenSecretNotFound, wantMessage: []string{"ops/tok", "not found"}},
		{name: "forbidden", reader: secretReader{err: apierrors.NewForbidden(gr, "tok", errors.New("RBAC"))},
			wantReason: webhooksv1alpha1.ReasonTokenSecretForbidden, wantMessage: []string{"ops/tok", "grant", "read access", "namespace ops"}},
		{name: "key missing", key: "pat", reader: secretReader{secret: secretWith("token", token)},
			wantReason: webhooksv1alpha1.ReasonTokenKeyMissing, wantMessage: []string{`"pat"`, "ops/tok"}},
		{name: "blank", reader: secretReader{secret: secretWith("token", " \n")}, wantReason: webhooksv1alpha1.ReasonTokenKeyMissing},
		{name: "line break inside", reader: secretReader{secret: secretWith("token", token+"\nsecond")},
			wantReason: webhooksv1alpha1.ReasonTokenInvalid, wantMessage: []string{"line break"}},
		{name: "API server down", reader: secretReader{err: apierrors.NewServiceUnavailable("down")}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := &webhooksv1alpha1.ClusterCredentials{
				ObjectMeta: metav1.ObjectMeta{Name: "shared", UID: "u1", Generation: 3},
				Spec: webhooksv1alpha1.ClusterCredentialsSpec{
					TokenSecretRef: webhooksv1alpha1.TokenSecretReference{Namespace: "ops", Name: "tok", Key: tt.key},
				},
			}
			got, err := readClusterToken(context.Background(), tt.reader, cc)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want one: %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if got.token != tt.wantToken || got.reason != tt.wantReason || got.uid != "u1" || got.generation != 3 {
				t.Errorf("got token %q reason %q uid %q generation %d, want %q %q u1 3",
					got.token, got.reason, got.uid, got.generation, tt.wantToken, tt.wantReason)
			}
			for _, want := range tt.wantMessage {
				if !strings.Contains(got.message, want) {
					t.Errorf("message %q lacks %q", got.message, want)
				}
			}
			if strings.Contains(got.message, token) {
				t.Errorf("message %q quotes the token", got.message)
			}
		})
	}
}

func secretWith(key, value string) *corev1.Secret {
	return &corev1.Secret{Data: map[string][]byte{key: []byte(value)}}
}

func TestClusterTokensFillAndAnnounce(t *testing.T) {
	ctx := context.Background()
	tokens := NewClusterTokens()
	cc := &webhooksv1alpha1.ClusterCredentials{ObjectMeta: metav1.ObjectMeta{Name: "shared", UID: "u1", Generation: 2}}
	fresh := clusterToken{uid: "u1", generation: 2, token: "new"}

	tokens.set("shared", fresh)
	tokens.fill("shared", clusterToken{uid: "u1", generation: 2, token: "read-earlier"})
	if e, ok := tokens.get(cc); !ok || e.token != "new" {
		t.Errorf("fill overwrote the controller's entry of the same generation: %q", e.token)
	}
	tokens.fill("shared", clusterToken{uid: "u1", generation: 3, token: "gen3"})
	if _, ok := tokens.get(cc); ok {
		t.Error("an entry of another generation is served")
	}

	if !tokens.announce(ctx, "shared", &fresh) {
		t.Error("the first state was not announced")
	}
	if tokens.announce(ctx, "shared", &fresh) {
		t.Error("the same state was announced twice")
	}
	rotated := fresh
	rotated.token = "rotated"
	if !tokens.announce(ctx, "shared", &rotated) {
		t.Error("a new token was not announced")
	}
	if !tokens.announce(ctx, "shared", nil) || tokens.announce(ctx, "shared", nil) {
		t.Error("a deletion must be announced once")
	}
	if got := len(tokens.Changes()); got != 3 {
		t.Errorf("%d notifications queued, want 3", got)
	}
	if ev := <-tokens.Changes(); ev.Object.GetName() != "shared" {
		t.Errorf("notification for %q", ev.Object.GetName())
	}
}
