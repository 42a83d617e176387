package soak

// The oracle: what must hold once the chaos has stopped and the controller had time to settle.
// It is a pure function of a Snapshot, so that every check can be shown to fail on a world
// that breaks it (oracle_test.go) as well as end to end (SOAK_INJECT).

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

// The checks, as the SOAK line counts them.
const (
	checkLeaked     = "leaked"     // in Konnect without an owner: a control plane, or a certificate no live extension provides
	checkDuplicate  = "duplicate"  // two control planes (or certificates, or successful creates) where one is due
	checkMissing    = "missing"    // a healthy object not (correctly) programmed in Konnect
	checkStuck      = "stuck"      // Terminating past the settle time with our finalizer, or a Terminating namespace
	checkFalseFlip  = "false-flip" // a condition that turned from True to False with nothing to explain it
	checkTokenLeaks = "token-leak" // a token in a controller's log
)

// Snapshot is everything the oracle looks at.
type Snapshot struct {
	*View
	// Writes are the controllers' writes to Konnect, as the front recorded them.
	Writes []konnectWrite
	// DirectDeletes are the times the soak deleted a control plane of the controller out of
	// band (DeleteControlPlaneDirect), by its k8s-uid label: each allows one more create.
	DirectDeletes map[string][]time.Time
	// Flips are the True→False transitions the watcher saw, classified as they happened.
	Flips []flip
	// Logs are the controllers' logs by name; nil skips the token check.
	Logs map[string][]byte
	// Issued are every token the soak issued.
	Issued []string
	// StuckBefore: an object Terminating since before this is stuck.
	StuckBefore time.Time
}

// Violation is one broken invariant.
type Violation struct {
	Check  string
	Object string
	Detail string
	// Keys select the journal history shown with it.
	Keys []string
}

// Result is the oracle's verdict.
type Result struct {
	Violations []Violation
	// ControlPlanes and Certificates count what is in Konnect: the controller's control
	// planes (ownership labels) and every registered certificate.
	ControlPlanes, Certificates int
	// Notes are things the oracle decided to accept, and why (held objects, certificates
	// whose extension cannot act).
	Notes []string
}

// Count returns how many violations of check there are.
func (r Result) Count(check string) int {
	n := 0
	for _, v := range r.Violations {
		if v.Check == check {
			n++
		}
	}
	return n
}

// converged reports whether no state check fails (the history checks — creates, flips,
// tokens in logs — cannot improve by waiting).
func (r Result) converged() bool {
	for _, v := range r.Violations {
		if strings.Contains(v.Object, injectedPrefix) {
			continue // injected on purpose (SOAK_INJECT=stuck): it never converges
		}
		switch v.Check {
		case checkLeaked, checkMissing, checkStuck:
			return false
		case checkDuplicate:
			if !strings.HasPrefix(v.Object, "create ") {
				return false
			}
		}
	}
	return true
}

// Check runs every check on s.
func Check(s *Snapshot) Result {
	var r Result
	checkControlPlanes(s, &r)
	checkCertificates(s, &r)
	checkCreates(s, &r)
	checkStuckObjects(s, &r)
	for _, f := range s.Flips {
		if !f.Legit {
			r.Violations = append(r.Violations, Violation{Check: checkFalseFlip,
				Object: fmt.Sprintf("%s %s/%s", f.Kind, f.Namespace, f.Name),
				Detail: fmt.Sprintf("%s turned True→False at %s (reason %s: %q): %s",
					f.Type, f.At.Format("15:04:05.000"), f.Reason, f.Message, f.Why),
				Keys: f.Keys})
		}
	}
	if s.Logs != nil {
		names := make([]string, 0, len(s.Logs))
		for n := range s.Logs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			var found []string
			for _, t := range s.Issued {
				if t != "" && bytes.Contains(s.Logs[n], []byte(t)) {
					found = append(found, fakekonnect.ShortTokenHash(t))
				}
			}
			if len(found) > 0 {
				r.Violations = append(r.Violations, Violation{Check: checkTokenLeaks, Object: "log of " + n,
					Detail: fmt.Sprintf("%d token(s) in the log: %s", len(found), strings.Join(found, ", "))})
			}
		}
	}
	return r
}

