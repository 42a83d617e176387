// Package credentials resolves the token of a KonnectAPIAuthConfiguration (inline, or from a
// labelled Secret, in its namespace or in another one a KongReferenceGrant permits), the same way
// for every reconciler that talks to Konnect on behalf of one.
package credentials

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
	konnectv1alpha2 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha2"
	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/controller/indexes"
)

// maxTokenLength matches the CRD's limit on spec.token; Konnect tokens are far shorter.
const maxTokenLength = 1024

// TokenSource is a token and the words that name where it came from, for messages.
type TokenSource struct {
	Token string
	// Secret is "namespace/name" when the token came from a Secret.
	Secret string
}

// TokenProblem is a reason the token could not be resolved or is malformed, already phrased
// for a condition. It never contains the token.
type TokenProblem struct {
	Reason  string
	Message string
}

// Resolver finds the token of a KonnectAPIAuthConfiguration, for every reconciler that
// talks to Konnect on behalf of one.
type Resolver struct {
	// Secrets lists the Secrets labelled konghq.com/credential=konnect: the only ones a
	// configuration may take its token from.
	Secrets indexes.CredentialSecretLister
	// SecretMetadata, if set, tells a Secret that lacks the credential label from a missing
	// one, reading metadata only. Without it both are reported as not found.
	SecretMetadata metadata.Getter
	// Grants permit Secret references across namespaces.
	Grants ReferenceGrants
}

// Resolve finds a configuration's token: inline, or the trimmed "token" key of the
// labelled Secret that spec.secretRef names, in the configuration's own namespace or in
// another one whose KongReferenceGrant permits it.
func (r *Resolver) Resolve(ctx context.Context, cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) (TokenSource, *TokenProblem) {
	return r.resolve(ctx, cfg, HeldForCleanup(cfg))
}

// ResolveForCleanup resolves the token a deletion owed in Konnect is made with. It differs from
// Resolve in one way: a configuration that owes a clean-up (OwesCleanup) keeps its
// cross-namespace Secret after the grant is revoked, also while it is live. The revocation
// stops new use (Resolve refuses it, and the configuration says RefNotPermitted); the deletion
// of what was made through the grant is still owed.
func (r *Resolver) ResolveForCleanup(ctx context.Context, cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) (TokenSource, *TokenProblem) {
	return r.resolve(ctx, cfg, OwesCleanup(cfg))
}

// resolve finds the token; ignoreRevocation skips the grant check of a cross-namespace Secret.
func (r *Resolver) resolve(ctx context.Context, cfg *konnectv1alpha1.KonnectAPIAuthConfiguration, ignoreRevocation bool) (TokenSource, *TokenProblem) {
	switch cfg.Spec.Type {
	case konnectv1alpha1.KonnectAPIAuthTypeToken:
		if problem := checkTokenFormat(cfg.Spec.Token); problem != "" {
			return TokenSource{}, &TokenProblem{konnectv1alpha1.ReasonInvalidToken, "spec.token " + problem}
		}
		return TokenSource{Token: cfg.Spec.Token}, nil

	case konnectv1alpha1.KonnectAPIAuthTypeSecretRef:
		return r.resolveSecretToken(ctx, cfg, ignoreRevocation)

	default:
		// Admission only lets "token" and "secretRef" through; this is an object stored
		// under an older schema.
		return TokenSource{}, &TokenProblem{konnectv1alpha1.ReasonInvalidToken,
			fmt.Sprintf("spec.type %q is not supported: use token or secretRef", cfg.Spec.Type)}
	}
}

