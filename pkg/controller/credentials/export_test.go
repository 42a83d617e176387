package credentials

import (
	"context"

	konnectv1alpha1 "github.com/konnect-auth-controller/konnect-auth-controller/pkg/apis/konnect/v1alpha1"
)

// The tests are in package credentials_test: they build on package controllertest, which
// imports this package (through package controller). These are the internals they test.

var GrantPermits = grantPermits

func (r *Resolver) ResolveSecretToken(ctx context.Context, cfg *konnectv1alpha1.KonnectAPIAuthConfiguration) (TokenSource, *TokenProblem) {
	return r.resolveSecretToken(ctx, cfg, HeldForCleanup(cfg))
}