func sortedKeys[T any](m map[string]T) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func describeCP(e fakekonnect.ControlPlaneEntry) string {
	return fmt.Sprintf("Konnect control plane %s (%q, organization %s, region %s)", e.ControlPlane.ID, e.ControlPlane.Name, e.OrgID, e.Region)
}

// checkControlPlanes: the control planes carrying the controller's ownership labels are
// exactly the existing Origin KonnectGatewayControlPlanes, one each, in the organization and
// region of their credentials, named by status.id; every healthy object is programmed.
func checkControlPlanes(s *Snapshot, r *Result) {
	byUID := map[string][]fakekonnect.ControlPlaneEntry{}
	for _, e := range s.Konnect {
		cp := e.ControlPlane
		if cp.Labels[labelManagedBy] == managedByValue && cp.Labels[labelUIDKey] == "" {
			r.Violations = append(r.Violations, Violation{Check: checkLeaked, Object: describeCP(e),
				Detail: "labelled managed-by=" + managedByValue + " without a k8s-uid", Keys: []string{keyKonnectCP(cp.ID)}})
		}
		if owned(cp) {
			r.ControlPlanes++
			byUID[cp.Labels[labelUIDKey]] = append(byUID[cp.Labels[labelUIDKey]], e)
		}
	}
	for _, uid := range sortedKeys(byUID) {
		list := byUID[uid]
		p := s.planeByUID(uid)
		keys := []string{keyUID(uid)}
		for _, e := range list {
			keys = append(keys, keyKonnectCP(e.ControlPlane.ID))
		}
		switch {
		case p == nil:
			for _, e := range list {
				r.Violations = append(r.Violations, Violation{Check: checkLeaked, Object: describeCP(e),
					Detail: fmt.Sprintf("no KonnectGatewayControlPlane with UID %s exists (%s=%s)", uid, labelUIDKey, uid), Keys: keys})
			}
			continue
		case isMirror(p):
			for _, e := range list {
				r.Violations = append(r.Violations, Violation{Check: checkLeaked, Object: describeCP(e),
					Detail: fmt.Sprintf("labelled for KonnectGatewayControlPlane %s/%s, a Mirror, which must create nothing", p.Namespace, p.Name), Keys: keys})
			}
			continue
		}
		keys = append(keys, keyPlane(p.Namespace, p.Name))
		if len(list) > 1 {
			ids := make([]string, len(list))
			for i, e := range list {
				ids[i] = e.ControlPlane.ID
			}
			for _, e := range list[1:] {
				r.Violations = append(r.Violations, Violation{Check: checkDuplicate, Object: describeCP(e),
					Detail: fmt.Sprintf("KonnectGatewayControlPlane %s/%s (UID %s) has %d control planes in Konnect: %s", p.Namespace, p.Name, uid, len(list), strings.Join(ids, ", ")),
					Keys:   keys})
			}
		}
		c := s.plane(p)
		if !c.OK {
			continue
		}
		for _, e := range list {
			if e.OrgID != c.Org || e.Region != c.Region {
				r.Violations = append(r.Violations, Violation{Check: checkLeaked, Object: describeCP(e),
					Detail: fmt.Sprintf("KonnectGatewayControlPlane %s/%s's credentials are of organization %s, region %s", p.Namespace, p.Name, c.Org, c.Region),
					Keys:   keys})
			}
		}
		if len(list) == 1 && p.Status.ID != list[0].ControlPlane.ID {
			r.Violations = append(r.Violations, Violation{Check: checkMissing, Object: fmt.Sprintf("KonnectGatewayControlPlane %s/%s", p.Namespace, p.Name),
				Detail: fmt.Sprintf("status.id is %q, but its control plane in Konnect is %s", p.Status.ID, list[0].ControlPlane.ID), Keys: keys})
		}
	}
	for _, k := range sortedKeys(s.Planes) {
		p := s.Planes[k]
		c := s.plane(p)
		if !c.OK {
			continue
		}
		obj := fmt.Sprintf("KonnectGatewayControlPlane %s/%s", p.Namespace, p.Name)
		keys := append([]string{keyUID(string(p.UID))}, c.Keys...)
		if isMirror(p) {
			if p.Status.ID != mirrorID(p) {
				r.Violations = append(r.Violations, Violation{Check: checkMissing, Object: obj,
					Detail: fmt.Sprintf("a Mirror of %s, but status.id is %q", mirrorID(p), p.Status.ID), Keys: keys})
			}
		} else if len(byUID[string(p.UID)]) == 0 {
			r.Violations = append(r.Violations, Violation{Check: checkMissing, Object: obj,
				Detail: fmt.Sprintf("its credentials work (organization %s, region %s) but it has no control plane in Konnect (status.id %q)", c.Org, c.Region, p.Status.ID),
				Keys:   keys})
			continue
		}
		if st := conditionStatus(p.Status.Conditions, konnectv1alpha2.ConditionProgrammed); st != metav1.ConditionTrue {
			r.Violations = append(r.Violations, Violation{Check: checkMissing, Object: obj,
				Detail: fmt.Sprintf("its chain is healthy but Programmed is %q: %s", st, conditionMessage(p.Status.Conditions, konnectv1alpha2.ConditionProgrammed)), Keys: keys})
		}
	}
	for _, k := range sortedKeys(s.Configs) {
		cfg := s.Configs[k]
		if cfg.DeletionTimestamp != nil {
			continue
		}
		if c := s.config(cfg.Namespace, cfg.Name); c.OK {
			if st := conditionStatus(cfg.Status.Conditions, konnectv1alpha1.ConditionAPIAuthValid); st != metav1.ConditionTrue || cfg.Status.OrganizationID != c.Org {
				r.Violations = append(r.Violations, Violation{Check: checkMissing, Object: fmt.Sprintf("KonnectAPIAuthConfiguration %s/%s", cfg.Namespace, cfg.Name),
					Detail: fmt.Sprintf("its token is valid (organization %s) but APIAuthValid is %q with organizationID %q: %s", c.Org, st, cfg.Status.OrganizationID,
						conditionMessage(cfg.Status.Conditions, konnectv1alpha1.ConditionAPIAuthValid)),
					Keys: c.Keys})
			}
		}
	}
}

