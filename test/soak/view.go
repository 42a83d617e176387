package soak

// A View is the state of the cluster and of Konnect at one moment, and what the soak knows
// about tokens. From it the soak decides, independently of the controller, what the
// controller should have achieved: whether an object's chain of dependencies (its control
// plane, its auth configuration, the grants, the Secret, the token) is healthy, and so
// whether it must be programmed in Konnect.

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	configurationv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/configuration/v1alpha1"
	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

// The controller's names, as the oracle checks them (kept here rather than imported from the
// controller's packages, so that a renamed constant there is a failing soak, not a silently
// moved target).
const (
	labelManagedBy     = "managed-by"
	managedByValue     = "konnect-auth-controller"
	labelUIDKey        = "k8s-uid"
	finalizerCleanup   = "gateway.konghq.com/konnect-cleanup"
	finalizerAuthInUse = "konnect.konghq.com/konnectapiauth-in-use"
	finalizerSecret    = "gateway.konghq.com/secret-in-use-by-konnect-resource"
	annotationDPCert   = "konnect.konghq.com/dp-certificate"
	// annotationDPCertAuth records the auth configuration that registered it.
	annotationDPCertAuth = "konnect.konghq.com/dp-certificate-auth"
	generatedSuffix      = "-client-tls"

	groupKonnect = "konnect.konghq.com"
	groupCore    = "core"
)

// ourFinalizers are the finalizers the controller sets.
var ourFinalizers = []string{finalizerCleanup, finalizerAuthInUse, finalizerSecret}

// TokenInfo is what the soak knows about a token: its organization and whether the fake
// Konnect accepts it now.
type TokenInfo struct {
	Org        string
	Registered bool
}

// View is a snapshot of the cluster (the kinds the controller reads), of Konnect (every
// control plane of every organization, with its certificates) and of the tokens.
type View struct {
	Namespaces map[string]*corev1.Namespace
	// Secrets, Configs, Planes and Exts are keyed by "namespace/name".
	Secrets map[string]*corev1.Secret
	Configs map[string]*konnectv1alpha1.KonnectAPIAuthConfiguration
	Planes  map[string]*konnectv1alpha2.KonnectGatewayControlPlane
	Exts    map[string]*konnectv1alpha2.KonnectExtension
	// Grants are keyed by namespace.
	Grants map[string][]*configurationv1alpha1.KongReferenceGrant
	// Tokens are keyed by fakekonnect.TokenHash.
	Tokens  map[string]TokenInfo
	Konnect []fakekonnect.ControlPlaneEntry
}

// newView returns an empty View.
func newView() *View {
	return &View{
		Namespaces: map[string]*corev1.Namespace{}, Secrets: map[string]*corev1.Secret{},
		Configs: map[string]*konnectv1alpha1.KonnectAPIAuthConfiguration{}, Planes: map[string]*konnectv1alpha2.KonnectGatewayControlPlane{},
		Exts: map[string]*konnectv1alpha2.KonnectExtension{}, Grants: map[string][]*configurationv1alpha1.KongReferenceGrant{},
		Tokens: map[string]TokenInfo{},
	}
}

// listView reads a View from the apiserver (one list per kind) and from konnect.
func listView(ctx context.Context, kube kubernetes.Interface, client clientset.Interface, konnect []fakekonnect.ControlPlaneEntry, tokens map[string]TokenInfo) (*View, error) {
	var err error
	nss := list(ctx, kube.CoreV1().Namespaces().List, &err)
	secrets := list(ctx, kube.CoreV1().Secrets("").List, &err)
	cfgs := list(ctx, client.KonnectV1alpha1().KonnectAPIAuthConfigurations("").List, &err)
	grants := list(ctx, client.ConfigurationV1alpha1().KongReferenceGrants("").List, &err)
	planes := list(ctx, client.KonnectV1alpha2().KonnectGatewayControlPlanes("").List, &err)
	exts := list(ctx, client.KonnectV1alpha2().KonnectExtensions("").List, &err)
	if err != nil {
		return nil, err
	}
	v := newView()
	v.Konnect, v.Tokens = konnect, tokens
	for i := range nss.Items {
		v.Namespaces[nss.Items[i].Name] = &nss.Items[i]
	}
	byNsName(v.Secrets, secrets.Items)
	byNsName(v.Configs, cfgs.Items)
	for i := range grants.Items {
		g := &grants.Items[i]
		v.Grants[g.Namespace] = append(v.Grants[g.Namespace], g)
	}
	byNsName(v.Planes, planes.Items)
	byNsName(v.Exts, exts.Items)
	return v, nil
}

// list lists one kind in every namespace (call is a typed client's List) unless *err already
// holds an error, and sets *err to its own.
func list[L any](ctx context.Context, call func(context.Context, metav1.ListOptions) (L, error), err *error) L {
	var l L
	if *err == nil {
		l, *err = call(ctx, metav1.ListOptions{})
	}
	return l
}

