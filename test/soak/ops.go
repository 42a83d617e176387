package soak

// The workload's operations: create, change and delete every kind of object the controller
// reads, rotate and revoke tokens, delete whole namespaces. Each one is journaled with the keys
// it touched; weights keep the population around a few objects of each kind per namespace.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	configurationv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/configuration/v1alpha1"
	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

// soakLabel marks every namespace the soak makes.
const soakLabel = "konnect-soak"

type operation struct {
	name   string
	weight func(w *world) int
	run    func(w *world, ctx context.Context) (keys []string, text string, err error)
}

// operations is the workload's repertoire.
var operations = []operation{
	{"create-namespace", func(w *world) int {
		switch n := len(w.namespaces); {
		case n < 3:
			return 40
		case n < 5:
			return 2
		}
		return 0
	}, (*world).createNamespace},
	{"delete-namespace", func(w *world) int { return boolWeight(len(w.namespaces) >= 3, 1) }, (*world).deleteNamespace},
	{"create-token-secret", func(w *world) int { return fill(len(live(w.secrets, "")), 2*len(w.namespaces), 8) }, (*world).createTokenSecret},
	{"rotate-token-secret", func(w *world) int { return boolWeight(len(live(w.secrets, "")) > 0, 3) }, (*world).rotateTokenSecret},
	{"delete-token-secret", func(w *world) int { return boolWeight(len(live(w.secrets, "")) > 0, 1) }, (*world).deleteTokenSecret},
	{"create-config", func(w *world) int { return fill(len(live(w.configs, "")), 2*len(w.namespaces), 8) }, (*world).createConfig},
	{"rotate-inline-token", func(w *world) int { return boolWeight(len(w.inlineConfigs()) > 0, 2) }, (*world).rotateInlineToken},
	{"delete-config", func(w *world) int { return boolWeight(len(live(w.configs, "")) > 0, 1) }, (*world).deleteConfig},
	{"create-grant", func(w *world) int { return boolWeight(len(w.unsatisfiedNeeds()) > 0, 3) }, (*world).createGrant},
	{"delete-grant", func(w *world) int { return boolWeight(len(live(w.grants, "")) > 0, 1) }, (*world).deleteGrant},
	{"create-origin", func(w *world) int { return fill(len(live(w.planes, "")), 3*len(w.namespaces), 8) }, (*world).createOrigin},
	{"create-mirror", func(w *world) int { return boolWeight(len(live(w.configs, "")) > 0, 2) }, (*world).createMirror},
	{"rename-control-plane", func(w *world) int { return boolWeight(len(w.origins()) > 0, 3) }, (*world).renamePlane},
	{"relabel-control-plane", func(w *world) int { return boolWeight(len(w.origins()) > 0, 3) }, (*world).relabelPlane},
	{"delete-control-plane", func(w *world) int { return boolWeight(len(live(w.planes, "")) > 0, 2) }, (*world).deletePlane},
	{"create-extension", func(w *world) int { return fill(len(live(w.exts, "")), 3*len(w.namespaces), 8) }, (*world).createExtension},
	{"rotate-certificate-secret", func(w *world) int { return boolWeight(len(live(w.certs, "")) > 0, 2) }, (*world).rotateCertSecret},
	{"delete-extension", func(w *world) int { return boolWeight(len(live(w.exts, "")) > 0, 2) }, (*world).deleteExtension},
	{"delete-certificate-secret", func(w *world) int { return boolWeight(len(live(w.certs, "")) > 0, 1) }, (*world).deleteCertSecret},
	{"revoke-token", func(w *world) int { return boolWeight(len(w.heldTokens(true)) > 0, 1) }, (*world).revokeToken},
	{"restore-token", func(w *world) int { return boolWeight(len(w.heldTokens(false)) > 0, 3) }, (*world).restoreToken},
}

func boolWeight(ok bool, weight int) int {
	if ok {
		return weight
	}
	return 0
}

// fill weighs a create: high while there are fewer than target, low above.
func fill(have, target, weight int) int {
	if target == 0 {
		return 0
	}
	if have < target {
		return weight
	}
	return 1
}

