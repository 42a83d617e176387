// Package version holds the controller's version, set at build time with
// -ldflags "-X github.com/konnect-auth-controller/konnect-auth-controller/pkg/version.Version=v1.2.3".
package version

// Version is the controller's release, or "dev" for a build from a work tree.
var Version = "dev"