// checkCertificates: every registered certificate is the current certificate of at least one
// live extension on that control plane; no certificate twice on one control plane; every
// healthy extension's certificate is registered where it belongs.
func checkCertificates(s *Snapshot, r *Result) {
	type extInfo struct {
		e      *konnectv1alpha2.KonnectExtension
		c      chain
		target string
		fp     string
	}
	var exts []extInfo
	for _, k := range sortedKeys(s.Exts) {
		e := s.Exts[k]
		c, target := s.ext(e)
		fp, _ := s.currentCert(e)
		exts = append(exts, extInfo{e, c, target, fp})
	}
	for _, cp := range s.Konnect {
		seen := map[string]string{}
		for _, cert := range cp.Certificates {
			r.Certificates++
			fp := pemFingerprint(cert.Cert)
			if other, dup := seen[fp]; dup {
				r.Violations = append(r.Violations, Violation{Check: checkDuplicate, Object: fmt.Sprintf("certificate %s on %s", cert.ID, describeCP(cp)),
					Detail: fmt.Sprintf("the same certificate (SHA-256 %s…) is registered twice: %s and %s", short(fp), other, cert.ID),
					Keys:   []string{keyKonnectCP(cp.ControlPlane.ID)}})
			}
			seen[fp] = cert.ID
			var users []string
			for _, x := range exts {
				if x.e.DeletionTimestamp == nil && x.c.OK && x.target == cp.ControlPlane.ID && x.fp == fp {
					users = append(users, x.e.Namespace+"/"+x.e.Name)
				}
			}
			if len(users) > 0 {
				continue
			}
			// Accepted: an extension that recorded this very registration and cannot act on it
			// (its chain is broken: it cannot reach Konnect) or is being deleted (then a stuck
			// extension is reported as such).
			excused := ""
			var keys []string
			for _, x := range exts {
				if s.extOn(x.e, cp.ControlPlane.ID) {
					keys = append(keys, x.c.Keys...)
				}
				if reg := x.e.Annotations[annotationDPCert]; strings.HasPrefix(reg, cp.ControlPlane.ID+"/"+cert.ID+"/") {
					keys = append(keys, x.c.Keys...)
					if !x.c.OK {
						excused = fmt.Sprintf("KonnectExtension %s/%s recorded it and cannot act (%s)", x.e.Namespace, x.e.Name, x.c.Why)
					}
				}
			}
			if excused != "" {
				r.Notes = append(r.Notes, fmt.Sprintf("certificate %s on %s kept: %s", cert.ID, describeCP(cp), excused))
				continue
			}
			r.Violations = append(r.Violations, Violation{Check: checkLeaked, Object: fmt.Sprintf("certificate %s on %s", cert.ID, describeCP(cp)),
				Detail: fmt.Sprintf("SHA-256 %s… is the current certificate of no live extension on that control plane", short(fp)),
				Keys:   append([]string{keyKonnectCP(cp.ControlPlane.ID), keyUID(cp.ControlPlane.Labels[labelUIDKey])}, keys...)})
		}
	}
	for _, x := range exts {
		if !x.c.OK {
			continue
		}
		obj := fmt.Sprintf("KonnectExtension %s/%s", x.e.Namespace, x.e.Name)
		cp := s.cpByID(x.target)
		registered := false
		if cp != nil {
			for _, cert := range cp.Certificates {
				registered = registered || pemFingerprint(cert.Cert) == x.fp
			}
		}
		if !registered {
			r.Violations = append(r.Violations, Violation{Check: checkMissing, Object: obj,
				Detail: fmt.Sprintf("its chain is healthy but its certificate (SHA-256 %s…) is not registered on control plane %s", short(x.fp), x.target),
				Keys:   x.c.Keys})
		}
		if st := conditionStatus(x.e.Status.Conditions, konnectv1alpha2.ConditionReady); st != metav1.ConditionTrue {
			r.Violations = append(r.Violations, Violation{Check: checkMissing, Object: obj,
				Detail: fmt.Sprintf("its chain is healthy but Ready is %q: %s", st, conditionMessage(x.e.Status.Conditions, konnectv1alpha2.ConditionReady)),
				Keys:   x.c.Keys})
		}
	}
}

