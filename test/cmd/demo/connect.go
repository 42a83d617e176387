package main

// The user guide's next steps: a KonnectGatewayControlPlane created in Konnect with the
// credentials of konnect-api-auth, and the KonnectExtension a data plane uses to join it
// (manifests/examples/connect/).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
)

const (
	// controlPlaneName and extensionName are the objects manifests/examples/connect/ creates.
	controlPlaneName = "gateway-control-plane"
	extensionName    = "my-konnect-config"
	// deleteTimeout bounds the deletion of both at the end, which waits on Konnect.
	deleteTimeout = time.Minute
)

// connectDataPlane applies manifests/examples/connect/ and waits until the control plane is
// Programmed and the extension Ready.
func (d *demo) connectDataPlane(ctx context.Context) error {
	dir := filepath.Join(d.repoRoot, "manifests", "examples", "connect")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no manifests in %s", dir)
	}
	sort.Strings(files)
	d.say("Connecting a data plane: a control plane in Konnect and the extension that joins it")
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		d.detail("$ kubectl apply --server-side -f %s", relPath(d.repoRoot, file))
		if err := d.kubectl(ctx, strings.NewReader(string(raw)), "apply", "--server-side", "-f", "-"); err != nil {
			return err
		}
	}
	d.connected = true
	return d.waitConnected(ctx)
}

// waitConnected waits until the control plane is Programmed True and the extension Ready True.
// A False condition that lasts fails at once, with its reason.
func (d *demo) waitConnected(ctx context.Context) error {
	d.say("Waiting up to %s for %s to be Programmed and %s Ready ...", d.opts.timeout, controlPlaneName, extensionName)
	waitCtx, cancel := context.WithTimeout(ctx, d.opts.timeout)
	defer cancel()
	seen := map[string]string{}
	falseSince := map[string]time.Time{}
	for {
		states := []objectState{
			d.objectState(waitCtx, "KonnectGatewayControlPlane "+controlPlaneName, konnectv1alpha2.ConditionProgrammed),
			d.objectState(waitCtx, "KonnectExtension "+extensionName, konnectv1alpha2.ConditionReady),
		}
		done := 0
		var pending []string
		for _, s := range states {
			if s.desc != seen[s.name] {
				seen[s.name] = s.desc
				d.detail("%s: %s", s.name, s.desc)
			}
			switch {
			case s.cond != nil && s.cond.Status == metav1.ConditionTrue:
				done++
				delete(falseSince, s.name)
			case s.cond != nil && s.cond.Status == metav1.ConditionFalse:
				if _, ok := falseSince[s.name]; !ok {
					falseSince[s.name] = time.Now()
				}
				if time.Since(falseSince[s.name]) >= settleFalse && s.cond.Reason != konnectv1alpha2.ReasonPending &&
					s.cond.Reason != konnectv1alpha2.ReasonProvisioning && s.cond.Reason != konnectv1alpha2.ReasonNotProgrammed {
					return fmt.Errorf("%s is %s False: %s: %s%s", s.name, s.cond.Type, s.cond.Reason, s.cond.Message, d.controllerLogTail())
				}
				pending = append(pending, s.name+": "+s.desc)
			default:
				delete(falseSince, s.name)
				pending = append(pending, s.name+": "+s.desc)
			}
		}
		if done == len(states) {
			return nil
		}
		select {
		case <-waitCtx.Done():
			if ctx.Err() == nil {
				return fmt.Errorf("timed out after %s:\n    %s%s", d.opts.timeout, strings.Join(pending, "\n    "), d.controllerLogTail())
			}
			return ctx.Err()
		case <-d.controller.Done():
			return fmt.Errorf("the controller exited (exit code %d)%s", d.controller.ExitCode(), d.controllerLogTail())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// objectState is one condition of the control plane or the extension, described in a few words.
type objectState struct {
	name string // "Kind name"
	cond *metav1.Condition
	desc string
}

// objectState reads one condition of the control plane or the extension (name is "Kind name").
func (d *demo) objectState(ctx context.Context, name, conditionType string) (s objectState) {
	s.name = name
	reqCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var conditions []metav1.Condition
	var err error
	if strings.HasPrefix(name, "KonnectExtension ") {
		var ext *konnectv1alpha2.KonnectExtension
		ext, err = d.client.KonnectV1alpha2().KonnectExtensions(namespace).Get(reqCtx, extensionName, metav1.GetOptions{})
		if err == nil {
			conditions = ext.Status.Conditions
		}
	} else {
		var cp *konnectv1alpha2.KonnectGatewayControlPlane
		cp, err = d.client.KonnectV1alpha2().KonnectGatewayControlPlanes(namespace).Get(reqCtx, controlPlaneName, metav1.GetOptions{})
		if err == nil {
			conditions = cp.Status.Conditions
		}
	}
	if err != nil {
		s.desc = "not readable yet: " + err.Error()
		return s
	}
	s.cond = meta.FindStatusCondition(conditions, conditionType)
	if s.cond == nil {
		s.desc = "waiting for the controller"
		return s
	}
	s.desc = fmt.Sprintf("%s %s (%s: %s)", conditionType, s.cond.Status, s.cond.Reason, s.cond.Message)
	return s
}

// printConnected prints the control plane's and the extension's tables, and what a data plane's
// configuration takes from them.
func (d *demo) printConnected(ctx context.Context) error {
	d.say("The control plane is Programmed and the extension Ready:")
	fmt.Fprintln(d.out)
	for _, args := range [][]string{
		{"get", "konnectgatewaycontrolplane", "-n", namespace},
		{"get", "konnectextension", "-n", namespace},
		{"get", "konnectextension", extensionName, "-n", namespace, "-o",
			`jsonpath=controlPlane: {.status.konnect.endpoints.controlPlane}{"\n"}telemetry:    {.status.konnect.endpoints.telemetry}{"\n"}certificate:  Secret {.status.dataPlaneClientAuth.certificateSecretRef.name}{"\n"}`},
	} {
		fmt.Fprintf(d.out, "$ kubectl %s\n", strings.Join(quoteArgs(args), " "))
		out, err := d.kubectlOutput(ctx, args...)
		if err != nil {
			return err
		}
		fmt.Fprint(d.out, out)
		fmt.Fprintln(d.out)
	}
	return nil
}

// disconnect deletes the extension and the control plane while the controller still runs, so
// that it removes the certificate and the control plane from Konnect: with a real token the
// demo leaves nothing behind in your organization.
func (d *demo) disconnect() error {
	if !d.connected || d.controller == nil {
		return nil
	}
	d.say("Deleting %s and %s (the controller removes them from Konnect) ...", extensionName, controlPlaneName)
	ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
	defer cancel()
	var errs []error
	for _, obj := range []string{"konnectextension/" + extensionName, "konnectgatewaycontrolplane/" + controlPlaneName} {
		if err := d.kubectl(ctx, nil, "delete", obj, "-n", namespace, "--ignore-not-found", "--timeout="+deleteTimeout.String()); err != nil {
			errs = append(errs, fmt.Errorf("deleting %s: %w", obj, err))
		}
	}
	return errors.Join(errs...)
}

// quoteArgs quotes the arguments a shell would split.
func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " {}\"") {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return out
}