// step applies one operation, chosen by weight; an operation with nothing to act on makes
// way for another.
func (w *world) step(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for range 10 {
		total := 0
		weights := make([]int, len(operations))
		for i, op := range operations {
			weights[i] = op.weight(w)
			total += weights[i]
		}
		if total == 0 {
			return
		}
		n := w.rng.IntN(total)
		var op operation
		for i, wt := range weights {
			if n < wt {
				op = operations[i]
				break
			}
			n -= wt
		}
		keys, text, err := op.run(w, ctx)
		switch {
		case err == errSkip:
			continue
		case err != nil:
			w.opsFailed++
			w.j.add(kindOpFailed, keys, "%s: %s: %v", op.name, text, err)
		default:
			w.ops++
			w.opCounts[op.name]++
			w.j.add(kindOp, keys, "%s: %s", op.name, text)
		}
		return
	}
}

// ---- namespaces

func (w *world) createNamespace(ctx context.Context) ([]string, string, error) {
	name := w.next("soak")
	_, err := create(ctx, w.kube.CoreV1().Namespaces().Create, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{soakLabel: "true"}}})
	if err == nil {
		w.namespaces = append(w.namespaces, name)
	}
	return []string{keyNamespace(name)}, "namespace " + name, err
}

func (w *world) deleteNamespace(ctx context.Context) ([]string, string, error) {
	ns := pick(w, w.namespaces)
	keys := []string{keyNamespace(ns)}
	c, cancel := opContext(ctx)
	defer cancel()
	err := w.kube.CoreV1().Namespaces().Delete(c, ns, metav1.DeleteOptions{})
	if err != nil {
		return keys, "namespace " + ns, err
	}
	w.namespaces = slices.DeleteFunc(w.namespaces, func(n string) bool { return n == ns })
	var gone []string
	// dropped adds the records ks, gone with the namespace, to keys and, unless kind is "", to
	// gone.
	dropped := func(kind string, key func(ns, name string) string, ks []string) {
		for _, k := range ks {
			keys = append(keys, key(splitNsName(k)))
			if kind != "" {
				gone = append(gone, kind+" "+k)
			}
		}
	}
	dropped("Secret", keySecret, dropIn(w.secrets, ns))
	dropped("KonnectAPIAuthConfiguration", keyConfig, dropIn(w.configs, ns))
	for _, k := range dropIn(w.grants, ns) {
		keys = append(keys, keyGrant(splitNsName(k)), keyGrants(ns))
	}
	dropped("KonnectGatewayControlPlane", keyPlane, dropIn(w.planes, ns))
	dropped("KonnectExtension", keyExt, dropIn(w.exts, ns))
	dropped("", keySecret, dropIn(w.certs, ns)) // certificate Secrets, not listed
	w.needs = slices.DeleteFunc(w.needs, func(n grantNeed) bool { return n.ns == ns || n.fromNs == ns })
	return keys, fmt.Sprintf("namespace %s with %d objects (%s)", ns, len(gone), strings.Join(gone, ", ")), nil
}

// ---- token Secrets

func tokenSecret(ns, name, token string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{
			konnectv1alpha1.SecretCredentialLabel: konnectv1alpha1.SecretCredentialLabelValue, konnectv1alpha2.SecretLabel: "true"}},
		Data: map[string][]byte{konnectv1alpha1.SecretTokenKey: []byte(token + "\n")},
	}
}

func (w *world) createTokenSecret(ctx context.Context) ([]string, string, error) {
	if len(w.namespaces) == 0 {
		return nil, "", errSkip
	}
	ns, name, org := pick(w, w.namespaces), w.next("token"), pick(w, orgIDs)
	token := w.tokenFor(org)
	keys := []string{keySecret(ns, name), keyToken(fakekonnect.ShortTokenHash(token))}
	if _, err := create(ctx, w.kube.CoreV1().Secrets(ns).Create, tokenSecret(ns, name, token)); err != nil {
		return keys, "Secret " + ns + "/" + name, err
	}
	w.secrets[nsName(ns, name)] = &tokenSecretRec{ns: ns, name: name, token: token, org: org}
	return keys, fmt.Sprintf("Secret %s/%s with token %s (organization %s)", ns, name, fakekonnect.ShortTokenHash(token), org), nil
}

