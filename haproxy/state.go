package haproxy

import (
	"encoding/csv"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

// adminState is a server's administrative state, in the words of "set
// server ... state".
type adminState int

const (
	ready adminState = iota
	drain
	maint
)

func (a adminState) String() string {
	return [...]string{"ready", "drain", "maint"}[a]
}

// Bits of srv_admin_state (HAProxy's SRV_ADMF_*, management guide, "show
// servers state"). CMAINT (0x04) only records that the config said
// "disabled": once "set server ... state ready" clears FMAINT the server
// takes traffic with CMAINT still set, so it is not part of the mask.
const (
	admForcedMaint   = 0x01
	admInheritMaint  = 0x02
	admForcedDrain   = 0x08
	admInheritDrain  = 0x10
	admResolveMaint  = 0x20
	admMaintMask     = admForcedMaint | admInheritMaint | admResolveMaint
	admDrainMask     = admForcedDrain | admInheritDrain
	admInheritedMask = admInheritMaint | admInheritDrain
)

// chkEnabled is the bit of srv_check_state for checks that are enabled
// (paused or not).
const chkEnabled = 0x04

// Values of srv_op_state.
const (
	opStopped  = 0
	opStarting = 1 // up, its weight ramping up (slowstart)
	opRunning  = 2
	opStopping = 3
)

// server is one line of "show servers state".
type server struct {
	name    string
	addr    netip.AddrPort // the zero value when HAProxy has none
	op      int
	admin   int
	weight  int  // srv_uweight: the weight now
	iweight int  // srv_iweight: the weight of the config
	checks  bool // health checks enabled (srv_check_state has CHK_ST_ENABLED)
}

func (s server) state() adminState {
	switch {
	case s.admin&admMaintMask != 0:
		return maint
	case s.admin&admDrainMask != 0:
		return drain
	}
	return ready
}

// up tells whether HAProxy sends the server new requests when it is ready:
// its health checks (if any) pass.
func (s server) up() bool { return s.op == opRunning || s.op == opStarting }

func (s server) opString() string {
	switch s.op {
	case opStopped:
		return "DOWN"
	case opStarting:
		return "UP (starting)"
	case opRunning:
		return "UP"
	case opStopping:
		return "NOLB (stopping)"
	}
	return "op state " + strconv.Itoa(s.op)
}

// parseServersState reads the answer of "show servers state <backend>":
// a format version ("1"), a header line of column names after "# ", then
// one line of space-separated fields per server. Columns are found by
// name, so that a later version adding columns still reads.
func parseServersState(answer string) ([]server, error) {
	lines := strings.Split(strings.TrimRight(answer, "\n"), "\n")
	if len(lines) < 2 || strings.TrimSpace(lines[0]) != "1" || !strings.HasPrefix(lines[1], "# ") {
		return nil, fmt.Errorf("%w: not the answer of show servers state (format 1) expected: %q", ErrRefused, firstLine(answer))
	}
	col := map[string]int{}
	for i, name := range strings.Fields(strings.TrimPrefix(lines[1], "# ")) {
		col[name] = i
	}
	for _, name := range []string{"srv_name", "srv_addr", "srv_op_state", "srv_admin_state", "srv_uweight", "srv_iweight", "srv_check_state", "srv_port"} {
		if _, ok := col[name]; !ok {
			return nil, fmt.Errorf("%w: show servers state has no column %s: %q", ErrRefused, name, lines[1])
		}
	}
	var servers []server
	for _, line := range lines[2:] {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < len(col) {
			return nil, fmt.Errorf("%w: show servers state: %d fields, want %d: %q", ErrRefused, len(f), len(col), line)
		}
		s := server{name: f[col["srv_name"]]}
		var checkState int
		var err error
		for _, n := range []struct {
			dst  *int
			name string
		}{{&s.op, "srv_op_state"}, {&s.admin, "srv_admin_state"}, {&s.weight, "srv_uweight"}, {&s.iweight, "srv_iweight"}, {&checkState, "srv_check_state"}} {
			if *n.dst, err = strconv.Atoi(f[col[n.name]]); err != nil {
				return nil, fmt.Errorf("%w: show servers state: %s %q of server %s is not a number", ErrRefused, n.name, f[col[n.name]], s.name)
			}
		}
		s.checks = checkState&chkEnabled != 0
		// A server without an address (init-addr none) shows "-".
		if ip, err := netip.ParseAddr(f[col["srv_addr"]]); err == nil {
			if port, err := strconv.ParseUint(f[col["srv_port"]], 10, 16); err == nil {
				s.addr = netip.AddrPortFrom(ip.Unmap(), uint16(port))
			}
		}
		servers = append(servers, s)
	}
	return servers, nil
}

// stat is what Drain, Counts and the error messages need from a server's
// line of "show stat".
type stat struct {
	sessions int    // scur: streams the server holds now
	queued   int    // qcur: requests waiting for the server
	status   string // UP, DOWN, DRAIN, MAINT, "no check"...
	check    string // check_status and last_chk: "L4CON Connection refused"
	tracked  string // the server it tracks ("web/blue"), or ""
	http     bool   // HAProxy counts the server's HTTP responses (hrsp_*): the backend is in mode http
	counters
}

// counters are a server's running totals of "show stat", from which Counts
// adds up a slot's responses.
type counters struct {
	responses  int64 // hrsp_1xx to hrsp_5xx and hrsp_other: responses the server sent
	responses5 int64 // hrsp_5xx
	eresp      int64 // response errors: no response (HAProxy answers 502 or 504 itself, counted in no hrsp_*), or srv_abrt
	srvAbrt    int64 // srv_abrt: responses the server cut short (counted in hrsp_* and in eresp)
	econ       int64 // connections that failed, with no retry left
	wretr      int64 // connections that failed and were tried again on the server
	wredis     int64 // requests sent elsewhere after their connection to the server failed
}

// statCSV reads a CSV answer of "show stat": its header line, which
// starts with "# ", gives the columns by name.
func statCSV(answer string, need ...string) (col map[string]int, rows [][]string, err error) {
	if !strings.HasPrefix(answer, "# ") {
		return nil, nil, fmt.Errorf("%w: not the answer of show stat expected: %q", ErrRefused, firstLine(answer))
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(answer, "# ")))
	r.FieldsPerRecord = -1
	rows, err = r.ReadAll()
	if err != nil || len(rows) == 0 {
		return nil, nil, fmt.Errorf("%w: show stat: unreadable CSV: %v", ErrRefused, err)
	}
	col = map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	for _, name := range need {
		if _, ok := col[name]; !ok {
			return nil, nil, fmt.Errorf("%w: show stat has no column %s", ErrRefused, name)
		}
	}
	return col, rows[1:], nil
}

