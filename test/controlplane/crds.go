package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/util/retry"
)

// CRDDir returns <repo>/manifests/crd, where hack/update-codegen.sh writes the CRDs.
func CRDDir() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "manifests", "crd"), nil
}

// InstallCRDs creates (or updates) every CustomResourceDefinition in the .yaml, .yml and .json
// files of dir (several documents per file are fine), then waits until each is Established
// with its names accepted and every served version's resource appears in discovery, so that
// clients and kubectl can use it at once. The wait is bounded by a minute and by ctx.
func (cp *ControlPlane) InstallCRDs(ctx context.Context, dir string) error {
	crds, err := readCRDs(dir)
	if err != nil {
		return err
	}
	if len(crds) == 0 {
		return fmt.Errorf("controlplane: no CustomResourceDefinition in %s", dir)
	}
	cfg := cp.RESTConfig()
	client, err := apiextensionsclient.NewForConfig(cfg)
	if err != nil {
		return err
	}
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	for _, crd := range crds {
		if err := applyCRD(ctx, client, crd); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, crd := range crds {
		if err := waitCRDServed(ctx, client, disco, crd); err != nil {
			return err
		}
	}
	return nil
}

// readCRDs decodes the CustomResourceDefinitions in dir's manifest files, in name order.
func readCRDs(dir string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("controlplane: reading CRDs: %w", err)
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.IsDir() || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
		for {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			err := dec.Decode(crd)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("controlplane: decoding %s: %w", path, err)
			}
			if crd.Name == "" && crd.Kind == "" { // an empty document
				continue
			}
			if crd.Kind != "CustomResourceDefinition" {
				f.Close()
				return nil, fmt.Errorf("controlplane: %s holds a %s %q, not a CustomResourceDefinition", path, crd.Kind, crd.Name)
			}
			crds = append(crds, crd)
		}
		f.Close()
	}
	return crds, nil
}

// applyCRD creates crd, or replaces the spec of an existing one.
func applyCRD(ctx context.Context, client apiextensionsclient.Interface, crd *apiextensionsv1.CustomResourceDefinition) error {
	crds := client.ApiextensionsV1().CustomResourceDefinitions()
	_, err := crds.Create(ctx, crd.DeepCopy(), metav1.CreateOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("controlplane: creating CRD %s: %w", crd.Name, err)
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := crds.Get(ctx, crd.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Spec = crd.Spec
		cur.Labels, cur.Annotations = crd.Labels, crd.Annotations
		_, err = crds.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("controlplane: updating CRD %s: %w", crd.Name, err)
	}
	return nil
}

// waitCRDServed waits until crd is Established with accepted names and its served versions
// list the resource in discovery.
func waitCRDServed(ctx context.Context, client apiextensionsclient.Interface, disco discovery.DiscoveryInterface, crd *apiextensionsv1.CustomResourceDefinition) error {
	delay := 20 * time.Millisecond
	var last string
	for {
		last = crdNotServedReason(ctx, client, disco, crd)
		if last == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("controlplane: CRD %s not served: %s: %w", crd.Name, last, ctx.Err())
		case <-time.After(delay):
		}
		if delay = delay * 3 / 2; delay > 500*time.Millisecond {
			delay = 500 * time.Millisecond
		}
	}
}

// crdNotServedReason says why crd cannot be used yet, or returns "" when it can.
func crdNotServedReason(ctx context.Context, client apiextensionsclient.Interface, disco discovery.DiscoveryInterface, crd *apiextensionsv1.CustomResourceDefinition) string {
	cur, err := client.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	for _, want := range []apiextensionsv1.CustomResourceDefinitionConditionType{apiextensionsv1.NamesAccepted, apiextensionsv1.Established} {
		i := slices.IndexFunc(cur.Status.Conditions, func(c apiextensionsv1.CustomResourceDefinitionCondition) bool { return c.Type == want })
		if i < 0 || cur.Status.Conditions[i].Status != apiextensionsv1.ConditionTrue {
			return fmt.Sprintf("condition %s is not True (conditions: %+v)", want, cur.Status.Conditions)
		}
	}
	for _, v := range crd.Spec.Versions {
		if !v.Served {
			continue
		}
		gv := crd.Spec.Group + "/" + v.Name
		list, err := disco.ServerResourcesForGroupVersion(gv)
		if err != nil {
			return fmt.Sprintf("discovery of %s: %v", gv, err)
		}
		if !slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == crd.Spec.Names.Plural }) {
			return fmt.Sprintf("discovery of %s does not list %s yet", gv, crd.Spec.Names.Plural)
		}
	}
	return ""
}
