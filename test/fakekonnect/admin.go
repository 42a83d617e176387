package fakekonnect

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// maxAdminBody bounds admin request bodies.
const maxAdminBody = 1 << 20

// CallsReport is the admin GET /calls answer.
type CallsReport struct {
	// Total is Calls().
	Total int64 `json:"total"`
	// PerToken maps TokenHash(token) to CallsFor(token), for every token seen.
	PerToken map[string]int64 `json:"perToken"`
	// RefusedConnects is RefusedConnects().
	RefusedConnects int64 `json:"refusedConnects"`
	// LastUserAgent is LastUserAgent().
	LastUserAgent string `json:"lastUserAgent"`
	// LastHost is LastHost().
	LastHost string `json:"lastHost"`
}

// adminTokenRequest is the JSON body of the admin token and behavior endpoints. Tokens
// travel in bodies, never in URLs, so they cannot end up in access logs.
type adminTokenRequest struct {
	Token string `json:"token"`
	OrgID string `json:"orgID"`
}

// RequestsReport is the admin GET /admin/requests answer.
type RequestsReport struct {
	// Count is len(Requests).
	Count int `json:"count"`
	// Requests are the logged requests that match the query, oldest first (RequestsMatching).
	Requests []Request `json:"requests"`
	// Dropped is DroppedRequests().
	Dropped int64 `json:"dropped"`
}

// ControlPlanesReport is the admin GET /admin/control-planes answer.
type ControlPlanesReport struct {
	Items []ControlPlaneEntry `json:"items"`
}

// adminControlPlaneRequest is the body of the admin POST /admin/control-planes.
type adminControlPlaneRequest struct {
	Token  string `json:"token"`
	Region string `json:"region"`
	ControlPlaneSpec
}

