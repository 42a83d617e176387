package soak

// SOAK_INJECT: violations made on purpose after the soak settled (the controllers stopped, so
// that they cannot repair them), to prove end to end that every check of the oracle fails when
// its invariant is broken. A check that cannot fail is a defect.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	clientset "github.com/konnect-auth-controller/konnect-auth-controller/pkg/generated/clientset/versioned"
	"github.com/konnect-auth-controller/konnect-auth-controller/test/fakekonnect"
)

// injectedPrefix starts the name of everything injected.
const injectedPrefix = "soak-injected-"

// injectStuck makes a Secret with the controller's in-use finalizer that nothing uses, without
// the credential label (so the controller never sees it), and deletes it: Terminating for
// good. It runs before the settle time starts.
func injectStuck(ctx context.Context, kube kubernetes.Interface, j *journal) error {
	name := injectedPrefix + "stuck"
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: systemNamespace, Finalizers: []string{finalizerSecret}}}
	if _, err := kube.CoreV1().Secrets(systemNamespace).Create(ctx, s, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("inject stuck: %w", err)
	}
	if err := kube.CoreV1().Secrets(systemNamespace).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("inject stuck: %w", err)
	}
	j.add(kindInject, []string{keySecret(systemNamespace, name), keyNamespace(systemNamespace)},
		"Secret %s/%s with finalizer %s, deleted: Terminating for good", systemNamespace, name, finalizerSecret)
	return nil
}

