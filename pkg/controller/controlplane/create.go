package controlplane

// Creating a control plane: at most one successful POST per object, in the organization that
// holds it.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// nameTaken is the outcome of a create refused because another control plane has the name.
func nameTaken(name string) outcome {
	return outcome{status: metav1.ConditionFalse, reason: konnectv1alpha2.ReasonFailedToCreate,
		message: fmt.Sprintf("a control plane named %q already exists in Konnect and was not created by this object: "+
			"choose another spec.createControlPlaneRequest.name, or mirror it (spec.source: Mirror)", name)}
}

// refusedForName reports whether the last create of this generation was refused because the
// name was taken.
func refusedForName(cp *konnectv1alpha2.KonnectGatewayControlPlane) bool {
	cond := meta.FindStatusCondition(cp.Status.Conditions, konnectv1alpha2.ConditionProgrammed)
	return cond != nil && cond.Status == metav1.ConditionFalse && cond.Reason == konnectv1alpha2.ReasonFailedToCreate &&
		cond.ObservedGeneration == cp.Generation && strings.Contains(cond.Message, "already exists in Konnect")
}

// konnectID is the id of cp's control plane in Konnect: the one this process created or
// adopted for it, until the informer's copy of cp records it in status.id; else status.id.
func (c *Controller) konnectID(cp *konnectv1alpha2.KonnectGatewayControlPlane) string {
	v, ok := c.created.Load(cp.UID)
	if !ok {
		return cp.Status.ID
	}
	id := v.(string)
	if id == cp.Status.ID {
		c.created.Delete(cp.UID) // the status says it now
	}
	return id
}

// create creates the control plane, or adopts the one this object created before (a 409 on
// a name that our own k8s-uid label carries: the answer to an earlier create was lost).
func (c *Controller) create(ctx context.Context, cp *konnectv1alpha2.KonnectGatewayControlPlane, auth konnect.Auth,
	want konnect.ControlPlaneSpec) (*konnect.ControlPlane, outcome) {
	logger := klog.FromContext(ctx)
	// Our own first, by the k8s-uid label: a create whose answer was lost (or whose status write
	// a crash lost) made one, perhaps under the name the spec had then. At most one POST
	// succeeds per object.
	own, out, ok := c.findOwn(ctx, cp, auth)
	if !ok {
		return nil, out
	}
	if own != nil {
		logger.V(2).Info("Adopted the control plane this object created before", "id", own.ID)
		return own, outcome{}
	}
	if refusedForName(cp) {
		// The last create of this generation found the name taken: look (a read) before
		// sending the same POST again every sync period.
		taken, err := c.api.ListControlPlanes(ctx, auth, konnect.ControlPlaneFilter{Name: want.Name})
		switch {
		case konnect.IsTransient(err):
			return nil, transient(err)
		case err == nil && len(taken) > 0 && taken[0].Labels[labelUID] != string(cp.UID):
			return nil, nameTaken(want.Name)
		}
	}
	created, err := c.api.CreateControlPlane(ctx, auth, want)
	switch {
	case err == nil:
		logger.V(2).Info("Created control plane in Konnect", "id", created.ID, "name", want.Name)
		c.listings.record(auth, created.ID, created)
		c.uncertain.Delete(cp.UID)
		return created, outcome{}
	case konnect.IsTransient(err):
		// The create may have been carried out with its answer lost: the next look for our
		// own must be in a listing begun after now, when Konnect's answer is given up on.
		c.uncertain.Store(cp.UID, c.listings.Mark())
		return nil, transient(err)
	case konnect.IsConflict(err):
		// Ours were looked for just before: the name is someone else's.
		return nil, nameTaken(want.Name)
	default:
		return nil, outcome{status: metav1.ConditionFalse, reason: konnectv1alpha2.ReasonFailedToCreate,
			message: fmt.Sprintf("Konnect refused to create control plane %q: %v", want.Name, err)}
	}
}

// findOwn looks for the control plane that carries cp's k8s-uid label. ok is false when Konnect
// could not be asked; out then says why.
func (c *Controller) findOwn(ctx context.Context, cp *konnectv1alpha2.KonnectGatewayControlPlane, auth konnect.Auth) (*konnect.ControlPlane, outcome, bool) {
	own, err := c.ownInKonnect(ctx, cp, auth)
	switch {
	case konnect.IsTransient(err):
		return nil, transient(err), false
	case err != nil:
		return nil, outcome{status: metav1.ConditionFalse, reason: konnectv1alpha2.ReasonKonnectAPIOpFailed, message: err.Error()}, false
	}
	return own, outcome{}, true
}

// ReasonOrganizationChanged: the auth configuration's token now belongs to another Konnect
// organization than the one that holds the control plane (Programmed False).
const ReasonOrganizationChanged = "OrganizationChanged"

// organizationMoved says why cp may not be synced with cfg's token, or "": the control plane was
// made in the organization its status records, and the token now belongs to another. Creating
// it again there would leave the first one orphaned; deleting it with this token cannot reach it.
func organizationMoved(cp *konnectv1alpha2.KonnectGatewayControlPlane, cfg *konnectv1alpha1.KonnectAPIAuthConfiguration, now string) string {
	was := cp.Status.OrgID
	if was == "" || now == "" || was == now || (cp.Status.ID == "" && !hasCleanupFinalizer(cp)) {
		return ""
	}
	return fmt.Sprintf("control plane %s is in Konnect organization %s, but the token of KonnectAPIAuthConfiguration %s/%s now belongs to organization %s: "+
		"point spec.konnect.authRef at credentials of organization %s (or restore the token); nothing is created in the other organization",
		cp.Status.ID, was, cfg.Namespace, cfg.Name, now, was)
}

// errOrganizationUnconfirmed: the token checker has not yet heard from Konnect which
// organization the token in hand belongs to (a token just rotated); nothing is written to
// Konnect with it until then.
var errOrganizationUnconfirmed = errors.New("waiting for Konnect to confirm which organization the token belongs to")

// tokenOrganization is the organization the token in hand belongs to, as the token checker last
// heard from Konnect, asking it in the background when it has not (the same one call per token
// the auth configurations' reconciler makes). The auth configuration's status may still tell of
// the token it had before a rotation; a control plane is never created or deleted on that word.
// Without a checker (unit tests) the status is taken as it is.
func (c *Controller) tokenOrganization(res resolved) (string, bool) {
	if c.checker == nil {
		return res.cfg.Status.OrganizationID, true
	}
	r := c.checker.Check(res.auth.Token, res.auth.ServerURL, types.NamespacedName{Namespace: res.cfg.Namespace, Name: res.cfg.Name})
	if r.Verdict != konnect.VerdictValid {
		return "", false
	}
	return r.OrganizationID, true
}