// parseStat reads the CSV answer of "show stat <backend> 4 -1" into the
// servers' stats by name.
func parseStat(answer string) (map[string]stat, error) {
	col, rows, err := statCSV(answer, "svname", "scur", "qcur", "status")
	if err != nil {
		return nil, err
	}
	field := func(row []string, name string) string {
		if i, ok := col[name]; ok && i < len(row) {
			return row[i]
		}
		return ""
	}
	stats := map[string]stat{}
	for _, row := range rows {
		name := field(row, "svname")
		if name == "" || name == "BACKEND" || name == "FRONTEND" {
			continue
		}
		st := stat{
			status:  field(row, "status"),
			check:   strings.TrimSpace(field(row, "check_status") + " " + field(row, "last_chk")),
			tracked: field(row, "tracked"),
			// In mode tcp the hrsp_* fields are empty.
			http: field(row, "hrsp_2xx") != "",
		}
		for _, n := range []struct {
			dst  *int
			name string
		}{{&st.sessions, "scur"}, {&st.queued, "qcur"}} {
			v := field(row, n.name)
			if v == "" {
				continue
			}
			if *n.dst, err = strconv.Atoi(v); err != nil {
				return nil, fmt.Errorf("%w: show stat: %s %q of server %s is not a number", ErrRefused, n.name, v, name)
			}
		}
		var hrsp [6]int64
		for _, n := range []struct {
			dst  *int64
			name string
		}{
			{&hrsp[0], "hrsp_1xx"}, {&hrsp[1], "hrsp_2xx"}, {&hrsp[2], "hrsp_3xx"}, {&hrsp[3], "hrsp_4xx"}, {&hrsp[4], "hrsp_5xx"}, {&hrsp[5], "hrsp_other"},
			{&st.eresp, "eresp"}, {&st.srvAbrt, "srv_abrt"}, {&st.econ, "econ"}, {&st.wretr, "wretr"}, {&st.wredis, "wredis"},
		} {
			v := field(row, n.name)
			if v == "" {
				continue
			}
			if *n.dst, err = strconv.ParseInt(v, 10, 64); err != nil {
				return nil, fmt.Errorf("%w: show stat: %s %q of server %s is not a number", ErrRefused, n.name, v, name)
			}
		}
		for _, n := range hrsp {
			st.responses += n
		}
		st.responses5 = hrsp[4]
		stats[name] = st
	}
	return stats, nil
}

// backendStat is what PreflightSplit needs from the backend's line of
// "show stat".
type backendStat struct {
	mode string // http, tcp
	algo string // roundrobin, static-rr, leastconn, first, source...; random is "unknown" in 2.6
}

// parseBackendStat reads the CSV answer of "show stat <backend> 2 -1".
func parseBackendStat(answer string) (backendStat, error) {
	col, rows, err := statCSV(answer, "svname", "mode", "algo")
	if err != nil {
		return backendStat{}, err
	}
	for _, row := range rows {
		if len(row) > max(col["svname"], col["mode"], col["algo"]) && row[col["svname"]] == "BACKEND" {
			return backendStat{mode: row[col["mode"]], algo: row[col["algo"]]}, nil
		}
	}
	return backendStat{}, fmt.Errorf("%w: show stat has no BACKEND line", ErrRefused)
}

