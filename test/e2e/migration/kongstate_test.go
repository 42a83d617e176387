package migration_test

// What a cluster and a Konnect organization hold after Kong's operator 2.x Programmed a few
// objects, written the way Kong's operator writes them (its controller/konnect sources: ops
// objects_metadata.go for the labels, handle_status_conditions.go, ops/conditions.go and
// konnectextension_controller.go for the status and the finalizers). Kong's messages are
// written out here rather than taken from pkg/apis, so that the test notices if ours drift.

import (
	"fmt"
	"strings"
	"time"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/e2e/framework"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

const (
	region    = "us"
	serverURL = "https://us.api.konghq.com"
	authName  = "konnect-api-auth"

	// Kong's finalizers: on what it made in Konnect, on the auth configurations its control
	// planes use, and on the certificate Secrets of its extensions.
	kongCleanupFinalizer      = "gateway.konghq.com/konnect-cleanup"
	kongAuthInUseFinalizer    = "konnect.konghq.com/konnectapiauth-in-use"
	kongSecretInUseFinalizer  = "gateway.konghq.com/secret-in-use"
	kongProvisioningLabel     = "gateway.konghq.com/secret-provisioning"
	dataPlaneCertificateLabel = "konghq.com/konnect-dp-cert"
)

func (k *kongState) kubectl(stdin string, args ...string) string {
	k.t.Helper()
	out, _ := framework.MustKubectl(k.t, k.c, stdin, append(args, "-n", k.ns)...)
	return out
}

// patch merge-patches obj's metadata (subresource "") or status, as Kong's operator did.
func (k *kongState) patch(obj, subresource, body string) {
	k.t.Helper()
	args := []string{"patch", obj, "--type=merge", "-p", body}
	if subresource != "" {
		args = append(args, "--subresource="+subresource)
	}
	k.kubectl("", args...)
}

func (k *kongState) field(obj, jsonpath string) string {
	k.t.Helper()
	return k.kubectl("", "get", obj, "-o", "jsonpath={"+jsonpath+"}")
}

// condition is a condition as Kong's operator writes it, for the object's generation.
func condition(typ, reason, message, generation string) string {
	return fmt.Sprintf(`{"type":%q,"status":"True","reason":%q,"message":%q,"observedGeneration":%s,"lastTransitionTime":%q}`,
		typ, reason, message, generation, time.Now().UTC().Add(-time.Hour).Format(time.RFC3339))
}

// authConfiguration is the guide's auth configuration, valid, in use by control planes.
func (k *kongState) authConfiguration() {
	k.t.Helper()
	framework.Apply(k.t, k.c, framework.TokenConfigYAML(k.ns, authName, k.token, "us.api.konghq.com"))
	obj := "konnectapiauthconfiguration/" + authName
	k.patch(obj, "", `{"metadata":{"finalizers":["`+kongAuthInUseFinalizer+`"]}}`)
	k.patch(obj, "status", fmt.Sprintf(`{"status":{"organizationID":%q,"serverURL":%q,"conditions":[%s]}}`,
		k.org, serverURL, condition("APIAuthValid", "Valid", "Token is valid", k.field(obj, ".metadata.generation"))))
}

// authConditions are Kong's APIAuthResolvedRef and APIAuthValid of an object of generation gen.
func (k *kongState) authConditions(gen string) string {
	ref := k.ns + "/" + authName
	return condition("APIAuthResolvedRef", "ResolvedRef", "KonnectAPIAuthConfiguration reference "+ref+" is resolved", gen) + "," +
		condition("APIAuthValid", "Valid", "referenced KonnectAPIAuthConfiguration "+ref+" is valid", gen)
}

// origin is an Origin control plane (with the user's label team=platform) that Kong's operator
// created in Konnect, with Kong's ownership labels.
func (k *kongState) origin(name string) {
	k.t.Helper()
	framework.Apply(k.t, k.c, framework.ObjectYAML("konnect.konghq.com/v1alpha2", "KonnectGatewayControlPlane", k.ns, name,
		fmt.Sprintf("  createControlPlaneRequest: {name: %s, labels: {team: platform}}\n  konnect: {authRef: {name: %s}}\n", name, authName)))
	obj := "konnectgatewaycontrolplane/" + name
	uid, gen := k.field(obj, ".metadata.uid"), k.field(obj, ".metadata.generation")
	konnectLabels := map[string]string{"team": "platform",
		"k8s-uid": uid, "k8s-name": name, "k8s-namespace": k.ns, "k8s-kind": "KonnectGatewayControlPlane",
		"k8s-group": "konnect.konghq.com", "k8s-version": "v1alpha2", "k8s-generation": gen, "managed-by": "kong-operator"}
	id, err := env.Konnect.AddControlPlane(k.token, region, fakekonnect.ControlPlaneSpec{Name: name, Labels: konnectLabels})
	if err != nil {
		k.t.Fatal(err)
	}
	k.ids[name], k.origins = id, append(k.origins, name)
	k.programmed(obj, id, gen, "")
}

// mirror is a Mirror of a control plane made in Konnect's UI.
func (k *kongState) mirror(name string) {
	k.t.Helper()
	id, err := env.Konnect.AddControlPlane(k.token, region, fakekonnect.ControlPlaneSpec{Name: name + "-in-konnect"})
	if err != nil {
		k.t.Fatal(err)
	}
	framework.Apply(k.t, k.c, framework.ObjectYAML("konnect.konghq.com/v1alpha2", "KonnectGatewayControlPlane", k.ns, name,
		fmt.Sprintf("  source: Mirror\n  mirror: {konnect: {id: %q}}\n  konnect: {authRef: {name: %s}}\n", id, authName)))
	obj := "konnectgatewaycontrolplane/" + name
	k.ids[name] = id
	k.programmed(obj, id, k.field(obj, ".metadata.generation"), ","+condition("Mirrored", "Mirrored", "", k.field(obj, ".metadata.generation")))
}

// programmed writes Kong's finalizer and status on a control plane it Programmed as id.
func (k *kongState) programmed(obj, id, gen, extraConditions string) {
	k.t.Helper()
	var in fakekonnect.ControlPlane
	for _, cp := range env.Konnect.ControlPlanes(k.token, region) {
		if cp.ID == id {
			in = cp
		}
	}
	k.patch(obj, "", `{"metadata":{"finalizers":["`+kongCleanupFinalizer+`"]}}`)
	k.patch(obj, "status", fmt.Sprintf(`{"status":{"id":%q,"organizationID":%q,"serverURL":%q,"clusterType":%q,`+
		`"konnectEndpoints":{"controlPlane":%q,"telemetry":%q},"conditions":[%s,%s%s]}}`,
		id, k.org, serverURL, in.Config.ClusterType, in.Config.ControlPlaneEndpoint, in.Config.TelemetryEndpoint,
		k.authConditions(gen), condition("Programmed", "Programmed", "", gen), extraConditions))
}

// extension is a KonnectExtension on controlPlane that Kong's operator made Ready: its
// certificate in a Secret (one Kong's operator generated, owned by the extension, or, manual,
// the user's), with Kong's finalizers, registered with the control plane in Konnect.
func (k *kongState) extension(name, controlPlane string, manual bool) {
	k.t.Helper()
	certificateSecret := "{provisioning: Automatic}"
	if manual {
		certificateSecret = fmt.Sprintf("{provisioning: Manual, secretRef: {name: %s-tls}}", name)
	}
	framework.Apply(k.t, k.c, framework.ObjectYAML("konnect.konghq.com/v1alpha2", "KonnectExtension", k.ns, name, fmt.Sprintf(
		"  clientAuth: {certificateSecret: %s}\n  konnect:\n    controlPlane:\n      ref: {type: konnectNamespacedRef, konnectNamespacedRef: {name: %s}}\n",
		certificateSecret, controlPlane)))
	obj := "konnectextension/" + name
	uid, gen := k.field(obj, ".metadata.uid"), k.field(obj, ".metadata.generation")

	certPEM, keyPEM, _, err := fakekonnect.ClientCertificate(name + "." + k.ns)
	if err != nil {
		k.t.Fatal(err)
	}
	secret := name + "-tls"
	metadata := fmt.Sprintf(`{"name":%q,"labels":{%q:"true","konghq.com/secret":"true"},"finalizers":[%q,%q]}`,
		secret, dataPlaneCertificateLabel, kongSecretInUseFinalizer, kongCleanupFinalizer)
	if !manual {
		// Kong's operator names its Secret with generateName and owns it by the extension.
		secret = name + "-" + strings.ToLower(uid[:5])
		metadata = fmt.Sprintf(`{"name":%q,"labels":{%q:"true",%q:"automatic"},"finalizers":[%q,%q],`+
			`"ownerReferences":[{"apiVersion":"konnect.konghq.com/v1alpha2","kind":"KonnectExtension","name":%q,"uid":%q,"controller":true,"blockOwnerDeletion":true}]}`,
			secret, dataPlaneCertificateLabel, kongProvisioningLabel, kongSecretInUseFinalizer, kongCleanupFinalizer, name, uid)
	}
	k.kubectl(fmt.Sprintf(`{"apiVersion":"v1","kind":"Secret","type":"kubernetes.io/tls","metadata":%s,"stringData":{"tls.crt":%q,"tls.key":%q,"ca.crt":%q}}`,
		metadata, certPEM, keyPEM, certPEM), "create", "-f", "-")
	k.extensions, k.secrets = append(k.extensions, name), append(k.secrets, secret)
	if _, err := env.Konnect.AddCertificate(k.ids[controlPlane], string(certPEM)); err != nil {
		k.t.Fatal(err)
	}

	var in fakekonnect.ControlPlane
	for _, cp := range env.Konnect.ControlPlanes(k.token, region) {
		if cp.ID == k.ids[controlPlane] {
			in = cp
		}
	}
	k.patch(obj, "", `{"metadata":{"finalizers":["`+kongCleanupFinalizer+`"]}}`)
	k.patch(obj, "status", fmt.Sprintf(`{"status":{"konnect":{"controlPlaneID":%q,"clusterType":"ControlPlane",`+
		`"endpoints":{"controlPlane":%q,"telemetry":%q},"authRef":{"name":%q,"namespace":%q}},`+
		`"dataPlaneClientAuth":{"certificateSecretRef":{"name":%q}},"conditions":[%s,%s,%s,%s]}}`,
		in.ID, in.Config.ControlPlaneEndpoint, in.Config.TelemetryEndpoint, authName, k.ns, secret,
		condition("Ready", "Ready", "KonnectExtension is ready", gen),
		condition("ControlPlaneRefValid", "Valid", "ControlPlaneRef is valid", gen),
		k.authConditions(gen),
		condition("DataPlaneCertificateProvisioned", "Provisioned", "DataPlane client certificate provisioned successfully", gen)))
}

// objects are every object of the state, as kubectl names them.
func (k *kongState) objects() []string {
	objs := []string{"konnectapiauthconfiguration/" + authName}
	for name := range k.ids {
		objs = append(objs, "konnectgatewaycontrolplane/"+name)
	}
	for _, name := range k.extensions {
		objs = append(objs, "konnectextension/"+name)
	}
	for _, name := range k.secrets {
		objs = append(objs, "secret/"+name)
	}
	return objs
}

// konnectWrites counts the token's writes to Konnect by method and path pattern.
func (k *kongState) konnectWrites() map[string]int {
	hash := fakekonnect.ShortTokenHash(k.token)
	out := map[string]int{}
	for _, r := range env.Konnect.Requests() {
		if r.TokenHash != hash || r.Method == "GET" {
			continue
		}
		out[r.Method+" "+pathPattern(r.Path)]++
	}
	return out
}

// pathPattern replaces the ids in a Konnect path with "*".
func pathPattern(path string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if len(p) == 36 && strings.Count(p, "-") == 4 {
			parts[i] = "*"
		}
	}
	return strings.Join(parts, "/")
}
