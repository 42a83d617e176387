package konnecttest

// Data-plane certificates pinned on a control plane.

import (
	"context"
	"fmt"
	"slices"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// Certificates returns the certificates registered with a control plane.
func (a *API) Certificates(controlPlaneID string) []konnect.DataPlaneCertificate {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.certs[controlPlaneID])
}

// ListDataPlaneCertificates implements konnect.ControlPlaneAPI.
func (a *API) ListDataPlaneCertificates(_ context.Context, auth konnect.Auth, controlPlaneID string) ([]konnect.DataPlaneCertificate, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.begin(OpListCertificates, auth, controlPlaneID, konnect.ControlPlaneSpec{}); err != nil {
		return nil, err
	}
	if _, ok := a.planes[auth.ServerURL][controlPlaneID]; !ok {
		return nil, notFound("listing data-plane certificates")
	}
	return slices.Clone(a.certs[controlPlaneID]), nil
}

// CreateDataPlaneCertificate implements konnect.ControlPlaneAPI; the same certificate twice is a 409.
func (a *API) CreateDataPlaneCertificate(_ context.Context, auth konnect.Auth, controlPlaneID, certPEM, title string) (*konnect.DataPlaneCertificate, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.begin(OpCreateCertificate, auth, controlPlaneID, konnect.ControlPlaneSpec{}); err != nil {
		return nil, err
	}
	if _, ok := a.planes[auth.ServerURL][controlPlaneID]; !ok {
		return nil, notFound("registering data-plane certificate")
	}
	for _, c := range a.certs[controlPlaneID] {
		if c.Cert == certPEM {
			return nil, &konnect.APIError{Op: "registering data-plane certificate", Kind: konnect.ErrorConflict, StatusCode: 409,
				Message: "Konnect answered 409 Conflict: certificate already exists"}
		}
	}
	a.nextID++
	cert := konnect.DataPlaneCertificate{ID: fmt.Sprintf("00000000-0000-4000-9000-%012d", a.nextID), Cert: certPEM, Title: title}
	a.certs[controlPlaneID] = append(a.certs[controlPlaneID], cert)
	return &cert, nil
}

// DeleteDataPlaneCertificate implements konnect.ControlPlaneAPI.
func (a *API) DeleteDataPlaneCertificate(_ context.Context, auth konnect.Auth, controlPlaneID, certID string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.begin(OpDeleteCertificate, auth, controlPlaneID+"/"+certID, konnect.ControlPlaneSpec{}); err != nil {
		return err
	}
	certs := a.certs[controlPlaneID]
	i := slices.IndexFunc(certs, func(c konnect.DataPlaneCertificate) bool { return c.ID == certID })
	if i < 0 {
		return notFound("deleting data-plane certificate")
	}
	a.certs[controlPlaneID] = slices.Delete(certs, i, i+1)
	return nil
}