func (w *world) rotateTokenSecret(ctx context.Context) ([]string, string, error) {
	k, s := pickLive(w, w.secrets, "")
	token := w.newTokenLocked(s.org)
	if others := slices.DeleteFunc(w.tokensOf(s.org, true), func(t string) bool { return t == s.token }); len(others) > 0 && w.chance(0.3) {
		token = pick(w, others)
	}
	err := mergePatch(ctx, w.kube.CoreV1().Secrets(s.ns).Patch, s.name, map[string]any{"data": map[string][]byte{konnectv1alpha1.SecretTokenKey: []byte(token)}})
	return retokened("Secret "+k, "token", keySecret(s.ns, s.name), &s.token, token, err)
}

// retokened says what a change of the token a Secret or configuration holds did (what names
// the holder, key is its journal key): the holder was patched to hold token instead of *held,
// and unless that failed (err), now holds it.
func retokened(what, noun, key string, held *string, token string, err error) ([]string, string, error) {
	keys := []string{key, keyToken(fakekonnect.ShortTokenHash(*held)), keyToken(fakekonnect.ShortTokenHash(token))}
	if err != nil {
		return keys, what, err
	}
	text := fmt.Sprintf("%s: %s %s → %s", what, noun, fakekonnect.ShortTokenHash(*held), fakekonnect.ShortTokenHash(token))
	*held = token
	return keys, text, nil
}

func (w *world) deleteTokenSecret(ctx context.Context) ([]string, string, error) {
	k, s := pickLive(w, w.secrets, "")
	err := remove(ctx, w.kube.CoreV1().Secrets(s.ns).Delete, s.name, &s.deleted)
	return []string{keySecret(s.ns, s.name)}, "Secret " + k, err
}

// ---- auth configurations

func (w *world) inlineConfigs() []string {
	return slices.DeleteFunc(live(w.configs, ""), func(k string) bool { return !w.configs[k].inline })
}

func (w *world) createConfig(ctx context.Context) ([]string, string, error) {
	if len(w.namespaces) == 0 {
		return nil, "", errSkip
	}
	ns, name, region := pick(w, w.namespaces), w.next("auth"), pick(w, regions)
	rec := &configRec{ns: ns, name: name, region: region}
	spec := konnectv1alpha1.KonnectAPIAuthConfigurationSpec{ServerURL: region + ".api.konghq.com"}
	keys := []string{keyConfig(ns, name)}
	var what string
	same, cross := live(w.secrets, ns), slices.DeleteFunc(live(w.secrets, ""), func(k string) bool { ns2, _ := splitNsName(k); return ns2 == ns })
	switch r := w.rng.Float64(); {
	case r < 0.4 && len(same) > 0, r < 0.8 && len(same) > 0 && len(cross) == 0:
		s := w.secrets[pick(w, same)]
		rec.secretNs, rec.secretName, rec.org = s.ns, s.name, s.org
		spec.Type, spec.SecretRef = konnectv1alpha1.KonnectAPIAuthTypeSecretRef, &konnectv1alpha1.SecretReference{Name: s.name}
		keys = append(keys, keySecret(s.ns, s.name))
		what = "secretRef " + s.name
	case r < 0.6 && len(cross) > 0:
		s := w.secrets[pick(w, cross)]
		rec.secretNs, rec.secretName, rec.org = s.ns, s.name, s.org
		spec.Type, spec.SecretRef = konnectv1alpha1.KonnectAPIAuthTypeSecretRef, &konnectv1alpha1.SecretReference{Name: s.name, Namespace: s.ns}
		need := grantNeed{ns: s.ns, fromGroup: groupKonnect, fromKind: "KonnectAPIAuthConfiguration", fromNs: ns, toGroup: groupCore, toKind: "Secret", toName: s.name}
		gkeys, gtext, err := w.ensureGrant(ctx, need)
		keys = append(append(keys, keySecret(s.ns, s.name)), gkeys...)
		if err != nil {
			return keys, "grant for KonnectAPIAuthConfiguration " + ns + "/" + name, err
		}
		what = fmt.Sprintf("secretRef %s/%s%s", s.ns, s.name, gtext)
	default:
		org := pick(w, orgIDs)
		rec.inline, rec.token, rec.org = true, w.tokenFor(org), org
		spec.Type, spec.Token = konnectv1alpha1.KonnectAPIAuthTypeToken, rec.token
		keys = append(keys, keyToken(fakekonnect.ShortTokenHash(rec.token)))
		what = "inline token " + fakekonnect.ShortTokenHash(rec.token)
	}
	cfg := &konnectv1alpha1.KonnectAPIAuthConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}
	if _, err := create(ctx, w.client.KonnectV1alpha1().KonnectAPIAuthConfigurations(ns).Create, cfg); err != nil {
		return keys, "KonnectAPIAuthConfiguration " + ns + "/" + name, err
	}
	w.configs[nsName(ns, name)] = rec
	return keys, fmt.Sprintf("KonnectAPIAuthConfiguration %s/%s, %s, %s, organization %s", ns, name, what, spec.ServerURL, rec.org), nil
}

