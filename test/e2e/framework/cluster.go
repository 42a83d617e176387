package framework

import (
	"path/filepath"
	"sort"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/konnect-auth-controller/konnect-auth-controller/test/controlplane"
)

// TokenKubeconfig writes into dir a kubeconfig for c's apiserver that authenticates as user
// with token, the way a Pod's mounted ServiceAccount token would, and returns its path.
func TokenKubeconfig(c *controlplane.ControlPlane, dir, user, token string) (string, error) {
	restCfg := c.RESTConfig()
	cluster := &clientcmdapi.Cluster{Server: c.APIServerURL()}
	if len(restCfg.TLSClientConfig.CAData) > 0 {
		cluster.CertificateAuthorityData = restCfg.TLSClientConfig.CAData
	} else {
		cluster.InsecureSkipTLSVerify = true
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["controlplane"] = cluster
	kc.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	kc.Contexts[user] = &clientcmdapi.Context{Cluster: "controlplane", AuthInfo: user}
	kc.CurrentContext = user
	path := filepath.Join(dir, user+".kubeconfig")
	return path, clientcmd.WriteToFile(*kc, path)
}

// Permissions flattens RBAC rules into sorted "group/resource[/resourceName]:verb" strings, so
// that two sets of rules can be compared however they are split into rules.
func Permissions(rules []rbacv1.PolicyRule) []string {
	set := map[string]bool{}
	for _, r := range rules {
		names := r.ResourceNames
		if len(names) == 0 {
			names = []string{""}
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, n := range names {
					for _, v := range r.Verbs {
						p := g + "/" + res
						if n != "" {
							p += "/" + n
						}
						set[p+":"+v] = true
					}
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