// extOn reports whether an extension's control plane object names this Konnect control plane
// (its status.id, or the one it mirrors).
func (s *Snapshot) extOn(e *konnectv1alpha2.KonnectExtension, id string) bool {
	p := s.Planes[nsName(e.Namespace, extPlaneName(e))]
	return p != nil && (p.Status.ID == id || mirrorID(p) == id)
}

// checkCreates: at most one successful POST /v2/control-planes per k8s-uid, plus one for each
// time the soak deleted that object's control plane out of band; and none while one with the
// UID existed.
func checkCreates(s *Snapshot, r *Result) {
	byUID := map[string][]konnectWrite{}
	for _, w := range s.Writes {
		if w.Method == "POST" && w.Path == "/v2/control-planes" && w.UID != "" && w.successful() {
			byUID[w.UID] = append(byUID[w.UID], w)
		}
	}
	for _, uid := range sortedKeys(byUID) {
		posts := byUID[uid]
		for i, w := range posts {
			allowed := 1
			for _, at := range s.DirectDeletes[uid] {
				if at.Before(w.At) {
					allowed++
				}
			}
			why := ""
			switch {
			case len(w.Existing) > 0:
				why = fmt.Sprintf("control plane(s) %s with this k8s-uid existed when it was sent", strings.Join(w.Existing, ", "))
			case i+1 > allowed:
				why = fmt.Sprintf("successful create #%d for this UID, with %d out-of-band deletion(s) before it", i+1, allowed-1)
			default:
				continue
			}
			r.Violations = append(r.Violations, Violation{Check: checkDuplicate, Object: fmt.Sprintf("create of k8s-uid %s at %s", uid, w.At.Format("15:04:05.000")),
				Detail: fmt.Sprintf("%s: %s", w.String(), why), Keys: []string{keyUID(uid)}})
		}
	}
}

