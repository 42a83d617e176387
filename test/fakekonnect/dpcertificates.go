package fakekonnect

// Konnect's data-plane client certificates of a control plane, as the Konnect SDK v0.46.0
// calls them (DPCertificates.CreateDataplaneCertificate, ListDpClientCertificates,
// GetDataplaneCertificate, DeleteDataplaneCertificate). These endpoints belong to Konnect's
// older control-plane API: their 4xx bodies are application/json {"message": …}, not
// problems, and their time stamps are Unix seconds.

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
)

// certificatesSegment is the path segment below a control plane that holds its certificates.
const certificatesSegment = "dp-client-certificates"

// DataPlaneCertificate is a data-plane client certificate pinned on a control plane, in
// Konnect's JSON form (the SDK's components.DataPlaneClientCertificate).
type DataPlaneCertificate struct {
	ID string `json:"id"`
	// Cert is the PEM certificate as it was registered.
	Cert string `json:"cert"`
	// CreatedAt and UpdatedAt are Unix seconds.
	CreatedAt int64 `json:"created_at"`
	UpdatedAt int64 `json:"updated_at"`
	// Title is the optional title given at registration.
	Title string `json:"title,omitempty"`
}

// certRecord is a stored certificate and the DER it was parsed to, which decides duplicates.
type certRecord struct {
	cert DataPlaneCertificate
	der  []byte
}

// certificateItem is the answer of a create or get ({"item": …}).
type certificateItem struct {
	Item DataPlaneCertificate `json:"item"`
}

// certificateList is the answer of a list ({"items": […], "page": {"total_count": N}}).
type certificateList struct {
	Items []DataPlaneCertificate `json:"items"`
	Page  struct {
		TotalCount int `json:"total_count"`
	} `json:"page"`
}

// Certificates returns a snapshot of the data-plane certificates registered on the control
// plane with this ID, oldest first; none if there is no such control plane.
func (s *Server) Certificates(controlPlaneID string) []DataPlaneCertificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.certificatesLocked(controlPlaneID)
}

// AddCertificate registers a data-plane certificate directly, as if done in Konnect's UI,
// on the control plane with this ID, and returns its ID. It refuses what the API refuses:
// no such control plane, a PEM that holds no certificate, one already registered there.
func (s *Server) AddCertificate(controlPlaneID, certPEM string) (string, error) {
	der, err := parseCertificatePEM(certPEM)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.controlPlanes[controlPlaneID] == nil {
		return "", fmt.Errorf("no control plane %s", controlPlaneID)
	}
	if s.certificateRegisteredLocked(controlPlaneID, der) {
		return "", errors.New("this certificate is already registered on that control plane")
	}
	return s.addCertificateLocked(controlPlaneID, certPEM, "", der).ID, nil
}

// certificatesLocked is Certificates; the caller holds s.mu.
func (s *Server) certificatesLocked(controlPlaneID string) []DataPlaneCertificate {
	out := []DataPlaneCertificate{}
	for _, rec := range s.certificates[controlPlaneID] {
		out = append(out, rec.cert)
	}
	return out
}

func (s *Server) certificateRegisteredLocked(controlPlaneID string, der []byte) bool {
	return slices.ContainsFunc(s.certificates[controlPlaneID], func(rec *certRecord) bool {
		return bytes.Equal(rec.der, der)
	})
}

func (s *Server) addCertificateLocked(controlPlaneID, certPEM, title string, der []byte) DataPlaneCertificate {
	now := s.now().Unix()
	c := DataPlaneCertificate{ID: newUUID(), Cert: certPEM, CreatedAt: now, UpdatedAt: now, Title: title}
	s.certificates[controlPlaneID] = append(s.certificates[controlPlaneID], &certRecord{cert: c, der: der})
	return c
}

// parseCertificatePEM returns the DER of the first PEM block if it is an X.509 certificate.
func parseCertificatePEM(certPEM string) ([]byte, error) {
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil {
		return nil, errors.New("cert is not PEM encoded")
	}
	if block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("cert holds a PEM %q block, not a CERTIFICATE", block.Type)
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return nil, fmt.Errorf("cert is not a valid X.509 certificate: %v", err)
	}
	return block.Bytes, nil
}

// certificateControlPlaneLocked reports whether the control plane of a certificate request
// exists where it is asked for. The caller holds s.mu.
func (s *Server) certificateControlPlaneLocked(in where, id string) bool {
	return s.lookupLocked(in, id) != nil
}