func (r *Resolver) resolveSecretToken(ctx context.Context, cfg *konnectv1alpha1.KonnectAPIAuthConfiguration, ignoreRevocation bool) (TokenSource, *TokenProblem) {
	ref := cfg.Spec.SecretRef
	if ref == nil || ref.Name == "" {
		return TokenSource{}, &TokenProblem{konnectv1alpha1.ReasonSecretNotFound,
			"spec.secretRef must name the Secret that holds the token"}
	}
	secretNamespace := cfg.Namespace
	if ref.Namespace != "" && ref.Namespace != cfg.Namespace {
		// Without a KongReferenceGrant the Secret is not even looked at, unless a clean-up
		// owed in Konnect needs it (ignoreRevocation).
		if p := r.CheckSecretRef(cfg); !p.Permitted && !ignoreRevocation {
			return TokenSource{}, &TokenProblem{konnectv1alpha1.ReasonRefNotPermitted, p.Message}
		}
		secretNamespace = ref.Namespace
	}
	secretName := secretNamespace + "/" + ref.Name

	secret, err := r.Secrets.Get(secretNamespace, ref.Name)
	if apierrors.IsNotFound(err) {
		return TokenSource{}, &TokenProblem{konnectv1alpha1.ReasonSecretNotFound, r.secretNotFoundMessage(ctx, secretNamespace, ref.Name)}
	}
	if err != nil {
		// The lister reads memory; it fails only on a broken cache.
		return TokenSource{}, &TokenProblem{konnectv1alpha1.ReasonSecretNotFound,
			fmt.Sprintf("Secret %s could not be read: %v", secretName, err)}
	}

	if !secret.HasToken {
		return TokenSource{}, &TokenProblem{konnectv1alpha1.ReasonInvalidSecret,
			fmt.Sprintf("Secret %s has no key %q: put the Konnect token under that key", secretName, konnectv1alpha1.SecretTokenKey)}
	}
	// Tokens pasted with echo or from a file often end in a newline.
	token := strings.TrimSpace(secret.Token)
	if token == "" {
		return TokenSource{}, &TokenProblem{konnectv1alpha1.ReasonInvalidSecret,
			fmt.Sprintf("key %q of Secret %s is empty", konnectv1alpha1.SecretTokenKey, secretName)}
	}
	if problem := checkTokenFormat(token); problem != "" {
		return TokenSource{}, &TokenProblem{konnectv1alpha1.ReasonInvalidToken,
			fmt.Sprintf("the token in key %q of Secret %s %s", konnectv1alpha1.SecretTokenKey, secretName, problem)}
	}
	return TokenSource{Token: token, Secret: secretName}, nil
}

// secretNotFoundMessage explains a Secret missing from the labelled cache. A Secret that
// exists without the credential label is the most common mistake, so it is looked up (as
// metadata only: its data is never fetched) to say which of the two it is.
func (r *Resolver) secretNotFoundMessage(ctx context.Context, namespace, name string) string {
	label := konnectv1alpha1.SecretCredentialLabel + "=" + konnectv1alpha1.SecretCredentialLabelValue
	if r.SecretMetadata != nil {
		_, err := r.SecretMetadata.Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			return fmt.Sprintf("Secret %s/%s exists but is not labelled %s: add the label so the controller can read it", namespace, name, label)
		}
	}
	return fmt.Sprintf("Secret %s/%s not found among Secrets labelled %s: create it with that label", namespace, name, label)
}

// checkTokenFormat says what is wrong with a token's form, or "" when nothing is. What it
// says completes a sentence whose subject names the token's source; it never quotes it.
func checkTokenFormat(token string) string {
	switch {
	case token == "":
		return "is empty"
	case len(token) > maxTokenLength:
		return fmt.Sprintf("is %d bytes long; Konnect tokens are at most %d", len(token), maxTokenLength)
	case strings.IndexFunc(token, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0:
		return "contains white space or characters that cannot be part of a Konnect token"
	case !strings.HasPrefix(token, "kpat_") && !strings.HasPrefix(token, "spat_"):
		return "must start with kpat_ (personal access token) or spat_ (system account token)"
	}
	return ""
}

// Namespaced reports whether grants are not watched (a controller confined to one namespace):
// then no cross-namespace reference is permitted.
func (r *Resolver) Namespaced() bool { return r.Grants.Lister == nil }

// PermitsAuthRef reports whether a KongReferenceGrant in the auth configuration's namespace lets
// objects of group/kind in fromNamespace use auth configuration ref, and names the grant.
func (r *Resolver) PermitsAuthRef(group, kind, fromNamespace string, ref cache.ObjectName) (string, bool) {
	return r.Grants.Permits(
		RefFrom{Group: group, Kind: kind, Namespace: fromNamespace},
		RefTo{Group: AuthConfigGroup, Kind: AuthConfigKind, Namespace: ref.Namespace, Name: ref.Name})
}

// OwesCleanup reports whether a control plane or an extension needs the configuration's token
// to delete what it made in Konnect, live or being deleted: the configuration then carries the
// in-use finalizer. Its Secret is held while it does, whatever the grants say now (a revocation,
// also by the deletion of the Secret's namespace, stops new use, not the clean-up that is owed).
func OwesCleanup(cfg metav1.Object) bool {
	return slices.Contains(cfg.GetFinalizers(), konnectv1alpha2.APIAuthInUseFinalizer)
}

// HeldForCleanup reports whether a configuration is being deleted while it OwesCleanup: it
// stays usable — token, Secret and grant included — until the clean-up is done.
func HeldForCleanup(cfg metav1.Object) bool {
	return cfg.GetDeletionTimestamp() != nil && OwesCleanup(cfg)
}
