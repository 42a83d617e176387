package sdkclient

// Data-plane client certificates pinned on a control plane:
// /v2/control-planes/{id}/dp-client-certificates, through the SDK's DPCertificates. These
// endpoints answer errors as {"message": …} rather than problem documents.

import (
	"context"
	"net/http"
	"strconv"

	"github.com/Kong/sdk-konnect-go/models/components"
	"github.com/Kong/sdk-konnect-go/models/operations"

	"github.com/konnect-auth-controller/konnect-auth-controller/pkg/konnect"
)

// The calls' names, as konnect.APIError.Op and in the log (the same as konnect.WithLimiter's).
const (
	opListCertificates  = "listing data-plane certificates"
	opCreateCertificate = "registering data-plane certificate"
	opDeleteCertificate = "deleting data-plane certificate"
)

// ListDataPlaneCertificates lists the certificates pinned on a control plane (GET
// /v2/control-planes/{id}/dp-client-certificates). The SDK (v0.46.0) and Konnect's API
// define no paging for it, so one answer must hold them all: an answer whose
// page.total_count counts more than it holds is ErrorRejected rather than returned
// incomplete.
func (c *Client) ListDataPlaneCertificates(ctx context.Context, auth konnect.Auth, controlPlaneID string) ([]konnect.DataPlaneCertificate, error) {
	r := request{op: opListCertificates, success: http.StatusOK, answer: "list of data-plane certificates",
		controlPlaneID: controlPlaneID, pathIDs: []pathID{{"control plane", controlPlaneID}}}
	var certs []konnect.DataPlaneCertificate
	err := c.send(ctx, auth, r, func(ctx context.Context, opts []operations.Option) error {
		res, err := c.sdk.DPCertificates.ListDpClientCertificates(ctx, controlPlaneID, opts...)
		if err != nil {
			return err
		}
		certs, err = certificatesOf(res.GetListDataPlaneCertificatesResponse(), auth.Token)
		return err
	})
	if err != nil {
		return nil, err
	}
	return certs, nil
}

// CreateDataPlaneCertificate pins certPEM on a control plane (POST
// /v2/control-planes/{id}/dp-client-certificates with {"cert": …, "title": …}; no title when
// title is "").
func (c *Client) CreateDataPlaneCertificate(ctx context.Context, auth konnect.Auth, controlPlaneID, certPEM, title string) (*konnect.DataPlaneCertificate, error) {
	r := request{op: opCreateCertificate, success: http.StatusCreated, answer: "data-plane certificate",
		controlPlaneID: controlPlaneID, pathIDs: []pathID{{"control plane", controlPlaneID}}}
	if certPEM == "" {
		r.invalid = "the certificate is empty"
	}
	var cert *konnect.DataPlaneCertificate
	err := c.send(ctx, auth, r, func(ctx context.Context, opts []operations.Option) error {
		body := &components.DataPlaneClientCertificateRequest{Cert: certPEM}
		if title != "" {
			body.Title = &title
		}
		res, err := c.sdk.DPCertificates.CreateDataplaneCertificate(ctx, controlPlaneID, body, opts...)
		if err != nil {
			return err
		}
		var item *components.DataPlaneClientCertificate
		if created := res.GetDataPlaneClientCertificateResponse(); created != nil {
			item = created.Item
		}
		cert, err = certificateOf(item, auth.Token)
		return err
	})
	if err != nil {
		return nil, err
	}
	return cert, nil
}

// DeleteDataPlaneCertificate unpins a certificate (DELETE
// /v2/control-planes/{id}/dp-client-certificates/{certID}). A missing one is ErrorNotFound.
func (c *Client) DeleteDataPlaneCertificate(ctx context.Context, auth konnect.Auth, controlPlaneID, certID string) error {
	r := request{op: opDeleteCertificate, success: http.StatusNoContent, controlPlaneID: controlPlaneID,
		pathIDs: []pathID{{"control plane", controlPlaneID}, {"certificate", certID}}}
	return c.send(ctx, auth, r, func(ctx context.Context, opts []operations.Option) error {
		_, err := c.sdk.DPCertificates.DeleteDataplaneCertificate(ctx, controlPlaneID, certID, opts...)
		return err
	})
}

// certificatesOf converts a decoded listing, refusing one that says it is incomplete.
func certificatesOf(list *components.ListDataPlaneCertificatesResponse, token string) ([]konnect.DataPlaneCertificate, error) {
	if list == nil {
		return nil, &unusableAnswer{"without a list of data-plane certificates"}
	}
	if list.Page != nil && list.Page.TotalCount != nil && *list.Page.TotalCount > int64(len(list.Items)) {
		return nil, &unusableAnswer{"with " + strconv.Itoa(len(list.Items)) + " of " +
			strconv.FormatInt(*list.Page.TotalCount, 10) + " data-plane certificates, and the SDK cannot ask for more"}
	}
	certs := make([]konnect.DataPlaneCertificate, 0, len(list.Items))
	for i := range list.Items {
		cert, err := certificateOf(&list.Items[i], token)
		if err != nil {
			return nil, err
		}
		certs = append(certs, *cert)
	}
	return certs, nil
}

// certificateOf converts a decoded certificate, refusing one without a usable id.
func certificateOf(m *components.DataPlaneClientCertificate, token string) (*konnect.DataPlaneCertificate, error) {
	if m == nil || m.ID == nil {
		return nil, &unusableAnswer{"without a data-plane certificate id"}
	}
	if err := checkAnswerID("data-plane certificate", *m.ID, token); err != nil {
		return nil, err
	}
	cert := &konnect.DataPlaneCertificate{ID: *m.ID}
	if m.Cert != nil {
		cert.Cert = *m.Cert
	}
	if m.Title != nil {
		cert.Title = *m.Title
	}
	return cert, nil
}
