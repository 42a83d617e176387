package controlplanes_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

const (
	programmed = konnectv1alpha2.ConditionProgrammed
	condTrue   = metav1.ConditionTrue
	condFalse  = metav1.ConditionFalse
)

// TestOriginCreatedOnce: the guide's auth configuration and Origin control plane become
// Programmed with what Konnect holds, created by one POST however many re-syncs follow.
func TestOriginCreatedOnce(t *testing.T) {
	t.Parallel()
	tn := newTenant(t)
	tn.applyAuth()
	tn.apply(tn.originYAML(cpName))
	obj := tn.waitProgrammed(condTrue, konnectv1alpha2.ReasonProgrammed)

	// The Programmed condition as the guide prints it.
	raw := tn.kubectl("get", "konnectgatewaycontrolplane", cpName, "-o", `jsonpath={.status.conditions[?(@.type=="Programmed")]}`)
	var c metav1.Condition
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		t.Fatalf("Programmed condition %q: %v", raw, err)
	}
	if c.ObservedGeneration != 1 || c.Reason != "Programmed" || c.Status != condTrue || c.Type != "Programmed" {
		t.Errorf("Programmed = %s, want observedGeneration 1, reason Programmed, status True", raw)
	}

	// The status is what Konnect holds.
	cps := tn.inKonnect()
	if len(cps) != 1 {
		t.Fatalf("Konnect holds %d control planes, want 1: %+v", len(cps), cps)
	}
	k := cps[0]
	st := obj.Status
	if st.ID != k.ID || k.Name != cpName {
		t.Errorf("status.id %q, Konnect has %q named %q", st.ID, k.ID, k.Name)
	}
	if st.OrgID != tn.org {
		t.Errorf("status.organizationID %q, want %q", st.OrgID, tn.org)
	}
	if st.ServerURL != serverURL {
		t.Errorf("status.serverURL %q, want %q", st.ServerURL, serverURL)
	}
	if st.ClusterType != k.Config.ClusterType || st.ClusterType != fakekonnect.DefaultClusterType {
		t.Errorf("status.clusterType %q, Konnect has %q", st.ClusterType, k.Config.ClusterType)
	}
	if st.Endpoints == nil || st.Endpoints.ControlPlaneEndpoint != k.Config.ControlPlaneEndpoint ||
		st.Endpoints.TelemetryEndpoint != k.Config.TelemetryEndpoint || k.Config.ControlPlaneEndpoint == "" {
		t.Errorf("status.konnectEndpoints %+v, Konnect has %q / %q", st.Endpoints, k.Config.ControlPlaneEndpoint, k.Config.TelemetryEndpoint)
	}

	// The ownership labels.
	want := map[string]string{
		"k8s-uid": string(obj.UID), "k8s-name": cpName, "k8s-namespace": tn.ns,
		"k8s-kind": "KonnectGatewayControlPlane", "k8s-group": "konnect.konghq.com", "k8s-version": "v1alpha2",
		"k8s-generation": "1", "managed-by": "konnect-auth-controller",
	}
	for key, v := range want {
		if k.Labels[key] != v {
			t.Errorf("label %s = %q in Konnect, want %q (labels %v)", key, k.Labels[key], v, k.Labels)
		}
	}

	// Finalizers.
	if !slices.Contains(obj.Finalizers, konnectv1alpha2.KonnectCleanupFinalizer) {
		t.Errorf("control plane finalizers %v, want %s", obj.Finalizers, konnectv1alpha2.KonnectCleanupFinalizer)
	}
	tn.waitFor("auth configuration in-use finalizer", func() (bool, string) {
		f := tn.kubectl("get", "konnectapiauthconfiguration", authName, "-o", "jsonpath={.metadata.finalizers}")
		return strings.Contains(f, konnectv1alpha2.APIAuthInUseFinalizer), f
	})

	// Several sync periods: still one POST, no PATCH; the re-syncs did look (GETs).
	gets := tn.count("GET", "/v2/control-planes/*", nil)
	time.Sleep(4 * syncPeriod)
	if n := tn.count("POST", "/v2/control-planes", nil); n != 1 {
		t.Errorf("%d POST /v2/control-planes, want exactly 1", n)
	}
	if n := tn.count("PATCH", "/v2/control-planes/*", nil); n != 0 {
		t.Errorf("%d PATCH, want none", n)
	}
	if more := tn.count("GET", "/v2/control-planes/*", nil) - gets; more < 2 {
		t.Errorf("%d re-sync GETs in %v, want at least 2 (is --konnect-sync-period honoured?)", more, 4*syncPeriod)
	}
	if len(tn.inKonnect()) != 1 {
		t.Errorf("Konnect holds %d control planes after the re-syncs, want 1", len(tn.inKonnect()))
	}
	t.Logf("fake Konnect, this token: %d POST, %d PATCH, %d GET /v2/control-planes/{id}",
		tn.count("POST", "/v2/control-planes", nil), tn.count("PATCH", "/v2/control-planes/*", nil), tn.count("GET", "/v2/control-planes/*", nil))
	tn.table()
	t.Logf("$ kubectl get konnectapiauthconfiguration %s -n %s -o jsonpath='{.metadata.finalizers}'\n%s",
		authName, tn.ns, tn.kubectl("get", "konnectapiauthconfiguration", authName, "-o", "jsonpath={.metadata.finalizers}"))
}
