package fakekonnect

// GET /v2/control-planes: Konnect's list of control planes, paged by number, filtered and
// sorted as the API reference (sdk-konnect-go's openapi.yaml) describes it.

import (
	"cmp"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// listPage is the answer of GET /v2/control-planes (the SDK's ListControlPlanesResponse).
type listPage struct {
	Meta struct {
		Page struct {
			Number int `json:"number"`
			Size   int `json:"size"`
			Total  int `json:"total"`
		} `json:"page"`
	} `json:"meta"`
	Data []ControlPlane `json:"data"`
}

// filterKeyRE is a filter query parameter: filter[field] or filter[field][operator].
var filterKeyRE = regexp.MustCompile(`^filter\[([a-z_]+)\](?:\[([a-z]+)\])?$`)

// cpFilter is one condition of a list.
type cpFilter func(cp *ControlPlane) bool

// listControlPlanes answers GET /v2/control-planes with page[size] (default 10, at most
// 100), page[number] (from 1), filter[id][eq|oeq], filter[name][eq|neq|contains],
// filter[cluster_type][eq|neq|oeq] (filter[field] alone is [eq]), filter[cloud_gateway],
// labels=key:value,key (every condition must hold; key:value compares the value
// case-insensitively, as Konnect's label values do, a bare key asks only that the label
// exists) and sort (created_at or name, each with an optional " asc" or " desc", or a
// leading '-' for descending; a comma-separated list sorts by each in turn). Each control
// plane is answered whole; meta.page.total counts every match, not the pages.
func (s *Server) listControlPlanes(w http.ResponseWriter, r *http.Request, in where, _ []string) {
	q := r.URL.Query()
	var bad []invalidParameter
	intParam := func(name string, def, most int) int {
		v := q.Get(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || (most > 0 && n > most) {
			reason := "must be a whole number of at least 1"
			if most > 0 {
				reason = fmt.Sprintf("must be a whole number from 1 to %d", most)
			}
			bad = append(bad, invalidParameter{Field: name, Rule: "invalid", Source: "query", Reason: reason})
		}
		return n
	}
	size := intParam("page[size]", DefaultPageSize, MaxPageSize)
	number := intParam("page[number]", 1, 0)

	var filters []cpFilter
	for key, values := range q {
		if !strings.HasPrefix(key, "filter") {
			continue
		}
		m := filterKeyRE.FindStringSubmatch(key)
		var f cpFilter
		if m != nil {
			f = makeFilter(m[1], cmp.Or(m[2], "eq"), values[len(values)-1])
		}
		if f == nil {
			bad = append(bad, invalidParameter{Field: key, Rule: "invalid", Source: "query", Reason: "is not a supported filter"})
			continue
		}
		filters = append(filters, f)
	}
	for _, v := range q["labels"] {
		for _, cond := range strings.Split(v, ",") {
			f, err := labelFilter(cond)
			if err != nil {
				bad = append(bad, invalidParameter{Field: "labels", Rule: "invalid", Source: "query", Reason: err.Error()})
				continue
			}
			filters = append(filters, f)
		}
	}
	order, err := parseSort(q.Get("sort"))
	if err != nil {
		bad = append(bad, invalidParameter{Field: "sort", Rule: "invalid", Source: "query", Reason: err.Error()})
	}
	if len(bad) > 0 {
		writeBadRequest(w, "Invalid query: "+describe(bad), bad)
		return
	}

	var matched []*cpRecord
	s.mu.Lock()
	for _, rec := range s.controlPlanes {
		if rec.org != in.org || rec.region != in.region {
			continue
		}
		if !slices.ContainsFunc(filters, func(f cpFilter) bool { return !f(&rec.cp) }) {
			matched = append(matched, rec)
		}
	}
	// Sorted after filtering: a benchmark's controller lists one label among thousands of
	// control planes. Creation order breaks the ties of the other attributes.
	slices.SortFunc(matched, func(a, b *cpRecord) int { return cmp.Compare(a.seq, b.seq) })
	if len(order) > 0 {
		slices.SortStableFunc(matched, order.compare)
	}
	var page listPage
	page.Meta.Page.Number, page.Meta.Page.Size, page.Meta.Page.Total = number, size, len(matched)
	page.Data = []ControlPlane{}
	// Compared in pages, so that a huge page[number] cannot overflow.
	if pages := (len(matched) + size - 1) / size; number <= pages {
		from := (number - 1) * size
		for _, rec := range matched[from:min(from+size, len(matched))] {
			page.Data = append(page.Data, rec.cp.clone())
		}
	}
	s.mu.Unlock()

	writeJSON(w, http.StatusOK, page)
}

// makeFilter returns the condition filter[field][op]=value means, nil when unsupported.
func makeFilter(field, op, value string) cpFilter {
	str := func(get func(*ControlPlane) string, ops ...string) cpFilter {
		if !slices.Contains(ops, op) {
			return nil
		}
		switch op {
		case "eq":
			return func(cp *ControlPlane) bool { return get(cp) == value }
		case "neq":
			return func(cp *ControlPlane) bool { return get(cp) != value }
		case "oeq":
			set := strings.Split(value, ",")
			return func(cp *ControlPlane) bool { return slices.Contains(set, get(cp)) }
		case "contains":
			return func(cp *ControlPlane) bool { return strings.Contains(get(cp), value) }
		}
		return nil
	}
	switch field {
	case "id":
		return str(func(cp *ControlPlane) string { return cp.ID }, "eq", "oeq")
	case "name":
		return str(func(cp *ControlPlane) string { return cp.Name }, "eq", "neq", "contains")
	case "cluster_type":
		return str(func(cp *ControlPlane) string { return cp.Config.ClusterType }, "eq", "neq", "oeq")
	case "cloud_gateway":
		want, err := strconv.ParseBool(value)
		if err != nil || op != "eq" {
			return nil
		}
		return func(cp *ControlPlane) bool { return cp.Config.CloudGateway == want }
	}
	return nil
}

// labelFilter is one condition of the labels parameter: "key:value" (the label has that
// value, compared case-insensitively) or "key" (the label exists).
func labelFilter(cond string) (cpFilter, error) {
	cond = strings.TrimSpace(cond)
	k, val, hasValue := strings.Cut(cond, ":")
	if k == "" || (hasValue && val == "") {
		return nil, fmt.Errorf("%q is neither key:value nor key", cond)
	}
	if !hasValue {
		return func(cp *ControlPlane) bool { _, ok := cp.Labels[k]; return ok }, nil
	}
	return func(cp *ControlPlane) bool {
		got, ok := cp.Labels[k]
		return ok && strings.EqualFold(got, val)
	}, nil
}

// sortKey is one attribute of a sort, ascending unless desc.
type sortKey struct {
	attr string
	desc bool
}

// sortOrder is a list's sort, attribute by attribute.
type sortOrder []sortKey

// sortAttrs are the attributes a list sorts by, with how they compare.
// Time stamps are to the millisecond: control planes created within one compare by their
// creation order, so that descending is exactly the reverse of ascending.
var sortAttrs = map[string]func(a, b *cpRecord) int{
	"created_at": func(a, b *cpRecord) int {
		return cmp.Or(a.cp.CreatedAt.Compare(b.cp.CreatedAt), cmp.Compare(a.seq, b.seq))
	},
	"name": func(a, b *cpRecord) int { return strings.Compare(a.cp.Name, b.cp.Name) },
}

// parseSort reads the sort parameter: "created_at desc", "name,created_at asc", "-created_at".
func parseSort(v string) (sortOrder, error) {
	if v == "" {
		return nil, nil
	}
	var order sortOrder
	for _, part := range strings.Split(v, ",") {
		fields := strings.Fields(part)
		if len(fields) == 0 || len(fields) > 2 {
			return nil, fmt.Errorf("%q is not an attribute with an optional asc or desc", part)
		}
		k := sortKey{attr: fields[0]}
		if rest, ok := strings.CutPrefix(k.attr, "-"); ok && len(fields) == 1 {
			k = sortKey{attr: rest, desc: true}
		}
		if len(fields) == 2 {
			switch fields[1] {
			case "asc":
			case "desc":
				k.desc = true
			default:
				return nil, fmt.Errorf("%q: the direction must be asc or desc", part)
			}
		}
		if sortAttrs[k.attr] == nil {
			return nil, fmt.Errorf("%q: supported sort attributes are created_at and name", part)
		}
		order = append(order, k)
	}
	return order, nil
}

// compare orders two control planes by each key in turn; 0 keeps the creation order.
func (o sortOrder) compare(a, b *cpRecord) int {
	for _, k := range o {
		c := sortAttrs[k.attr](a, b)
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}