func (w *world) rotateInlineToken(ctx context.Context) ([]string, string, error) {
	k := pick(w, w.inlineConfigs())
	cfg := w.configs[k]
	token := w.newTokenLocked(cfg.org)
	err := mergePatch(ctx, w.client.KonnectV1alpha1().KonnectAPIAuthConfigurations(cfg.ns).Patch, cfg.name, map[string]any{"spec": map[string]any{"token": token}})
	return retokened("KonnectAPIAuthConfiguration "+k, "inline token", keyConfig(cfg.ns, cfg.name), &cfg.token, token, err)
}

func (w *world) deleteConfig(ctx context.Context) ([]string, string, error) {
	k, cfg := pickLive(w, w.configs, "")
	err := remove(ctx, w.client.KonnectV1alpha1().KonnectAPIAuthConfigurations(cfg.ns).Delete, cfg.name, &cfg.deleted)
	return []string{keyConfig(cfg.ns, cfg.name)}, "KonnectAPIAuthConfiguration " + k, err
}

// ---- grants

func (w *world) unsatisfiedNeeds() []grantNeed {
	var out []grantNeed
	for _, n := range w.needs {
		if w.nsLive(n.ns) && !w.grantSatisfied(n) && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// ensureGrant creates a grant for need unless a live one permits it; it returns the keys and
// a description of what it did.
func (w *world) ensureGrant(ctx context.Context, need grantNeed) ([]string, string, error) {
	if !slices.Contains(w.needs, need) {
		w.needs = append(w.needs, need)
	}
	if w.grantSatisfied(need) {
		return nil, "", nil
	}
	return w.makeGrant(ctx, need)
}

func (w *world) makeGrant(ctx context.Context, need grantNeed) ([]string, string, error) {
	name := w.next("grant")
	g := &grantRec{ns: need.ns, name: name, fromGroup: need.fromGroup, fromKind: need.fromKind, fromNs: need.fromNs,
		toGroup: need.toGroup, toKind: need.toKind}
	if w.chance(0.5) {
		g.toName = need.toName
	}
	to := configurationv1alpha1.ReferenceGrantTo{Group: configurationv1alpha1.Group(g.toGroup), Kind: configurationv1alpha1.Kind(g.toKind)}
	if g.toName != "" {
		to.Name = ptr.To(configurationv1alpha1.ObjectName(g.toName))
	}
	obj := &configurationv1alpha1.KongReferenceGrant{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: need.ns},
		Spec: configurationv1alpha1.KongReferenceGrantSpec{
			From: []configurationv1alpha1.ReferenceGrantFrom{{Group: configurationv1alpha1.Group(g.fromGroup), Kind: configurationv1alpha1.Kind(g.fromKind), Namespace: configurationv1alpha1.Namespace(g.fromNs)}},
			To:   []configurationv1alpha1.ReferenceGrantTo{to},
		},
	}
	keys := []string{keyGrant(need.ns, name), keyGrants(need.ns)}
	if _, err := create(ctx, w.client.ConfigurationV1alpha1().KongReferenceGrants(need.ns).Create, obj); err != nil {
		return keys, "", err
	}
	w.grants[nsName(need.ns, name)] = g
	target := g.toName
	if target == "" {
		target = "*"
	}
	return keys, fmt.Sprintf(" (+ KongReferenceGrant %s/%s from %s in %s to %s %s)", need.ns, name, g.fromKind, g.fromNs, g.toKind, target), nil
}

func (w *world) createGrant(ctx context.Context) ([]string, string, error) {
	need := pick(w, w.unsatisfiedNeeds())
	keys, text, err := w.makeGrant(ctx, need)
	return keys, "KongReferenceGrant" + text, err
}

func (w *world) deleteGrant(ctx context.Context) ([]string, string, error) {
	k, g := pickLive(w, w.grants, "")
	err := remove(ctx, w.client.ConfigurationV1alpha1().KongReferenceGrants(g.ns).Delete, g.name, &g.deleted)
	return []string{keyGrant(g.ns, g.name), keyGrants(g.ns)}, fmt.Sprintf("KongReferenceGrant %s (from %s in %s to %s %q)", k, g.fromKind, g.fromNs, g.toKind, g.toName), err
}

// ---- control planes

func (w *world) origins() []string {
	return slices.DeleteFunc(live(w.planes, ""), func(k string) bool { return w.planes[k].mirror })
}

// userLabels returns random Konnect labels for a control plane.
func (w *world) userLabels() map[string]string {
	out := map[string]string{}
	for _, k := range []string{"team", "env", "tier"} {
		if w.chance(0.4) {
			out[k] = pick(w, []string{"a", "b", "blue", "green", "1"})
		}
	}
	return out
}

// authRefFor picks the auth configuration a new control plane in ns names: mostly one of its
// own namespace, sometimes one of another with a grant.
func (w *world) authRefFor(ctx context.Context, ns string) (cfg *configRec, keys []string, text string, err error) {
	same := live(w.configs, ns)
	cross := slices.DeleteFunc(live(w.configs, ""), func(k string) bool { ns2, _ := splitNsName(k); return ns2 == ns })
	switch {
	case len(same) > 0 && (len(cross) == 0 || w.chance(0.75)):
		return w.configs[pick(w, same)], nil, "", nil
	case len(cross) > 0:
		cfg = w.configs[pick(w, cross)]
		need := grantNeed{ns: cfg.ns, fromGroup: groupKonnect, fromKind: "KonnectGatewayControlPlane", fromNs: ns,
			toGroup: groupKonnect, toKind: "KonnectAPIAuthConfiguration", toName: cfg.name}
		keys, text, err = w.ensureGrant(ctx, need)
		return cfg, keys, text, err
	}
	return nil, nil, "", errSkip
}

func authRef(ns string, cfg *configRec) konnectv1alpha2.KonnectConfiguration {
	ref := konnectv1alpha2.KonnectAPIAuthConfigurationRef{Name: cfg.name}
	if cfg.ns != ns {
		ref.Namespace = ptr.To(cfg.ns)
	}
	return konnectv1alpha2.KonnectConfiguration{APIAuthConfigurationRef: ref}
}

func (w *world) createOrigin(ctx context.Context) ([]string, string, error) {
	if len(w.namespaces) == 0 {
		return nil, "", errSkip
	}
	ns := pick(w, w.namespaces)
	cfg, keys, gtext, err := w.authRefFor(ctx, ns)
	if err != nil {
		return keys, "control plane in " + ns, err
	}
	name, konnectName, labels := w.next("cp"), w.nextCPName(), w.userLabels()
	keys = append(keys, keyPlane(ns, name), keyConfig(cfg.ns, cfg.name))
	spec := konnectv1alpha2.KonnectGatewayControlPlaneSpec{
		Source:                    ptr.To(konnectv1alpha2.EntitySourceOrigin),
		CreateControlPlaneRequest: &konnectv1alpha2.CreateControlPlaneRequest{Name: ptr.To(konnectName), Labels: crdLabels(labels)},
		KonnectConfiguration:      authRef(ns, cfg),
	}
	uid, err := w.createPlane(ctx, ns, name, spec)
	if err != nil {
		return keys, "KonnectGatewayControlPlane " + ns + "/" + name, err
	}
	w.planes[nsName(ns, name)] = &planeRec{ns: ns, name: name, uid: uid, konnectName: konnectName, configNs: cfg.ns, configName: cfg.name, org: cfg.org, region: cfg.region}
	return append(keys, keyUID(uid)), fmt.Sprintf("KonnectGatewayControlPlane %s/%s (UID %s) Origin %q labels %v, authRef %s/%s (organization %s, %s)%s",
		ns, name, uid, konnectName, labels, cfg.ns, cfg.name, cfg.org, cfg.region, gtext), nil
}

// createPlane creates the control plane ns/name and returns its UID.
func (w *world) createPlane(ctx context.Context, ns, name string, spec konnectv1alpha2.KonnectGatewayControlPlaneSpec) (string, error) {
	created, err := create(ctx, w.client.KonnectV1alpha2().KonnectGatewayControlPlanes(ns).Create,
		&konnectv1alpha2.KonnectGatewayControlPlane{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec})
	if err != nil {
		return "", err
	}
	return string(created.UID), nil
}

func crdLabels(in map[string]string) map[string]konnectv1alpha2.ControlPlaneLabelValue {
	if len(in) == 0 {
		return nil
	}
	out := map[string]konnectv1alpha2.ControlPlaneLabelValue{}
	for k, v := range in {
		out[k] = konnectv1alpha2.ControlPlaneLabelValue(v)
	}
	return out
}

func (w *world) createMirror(ctx context.Context) ([]string, string, error) {
	ns, cfg, ok := pickInNamespace(w, w.configs)
	if !ok {
		return nil, "", errSkip
	}
	// Whether a mirrored control plane was deleted out of band is not looked at: the workload's
	// choices must not depend on the timing of the out-of-band changes (a Mirror of a deleted
	// one is a legitimate thing for a user to make, and is not Programmed).
	var targets []*mirrorRec
	for _, m := range w.mirrors {
		if m.org == cfg.org && m.region == cfg.region {
			targets = append(targets, m)
		}
	}
	var target *mirrorRec
	made := ""
	if len(targets) > 0 && w.chance(0.6) {
		target = pick(w, targets)
	} else {
		name := fmt.Sprintf("soak-mirrored-%d", len(w.mirrors)+1)
		id, err := w.fake.AddControlPlane(w.observers[cfg.org], cfg.region, fakekonnect.ControlPlaneSpec{Name: name})
		if err != nil {
			return nil, "mirrored control plane " + name, err
		}
		target = &mirrorRec{id: id, org: cfg.org, region: cfg.region, name: name}
		w.mirrors = append(w.mirrors, target)
		made = fmt.Sprintf(" (+ control plane %s %q made in Konnect to mirror)", id, name)
	}
	name := w.next("mirror")
	keys := []string{keyPlane(ns, name), keyConfig(cfg.ns, cfg.name), keyKonnectCP(target.id)}
	spec := konnectv1alpha2.KonnectGatewayControlPlaneSpec{
		Source:               ptr.To(konnectv1alpha2.EntitySourceMirror),
		Mirror:               &konnectv1alpha2.MirrorSpec{Konnect: konnectv1alpha2.MirrorKonnect{ID: konnectv1alpha2.KonnectIDType(target.id)}},
		KonnectConfiguration: authRef(ns, cfg),
	}
	uid, err := w.createPlane(ctx, ns, name, spec)
	if err != nil {
		return keys, "KonnectGatewayControlPlane " + ns + "/" + name, err
	}
	w.planes[nsName(ns, name)] = &planeRec{ns: ns, name: name, uid: uid, mirror: true, mirrorID: target.id, configNs: cfg.ns, configName: cfg.name, org: cfg.org, region: cfg.region}
	return append(keys, keyUID(uid)), fmt.Sprintf("KonnectGatewayControlPlane %s/%s (UID %s) Mirror of %s, authRef %s%s", ns, name, uid, target.id, cfg.name, made), nil
}

func (w *world) renamePlane(ctx context.Context) ([]string, string, error) {
	k := pick(w, w.origins())
	p := w.planes[k]
	name := w.nextCPName()
	keys := []string{keyPlane(p.ns, p.name), keyUID(p.uid)}
	patch := map[string]any{"spec": map[string]any{"createControlPlaneRequest": map[string]any{"name": name}}}
	if err := mergePatch(ctx, w.client.KonnectV1alpha2().KonnectGatewayControlPlanes(p.ns).Patch, p.name, patch); err != nil {
		return keys, "KonnectGatewayControlPlane " + k, err
	}
	text := fmt.Sprintf("KonnectGatewayControlPlane %s: name %q → %q", k, p.konnectName, name)
	p.konnectName = name
	return keys, text, nil
}

func (w *world) relabelPlane(ctx context.Context) ([]string, string, error) {
	k := pick(w, w.origins())
	p := w.planes[k]
	labels := w.userLabels()
	patchLabels := map[string]any{}
	for _, key := range []string{"team", "env", "tier"} {
		if v, ok := labels[key]; ok {
			patchLabels[key] = v
		} else {
			patchLabels[key] = nil
		}
	}
	keys := []string{keyPlane(p.ns, p.name), keyUID(p.uid)}
	patch := map[string]any{"spec": map[string]any{"createControlPlaneRequest": map[string]any{"labels": patchLabels}}}
	if err := mergePatch(ctx, w.client.KonnectV1alpha2().KonnectGatewayControlPlanes(p.ns).Patch, p.name, patch); err != nil {
		return keys, "KonnectGatewayControlPlane " + k, err
	}
	return keys, fmt.Sprintf("KonnectGatewayControlPlane %s: labels → %v", k, labels), nil
}

func (w *world) deletePlane(ctx context.Context) ([]string, string, error) {
	k, p := pickLive(w, w.planes, "")
	err := remove(ctx, w.client.KonnectV1alpha2().KonnectGatewayControlPlanes(p.ns).Delete, p.name, &p.deleted)
	return []string{keyPlane(p.ns, p.name), keyUID(p.uid)}, "KonnectGatewayControlPlane " + k, err
}

// ---- extensions and their certificates

func (w *world) createExtension(ctx context.Context) ([]string, string, error) {
	ns, p, ok := pickInNamespace(w, w.planes)
	if !ok {
		return nil, "", errSkip
	}
	name := w.next("ext")
	keys := []string{keyExt(ns, name), keyPlane(ns, p.name)}
	auth := &konnectv1alpha2.KonnectExtensionClientAuth{CertificateSecret: konnectv1alpha2.CertificateSecret{Provisioning: ptr.To(konnectv1alpha2.ProvisioningAutomatic)}}
	what, manual := "Automatic", ""
	if w.chance(0.45) {
		if certs := live(w.certs, ns); len(certs) > 0 && w.chance(0.5) {
			_, manual = splitNsName(pick(w, certs))
			what = "Manual, sharing Secret " + manual
		} else {
			manual = w.next("dpcert")
			if err := w.writeCertSecret(ctx, ns, manual, true); err != nil {
				return append(keys, keySecret(ns, manual)), "certificate Secret " + ns + "/" + manual, err
			}
			w.certs[nsName(ns, manual)] = &certSecretRec{ns: ns, name: manual}
			what = "Manual, new Secret " + manual
		}
		keys = append(keys, keySecret(ns, manual))
		auth = &konnectv1alpha2.KonnectExtensionClientAuth{CertificateSecret: konnectv1alpha2.CertificateSecret{
			Provisioning: ptr.To(konnectv1alpha2.ProvisioningManual), CertificateSecretRef: &konnectv1alpha2.SecretRef{Name: manual}}}
	}
	ext := &konnectv1alpha2.KonnectExtension{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: konnectv1alpha2.KonnectExtensionSpec{
			Konnect: konnectv1alpha2.KonnectExtensionKonnectSpec{ControlPlane: konnectv1alpha2.KonnectExtensionControlPlane{Ref: konnectv1alpha2.ControlPlaneRef{
				Type: konnectv1alpha2.ControlPlaneRefKonnectNamespacedRef, KonnectNamespacedRef: &konnectv1alpha2.KonnectNamespacedRef{Name: p.name}}}},
			ClientAuth: auth,
		},
	}
	if _, err := create(ctx, w.client.KonnectV1alpha2().KonnectExtensions(ns).Create, ext); err != nil {
		return keys, "KonnectExtension " + ns + "/" + name, err
	}
	w.exts[nsName(ns, name)] = &extRec{ns: ns, name: name, plane: p.name, manual: manual}
	return keys, fmt.Sprintf("KonnectExtension %s/%s on KonnectGatewayControlPlane %s, %s", ns, name, p.name, what), nil
}

// writeCertSecret creates (or, with isNew false, replaces the data of) a kubernetes.io/tls
// Secret with a fresh client certificate, as `kubectl create secret tls` would.
func (w *world) writeCertSecret(ctx context.Context, ns, name string, isNew bool) error {
	certPEM, keyPEM, _, err := fakekonnect.ClientCertificate(name + "." + ns)
	if err != nil {
		return err
	}
	data := map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM}
	if isNew {
		_, err = create(ctx, w.kube.CoreV1().Secrets(ns).Create, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{
				konnectv1alpha2.DataPlaneCertificateLabel: "true", konnectv1alpha2.SecretLabel: "true"}},
			Type: corev1.SecretTypeTLS,
			Data: data,
		})
		return err
	}
	return mergePatch(ctx, w.kube.CoreV1().Secrets(ns).Patch, name, map[string]any{"data": data})
}