// slotOf tells which slot a server belongs to by its name: "blue", or
// "blue" and a number ("blue1", "blue2"... as "server-template blue 3"
// names them), and the number (0 for the bare name). Other servers of the
// backend belong to no slot and are left alone.
func slotOf(name string) (bluegreen.Slot, int, bool) {
	for _, slot := range []bluegreen.Slot{bluegreen.Blue, bluegreen.Green} {
		rest, ok := strings.CutPrefix(name, string(slot))
		if !ok {
			continue
		}
		if rest == "" {
			return slot, 0, true
		}
		if n, err := strconv.Atoi(rest); err == nil && n > 0 && rest[0] != '0' && rest[0] != '+' {
			return slot, n, true
		}
	}
	return bluegreen.None, 0, false
}

// slotServers returns the servers of slot in the order of their numbers:
// the bare name first, then 1, 2, ... 10.
func slotServers(servers []server, slot bluegreen.Slot) []server {
	var out []server
	for _, s := range servers {
		if sl, _, ok := slotOf(s.name); ok && sl == slot {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b server) int {
		_, na, _ := slotOf(a.name)
		_, nb, _ := slotOf(b.name)
		return na - nb
	})
	return out
}

// routing is what the servers' administrative states and weights say of
// the traffic: the slot that takes all new requests, or, during a split,
// the base and the canary that takes percent of them.
type routing struct {
	active  bluegreen.Slot // the slot with all new requests, or the base of a split
	canary  bluegreen.Slot // None unless split
	percent int            // the canary's share, 1-99
	why     string         // when active is None: what the servers show instead
	err     error          // both slots ready, with weights that no Split set
}

// readRouting reads the routing from the servers:
//
//   - the slot with a server in state ready while the other slot has none
//     is active;
//   - servers of both slots ready at the weights of the config is how a
//     backend is written before the first switch (and how HAProxy comes
//     back from a restart that did not load its server states): None;
//   - servers of both slots ready, at other weights, is a split: each
//     slot's ready servers have one weight, the greatest common divisor of
//     the two weights is odd when blue is the base and even when green is
//     (see splitWeights), and the canary's percent is its share of the
//     total weight;
//   - no server of either slot ready routes to no slot: None.
func readRouting(servers []server) routing {
	readyOf := func(slot bluegreen.Slot) []server {
		var out []server
		for _, s := range slotServers(servers, slot) {
			if s.state() == ready {
				out = append(out, s)
			}
		}
		return out
	}
	blue, green := readyOf(bluegreen.Blue), readyOf(bluegreen.Green)
	switch {
	case len(blue) > 0 && len(green) == 0:
		return routing{active: bluegreen.Blue}
	case len(green) > 0 && len(blue) == 0:
		return routing{active: bluegreen.Green}
	case len(blue) == 0:
		return routing{why: "no server of either slot is ready"}
	}
	both := append(slices.Clone(blue), green...)
	if !slices.ContainsFunc(both, func(s server) bool { return s.weight != s.iweight }) {
		return routing{why: "servers of both slots are ready"}
	}
	wb, okb := oneWeight(blue)
	wg, okg := oneWeight(green)
	if !okb || !okg || wb == 0 || wg == 0 {
		err := fmt.Errorf("%w: servers of both slots are ready, at weights that no split set (%s): switch to one slot, or set their weights back to the config's (\"set weight BK/SRV 100%%\")",
			ErrNoServer, weights(both))
		return routing{why: err.Error(), err: err}
	}
	base, canary, nb, wBase, nc, wCanary := bluegreen.Blue, bluegreen.Green, len(blue), wb, len(green), wg
	if gcd(wb, wg)%2 == 0 {
		base, canary, nb, wBase, nc, wCanary = canary, base, nc, wCanary, nb, wBase
	}
	pct := int(math.Round(100 * float64(nc*wCanary) / float64(nb*wBase+nc*wCanary)))
	return routing{active: base, canary: canary, percent: min(max(pct, 1), 99)}
}

// String says where new requests go: "blue", "blue, 10% to green".
func (r routing) String() string {
	switch {
	case r.canary != bluegreen.None:
		return fmt.Sprintf("%s, %d%% to %s", r.active, r.percent, r.canary)
	case r.active != bluegreen.None:
		return r.active.String()
	}
	return "no slot"
}

// activeSlot is the slot readRouting finds active, or None and why.
func activeSlot(servers []server) (bluegreen.Slot, string) {
	r := readRouting(servers)
	return r.active, r.why
}

// oneWeight returns the weight that all of servers have.
func oneWeight(servers []server) (int, bool) {
	for _, s := range servers[1:] {
		if s.weight != servers[0].weight {
			return 0, false
		}
	}
	return servers[0].weight, true
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// weights lists servers with their weights, for messages: "blue 9, green 1".
func weights(servers []server) string {
	var w []string
	for _, s := range servers {
		w = append(w, fmt.Sprintf("%s %d", s.name, s.weight))
	}
	return strings.Join(w, ", ")
}

// names lists the names of servers, for messages.
func names(servers []server) string {
	var n []string
	for _, s := range servers {
		n = append(n, s.name)
	}
	return strings.Join(n, ", ")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
