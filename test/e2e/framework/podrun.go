package framework

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	authenticationv1 "k8s.io/api/authentication/v1"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
)

// ContainerRun is what a kubelet would start for the controller container of a Deployment:
// its args with $(VAR) references expanded, and its environment.
type ContainerRun struct {
	Args []string
	Env  []string
}

// PodRunOptions say how to stand in for the kubelet.
type PodRunOptions struct {
	// Namespace and PodName are what the downward API gives metadata.namespace and
	// metadata.name.
	Namespace, PodName string
	// Dir is where ConfigMap volumes are materialised: a volume mounted at /some/path is written
	// to Dir/some/path, and every env value that starts with a mount path is rewritten to point
	// there (the test process cannot write under /).
	Dir string
	// Kube reads the ConfigMaps the volumes name (nil: a Deployment with ConfigMap volumes
	// is an error).
	Kube kubernetes.Interface
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// DeploymentContainerRun returns what the kubelet would run for the container named container
// of d: literal env values, downward-API fields (namespace, name; resource limits are left
// out, they mean nothing outside a container), ConfigMap volumes materialised under opts.Dir,
// and args with $(VAR) expanded. It refuses what it cannot stand in for (secret volumes,
// envFrom, other valueFrom sources), so that a test never silently runs something else than
// the Pod would.
func DeploymentContainerRun(ctx context.Context, d *appsv1.Deployment, container string, opts PodRunOptions) (*ContainerRun, error) {
	spec := d.Spec.Template.Spec
	var c *int
	for i := range spec.Containers {
		if spec.Containers[i].Name == container {
			c = &i
		}
	}
	if c == nil {
		return nil, fmt.Errorf("deployment %s has no container %q", d.Name, container)
	}
	ctr := spec.Containers[*c]
	if len(ctr.EnvFrom) > 0 {
		return nil, fmt.Errorf("container %s: envFrom is not supported here", ctr.Name)
	}

	// Volumes: ConfigMaps only, written where the mounts say.
	mountDirs := map[string]string{} // mount path -> local folder
	for _, m := range ctr.VolumeMounts {
		var found bool
		for _, v := range spec.Volumes {
			if v.Name != m.Name {
				continue
			}
			found = true
			if v.ConfigMap == nil {
				return nil, fmt.Errorf("volume %s: only ConfigMap volumes are supported here", v.Name)
			}
			if opts.Kube == nil {
				return nil, fmt.Errorf("volume %s: PodRunOptions.Kube is needed to read ConfigMap %s", v.Name, v.ConfigMap.Name)
			}
			cm, err := opts.Kube.CoreV1().ConfigMaps(opts.Namespace).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
			local := filepath.Join(opts.Dir, filepath.FromSlash(m.MountPath))
			if err := os.MkdirAll(local, 0o755); err != nil {
				return nil, err
			}
			files := map[string]string{}
			if len(v.ConfigMap.Items) == 0 {
				for k, val := range cm.Data {
					files[k] = val
				}
			}
			for _, item := range v.ConfigMap.Items {
				val, ok := cm.Data[item.Key]
				if !ok {
					return nil, fmt.Errorf("volume %s: ConfigMap %s has no key %q (the kubelet would not start the Pod)", v.Name, cm.Name, item.Key)
				}
				files[item.Path] = val
			}
			for path, val := range files {
				if err := os.WriteFile(filepath.Join(local, filepath.FromSlash(path)), []byte(val), 0o644); err != nil {
					return nil, err
				}
			}
			mountDirs[m.MountPath] = local
		}
		if !found {
			return nil, fmt.Errorf("volume mount %s names no volume", m.Name)
		}
	}

	vars := map[string]string{}
	run := &ContainerRun{}
	for _, e := range ctr.Env {
		var val string
		switch {
		case e.ValueFrom == nil:
			val = envRef.ReplaceAllStringFunc(e.Value, func(m string) string {
				if v, ok := vars[m[2:len(m)-1]]; ok {
					return v
				}
				return m
			})
			for mount, local := range mountDirs {
				if val == mount || strings.HasPrefix(val, strings.TrimSuffix(mount, "/")+"/") {
					val = local + strings.TrimPrefix(val, mount)
				}
			}
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			val = opts.Namespace
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			val = opts.PodName
		case e.ValueFrom.ResourceFieldRef != nil:
			continue // GOMEMLIMIT from the limits: not needed outside a container
		default:
			return nil, fmt.Errorf("env %s: this valueFrom is not supported here", e.Name)
		}
		vars[e.Name] = val
		run.Env = append(run.Env, e.Name+"="+val)
	}
	for _, a := range append(append([]string{}, ctr.Command...), ctr.Args...) {
		run.Args = append(run.Args, envRef.ReplaceAllStringFunc(a, func(m string) string {
			if v, ok := vars[m[2:len(m)-1]]; ok {
				return v
			}
			return m
		}))
	}
	return run, nil
}

// ServiceAccountTokenKubeconfig issues a token for the ServiceAccount ns/name with the
// TokenRequest API (what `kubectl create token` does, and what a Pod's projected token is),
// writes a kubeconfig for cp's apiserver that authenticates with it into dir, and returns its
// path. The token itself is never logged.
func ServiceAccountTokenKubeconfig(ctx context.Context, cp *controlplane.ControlPlane, ns, name, dir string) (string, error) {
	kube, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		return "", err
	}
	seconds := int64(7200)
	tr, err := kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting a token for ServiceAccount %s/%s: %w", ns, name, err)
	}
	return TokenKubeconfig(cp, dir, ns+"-"+name, tr.Status.Token)
}