// AdminHandler returns the control API for driving the fake from another process; serve it
// on loopback only, since it can register tokens. Endpoints:
//
//	GET    /healthz   200 "ok"
//	GET    /calls     CallsReport as JSON
//	POST   /reset     ResetCounts (the request log included)
//	POST   /tokens    body {"token":"…","orgID":"…"}: AddToken
//	DELETE /tokens    body {"token":"…"}: RevokeToken
//	POST   /behavior?mode=M[&retryAfter=5s][&status=500][&delay=2s][&scope=writes][&path=P]
//	                  SetBehavior, or SetTokenBehavior with body {"token":"…"};
//	                  M is a ParseMode name ("normal" clears); durations are Go
//	                  durations or whole seconds; scope is a ParseScope name (all,
//	                  writes, reads); P is a path pattern ("*" = one segment), e.g.
//	                  /v2/control-planes/*/dp-client-certificates.
//
//	POST   /admin/control-planes
//	                  body {"token":"…","region":"us","name":"…", and optionally "id",
//	                  "description", "cluster_type", "auth_type", "cloud_gateway",
//	                  "proxy_urls", "labels" as in Konnect's create}: AddControlPlane;
//	                  answers 201 with the control plane as Konnect's API returns it.
//	GET    /admin/control-planes[?orgID=…][&region=us]
//	                  ControlPlanesReport: every control plane (of that organization,
//	                  in that region) with its orgID, region and certificates.
//	DELETE /admin/control-planes/{id}
//	                  DeleteControlPlaneDirect; 404 if there is none.
//	GET    /admin/control-planes/{id}/dp-client-certificates
//	                  {"items":[…]}: Certificates; 404 if there is no such control plane.
//	POST   /admin/control-planes/{id}/dp-client-certificates
//	                  body {"cert":"PEM"}: AddCertificate; answers 201 {"id":"…"}.
//	GET    /admin/requests[?method=POST][&path=/v2/control-planes]
//	                  RequestsReport: the request log, or the part RequestsMatching
//	                  selects (path is a pattern as above).
//	DELETE /admin/requests
//	                  ResetRequests.
//
// Successful changes answer 204 No Content unless said otherwise; mistakes answer 400 with a
// plain-text reason, which never quotes a token.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /calls", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(CallsReport{
			Total:           s.Calls(),
			PerToken:        s.callCounts(),
			RefusedConnects: s.RefusedConnects(),
			LastUserAgent:   s.LastUserAgent(),
			LastHost:        s.LastHost(),
		})
	})
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, _ *http.Request) {
		s.ResetCounts()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /tokens", func(w http.ResponseWriter, r *http.Request) {
		req, ok := readTokenRequest(w, r, false)
		if !ok {
			return
		}
		if req.OrgID == "" {
			http.Error(w, "orgID is required", http.StatusBadRequest)
			return
		}
		s.AddToken(req.Token, req.OrgID)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /tokens", func(w http.ResponseWriter, r *http.Request) {
		req, ok := readTokenRequest(w, r, false)
		if !ok {
			return
		}
		s.RevokeToken(req.Token)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /behavior", func(w http.ResponseWriter, r *http.Request) {
		b, err := behaviorFromQuery(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req, ok := readTokenRequest(w, r, true)
		if !ok {
			return
		}
		if req.Token != "" {
			s.SetTokenBehavior(req.Token, b)
		} else {
			s.SetBehavior(b)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	s.adminControlPlanes(mux)
	return mux
}

// adminControlPlanes adds the /admin/control-planes and /admin/requests endpoints.
func (s *Server) adminControlPlanes(mux *http.ServeMux) {
	mux.HandleFunc("POST /admin/control-planes", func(w http.ResponseWriter, r *http.Request) {
		var req adminControlPlaneRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			// The decoder's message may quote the body, which holds a token: keep it out.
			http.Error(w, `body must be JSON like {"token":"…","region":"us","name":"…"} with Konnect's create fields`, http.StatusBadRequest)
			return
		}
		if req.Token == "" {
			http.Error(w, "token is required", http.StatusBadRequest)
			return
		}
		cp, err := s.addControlPlane(req.Token, req.Region, req.ControlPlaneSpec)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, http.StatusCreated, cp)
	})
	mux.HandleFunc("GET /admin/control-planes", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		writeJSON(w, http.StatusOK, ControlPlanesReport{Items: s.allControlPlanes(q.Get("orgID"), q.Get("region"))})
	})
	mux.HandleFunc("DELETE /admin/control-planes/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !s.DeleteControlPlaneDirect(r.PathValue("id")) {
			http.Error(w, "no such control plane", http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /admin/control-planes/{id}/dp-client-certificates", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if !s.hasControlPlane(id) {
			http.Error(w, "no such control plane", http.StatusNotFound)
			return
		}
		writeJSON(w, http.StatusOK, struct {
			Items []DataPlaneCertificate `json:"items"`
		}{s.Certificates(id)})
	})
	mux.HandleFunc("POST /admin/control-planes/{id}/dp-client-certificates", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Cert string `json:"cert"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			http.Error(w, `body must be JSON like {"cert":"-----BEGIN CERTIFICATE-----…"}`, http.StatusBadRequest)
			return
		}
		certID, err := s.AddCertificate(r.PathValue("id"), req.Cert)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, http.StatusCreated, struct {
			ID string `json:"id"`
		}{certID})
	})
	mux.HandleFunc("GET /admin/requests", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		reqs := s.RequestsMatching(q.Get("method"), q.Get("path"))
		if reqs == nil {
			reqs = []Request{}
		}
		writeJSON(w, http.StatusOK, RequestsReport{Count: len(reqs), Requests: reqs, Dropped: s.DroppedRequests()})
	})
	mux.HandleFunc("DELETE /admin/requests", func(w http.ResponseWriter, _ *http.Request) {
		s.ResetRequests()
		w.WriteHeader(http.StatusNoContent)
	})
}

// readTokenRequest decodes an adminTokenRequest body, answering 400 itself on failure. An
// empty body is accepted only when optional is set.
func readTokenRequest(w http.ResponseWriter, r *http.Request, optional bool) (adminTokenRequest, bool) {
	var req adminTokenRequest
	if r.ContentLength == 0 && optional {
		return req, true
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		if optional && errors.Is(err, io.EOF) {
			return req, true
		}
		// The decoder's message may quote the body, which holds a token: keep it out.
		http.Error(w, `body must be JSON like {"token":"…","orgID":"…"}`, http.StatusBadRequest)
		return req, false
	}
	if req.Token == "" && !optional {
		http.Error(w, "token is required", http.StatusBadRequest)
		return req, false
	}
	return req, true
}

// behaviorFromQuery reads a Behavior from the mode, retryAfter, status, delay, scope and path
// parameters.
func behaviorFromQuery(r *http.Request) (Behavior, error) {
	q := r.URL.Query()
	mode, err := ParseMode(q.Get("mode"))
	if err != nil {
		return Behavior{}, err
	}
	b := Behavior{Mode: mode, Path: q.Get("path")}
	if b.Scope, err = ParseScope(q.Get("scope")); err != nil {
		return Behavior{}, err
	}
	if b.RetryAfter, err = parseDuration(q.Get("retryAfter")); err != nil {
		return Behavior{}, fmt.Errorf("retryAfter: %w", err)
	}
	if b.Delay, err = parseDuration(q.Get("delay")); err != nil {
		return Behavior{}, fmt.Errorf("delay: %w", err)
	}
	if v := q.Get("status"); v != "" {
		if b.Status, err = strconv.Atoi(v); err != nil || b.Status < 500 || b.Status > 599 {
			return Behavior{}, fmt.Errorf("status: want a number from 500 to 599, got %q", v)
		}
	}
	return b, nil
}

// parseDuration accepts a Go duration ("1500ms") or whole seconds ("5"); "" is zero.
func parseDuration(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("want a duration like 5s or a number of seconds, got %q", v)
	}
	return d, nil
}