// injectLate makes the other violations on the settled world snap describes.
func injectLate(ctx context.Context, inject []string, w *world, fr *front, kube kubernetes.Interface, client clientset.Interface,
	fl *fleet, j *journal, snap *Snapshot, wat *watcher) error {
	// Healthy Origin control planes with exactly one control plane in Konnect, in a stable
	// order: each injection takes another one, so that they do not mask each other.
	var healthy []fakekonnect.ControlPlaneEntry
	for _, k := range sortedKeys(snap.Planes) {
		p := snap.Planes[k]
		if isMirror(p) || !snap.plane(p).OK {
			continue
		}
		if own := snap.ownCPs(string(p.UID)); len(own) == 1 {
			healthy = append(healthy, own[0])
		}
	}
	take := func(what string) (fakekonnect.ControlPlaneEntry, error) {
		if len(healthy) == 0 {
			return fakekonnect.ControlPlaneEntry{}, fmt.Errorf("inject %s: no healthy control plane left to break", what)
		}
		e := healthy[0]
		healthy = healthy[1:]
		return e, nil
	}
	w.mu.Lock()
	observers := maps.Clone(w.observers)
	w.mu.Unlock()

	for _, what := range inject {
		switch what {
		case "stuck":
			// Done before the settle time (injectStuck).
		case "leak":
			uid := "00000000-dead-4000-8000-" + fmt.Sprintf("%012d", time.Now().UnixNano()%1e12)
			id, err := w.fake.AddControlPlane(observers[orgIDs[0]], "us", fakekonnect.ControlPlaneSpec{Name: injectedPrefix + "leak",
				Labels: map[string]string{labelManagedBy: managedByValue, labelUIDKey: uid}})
			if err != nil {
				return fmt.Errorf("inject leak: %w", err)
			}
			j.add(kindInject, []string{keyKonnectCP(id), keyUID(uid)}, "control plane %s labelled as the controller's for UID %s, which no object has", id, uid)
		case "duplicate":
			e, err := take(what)
			if err != nil {
				return err
			}
			id, err := w.fake.AddControlPlane(observers[e.OrgID], e.Region, fakekonnect.ControlPlaneSpec{Name: injectedPrefix + "duplicate", Labels: e.ControlPlane.Labels})
			if err != nil {
				return fmt.Errorf("inject duplicate: %w", err)
			}
			j.add(kindInject, []string{keyKonnectCP(id), keyUID(e.ControlPlane.Labels[labelUIDKey])}, "control plane %s with the labels of %s (a second one for its UID)", id, e.ControlPlane.ID)
		case "double-create":
			e, err := take(what)
			if err != nil {
				return err
			}
			body, _ := json.Marshal(map[string]any{"name": injectedPrefix + "double-create", "labels": e.ControlPlane.Labels})
			req := httptest.NewRequest(http.MethodPost, "https://"+e.Region+".api.konghq.com/v2/control-planes", bytes.NewReader(body))
			req.Host = e.Region + ".api.konghq.com"
			req.Header.Set("Authorization", "Bearer "+observers[e.OrgID])
			rec := httptest.NewRecorder()
			fr.ServeHTTP(rec, req)
			if rec.Code != http.StatusCreated {
				return fmt.Errorf("inject double-create: the fake answered %d: %s", rec.Code, rec.Body.String())
			}
			j.add(kindInject, []string{keyUID(e.ControlPlane.Labels[labelUIDKey])}, "a second successful POST /v2/control-planes for the UID of %s, through the front", e.ControlPlane.ID)
		case "orphan-certificate":
			e, err := take(what)
			if err != nil {
				return err
			}
			certPEM, _, _, err := fakekonnect.ClientCertificate(injectedPrefix + "orphan")
			if err != nil {
				return err
			}
			id, err := w.fake.AddCertificate(e.ControlPlane.ID, string(certPEM))
			if err != nil {
				return fmt.Errorf("inject orphan-certificate: %w", err)
			}
			j.add(kindInject, []string{keyKonnectCP(e.ControlPlane.ID)}, "certificate %s no extension provides, registered on %s", id, e.ControlPlane.ID)
		case "missing":
			e, err := take(what)
			if err != nil {
				return err
			}
			if !w.fake.DeleteControlPlaneDirect(e.ControlPlane.ID) {
				return fmt.Errorf("inject missing: control plane %s is gone already", e.ControlPlane.ID)
			}
			j.add(kindInject, []string{keyKonnectCP(e.ControlPlane.ID), keyUID(e.ControlPlane.Labels[labelUIDKey])}, "deleted control plane %s in Konnect, with the controllers stopped", e.ControlPlane.ID)
		case "false-flip":
			if err := injectFlip(ctx, client, j, snap, wat); err != nil {
				return err
			}
		case "token-leak":
			tokens := w.issuedTokens()
			r := fl.replica[0]
			f, err := os.OpenFile(r.logPath, os.O_APPEND|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(f, "I0000 00:00:00.000000 1 soak.go:1] \"injected by the soak\" token=%q\n", tokens[len(tokens)-1])
			f.Close()
			if err != nil {
				return err
			}
			j.add(kindInject, nil, "a token appended to %s's log", r.name)
		default:
			return fmt.Errorf("SOAK_INJECT: unknown violation %q (want some of %v, or all)", what, Injections)
		}
	}
	return nil
}

// injectFlip turns APIAuthValid of a healthy configuration whose chain has not changed for the
// flip window from True to False, as a controller that lost its verdict to a transient fault
// would: the watcher must classify it as false.
func injectFlip(ctx context.Context, client clientset.Interface, j *journal, snap *Snapshot, wat *watcher) error {
	var target *konnectv1alpha1.KonnectAPIAuthConfiguration
	var quietSince time.Time
	for _, k := range sortedKeys(snap.Configs) {
		cfg := snap.Configs[k]
		c := snap.config(cfg.Namespace, cfg.Name)
		if cfg.DeletionTimestamp != nil || !c.OK || conditionStatus(cfg.Status.Conditions, konnectv1alpha1.ConditionAPIAuthValid) != metav1.ConditionTrue {
			continue
		}
		last := j.start
		if b, ok := wat.brokenSince(string(cfg.UID)); ok {
			last = b.At
		}
		if target == nil || last.Before(quietSince) {
			target, quietSince = cfg, last
		}
	}
	if target == nil {
		return fmt.Errorf("inject false-flip: no valid configuration")
	}
	// The watcher's window: wait until the chain was last broken longer ago than that.
	if wait := time.Until(quietSince.Add(wat.window + time.Second)); wait > 0 {
		time.Sleep(wait)
	}
	cfg, err := client.KonnectV1alpha1().KonnectAPIAuthConfigurations(target.Namespace).Get(ctx, target.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	meta.SetStatusCondition(&cfg.Status.Conditions, metav1.Condition{Type: konnectv1alpha1.ConditionAPIAuthValid, Status: metav1.ConditionFalse,
		Reason: konnectv1alpha1.ReasonInvalid, Message: "injected by the soak", ObservedGeneration: cfg.Generation})
	if _, err := client.KonnectV1alpha1().KonnectAPIAuthConfigurations(cfg.Namespace).UpdateStatus(ctx, cfg, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("inject false-flip: %w", err)
	}
	j.add(kindInject, []string{keyConfig(cfg.Namespace, cfg.Name), keyUID(string(cfg.UID))}, "APIAuthValid of KonnectAPIAuthConfiguration %s/%s set False by hand", cfg.Namespace, cfg.Name)
	return nil
}