// byNsName adds items to m by "namespace/name".
func byNsName[T any, P interface {
	*T
	metav1.Object
}](m map[string]P, items []T) {
	for i := range items {
		o := P(&items[i])
		m[nsName(o.GetNamespace(), o.GetName())] = o
	}
}

// chain is whether an object's dependencies are healthy, and which journal keys they are.
type chain struct {
	OK bool
	// Why says what is broken, when !OK.
	Why string
	// Org and Region are where the object lives in Konnect, when OK.
	Org, Region string
	// Keys are the journal keys of the object and everything it depends on.
	Keys []string
}

func (c chain) broken(why string, args ...any) chain {
	c.OK, c.Why = false, fmt.Sprintf(why, args...)
	return c
}

// permits mirrors the controller's reading of KongReferenceGrants (Kong 2.3 semantics): a
// grant in toNamespace that is not being deleted, naming the referring group, kind and
// namespace, and the referenced group, kind and (if it names one) name.
func (v *View) permits(toNamespace, fromGroup, fromKind, fromNamespace, toGroup, toKind, toName string) bool {
	for _, g := range v.Grants[toNamespace] {
		if g.DeletionTimestamp != nil {
			continue
		}
		from := slices.ContainsFunc(g.Spec.From, func(f configurationv1alpha1.ReferenceGrantFrom) bool {
			return string(f.Group) == fromGroup && string(f.Kind) == fromKind && string(f.Namespace) == fromNamespace
		})
		to := slices.ContainsFunc(g.Spec.To, func(t configurationv1alpha1.ReferenceGrantTo) bool {
			return string(t.Group) == toGroup && string(t.Kind) == toKind && (t.Name == nil || string(*t.Name) == toName)
		})
		if from && to {
			return true
		}
	}
	return false
}

// owesCleanup: a configuration that carries the in-use finalizer is needed for a clean-up in
// Konnect; it holds its Secret whatever the grants say, live or being deleted.
func owesCleanup(cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) bool {
	return slices.Contains(cfg.Finalizers, finalizerAuthInUse)
}

// secretHeld and configHeld report whether a live object elsewhere holds the Secret or the
// configuration (Snapshot.secretHolder, Snapshot.configHolder).
func (s *Snapshot) secretHeld(sec *corev1.Secret) bool {
	return s.secretHolder(sec.Namespace, sec.Name) != ""
}

func (s *Snapshot) configHeld(cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) bool {
	return s.configHolder(cfg) != ""
}

// heldForCleanup: a configuration being deleted that owes a clean-up is still usable.
func heldForCleanup(cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) bool {
	return cfg.DeletionTimestamp != nil && owesCleanup(cfg)
}

// regionOf returns the region a serverURL names: "us" for us.api.konghq.com.
func regionOf(serverURL string) string {
	host := strings.TrimPrefix(strings.TrimPrefix(serverURL, "https://"), "http://")
	host, _, _ = strings.Cut(host, "/")
	host, _, _ = strings.Cut(host, ":")
	region, _, _ := strings.Cut(host, ".")
	return region
}

// config returns the chain of the auth configuration ns/name.
func (v *View) config(ns, name string) chain {
	c := chain{Keys: []string{keyConfig(ns, name), keyNamespace(ns)}}
	cfg := v.Configs[nsName(ns, name)]
	if cfg == nil {
		return c.broken("KonnectAPIAuthConfiguration %s/%s does not exist", ns, name)
	}
	held := heldForCleanup(cfg)
	if cfg.DeletionTimestamp != nil && !held {
		return c.broken("KonnectAPIAuthConfiguration %s/%s is being deleted", ns, name)
	}
	c.Region = regionOf(cfg.Spec.ServerURL)
	var token string
	switch cfg.Spec.Type {
	case konnectv1alpha1.KonnectAPIAuthTypeToken:
		token = cfg.Spec.Token
	case konnectv1alpha1.KonnectAPIAuthTypeSecretRef:
		if cfg.Spec.SecretRef == nil {
			return c.broken("KonnectAPIAuthConfiguration %s/%s has no secretRef", ns, name)
		}
		sns := cmpOr(cfg.Spec.SecretRef.Namespace, ns)
		sname := cfg.Spec.SecretRef.Name
		c.Keys = append(c.Keys, keySecret(sns, sname), keyNamespace(sns))
		if sns != ns {
			c.Keys = append(c.Keys, keyGrants(sns))
			if !held && !v.permits(sns, groupKonnect, "KonnectAPIAuthConfiguration", ns, groupCore, "Secret", sname) {
				return c.broken("no KongReferenceGrant in %s lets KonnectAPIAuthConfiguration %s/%s use Secret %s", sns, ns, name, sname)
			}
		}
		s := v.Secrets[nsName(sns, sname)]
		switch {
		case s == nil:
			return c.broken("Secret %s/%s does not exist", sns, sname)
		case s.Labels[konnectv1alpha1.SecretCredentialLabel] != konnectv1alpha1.SecretCredentialLabelValue:
			return c.broken("Secret %s/%s lacks the credential label", sns, sname)
		}
		token = strings.TrimSpace(string(s.Data[konnectv1alpha1.SecretTokenKey]))
	default:
		return c.broken("KonnectAPIAuthConfiguration %s/%s has type %q", ns, name, cfg.Spec.Type)
	}
	info, ok := v.Tokens[fakekonnect.TokenHash(token)]
	switch {
	case !ok:
		return c.broken("the token of KonnectAPIAuthConfiguration %s/%s is not one the soak issued", ns, name)
	case !info.Registered:
		return c.broken("the token of KonnectAPIAuthConfiguration %s/%s (%s) is revoked", ns, name, fakekonnect.ShortTokenHash(token))
	}
	c.OK, c.Org = true, info.Org
	return c
}