func writeCertControlPlaneNotFound(w http.ResponseWriter, id string) {
	writeMessage(w, http.StatusNotFound, fmt.Sprintf("control plane %s not found", id))
}

// listCertificates answers GET /v2/control-planes/{id}/dp-client-certificates: every
// certificate at once, as the SDK sends no paging parameters.
func (s *Server) listCertificates(w http.ResponseWriter, _ *http.Request, in where, ids []string) {
	s.mu.Lock()
	ok := s.certificateControlPlaneLocked(in, ids[0])
	var list certificateList
	if ok {
		list.Items = s.certificatesLocked(ids[0])
		list.Page.TotalCount = len(list.Items)
	}
	s.mu.Unlock()
	if !ok {
		writeCertControlPlaneNotFound(w, ids[0])
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// createCertificate answers POST /v2/control-planes/{id}/dp-client-certificates.
func (s *Server) createCertificate(w http.ResponseWriter, r *http.Request, in where, ids []string) {
	var req struct {
		Cert  string `json:"cert"`
		Title string `json:"title"`
	}
	if !decodeBody(w, r, &req) {
		writeMessage(w, http.StatusBadRequest, `the request body must be a JSON object like {"cert":"-----BEGIN CERTIFICATE-----…"}`)
		return
	}
	if req.Cert == "" {
		writeMessage(w, http.StatusBadRequest, "cert is required")
		return
	}
	der, err := parseCertificatePEM(req.Cert)
	if err != nil {
		writeMessage(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	if !s.certificateControlPlaneLocked(in, ids[0]) {
		s.mu.Unlock()
		writeCertControlPlaneNotFound(w, ids[0])
		return
	}
	if s.certificateRegisteredLocked(ids[0], der) {
		s.mu.Unlock()
		writeMessage(w, http.StatusConflict, "this certificate is already registered on the control plane")
		return
	}
	c := s.addCertificateLocked(ids[0], req.Cert, req.Title, der)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, certificateItem{Item: c})
}

// findCertificateLocked returns the index of a certificate of the control plane, or -1.
func (s *Server) findCertificateLocked(controlPlaneID, certID string) int {
	return slices.IndexFunc(s.certificates[controlPlaneID], func(rec *certRecord) bool { return rec.cert.ID == certID })
}

// getCertificate answers GET /v2/control-planes/{id}/dp-client-certificates/{certId}.
func (s *Server) getCertificate(w http.ResponseWriter, _ *http.Request, in where, ids []string) {
	s.mu.Lock()
	ok, i := s.lookupCertificateLocked(in, ids)
	var c DataPlaneCertificate
	if i >= 0 {
		c = s.certificates[ids[0]][i].cert
	}
	s.mu.Unlock()
	if !writeCertificateNotFound(w, ok, i, ids) {
		writeJSON(w, http.StatusOK, certificateItem{Item: c})
	}
}

// deleteCertificate answers DELETE /v2/control-planes/{id}/dp-client-certificates/{certId}.
func (s *Server) deleteCertificate(w http.ResponseWriter, _ *http.Request, in where, ids []string) {
	s.mu.Lock()
	ok, i := s.lookupCertificateLocked(in, ids)
	if i >= 0 {
		s.certificates[ids[0]] = slices.Delete(s.certificates[ids[0]], i, i+1)
	}
	s.mu.Unlock()
	if !writeCertificateNotFound(w, ok, i, ids) {
		w.WriteHeader(http.StatusNoContent)
	}
}

// lookupCertificateLocked finds certificate ids[1] of control plane ids[0] as seen from in: ok
// is false when that control plane is not there, i is -1 when the certificate is not.
func (s *Server) lookupCertificateLocked(in where, ids []string) (ok bool, i int) {
	if !s.certificateControlPlaneLocked(in, ids[0]) {
		return false, -1
	}
	return true, s.findCertificateLocked(ids[0], ids[1])
}

// writeCertificateNotFound answers 404 when a lookup found neither the control plane nor
// (ok) the certificate, and reports whether it answered.
func writeCertificateNotFound(w http.ResponseWriter, ok bool, i int, ids []string) bool {
	switch {
	case !ok:
		writeCertControlPlaneNotFound(w, ids[0])
	case i < 0:
		writeMessage(w, http.StatusNotFound, fmt.Sprintf("dp-client-certificate %s not found", ids[1]))
	default:
		return false
	}
	return true
}