// checkStuckObjects: nothing with our finalizer Terminating since before the settle time,
// unless a live object that uses it holds it (the in-use finalizers' purpose); no namespace
// Terminating since before it.
func checkStuckObjects(s *Snapshot, r *Result) {
	old := func(m metav1.Object) bool {
		dt := m.GetDeletionTimestamp()
		return dt != nil && dt.Time.Before(s.StuckBefore)
	}
	ours := func(m metav1.Object) []string {
		var out []string
		for _, f := range m.GetFinalizers() {
			if slices.Contains(ourFinalizers, f) {
				out = append(out, f)
			}
		}
		return out
	}
	// stuck reports m; why is what its own condition says, keys the journal keys of what it
	// depends on.
	stuck := func(kind string, m metav1.Object, fins []string, why string, keys ...string) {
		detail := fmt.Sprintf("Terminating since %s with finalizers %v", m.GetDeletionTimestamp().Format("15:04:05"), fins)
		if why != "" {
			detail += "; it says: " + why
		}
		r.Violations = append(r.Violations, Violation{Check: checkStuck, Object: fmt.Sprintf("%s %s/%s", kind, m.GetNamespace(), m.GetName()),
			Detail: detail, Keys: append(keys, keyNamespace(m.GetNamespace()), keyUID(string(m.GetUID())))})
	}
	for _, k := range sortedKeys(s.Planes) {
		if p := s.Planes[k]; old(p) && len(ours(p)) > 0 {
			// The chain as if it were not being deleted: what its clean-up needs.
			live := p.DeepCopy()
			live.DeletionTimestamp = nil
			stuck("KonnectGatewayControlPlane", p, ours(p), conditionMessage(p.Status.Conditions, konnectv1alpha2.ConditionProgrammed),
				append([]string{keyPlane(p.Namespace, p.Name)}, s.plane(live).Keys...)...)
		}
	}
	for _, k := range sortedKeys(s.Exts) {
		if e := s.Exts[k]; old(e) && len(ours(e)) > 0 {
			live := e.DeepCopy()
			live.DeletionTimestamp = nil
			c, _ := s.ext(live)
			stuck("KonnectExtension", e, ours(e), conditionMessage(e.Status.Conditions, konnectv1alpha2.ConditionReady),
				append([]string{keyExt(e.Namespace, e.Name)}, c.Keys...)...)
		}
	}
	for _, k := range sortedKeys(s.Configs) {
		cfg := s.Configs[k]
		if !old(cfg) || len(ours(cfg)) == 0 {
			continue
		}
		if by := s.configHolder(cfg); by != "" {
			r.Notes = append(r.Notes, fmt.Sprintf("KonnectAPIAuthConfiguration %s/%s is held: %s", cfg.Namespace, cfg.Name, by))
			continue
		}
		stuck("KonnectAPIAuthConfiguration", cfg, ours(cfg), conditionMessage(cfg.Status.Conditions, konnectv1alpha1.ConditionAPIAuthValid),
			s.config(cfg.Namespace, cfg.Name).Keys...)
	}
	for _, k := range sortedKeys(s.Secrets) {
		sec := s.Secrets[k]
		if !old(sec) || len(ours(sec)) == 0 {
			continue
		}
		if by := s.secretHolder(sec.Namespace, sec.Name); by != "" {
			r.Notes = append(r.Notes, fmt.Sprintf("Secret %s/%s is held: %s", sec.Namespace, sec.Name, by))
			continue
		}
		stuck("Secret", sec, ours(sec), "", keySecret(sec.Namespace, sec.Name))
	}
	for _, name := range sortedKeys(s.Namespaces) {
		ns := s.Namespaces[name]
		if !old(ns) {
			continue
		}
		// What is left in it; held: every one of those is held by a live object elsewhere that
		// owes a clean-up in Konnect with it, and the namespace rightly waits for it.
		var left []string
		held := true
		add := func(l []string, h bool) { left, held = append(left, l...), held && h }
		add(leftIn(name, "Secret", s.Secrets, s.secretHeld))
		add(leftIn(name, "KonnectAPIAuthConfiguration", s.Configs, s.configHeld))
		add(leftIn(name, "KonnectGatewayControlPlane", s.Planes, nil))
		add(leftIn(name, "KonnectExtension", s.Exts, nil))
		if held && len(left) > 0 {
			r.Notes = append(r.Notes, fmt.Sprintf("Namespace %s waits for what holds its content: %s", name, strings.Join(left, "; ")))
			continue
		}
		r.Violations = append(r.Violations, Violation{Check: checkStuck, Object: "Namespace " + name,
			Detail: fmt.Sprintf("Terminating since %s; left in it: %s", ns.DeletionTimestamp.Format("15:04:05"), strings.Join(left, "; ")),
			Keys:   []string{keyNamespace(name)}})
	}
}

// leftIn describes the objects of m in namespace ns, each as "kind name [finalizers]".
func leftIn[T metav1.Object](ns, kind string, m map[string]T, isHeld func(T) bool) (left []string, held bool) {
	held = true
	for _, k := range sortedKeys(m) {
		if o := m[k]; o.GetNamespace() == ns {
			left = append(left, fmt.Sprintf("%s %s %v", kind, o.GetName(), o.GetFinalizers()))
			held = held && isHeld != nil && isHeld(o)
		}
	}
	return left, held
}

