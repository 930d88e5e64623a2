package haproxy

import (
	"encoding/csv"
	"fmt"
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
	name   string
	addr   netip.AddrPort // the zero value when HAProxy has none
	op     int
	admin  int
	weight int  // srv_uweight
	checks bool // health checks enabled (srv_check_state has CHK_ST_ENABLED)
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
	for _, name := range []string{"srv_name", "srv_addr", "srv_op_state", "srv_admin_state", "srv_uweight", "srv_check_state", "srv_port"} {
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
		}{{&s.op, "srv_op_state"}, {&s.admin, "srv_admin_state"}, {&s.weight, "srv_uweight"}, {&checkState, "srv_check_state"}} {
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

// stat is what Drain and the error messages need from a server's line of
// "show stat".
type stat struct {
	sessions int    // scur: streams the server holds now
	queued   int    // qcur: requests waiting for the server
	status   string // UP, DOWN, DRAIN, MAINT, "no check"...
	check    string // check_status and last_chk: "L4CON Connection refused"
	tracked  string // the server it tracks ("web/blue"), or ""
}

// parseStat reads the CSV answer of "show stat <backend> 4 -1" into the
// servers' stats by name; the header line starts with "# ".
func parseStat(answer string) (map[string]stat, error) {
	if !strings.HasPrefix(answer, "# ") {
		return nil, fmt.Errorf("%w: not the answer of show stat expected: %q", ErrRefused, firstLine(answer))
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(answer, "# ")))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) == 0 {
		return nil, fmt.Errorf("%w: show stat: unreadable CSV: %v", ErrRefused, err)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	for _, name := range []string{"svname", "scur", "qcur", "status"} {
		if _, ok := col[name]; !ok {
			return nil, fmt.Errorf("%w: show stat has no column %s", ErrRefused, name)
		}
	}
	field := func(row []string, name string) string {
		if i, ok := col[name]; ok && i < len(row) {
			return row[i]
		}
		return ""
	}
	stats := map[string]stat{}
	for _, row := range rows[1:] {
		name := field(row, "svname")
		if name == "" || name == "BACKEND" || name == "FRONTEND" {
			continue
		}
		st := stat{
			status:  field(row, "status"),
			check:   strings.TrimSpace(field(row, "check_status") + " " + field(row, "last_chk")),
			tracked: field(row, "tracked"),
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
		stats[name] = st
	}
	return stats, nil
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

// activeSlot decides the slot that takes traffic from the servers'
// administrative states: the slot with a server in state ready while the
// other slot has none. Both slots ready is how a backend is written before
// the first switch (and how HAProxy comes back from a restart that did not
// load its server states), and neither ready routes to no slot: both give
// None, and why.
func activeSlot(servers []server) (bluegreen.Slot, string) {
	isReady := func(slot bluegreen.Slot) bool {
		return slices.ContainsFunc(slotServers(servers, slot), func(s server) bool { return s.state() == ready })
	}
	blue, green := isReady(bluegreen.Blue), isReady(bluegreen.Green)
	switch {
	case blue && !green:
		return bluegreen.Blue, ""
	case green && !blue:
		return bluegreen.Green, ""
	case blue && green:
		return bluegreen.None, "servers of both slots are ready"
	}
	return bluegreen.None, "no server of either slot is ready"
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