func (w *world) rotateCertSecret(ctx context.Context) ([]string, string, error) {
	k, s := pickLive(w, w.certs, "")
	keys := []string{keySecret(s.ns, s.name)}
	for _, e := range live(w.exts, s.ns) {
		if w.exts[e].manual == s.name {
			keys = append(keys, keyExt(splitNsName(e)))
		}
	}
	return keys, "certificate Secret " + k + ": new certificate and key", w.writeCertSecret(ctx, s.ns, s.name, false)
}

func (w *world) deleteExtension(ctx context.Context) ([]string, string, error) {
	k, e := pickLive(w, w.exts, "")
	err := remove(ctx, w.client.KonnectV1alpha2().KonnectExtensions(e.ns).Delete, e.name, &e.deleted)
	return []string{keyExt(e.ns, e.name)}, "KonnectExtension " + k, err
}

func (w *world) deleteCertSecret(ctx context.Context) ([]string, string, error) {
	k, s := pickLive(w, w.certs, "")
	err := remove(ctx, w.kube.CoreV1().Secrets(s.ns).Delete, s.name, &s.deleted)
	return []string{keySecret(s.ns, s.name)}, "certificate Secret " + k, err
}

// ---- tokens in Konnect

func (w *world) revokeToken(_ context.Context) ([]string, string, error) {
	t := pick(w, w.heldTokens(true))
	w.fake.RevokeToken(t)
	w.tokens[t].registered = false
	holders := w.holders(t)
	return append([]string{keyToken(fakekonnect.ShortTokenHash(t))}, holders...),
		fmt.Sprintf("token %s revoked in Konnect (held by %s)", fakekonnect.ShortTokenHash(t), strings.Join(holders, ", ")), nil
}

func (w *world) restoreToken(_ context.Context) ([]string, string, error) {
	t := pick(w, w.heldTokens(false))
	w.fake.AddToken(t, w.tokens[t].org)
	w.tokens[t].registered = true
	holders := w.holders(t)
	return append([]string{keyToken(fakekonnect.ShortTokenHash(t))}, holders...),
		fmt.Sprintf("token %s valid again in Konnect (held by %s)", fakekonnect.ShortTokenHash(t), strings.Join(holders, ", ")), nil
}

// run applies operations at about rate per second until ctx ends.
func (w *world) run(ctx context.Context, rate float64) {
	mean := time.Duration(float64(time.Second) / rate)
	for ctx.Err() == nil {
		w.step(ctx)
		w.notify()
		w.mu.Lock()
		d := time.Duration(float64(mean) * (0.5 + w.rng.Float64()))
		w.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
}