// plane returns the chain of a control plane.
func (v *View) plane(p *konnectv1alpha2.KonnectGatewayControlPlane) chain {
	c := chain{Keys: []string{keyPlane(p.Namespace, p.Name), keyNamespace(p.Namespace), keyUID(string(p.UID))}}
	if p.Status.ID != "" {
		c.Keys = append(c.Keys, keyKonnectCP(p.Status.ID))
	}
	if p.DeletionTimestamp != nil {
		return c.broken("KonnectGatewayControlPlane %s/%s is being deleted", p.Namespace, p.Name)
	}
	ref := p.Spec.KonnectConfiguration.APIAuthConfigurationRef
	refNs := p.Namespace
	if ref.Namespace != nil && *ref.Namespace != "" {
		refNs = *ref.Namespace
	}
	if refNs != p.Namespace {
		c.Keys = append(c.Keys, keyGrants(refNs))
	}
	cc := v.config(refNs, ref.Name)
	c.Keys = append(c.Keys, cc.Keys...)
	if refNs != p.Namespace && !v.permits(refNs, groupKonnect, "KonnectGatewayControlPlane", p.Namespace, groupKonnect, "KonnectAPIAuthConfiguration", ref.Name) {
		return c.broken("no KongReferenceGrant in %s lets KonnectGatewayControlPlane %s/%s use KonnectAPIAuthConfiguration %s", refNs, p.Namespace, p.Name, ref.Name)
	}
	if !cc.OK {
		return c.broken("%s", cc.Why)
	}
	c.Org, c.Region = cc.Org, cc.Region
	if isMirror(p) {
		id := mirrorID(p)
		c.Keys = append(c.Keys, keyKonnectCP(id))
		e := v.cpByID(id)
		if e == nil || e.OrgID != c.Org || e.Region != c.Region {
			return c.broken("the mirrored control plane %s is not in Konnect (organization %s, region %s)", id, c.Org, c.Region)
		}
	} else {
		name := originName(p)
		for _, e := range v.Konnect {
			if e.OrgID == c.Org && e.Region == c.Region && e.ControlPlane.Name == name && e.ControlPlane.Labels[labelUIDKey] != string(p.UID) {
				return c.broken("the name %q is taken in Konnect by control plane %s, not this object's", name, e.ControlPlane.ID)
			}
		}
	}
	c.OK = true
	return c
}

// ext returns the chain of an extension and the Konnect control plane its certificate
// belongs on ("" when there is none).
func (v *View) ext(e *konnectv1alpha2.KonnectExtension) (chain, string) {
	c := chain{Keys: []string{keyExt(e.Namespace, e.Name), keyNamespace(e.Namespace)}}
	pname := extPlaneName(e)
	c.Keys = append(c.Keys, keyPlane(e.Namespace, pname))
	if secret := manualSecret(e); secret != "" {
		c.Keys = append(c.Keys, keySecret(e.Namespace, secret))
	}
	if e.DeletionTimestamp != nil {
		return c.broken("KonnectExtension %s/%s is being deleted", e.Namespace, e.Name), ""
	}
	p := v.Planes[nsName(e.Namespace, pname)]
	if p == nil {
		return c.broken("KonnectGatewayControlPlane %s/%s does not exist", e.Namespace, pname), ""
	}
	pc := v.plane(p)
	c.Keys = append(c.Keys, pc.Keys...)
	if !pc.OK {
		return c.broken("%s", pc.Why), ""
	}
	if _, err := v.currentCert(e); err != nil {
		return c.broken("%v", err), ""
	}
	target := ""
	if isMirror(p) {
		target = mirrorID(p)
	} else if own := v.ownCPs(string(p.UID)); len(own) == 1 {
		target = own[0].ControlPlane.ID
	}
	if target == "" {
		return c.broken("KonnectGatewayControlPlane %s/%s has no control plane in Konnect", e.Namespace, pname), ""
	}
	c.OK, c.Org, c.Region = true, pc.Org, pc.Region
	return c, target
}

