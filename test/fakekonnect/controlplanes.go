package fakekonnect

// Konnect's control-plane endpoints, as the Konnect SDK v0.46.0 calls them
// (ControlPlanes.CreateControlPlane, ListControlPlanes, GetControlPlane, UpdateControlPlane,
// DeleteControlPlane), with the SDK's JSON field names and envelopes. They are served only
// on the regional API hosts (us.api.konghq.com and the other Regions), chosen by the Host
// header; the global host does not route them and answers 404. Control planes belong to the
// organization of the bearer token and to the region of the host: another organization or
// region does not see them, and a name is unique within one organization and region.

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

// controlPlanesPath is the collection of control planes.
const controlPlanesPath = "/v2/control-planes"

// Regions are the first labels of the regional API hosts the fake serves control planes on,
// <region>.api.konghq.com.
var Regions = []string{"us", "eu", "au", "me", "in", "sg"}

// Control-plane defaults and limits, as Konnect applies them.
const (
	// DefaultClusterType is config.cluster_type when a create names none.
	DefaultClusterType = "CLUSTER_TYPE_CONTROL_PLANE"
	// DefaultAuthType is config.auth_type when a create names none.
	DefaultAuthType = "pinned_client_certs"
	// DefaultPageSize is the list page size when page[size] is not given.
	DefaultPageSize = 10
	// MaxPageSize is the largest page[size] accepted; larger ones answer 400.
	MaxPageSize = 100
)

// clusterTypes and authTypes are the values Konnect accepts (the SDK's enums).
var (
	clusterTypes = []string{
		"CLUSTER_TYPE_CONTROL_PLANE", "CLUSTER_TYPE_K8S_INGRESS_CONTROLLER", "CLUSTER_TYPE_CONTROL_PLANE_GROUP",
		"CLUSTER_TYPE_SERVERLESS", "CLUSTER_TYPE_KAFKA_NATIVE_EVENT_PROXY", "CLUSTER_TYPE_SERVERLESS_V1",
	}
	authTypes = []string{"pinned_client_certs", "pki_client_certs"}
)

// reservedLabelPrefixes are the label-key prefixes Konnect's control-plane API refuses, as
// its API reference (and the SDK's doc comments) list them. k8s- is not among them: Kong's
// operator sets k8s-uid, k8s-name and the like itself.
var reservedLabelPrefixes = []string{"kong", "konnect", "mesh", "kic", "_"}

// labelKeyRE is the shape of a label key (and its length is 1 to 63).
var labelKeyRE = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)

// ControlPlane is a control plane in Konnect's JSON form (the SDK's components.ControlPlane),
// as the fake answers it and as ControlPlanes reports it.
type ControlPlane struct {
	ID          string             `json:"id"`
	Name        string             `json:"name"`
	Description string             `json:"description"`
	Labels      map[string]string  `json:"labels"`
	Config      ControlPlaneConfig `json:"config"`
	CreatedAt   time.Time          `json:"created_at"`
	UpdatedAt   time.Time          `json:"updated_at"`
}

// ControlPlaneConfig is a control plane's config object.
type ControlPlaneConfig struct {
	// ControlPlaneEndpoint is https://<10 hex digits>.cp.konghq.com.
	ControlPlaneEndpoint string `json:"control_plane_endpoint"`
	// TelemetryEndpoint is https://<the same digits>.tp0.konghq.com.
	TelemetryEndpoint string     `json:"telemetry_endpoint"`
	ClusterType       string     `json:"cluster_type"`
	AuthType          string     `json:"auth_type"`
	CloudGateway      bool       `json:"cloud_gateway"`
	ProxyURLs         []ProxyURL `json:"proxy_urls"`
}

// ProxyURL is one of a control plane's proxy_urls.
type ProxyURL struct {
	Host     string `json:"host"`
	Port     int64  `json:"port"`
	Protocol string `json:"protocol"`
}

