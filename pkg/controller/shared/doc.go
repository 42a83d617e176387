// Package shared holds what more than one reconciler needs: resolving the token of a
// KonnectAPIAuthConfiguration, the KongReferenceGrant check for cross-namespace references,
// the informer cache transform, and condition helpers.
package shared
