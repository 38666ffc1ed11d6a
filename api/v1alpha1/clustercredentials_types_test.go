package v1alpha1

import (
	"errors"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

func TestClusterCredentialsAllows(t *testing.T) {
	mobile := labels.Set{"team": "mobile"}
	boom := errors.New("boom")
	for _, tc := range []struct {
		name     string
		spec     ClusterCredentialsSpec
		ns       string
		nsLabels labels.Set
		labelErr error
		want     bool
		wantErr  bool
		read     bool // whether the labels must be read
	}{
		{name: "listed", spec: ClusterCredentialsSpec{Namespaces: []string{"payments"}}, ns: "payments", want: true},
		{name: "not listed, no selector", spec: ClusterCredentialsSpec{Namespaces: []string{"payments"}}, ns: "team-b"},
		{name: "empty selector selects all", spec: ClusterCredentialsSpec{NamespaceSelector: &metav1.LabelSelector{}}, ns: "any", want: true},
		{name: "selector matches", spec: ClusterCredentialsSpec{NamespaceSelector: &metav1.LabelSelector{MatchLabels: mobile}}, ns: "m", nsLabels: mobile, want: true, read: true},
		{name: "selector does not match", spec: ClusterCredentialsSpec{NamespaceSelector: &metav1.LabelSelector{MatchLabels: mobile}}, ns: "w", nsLabels: labels.Set{"team": "web"}, read: true},
		{name: "invalid selector selects none", spec: ClusterCredentialsSpec{NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Bogus"}}}}, ns: "m", nsLabels: mobile},
		{name: "label read fails", spec: ClusterCredentialsSpec{NamespaceSelector: &metav1.LabelSelector{MatchLabels: mobile}}, ns: "m", labelErr: boom, wantErr: true, read: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read := false
			got, err := tc.spec.AllowsNamespace(tc.ns, func() (labels.Set, error) {
				read = true
				return tc.nsLabels, tc.labelErr
			})
			if got != tc.want || (err != nil) != tc.wantErr || read != tc.read {
				t.Errorf("AllowsNamespace = %v, %v (labels read: %v); want %v, error %v (read: %v)", got, err, read, tc.want, tc.wantErr, tc.read)
			}
		})
	}
	apps := ClusterCredentialsSpec{Apps: []string{"a1"}}
	if !apps.AllowsApp("a1") || apps.AllowsApp("a2") {
		t.Error("AllowsApp must allow the listed app only")
	}
	if any := (ClusterCredentialsSpec{Apps: []string{"a1", AnyApp}}); !any.AllowsApp("zz") {
		t.Error(`AllowsApp must allow any app with "*"`)
	}
}
