package install

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// What users get from the chart's roles, asked of the API server's RBAC
// authorizer as `kubectl auth can-i --as` does: namespace editors manage
// OutgoingWebhooks but neither their status (what the operator created) nor
// ClusterCredentials (who may use a shared token), and with
// rbac.aggregateToDefaultRoles=false the built-in roles get nothing of ours.
func TestChartRolesForUsers(t *testing.T) {
	c := startCluster(t)
	const teamNS = "team-a"
	c.createNamespaces(t, chartNS, teamNS, "team-b")
	c.applyChart(t, helmTemplate(t, release, chartNS))
	c.aggregateClusterRoles(t)
	c.bind(t, teamNS, "edit", "alice")
	c.bind(t, teamNS, "admin", "ada")
	c.bind(t, teamNS, "view", "victor")
	c.bind(t, "", "edit", "edgar") // edit everywhere, by a ClusterRoleBinding
	c.bind(t, "", "view", "carol")
	c.bind(t, "", fullname+"-clustercredentials-admin", "root")
	c.bind(t, "", fullname+"-clustercredentials-viewer", "auditor")
	c.bind(t, teamNS, fullname+"-outgoingwebhook-editor", "bob")

	owh := "outgoingwebhooks.webhooks.bitrise.io"
	cc := "clustercredentials.webhooks.bitrise.io"
	inTeam := func(args ...string) []string { return append(args, "-n", teamNS) }
	editOWH := [][]string{
		inTeam("create", owh), inTeam("update", owh), inTeam("patch", owh), inTeam("delete", owh),
		inTeam("get", owh), inTeam("list", owh), inTeam("watch", owh),
	}
	writeStatus := [][]string{
		inTeam("update", owh, "--subresource=status"), inTeam("patch", owh, "--subresource=status"),
	}
	writeCC := [][]string{{"create", cc}, {"update", cc}, {"patch", cc}, {"delete", cc}}
	writeCCStatus := []string{"patch", cc, "--subresource=status"} // the operator's alone
	readCC := [][]string{{"get", cc}, {"list", cc}, {"watch", cc}}

	for _, user := range []string{"alice", "ada", "edgar", "bob"} {
		c.expect(t, user, true, editOWH...)
		c.expect(t, user, false, writeStatus...)
		c.expect(t, user, false, append(writeCC, writeCCStatus)...)
		c.expect(t, user, false, readCC...)
	}
	c.expect(t, "alice", false, []string{"create", owh, "-n", "team-b"})
	c.expect(t, "bob", false, []string{"create", owh, "-n", "team-b"})
	c.expect(t, "edgar", true, []string{"create", owh, "-n", "team-b"})
	c.expect(t, "victor", true, inTeam("get", owh), inTeam("list", owh), inTeam("watch", owh), inTeam("get", owh, "--subresource=status"))
	c.expect(t, "victor", false, inTeam("create", owh), inTeam("patch", owh))
	// The viewer role is not aggregated into view: a ClusterCredentials
	// tells which namespaces and apps a shared token reaches.
	c.expect(t, "carol", true, []string{"list", owh, "--all-namespaces"})
	c.expect(t, "carol", false, readCC...)
	c.expect(t, "root", true, append(writeCC, readCC...)...)
	c.expect(t, "root", false, writeCCStatus)
	c.expect(t, "auditor", true, readCC...)
	c.expect(t, "auditor", false, append(writeCC, writeCCStatus)...)

	// Turned off (here by an upgrade), the built-in roles lose our rules;
	// the roles themselves stay, to bind explicitly.
	c.applyChart(t, helmTemplate(t, release, chartNS, "--set", "rbac.aggregateToDefaultRoles=false"))
	c.aggregateClusterRoles(t)
	for _, user := range []string{"alice", "ada", "edgar", "victor", "carol"} {
		c.expect(t, user, false, inTeam("get", owh), inTeam("list", owh), inTeam("create", owh))
	}
	c.expect(t, "bob", true, editOWH...)
	c.expect(t, "root", true, writeCC...)
}

// expect fails the test unless user may (allowed) or may not do each of
// the `kubectl auth can-i` argument lists.
func (c *cluster) expect(t *testing.T, user string, allowed bool, checks ...[]string) {
	t.Helper()
	for _, args := range checks {
		if got := c.canI(t, user, args...); got != allowed {
			t.Errorf("%s can %s: %t, want %t", user, strings.Join(args, " "), got, allowed)
		}
	}
}

// bind binds a ClusterRole to a user: in namespace with a RoleBinding, or
// cluster-wide with a ClusterRoleBinding when namespace is empty.
func (c *cluster) bind(t *testing.T, namespace, clusterRole, user string) {
	t.Helper()
	name := user + "-" + clusterRole
	kind := "ClusterRoleBinding"
	meta := "  name: " + name
	if namespace != "" {
		kind = "RoleBinding"
		meta += "\n  namespace: " + namespace
	}
	c.apply(t, []byte(fmt.Sprintf(`apiVersion: rbac.authorization.k8s.io/v1
kind: %s
metadata:
%s
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: %s
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: %s
`, kind, meta, clusterRole, user)))
}

// aggregateClusterRoles does what kube-controller-manager's
// clusterrole-aggregation controller does, since the local control plane
// runs no controller manager: the rules of each ClusterRole with an
// aggregationRule become those of the other ClusterRoles its selectors
// match, in name order and without duplicates, until nothing changes (the
// built-in roles chain: view into edit, edit into admin).
func (c *cluster) aggregateClusterRoles(t *testing.T) {
	t.Helper()
	roles := c.clientset.RbacV1().ClusterRoles()
	for range 5 {
		list, err := roles.List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(list.Items, func(a, b rbacv1.ClusterRole) int { return strings.Compare(a.Name, b.Name) })
		changed := false
		for i := range list.Items {
			owner := &list.Items[i]
			if owner.AggregationRule == nil {
				continue
			}
			var rules []rbacv1.PolicyRule
			for _, s := range owner.AggregationRule.ClusterRoleSelectors {
				selector, err := metav1.LabelSelectorAsSelector(&s)
				if err != nil {
					t.Fatal(err)
				}
				for _, role := range list.Items {
					if role.Name == owner.Name || !selector.Matches(labels.Set(role.Labels)) {
						continue
					}
					for _, rule := range role.Rules {
						if !slices.ContainsFunc(rules, func(r rbacv1.PolicyRule) bool { return reflect.DeepEqual(r, rule) }) {
							rules = append(rules, rule)
						}
					}
				}
			}
			if reflect.DeepEqual(owner.Rules, rules) {
				continue
			}
			owner.Rules = rules
			if _, err := roles.Update(t.Context(), owner, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			changed = true
		}
		if !changed {
			return
		}
	}
	t.Fatal("the ClusterRoles' aggregation did not settle in 5 passes")
}
