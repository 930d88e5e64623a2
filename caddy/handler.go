package caddy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/redact"
)

// markerPrefix starts the "@id" that Switch gives the first upstream of the
// handler: "bluegreen.<ID>.<slot>". Caddy keeps an "@id" on any object of
// its config as written, and strips it before it provisions the module, so
// the marker changes nothing in how requests are proxied; and it is written
// in the same PATCH as the addresses, so the two never disagree.
const markerPrefix = "bluegreen."

func marker(id string, slot bluegreen.Slot) string { return markerPrefix + id + "." + string(slot) }

// handler is the reverse_proxy handler as the admin API shows it.
type handler struct {
	upstreams []map[string]json.RawMessage
	etag      string // the ETag of GET /id/<ID>: its path in the config, and a hash
}

// dials returns the "dial" of each upstream ("" where there is none).
func (h handler) dials() []string {
	out := make([]string, len(h.upstreams))
	for i, u := range h.upstreams {
		_ = json.Unmarshal(u["dial"], &out[i])
	}
	return out
}

// readHandler reads the object with "@id" id and checks that a Switch can
// route it: a reverse_proxy handler with a static upstream list.
func readHandler(ctx context.Context, a *admin, id string) (handler, error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	ans, err := a.do(ctx, http.MethodGet, idPath(id), nil, "")
	var aerr *apiError
	switch {
	case errors.As(err, &aerr) && aerr.status == http.StatusNotFound && strings.Contains(aerr.msg, "unknown object ID"):
		return handler{}, fmt.Errorf("%w: caddy.id %s: Caddy's config (admin API %s) has no object with \"@id\": %q "+
			"(a Caddyfile cannot set one: run `caddy adapt`, add \"@id\" to the reverse_proxy handler, and run Caddy from the JSON)",
			ErrNoHandler, id, redact.URL(a.base.String()), id)
	case err != nil:
		return handler{}, err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(ans.body, &obj); err != nil || obj == nil {
		return handler{}, fmt.Errorf("%w: caddy.id %s names %s, not a reverse_proxy handler", ErrNoHandler, id, jsonKind(ans.body))
	}
	var kind string
	if err := json.Unmarshal(obj["handler"], &kind); err != nil || kind == "" {
		return handler{}, fmt.Errorf("%w: caddy.id %s names an object that is not a handler (no \"handler\" key), not a reverse_proxy handler", ErrNoHandler, id)
	}
	if kind != "reverse_proxy" {
		return handler{}, fmt.Errorf("%w: caddy.id %s names a %q handler, not a reverse_proxy handler", ErrNoHandler, id, kind)
	}
	if _, ok := obj["dynamic_upstreams"]; ok {
		return handler{}, fmt.Errorf("%w: caddy.id %s: the handler has dynamic_upstreams, which Caddy uses instead of the static upstreams a switch writes: remove them", ErrNoHandler, id)
	}
	h := handler{etag: ans.etag}
	raw, ok := obj["upstreams"]
	if !ok || json.Unmarshal(raw, &h.upstreams) != nil || slices.ContainsFunc(h.upstreams, func(u map[string]json.RawMessage) bool { return u == nil }) {
		return handler{}, fmt.Errorf("%w: caddy.id %s: the handler has no \"upstreams\" list of objects: write one, such as [{\"dial\": \"127.0.0.1:8081\"}]", ErrNoHandler, id)
	}
	return h, nil
}

// jsonKind says what a JSON value is, for an error.
func jsonKind(data []byte) string {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return "nothing"
	}
	switch data[0] {
	case '[':
		return "a JSON array"
	case '"':
		return "a JSON string"
	case '{':
		return "a JSON object"
	case 'n':
		return "null"
	}
	return "a JSON value"
}

// slot reads the slot from the marker that Switch put on the first upstream.
// No marker at all means upstreams written by hand (or by a reload from a
// file): None. A marker anywhere else, more than one, or for no known slot
// means an edit by hand that Active cannot read: ErrUnmanaged.
func (h handler) slot(id string) (bluegreen.Slot, error) {
	prefix := markerPrefix + id + "."
	var found []string
	at := -1
	for i, u := range h.upstreams {
		var m string
		if json.Unmarshal(u["@id"], &m) == nil && strings.HasPrefix(m, prefix) {
			found = append(found, m)
			at = i
		}
	}
	if len(found) == 0 {
		return bluegreen.None, nil
	}
	if len(found) == 1 && at == 0 {
		switch slot := bluegreen.Slot(strings.TrimPrefix(found[0], prefix)); slot {
		case bluegreen.Blue, bluegreen.Green:
			return slot, nil
		}
	}
	return bluegreen.None, fmt.Errorf("%w: caddy.id %s: the upstreams hold the markers %q, which a switch did not write "+
		"(it writes one, %q or %q, on the first upstream): they were edited by hand; remove the markers, or switch again",
		ErrUnmanaged, id, found, marker(id, bluegreen.Blue), marker(id, bluegreen.Green))
}

// upstreamsJSON is the upstream list a Switch writes: one object per
// address, the first marked with the slot.
func upstreamsJSON(id string, slot bluegreen.Slot, addrs []string) ([]byte, error) {
	type upstream struct {
		ID   string `json:"@id,omitempty"`
		Dial string `json:"dial"`
	}
	list := make([]upstream, len(addrs))
	for i, a := range addrs {
		list[i].Dial = a
	}
	list[0].ID = marker(id, slot)
	return json.Marshal(list)
}