// ControlPlaneSpec describes a control plane to seed with AddControlPlane (or the admin POST
// /admin/control-planes), in the JSON form of Konnect's create request. Empty ClusterType and
// AuthType take Konnect's defaults. It is validated as the API validates a create.
type ControlPlaneSpec struct {
	// ID, when set, is the new control plane's ID (a UUID, unused so far), so a test can
	// name it in advance, e.g. in a Mirror; empty makes one up.
	ID           string            `json:"id,omitempty"`
	Name         string            `json:"name"`
	Description  string            `json:"description,omitempty"`
	ClusterType  string            `json:"cluster_type,omitempty"`
	AuthType     string            `json:"auth_type,omitempty"`
	CloudGateway bool              `json:"cloud_gateway,omitempty"`
	ProxyURLs    []ProxyURL        `json:"proxy_urls,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
}

// cpRecord is a stored control plane and where it belongs.
type cpRecord struct {
	org, region string
	seq         int64 // creation order, the default list order
	cp          ControlPlane
}

// where names the organization and region a regional request acts in.
type where struct{ org, region string }

// clone returns a deep copy of cp, so snapshots and answers share nothing with the store.
func (cp ControlPlane) clone() ControlPlane {
	out := cp
	out.Labels = make(map[string]string, len(cp.Labels))
	for k, v := range cp.Labels {
		out.Labels[k] = v
	}
	out.Config.ProxyURLs = append([]ProxyURL{}, cp.Config.ProxyURLs...)
	return out
}

// AddControlPlane creates a control plane directly, as if made in Konnect's UI, in the
// organization of token (which must be registered) and region (one of Regions). It returns
// the new control plane's ID; the error says why spec was refused (a name taken in that
// organization and region, an ID in use, a label Konnect refuses…).
func (s *Server) AddControlPlane(token, region string, spec ControlPlaneSpec) (string, error) {
	cp, err := s.addControlPlane(token, region, spec)
	return cp.ID, err
}

// addControlPlane is AddControlPlane, returning the whole control plane.
func (s *Server) addControlPlane(token, region string, spec ControlPlaneSpec) (ControlPlane, error) {
	if !slices.Contains(Regions, region) {
		return ControlPlane{}, fmt.Errorf("unknown region %q (want one of %s)", region, strings.Join(Regions, ", "))
	}
	if spec.ID != "" && !uuidPattern.MatchString(spec.ID) {
		return ControlPlane{}, fmt.Errorf("id %q is not a lower-case UUID", spec.ID)
	}
	req := createRequest{
		Name: &spec.Name, ClusterType: spec.ClusterType, AuthType: spec.AuthType,
		Description: spec.Description, CloudGateway: spec.CloudGateway,
		ProxyURLs: spec.ProxyURLs, Labels: spec.Labels,
	}
	if bad := req.validate(); len(bad) > 0 {
		return ControlPlane{}, fmt.Errorf("invalid control plane: %s", describe(bad))
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	org, ok := s.orgs[TokenHash(token)]
	if !ok {
		return ControlPlane{}, errors.New("the token is not registered (AddToken)")
	}
	if spec.ID != "" && s.controlPlanes[spec.ID] != nil {
		return ControlPlane{}, fmt.Errorf("a control plane with id %s exists", spec.ID)
	}
	in := where{org.ID, region}
	if s.nameTakenLocked(in, spec.Name, "") {
		return ControlPlane{}, fmt.Errorf("a control plane named %q exists in organization %s, region %s", spec.Name, org.ID, region)
	}
	return s.createLocked(in, spec.ID, req), nil
}

// ControlPlanes returns a snapshot of the control planes of token's organization in region,
// oldest first; none for an unregistered token.
func (s *Server) ControlPlanes(token, region string) []ControlPlane {
	s.mu.Lock()
	defer s.mu.Unlock()
	org, ok := s.orgs[TokenHash(token)]
	if !ok {
		return nil
	}
	var out []ControlPlane
	for _, rec := range s.sortedLocked() {
		if rec.org == org.ID && rec.region == region {
			out = append(out, rec.cp.clone())
		}
	}
	return out
}

// DeleteControlPlaneDirect deletes the control plane with this ID, its certificates and its
// group memberships (its members, if it is a group), whatever its organization and region, as
// a deletion in Konnect's UI would. It reports whether there was one.
func (s *Server) DeleteControlPlaneDirect(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.controlPlanes[id] == nil {
		return false
	}
	delete(s.controlPlanes, id)
	delete(s.certificates, id)
	s.dropMembershipsLocked(id)
	return true
}

// ControlPlaneEntry is one control plane in the admin GET /admin/control-planes answer
// (ControlPlanesReport): where it lives, what the API answers for it, and its certificates.
type ControlPlaneEntry struct {
	OrgID        string                 `json:"orgID"`
	Region       string                 `json:"region"`
	ControlPlane ControlPlane           `json:"controlPlane"`
	Certificates []DataPlaneCertificate `json:"certificates"`
}

// allControlPlanes returns every control plane with its place and certificates, oldest
// first, for the admin endpoints; empty orgID or region do not filter.
func (s *Server) allControlPlanes(orgID, region string) []ControlPlaneEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []ControlPlaneEntry{}
	for _, rec := range s.sortedLocked() {
		if (orgID == "" || rec.org == orgID) && (region == "" || rec.region == region) {
			out = append(out, ControlPlaneEntry{
				OrgID: rec.org, Region: rec.region, ControlPlane: rec.cp.clone(),
				Certificates: s.certificatesLocked(rec.cp.ID),
			})
		}
	}
	return out
}

// sortedLocked returns every stored control plane in creation order. The caller holds s.mu.
func (s *Server) sortedLocked() []*cpRecord {
	out := make([]*cpRecord, 0, len(s.controlPlanes))
	for _, rec := range s.controlPlanes {
		out = append(out, rec)
	}
	slices.SortFunc(out, func(a, b *cpRecord) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

// nameTakenLocked reports whether a control plane other than exceptID has this name in
// that organization and region. The caller holds s.mu.
func (s *Server) nameTakenLocked(in where, name, exceptID string) bool {
	for _, rec := range s.controlPlanes {
		if rec.org == in.org && rec.region == in.region && rec.cp.Name == name && rec.cp.ID != exceptID {
			return true
		}
	}
	return false
}

// lookupLocked returns the control plane with this ID if it belongs to that organization
// and region. The caller holds s.mu.
func (s *Server) lookupLocked(in where, id string) *cpRecord {
	rec := s.controlPlanes[id]
	if rec == nil || rec.org != in.org || rec.region != in.region {
		return nil
	}
	return rec
}

// createLocked stores a new control plane from a validated request; an empty id makes one
// up. The caller holds s.mu and has checked the name.
func (s *Server) createLocked(in where, id string, req createRequest) ControlPlane {
	if id == "" {
		id = newUUID()
	}
	now := s.now()
	s.cpSeq++
	sum := sha256.Sum256([]byte("endpoints/" + id))
	digits := hex.EncodeToString(sum[:5])
	cp := ControlPlane{
		ID:          id,
		Name:        *req.Name,
		Description: req.Description,
		Labels:      req.Labels,
		Config: ControlPlaneConfig{
			ControlPlaneEndpoint: "https://" + digits + ".cp.konghq.com",
			TelemetryEndpoint:    "https://" + digits + ".tp0.konghq.com",
			ClusterType:          cmp.Or(req.ClusterType, DefaultClusterType),
			AuthType:             cmp.Or(req.AuthType, DefaultAuthType),
			CloudGateway:         req.CloudGateway,
			ProxyURLs:            req.ProxyURLs,
		},
		CreatedAt: now,
		UpdatedAt: now,
	}
	cp = cp.clone() // owns its labels and proxy URLs, never nil
	s.controlPlanes[id] = &cpRecord{org: in.org, region: in.region, seq: s.cpSeq, cp: cp}
	return cp.clone()
}

// now is the time stamps' clock: UTC, to the millisecond, as Konnect reports them.
func (s *Server) now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// regionOf returns the region of a regional API host ("us" for us.api.konghq.com[:443]), or
// false for any other host, global.api.konghq.com included.
func regionOf(host string) (string, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	region, ok := strings.CutSuffix(host, ".api.konghq.com")
	if !ok || !slices.Contains(Regions, region) {
		return "", false
	}
	return region, true
}

// isControlPlanePath reports whether path is under /v2/control-planes.
func isControlPlanePath(path string) bool {
	return path == controlPlanesPath || strings.HasPrefix(path, controlPlanesPath+"/")
}

// regionalHandler serves one regional endpoint for a known token; ids are the path's
// parameters (control-plane ID, certificate ID).
type regionalHandler func(w http.ResponseWriter, r *http.Request, in where, ids []string)

// regionalRoute is what a path under /v2/control-planes leads to.
type regionalRoute struct {
	methods map[string]regionalHandler
	ids     []string
	// legacy marks the certificate endpoints, whose 4xx bodies are {"message": …}.
	legacy bool
}

// routeRegional matches a path under /v2/control-planes; false means no such endpoint.
func (s *Server) routeRegional(path string) (regionalRoute, bool) {
	seg := strings.Split(strings.TrimPrefix(path, controlPlanesPath), "/")[1:]
	for _, p := range seg {
		if p == "" {
			return regionalRoute{}, false
		}
	}
	switch {
	case len(seg) == 0:
		return regionalRoute{methods: map[string]regionalHandler{
			http.MethodGet: s.listControlPlanes, http.MethodPost: s.createControlPlane,
		}}, true
	case len(seg) == 1:
		return regionalRoute{ids: seg, methods: map[string]regionalHandler{
			http.MethodGet: s.getControlPlane, http.MethodPatch: s.updateControlPlane, http.MethodDelete: s.deleteControlPlane,
		}}, true
	case len(seg) == 2 && seg[1] == groupMembershipsSegment:
		return regionalRoute{ids: seg[:1], methods: map[string]regionalHandler{
			http.MethodGet: s.listGroupMembers, http.MethodPut: s.setGroupMembers,
		}}, true
	case len(seg) == 2 && seg[1] == certificatesSegment:
		return regionalRoute{ids: seg[:1], legacy: true, methods: map[string]regionalHandler{
			http.MethodGet: s.listCertificates, http.MethodPost: s.createCertificate,
		}}, true
	case len(seg) == 3 && seg[1] == certificatesSegment:
		return regionalRoute{ids: []string{seg[0], seg[2]}, legacy: true, methods: map[string]regionalHandler{
			http.MethodGet: s.getCertificate, http.MethodDelete: s.deleteCertificate,
		}}, true
	}
	return regionalRoute{}, false
}

// serveRegional answers a request under /v2/control-planes: 404 off the regional hosts or
// for no such endpoint, 405 for a method it lacks; then the behavior, then the token, then
// the endpoint itself.
func (s *Server) serveRegional(w http.ResponseWriter, r *http.Request, b Behavior, org organization, known bool) {
	region, ok := regionOf(r.Host)
	if !ok {
		writeProblem(w, http.StatusNotFound, "Not found")
		return
	}
	rt, ok := s.routeRegional(r.URL.Path)
	if !ok {
		writeProblem(w, http.StatusNotFound, "Not found")
		return
	}
	h := rt.methods[r.Method]
	if h == nil {
		allowed := make([]string, 0, len(rt.methods))
		for m := range rt.methods {
			allowed = append(allowed, m)
		}
		slices.Sort(allowed)
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeProblem(w, http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	if b.refuses() {
		s.refuse(w, r, b, rt.legacy)
		return
	}
	if !known {
		if rt.legacy {
			writeMessage(w, http.StatusUnauthorized, "Unauthorized")
		} else {
			writeProblem(w, http.StatusUnauthorized, "Invalid credentials")
		}
		return
	}
	in := where{org.ID, region}
	if !b.isOverride() {
		h(w, r, in, rt.ids)
		return
	}
	// A spoiling mode: do the work, then spoil its successful answer.
	var ans bufferedAnswer
	h(&ans, r, in, rt.ids)
	s.spoil(w, r, &ans, b)
}

// bufferedAnswer is an answer held back so a spoiling mode can replace it.
type bufferedAnswer struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (a *bufferedAnswer) Header() http.Header {
	if a.header == nil {
		a.header = http.Header{}
	}
	return a.header
}

func (a *bufferedAnswer) WriteHeader(code int) {
	if a.code == 0 {
		a.code = code
	}
}

func (a *bufferedAnswer) Write(p []byte) (int, error) {
	if a.code == 0 {
		a.code = http.StatusOK
	}
	return a.body.Write(p)
}

// spoil sends ans as b's spoiling mode says: a successful answer with a body is replaced,
// anything else (errors, 204) goes out unchanged.
func (s *Server) spoil(w http.ResponseWriter, r *http.Request, ans *bufferedAnswer, b Behavior) {
	code, body := ans.code, ans.body.Bytes()
	if code < 200 || code > 299 || len(body) == 0 {
		for k, v := range ans.header {
			w.Header()[k] = v
		}
		w.WriteHeader(code)
		_, _ = w.Write(body)
		return
	}
	switch b.Mode {
	case ModeEmptyOK:
		writeStatusBody(w, code, "application/json", []byte("{}"))
	case ModeBadJSON:
		// Any proper prefix of a JSON object is invalid JSON.
		writeStatusBody(w, code, "application/json", body[:len(body)/2])
	case ModeWrongContentType:
		writeStatusBody(w, code, "text/html; charset=utf-8", maintenancePage)
	case ModeSlowBody:
		s.trickle(w, r, code, body, b.bodyDelay())
	default:
		writeStatusBody(w, code, "application/json", body)
	}
}

// createRequest is the body of POST /v2/control-planes (the SDK's CreateControlPlaneRequest).
type createRequest struct {
	Name         *string           `json:"name"`
	Description  string            `json:"description"`
	ClusterType  string            `json:"cluster_type"`
	AuthType     string            `json:"auth_type"`
	CloudGateway bool              `json:"cloud_gateway"`
	ProxyURLs    []ProxyURL        `json:"proxy_urls"`
	Labels       map[string]string `json:"labels"`
}

// validate returns what Konnect would refuse in a create, nothing when it is fine.
func (c createRequest) validate() []invalidParameter {
	var bad []invalidParameter
	if c.Name == nil || *c.Name == "" {
		bad = append(bad, invalidParameter{Field: "name", Rule: "required", Source: "body", Reason: "is a required field"})
	}
	bad = append(bad, checkChoice("cluster_type", c.ClusterType, clusterTypes)...)
	bad = append(bad, checkChoice("auth_type", c.AuthType, authTypes)...)
	return append(bad, checkLabels(c.Labels)...)
}

// updateRequest is the body of PATCH /v2/control-planes/{id} (the SDK's
// UpdateControlPlaneRequest). Absent fields keep their values; labels and proxy_urls, when
// present, replace the whole set.
type updateRequest struct {
	Name        *string            `json:"name"`
	Description *string            `json:"description"`
	AuthType    *string            `json:"auth_type"`
	ProxyURLs   *[]ProxyURL        `json:"proxy_urls"`
	Labels      *map[string]string `json:"labels"`
}

func (u updateRequest) validate() []invalidParameter {
	var bad []invalidParameter
	if u.Name != nil && *u.Name == "" {
		bad = append(bad, invalidParameter{Field: "name", Rule: "required", Source: "body", Reason: "must not be empty"})
	}
	if u.AuthType != nil {
		if *u.AuthType == "" {
			bad = append(bad, invalidParameter{Field: "auth_type", Rule: "enum", Source: "body", Reason: "must be one of the choices", Choices: authTypes})
		}
		bad = append(bad, checkChoice("auth_type", *u.AuthType, authTypes)...)
	}
	if u.Labels != nil {
		bad = append(bad, checkLabels(*u.Labels)...)
	}
	return bad
}

// invalidParameter is one entry of a 400 problem's invalid_parameters (the SDK's
// InvalidParameterStandard, or InvalidParameterChoiceItem when Choices is set).
type invalidParameter struct {
	Field   string   `json:"field"`
	Rule    string   `json:"rule,omitempty"`
	Source  string   `json:"source,omitempty"`
	Reason  string   `json:"reason"`
	Choices []string `json:"choices,omitempty"`
}

// describe joins invalid parameters into one sentence for errors and problem details.
func describe(bad []invalidParameter) string {
	parts := make([]string, len(bad))
	for i, p := range bad {
		parts[i] = p.Field + " " + p.Reason
	}
	return strings.Join(parts, "; ")
}

// checkChoice refuses a non-empty value outside choices.
func checkChoice(field, value string, choices []string) []invalidParameter {
	if value == "" || slices.Contains(choices, value) {
		return nil
	}
	return []invalidParameter{{
		Field: field, Rule: "enum", Source: "body", Choices: choices,
		Reason: fmt.Sprintf("must be one of %s, got %q", strings.Join(choices, ", "), value),
	}}
}

// checkLabels refuses what Konnect refuses in labels: keys of 1 to 63 characters that start
// and end with a letter or digit (with -, _ and . inside), not starting with a reserved
// prefix; values of 1 to 63 characters.
func checkLabels(labels map[string]string) []invalidParameter {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var bad []invalidParameter
	for _, k := range keys {
		reason := ""
		v := labels[k]
		switch {
		case len(k) < 1 || len(k) > 63 || !labelKeyRE.MatchString(k):
			reason = fmt.Sprintf("key %q must be 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", k)
		case reservedPrefix(k) != "":
			reason = fmt.Sprintf("key %q must not start with %q", k, reservedPrefix(k))
		case len(v) < 1 || len(v) > 63:
			reason = fmt.Sprintf("value of %q must be 1 to 63 characters", k)
		default:
			continue
		}
		bad = append(bad, invalidParameter{Field: "labels", Rule: "is_label", Source: "body", Reason: reason})
	}
	return bad
}

// reservedPrefix returns the reserved prefix key starts with, or "".
func reservedPrefix(key string) string {
	for _, p := range reservedLabelPrefixes {
		if strings.HasPrefix(key, p) {
			return p
		}
	}
	return ""
}

// badRequest is a 400 problem with its invalid_parameters (the SDK's BadRequestError).
type badRequest struct {
	problem
	InvalidParameters []invalidParameter `json:"invalid_parameters"`
}

// writeBadRequest writes a 400 application/problem+json with invalid_parameters.
func writeBadRequest(w http.ResponseWriter, detail string, bad []invalidParameter) {
	if bad == nil {
		bad = []invalidParameter{}
	}
	writeStatusBody(w, http.StatusBadRequest, "application/problem+json", mustJSON(badRequest{
		problem:           newProblem(http.StatusBadRequest, detail),
		InvalidParameters: bad,
	}))
}

// maxAPIBody bounds request bodies of the API.
const maxAPIBody = 1 << 20

// decodeBody decodes a JSON request body into v; false means it was not JSON of that shape.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err != nil {
		return false
	}
	return json.Unmarshal(body, v) == nil
}

// writeJSON writes a JSON answer with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	writeStatusBody(w, code, "application/json", mustJSON(v))
}

// createControlPlane answers POST /v2/control-planes.
func (s *Server) createControlPlane(w http.ResponseWriter, r *http.Request, in where, _ []string) {
	var req createRequest
	if !decodeBody(w, r, &req) {
		writeBadRequest(w, "The request body must be a JSON object like {\"name\":\"…\"}", nil)
		return
	}
	if bad := req.validate(); len(bad) > 0 {
		writeBadRequest(w, "Invalid request: "+describe(bad), bad)
		return
	}
	s.mu.Lock()
	if s.nameTakenLocked(in, *req.Name, "") {
		s.mu.Unlock()
		writeProblem(w, http.StatusConflict, fmt.Sprintf("A control plane named [%s] already exists", *req.Name))
		return
	}
	cp := s.createLocked(in, "", req)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, cp)
}

// getControlPlane answers GET /v2/control-planes/{id}.
func (s *Server) getControlPlane(w http.ResponseWriter, _ *http.Request, in where, ids []string) {
	s.mu.Lock()
	rec := s.lookupLocked(in, ids[0])
	var cp ControlPlane
	if rec != nil {
		cp = rec.cp.clone()
	}
	s.mu.Unlock()
	if rec == nil {
		writeControlPlaneNotFound(w, ids[0])
		return
	}
	writeJSON(w, http.StatusOK, cp)
}

// updateControlPlane answers PATCH /v2/control-planes/{id}.
func (s *Server) updateControlPlane(w http.ResponseWriter, r *http.Request, in where, ids []string) {
	var req updateRequest
	if !decodeBody(w, r, &req) {
		writeBadRequest(w, "The request body must be a JSON object", nil)
		return
	}
	if bad := req.validate(); len(bad) > 0 {
		writeBadRequest(w, "Invalid request: "+describe(bad), bad)
		return
	}
	s.mu.Lock()
	rec := s.lookupLocked(in, ids[0])
	if rec == nil {
		s.mu.Unlock()
		writeControlPlaneNotFound(w, ids[0])
		return
	}
	if req.Name != nil && s.nameTakenLocked(in, *req.Name, rec.cp.ID) {
		s.mu.Unlock()
		writeProblem(w, http.StatusConflict, fmt.Sprintf("A control plane named [%s] already exists", *req.Name))
		return
	}
	cp := &rec.cp
	if req.Name != nil {
		cp.Name = *req.Name
	}
	if req.Description != nil {
		cp.Description = *req.Description
	}
	if req.AuthType != nil {
		cp.Config.AuthType = *req.AuthType
	}
	if req.ProxyURLs != nil {
		cp.Config.ProxyURLs = append([]ProxyURL{}, *req.ProxyURLs...)
	}
	if req.Labels != nil {
		cp.Labels = ControlPlane{Labels: *req.Labels}.clone().Labels
	}
	cp.UpdatedAt = s.now()
	out := cp.clone()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// deleteControlPlane answers DELETE /v2/control-planes/{id}: the control plane goes with its
// certificates, unless it is a group that has members or a member of a group (409,
// groups.go).
func (s *Server) deleteControlPlane(w http.ResponseWriter, _ *http.Request, in where, ids []string) {
	s.mu.Lock()
	rec := s.lookupLocked(in, ids[0])
	conflict := ""
	if rec != nil {
		conflict = s.deleteConflictLocked(rec.cp.ID)
	}
	if rec != nil && conflict == "" {
		delete(s.controlPlanes, rec.cp.ID)
		delete(s.certificates, rec.cp.ID)
		s.dropMembershipsLocked(rec.cp.ID)
	}
	s.mu.Unlock()
	switch {
	case rec == nil:
		writeControlPlaneNotFound(w, ids[0])
	case conflict != "":
		writeProblem(w, http.StatusConflict, conflict)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func writeControlPlaneNotFound(w http.ResponseWriter, id string) {
	writeProblem(w, http.StatusNotFound, fmt.Sprintf("Control plane [%s] not found", id))
}

// newUUID returns a random version-4 UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return formatUUID(b[:])
}

// uuidPattern is a UUID as Konnect writes them, in lower case.
var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// hasControlPlane reports whether a control plane with this ID exists anywhere.
func (s *Server) hasControlPlane(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.controlPlanes[id] != nil
}