// configHolder names what keeps a configuration (being deleted) in use, "" if nothing: a
// control plane that names it (from another namespace only with a grant, unless it owes a
// clean-up in Konnect: an Origin with the cleanup finalizer, live or being deleted), or an
// extension whose registration needs its token.
func (s *Snapshot) configHolder(cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) string {
	for _, k := range sortedKeys(s.Planes) {
		p := s.Planes[k]
		ref := p.Spec.KonnectConfiguration.APIAuthConfigurationRef
		refNs := p.Namespace
		if ref.Namespace != nil && *ref.Namespace != "" {
			refNs = *ref.Namespace
		}
		if ref.Name != cfg.Name || refNs != cfg.Namespace {
			continue
		}
		owes := slices.Contains(p.Finalizers, finalizerCleanup) && !isMirror(p)
		if p.DeletionTimestamp != nil && !owes {
			continue
		}
		if refNs != p.Namespace && !owes && !s.permits(refNs, groupKonnect, "KonnectGatewayControlPlane", p.Namespace, groupKonnect, "KonnectAPIAuthConfiguration", ref.Name) {
			continue
		}
		return fmt.Sprintf("KonnectGatewayControlPlane %s/%s uses it", p.Namespace, p.Name)
	}
	for _, k := range sortedKeys(s.Exts) {
		e := s.Exts[k]
		if ref := s.registrationAuth(e); ref == cfg.Namespace+"/"+cfg.Name {
			return fmt.Sprintf("KonnectExtension %s/%s needs its token to remove certificate %s", e.Namespace, e.Name, e.Annotations[annotationDPCert])
		}
	}
	return ""
}

// registrationAuth is the auth configuration ("namespace/name") an extension needs to remove
// the certificate it recorded, "" when it needs none: no registration recorded, no finalizer,
// or the control plane it was registered with is gone from Konnect (its certificates with it).
// The configuration is the one recorded beside the registration, else status.konnect.authRef.
func (s *Snapshot) registrationAuth(e *konnectv1alpha2.KonnectExtension) string {
	cpID, _, _ := strings.Cut(e.Annotations[annotationDPCert], "/")
	if cpID == "" || !slices.Contains(e.Finalizers, finalizerCleanup) || !slices.ContainsFunc(s.Konnect, func(c fakekonnect.ControlPlaneEntry) bool {
		return c.ControlPlane.ID == cpID
	}) {
		return ""
	}
	if ref := e.Annotations[annotationDPCertAuth]; ref != "" {
		return ref
	}
	if st := e.Status.Konnect; st != nil && st.AuthRef != nil {
		return cmpOr(ptr.Deref(st.AuthRef.Namespace, ""), e.Namespace) + "/" + st.AuthRef.Name
	}
	return ""
}

// secretHolder names the configuration that keeps a token Secret (being deleted) in use, "" if
// none: one that names it and is live (from another namespace only with a grant), or that
// owes a clean-up (whatever the grants say).
func (s *Snapshot) secretHolder(ns, name string) string {
	for _, k := range sortedKeys(s.Configs) {
		cfg := s.Configs[k]
		if cfg.Spec.SecretRef == nil || cfg.Spec.SecretRef.Name != name || cmpOr(cfg.Spec.SecretRef.Namespace, cfg.Namespace) != ns {
			continue
		}
		held := owesCleanup(cfg)
		if cfg.DeletionTimestamp != nil && !held {
			continue
		}
		if ns != cfg.Namespace && !held && !s.permits(ns, groupKonnect, "KonnectAPIAuthConfiguration", cfg.Namespace, groupCore, "Secret", name) {
			continue
		}
		return fmt.Sprintf("KonnectAPIAuthConfiguration %s/%s uses it", cfg.Namespace, cfg.Name)
	}
	return ""
}

func conditionMessage(conds []metav1.Condition, typ string) string {
	for _, c := range conds {
		if c.Type == typ {
			return c.Reason + ": " + c.Message
		}
	}
	return "(no such condition)"
}

func short(fp string) string {
	if len(fp) > 16 {
		return fp[:16]
	}
	return fp
}