// currentCert returns the SHA-256 of the DER of the certificate an extension provides now:
// the tls.crt of its Manual Secret, or of the Secret generated for it (owned by it).
func (v *View) currentCert(e *konnectv1alpha2.KonnectExtension) (string, error) {
	if name := manualSecret(e); name != "" {
		s := v.Secrets[nsName(e.Namespace, name)]
		switch {
		case s == nil:
			return "", fmt.Errorf("Secret %s/%s (its Manual certificate) does not exist", e.Namespace, name)
		case s.Labels[konnectv1alpha2.DataPlaneCertificateLabel] != "true":
			return "", fmt.Errorf("Secret %s/%s lacks the label %s=true", e.Namespace, name, konnectv1alpha2.DataPlaneCertificateLabel)
		}
		return certFingerprint(s.Data[corev1.TLSCertKey])
	}
	name := e.Name + generatedSuffix
	s := v.Secrets[nsName(e.Namespace, name)]
	if s == nil {
		return "", fmt.Errorf("the generated Secret %s/%s does not exist", e.Namespace, name)
	}
	if owner := metav1.GetControllerOf(s); owner == nil || owner.UID != e.UID {
		return "", fmt.Errorf("Secret %s/%s is not owned by the extension", e.Namespace, name)
	}
	return certFingerprint(s.Data[corev1.TLSCertKey])
}

// ownCPs returns the control planes in Konnect labelled as the controller's for uid.
func (v *View) ownCPs(uid string) []fakekonnect.ControlPlaneEntry {
	var out []fakekonnect.ControlPlaneEntry
	for _, e := range v.Konnect {
		if owned(e.ControlPlane) && e.ControlPlane.Labels[labelUIDKey] == uid {
			out = append(out, e)
		}
	}
	return out
}

func (v *View) cpByID(id string) *fakekonnect.ControlPlaneEntry {
	for i := range v.Konnect {
		if v.Konnect[i].ControlPlane.ID == id {
			return &v.Konnect[i]
		}
	}
	return nil
}

// planeByUID returns the control plane object with this UID, or nil.
func (v *View) planeByUID(uid string) *konnectv1alpha2.KonnectGatewayControlPlane {
	for _, p := range v.Planes {
		if string(p.UID) == uid {
			return p
		}
	}
	return nil
}

// owned reports whether a Konnect control plane carries the controller's ownership labels.
func owned(cp fakekonnect.ControlPlane) bool {
	return cp.Labels[labelManagedBy] == managedByValue && cp.Labels[labelUIDKey] != ""
}

func isMirror(p *konnectv1alpha2.KonnectGatewayControlPlane) bool {
	return p.Spec.Source != nil && *p.Spec.Source == konnectv1alpha2.EntitySourceMirror
}

func mirrorID(p *konnectv1alpha2.KonnectGatewayControlPlane) string {
	if p.Spec.Mirror == nil {
		return ""
	}
	return string(p.Spec.Mirror.Konnect.ID)
}

func originName(p *konnectv1alpha2.KonnectGatewayControlPlane) string {
	if r := p.Spec.CreateControlPlaneRequest; r != nil && r.Name != nil {
		return *r.Name
	}
	return ""
}

func extPlaneName(e *konnectv1alpha2.KonnectExtension) string {
	if r := e.Spec.Konnect.ControlPlane.Ref.KonnectNamespacedRef; r != nil {
		return r.Name
	}
	return ""
}

// manualSecret is the Secret a Manual extension names, "" for an Automatic one.
func manualSecret(e *konnectv1alpha2.KonnectExtension) string {
	ca := e.Spec.ClientAuth
	if ca == nil || ca.CertificateSecret.Provisioning == nil || *ca.CertificateSecret.Provisioning != konnectv1alpha2.ProvisioningManual ||
		ca.CertificateSecret.CertificateSecretRef == nil {
		return ""
	}
	return ca.CertificateSecret.CertificateSecretRef.Name
}

// certFingerprint is the hex SHA-256 of the DER of a PEM certificate.
func certFingerprint(p []byte) (string, error) {
	block, _ := pem.Decode(p)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", fmt.Errorf("no PEM certificate")
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return "", err
	}
	sum := sha256.Sum256(block.Bytes)
	return hex.EncodeToString(sum[:]), nil
}

// conditionStatus returns the status of condition typ, "" when absent.
func conditionStatus(conds []metav1.Condition, typ string) metav1.ConditionStatus {
	for _, c := range conds {
		if c.Type == typ {
			return c.Status
		}
	}
	return ""
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
