package haproxy

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

// Answers of HAProxy 2.6.12, as read from its socket: a backend whose blue
// server was set to ::1 and put in drain, green DOWN in state ready, a
// server of the config's "disabled" made ready again (admin 4: CMAINT is
// only a record), and one without checks in maintenance.
const serversState = `1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
3 web 1 blue ::1 2 8 1 1 815 8 2 0 14 0 0 0 - 19083 - 0 0 - - 0
3 web 2 green 127.0.0.1 0 0 1 1 232 6 3 0 14 0 0 0 - 19082 - 0 0 - - 0
3 web 3 green1 127.0.0.1 2 4 1 1 232 6 3 0 14 0 0 0 - 19084 - 0 0 - - 0
3 web 4 sorry 127.0.0.1 0 5 0 1 232 1 0 0 0 0 0 0 - 19085 - 0 0 - - 0
`

const showStat = `# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo
web,blue,0,0,1,1,,1,82,118,,0,,0,0,0,0,DRAIN,1,1,0,1,2,21,610,,1,3,5,,1,,2,0,,1,L4OK,,0,0,1,0,0,0,0,,,,1,0,0,,,,,22,,,0,0,1,3001,,,,Layer4 check passed,,2,3,4,,,,[::1]:19083,,http,roundrobin
web,green,2,3,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,4,4,22,55,,1,3,2,,0,web/blue,2,0,,0,L4CON,,0,0,0,0,0,0,0,,,,0,0,0,,,,,-1,"Connection refused, again",,0,0,0,0,,,,Layer4 connection problem,,2,3,0,,,,127.0.0.1:19082,,http,roundrobin
web,BACKEND,0,0,1,1,,1,82,118,,0,,0,0,0,0,UP,1,1,0,,0,22,0,,1,3,0,,1,,1,0,,1,,,,0,1,0,0,0,0,,,,1,0,0,0,0,0,0,22,,,0,0,1,3001,,,,,,,,,,,,,,http,roundrobin
`

func TestHAProxyParseServersState(t *testing.T) {
	got, err := parseServersState(serversState)
	if err != nil {
		t.Fatal(err)
	}
	want := []server{
		{name: "blue", addr: netip.MustParseAddrPort("[::1]:19083"), op: 2, admin: 8, weight: 1, iweight: 1, checks: true},
		{name: "green", addr: netip.MustParseAddrPort("127.0.0.1:19082"), op: 0, admin: 0, weight: 1, iweight: 1, checks: true},
		{name: "green1", addr: netip.MustParseAddrPort("127.0.0.1:19084"), op: 2, admin: 4, weight: 1, iweight: 1, checks: true},
		{name: "sorry", addr: netip.MustParseAddrPort("127.0.0.1:19085"), op: 0, admin: 5, weight: 0, iweight: 1},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(server{}), cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("parseServersState (-want +got):\n%s", diff)
	}
	states := map[string]adminState{}
	for _, s := range got {
		states[s.name] = s.state()
	}
	if diff := cmp.Diff(map[string]adminState{"blue": drain, "green": ready, "green1": ready, "sorry": maint}, states); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}

	for _, bad := range []string{
		"Can't find backend.",
		"Permission denied",
		"2\n# be_id be_name srv_id srv_name\n",                     // a format of the future
		"1\n# be_id be_name srv_id srv_name srv_addr\n3 web 1 b\n", // columns missing
		"1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_port\n3 web 1 blue 127.0.0.1 2\n", // a line cut short
		"1\n# srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_port\nblue 127.0.0.1 x 0 1 80\n",                       // not a number
	} {
		if _, err := parseServersState(bad); !errors.Is(err, ErrRefused) {
			t.Errorf("parseServersState(%q) = %v, want an error wrapping ErrRefused", bad, err)
		}
	}
}

func TestHAProxyParseStat(t *testing.T) {
	got, err := parseStat(showStat)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]stat{
		"blue":  {sessions: 1, queued: 0, status: "DRAIN", check: "L4OK", http: true, counters: counters{responses: 1}},
		"green": {sessions: 0, queued: 2, status: "DOWN", check: "L4CON Connection refused, again", tracked: "web/blue", http: true},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(stat{}, counters{})); diff != "" {
		t.Errorf("parseStat (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"No such proxy.", "# pxname,svname\nweb,blue\n", "# pxname,svname,qcur,scur,status\nweb,blue,x,1,UP\n"} {
		if _, err := parseStat(bad); !errors.Is(err, ErrRefused) {
			t.Errorf("parseStat(%q) = %v, want an error wrapping ErrRefused", bad, err)
		}
	}
}

func TestHAProxySlotOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		slot bluegreen.Slot
		n    int
		ok   bool
	}{
		{"blue", bluegreen.Blue, 0, true},
		{"green", bluegreen.Green, 0, true},
		{"blue1", bluegreen.Blue, 1, true},
		{"green12", bluegreen.Green, 12, true},
		{"blue0", "", 0, false},
		{"blue01", "", 0, false},
		{"blue-1", "", 0, false},
		{"blue+1", "", 0, false},
		{"bluegreen", "", 0, false},
		{"Blue", "", 0, false},
		{"sorry", "", 0, false},
	} {
		slot, n, ok := slotOf(tc.name)
		if slot != tc.slot || n != tc.n || ok != tc.ok {
			t.Errorf("slotOf(%q) = %q, %d, %v; want %q, %d, %v", tc.name, slot, n, ok, tc.slot, tc.n, tc.ok)
		}
	}
	servers := []server{{name: "blue10"}, {name: "green"}, {name: "blue2"}, {name: "blue"}, {name: "web1"}}
	if got := names(slotServers(servers, bluegreen.Blue)); got != "blue, blue2, blue10" {
		t.Errorf("slotServers(blue) = %s, want blue, blue2, blue10", got)
	}
}

// Admin states of srv_admin_state for the tables.
const (
	admReady        = 0
	admDrain        = admForcedDrain
	admMaint        = admForcedMaint
	admConfigMaint  = admForcedMaint | 0x04 // "disabled" in the config
	admConfigRecord = 0x04                  // "disabled", then made ready
)

func TestHAProxyActiveSlot(t *testing.T) {
	srv := func(name string, admin int) server {
		return server{name: name, admin: admin, op: opStopped, weight: 1, iweight: 1}
	}
	for _, tc := range []struct {
		name    string
		servers []server
		want    bluegreen.Slot
	}{
		{"as written before the first switch: both enabled", []server{srv("blue", admReady), srv("green", admReady)}, bluegreen.None},
		{"green disabled in the config", []server{srv("blue", admReady), srv("green", admConfigMaint)}, bluegreen.Blue},
		{"both disabled in the config", []server{srv("blue", admConfigMaint), srv("green", admConfigMaint)}, bluegreen.None},
		{"after a switch to green, before the drain", []server{srv("blue", admDrain), srv("green", admReady)}, bluegreen.Green},
		{"after the drain", []server{srv("blue", admMaint), srv("green", admReady)}, bluegreen.Green},
		{"disabled in the config, then switched to", []server{srv("blue", admConfigRecord), srv("green", admMaint)}, bluegreen.Blue},
		{"one replica of three ready", []server{srv("blue1", admMaint), srv("blue2", admReady), srv("blue3", admMaint), srv("green1", admMaint)}, bluegreen.Blue},
		{"other servers do not count", []server{srv("sorry", admReady), srv("blue", admMaint), srv("green", admReady)}, bluegreen.Green},
		{"both draining", []server{srv("blue", admDrain), srv("green", admDrain)}, bluegreen.None},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, why := activeSlot(tc.servers); got != tc.want {
				t.Errorf("activeSlot = %s (%s), want %s", got, why, tc.want)
			}
		})
	}
}

func TestHAProxyPlanSwitch(t *testing.T) {
	ap := netip.MustParseAddrPort
	srv := func(name, addr string, admin int) server {
		s := server{name: name, admin: admin, op: opRunning, weight: 1, iweight: 1}
		if addr != "" {
			s.addr = ap(addr)
		}
		return s
	}
	type change struct{ Assign, Retire string }
	show := func(p plan) change {
		var as []string
		for _, a := range p.assign {
			as = append(as, a.srv.name+"="+a.addr.String())
		}
		return change{Assign: strings.Join(as, " "), Retire: names(p.retire)}
	}
	for _, tc := range []struct {
		name    string
		servers []server
		slot    bluegreen.Slot
		addrs   []string
		want    change
		wantErr error
	}{
		{
			name:    "first switch, both enabled at placeholders",
			servers: []server{srv("blue", "127.0.0.1:1", admReady), srv("green", "127.0.0.1:1", admReady)},
			slot:    bluegreen.Blue, addrs: []string{"127.0.0.1:8081"},
			want: change{Assign: "blue=127.0.0.1:8081", Retire: "green"},
		},
		{
			name:    "back to a slot in maintenance, at its own address",
			servers: []server{srv("blue", "127.0.0.1:8081", admMaint), srv("green", "127.0.0.1:8080", admReady)},
			slot:    bluegreen.Blue, addrs: []string{"127.0.0.1:8081"},
			want: change{Assign: "blue=127.0.0.1:8081", Retire: "green"},
		},
		{
			name: "replicas keep the addresses they have, whatever order the engine gives",
			servers: []server{
				srv("green1", "127.0.0.1:8091", admMaint), srv("green2", "127.0.0.1:8092", admMaint), srv("green3", "127.0.0.1:8093", admMaint),
				srv("blue1", "127.0.0.1:8081", admReady), srv("blue2", "127.0.0.1:8082", admReady), srv("blue3", "127.0.0.1:8083", admDrain),
			},
			slot: bluegreen.Green, addrs: []string{"127.0.0.1:8093", "127.0.0.1:8091", "127.0.0.1:8092"},
			want: change{Assign: "green1=127.0.0.1:8091 green2=127.0.0.1:8092 green3=127.0.0.1:8093", Retire: "blue1, blue2"},
		},
		{
			name: "new addresses go to the servers in order; a server left without one is drained",
			servers: []server{
				srv("green1", "127.0.0.1:1", admReady), srv("green2", "127.0.0.1:9002", admReady), srv("green3", "127.0.0.1:1", admReady),
				srv("blue", "127.0.0.1:8081", admReady),
			},
			slot: bluegreen.Green, addrs: []string{"127.0.0.1:7001", "127.0.0.1:9002"},
			want: change{Assign: "green2=127.0.0.1:9002 green1=127.0.0.1:7001", Retire: "green3, blue"},
		},
		{
			name:    "switch to the slot that is live: nothing to retire",
			servers: []server{srv("blue", "127.0.0.1:8081", admMaint), srv("green", "127.0.0.1:8080", admReady)},
			slot:    bluegreen.Green, addrs: []string{"127.0.0.1:8080"},
			want: change{Assign: "green=127.0.0.1:8080"},
		},
		{
			name:    "more addresses than servers",
			servers: []server{srv("blue", "127.0.0.1:8081", admReady), srv("green", "127.0.0.1:8080", admReady)},
			slot:    bluegreen.Green, addrs: []string{"127.0.0.1:8080", "127.0.0.1:8081"},
			wantErr: ErrNoServer,
		},
		{
			name:    "no server for the other slot",
			servers: []server{srv("blue", "127.0.0.1:8081", admReady), srv("sorry", "127.0.0.1:8080", admReady)},
			slot:    bluegreen.Blue, addrs: []string{"127.0.0.1:8081"},
			wantErr: ErrNoServer,
		},
		{
			name:    "weight 0",
			servers: []server{{name: "blue", admin: admMaint, weight: 0}, srv("green", "127.0.0.1:8080", admReady)},
			slot:    bluegreen.Blue, addrs: []string{"127.0.0.1:8081"},
			wantErr: ErrNoServer,
		},
		{
			name:    "state inherited from a tracked server",
			servers: []server{srv("blue", "127.0.0.1:8081", admInheritMaint), srv("green", "127.0.0.1:8080", admReady)},
			slot:    bluegreen.Blue, addrs: []string{"127.0.0.1:8081"},
			wantErr: ErrNoServer,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := parseAddrs(tc.addrs)
			if err != nil {
				t.Fatal(err)
			}
			p, err := planSwitch(tc.servers, "web", tc.slot, want)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("planSwitch: %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				t.Log(err)
				return
			}
			if diff := cmp.Diff(tc.want, show(p)); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHAProxyAddrAnswer(t *testing.T) {
	for answer, ok := range map[string]bool{
		"no need to change the addr, port changed from '19081' to '19083' by 'stats socket command'":         true,
		"no need to change the addr, no need to change the port by 'stats socket command'":                   true,
		"no need to change the addr by 'stats socket command'":                                               true,
		"IP changed from '127.0.0.1' to '::1', no need to change the port by 'stats socket command'":         true,
		"IP changed from '127.0.0.1' to '10.0.0.1', port changed from '1' to '80' by 'stats socket command'": true,
		"Invalid addr 'localhost' by 'stats socket command'":                                                 false,
		"No such server.":                   false,
		"Permission denied":                 false,
		"":                                  false,
		"IP changed from '1' to '2' by 'x'": false,
	} {
		if got := addrAnswer.MatchString(answer); got != ok {
			t.Errorf("addrAnswer matches %q: %v, want %v", answer, got, ok)
		}
	}
}

func TestHAProxyValidate(t *testing.T) {
	for _, tc := range []struct {
		socket string
		want   endpoint
		ok     bool
	}{
		{"/run/haproxy/admin.sock", endpoint{"unix", "/run/haproxy/admin.sock"}, true},
		{"unix@/run/haproxy/admin.sock", endpoint{"unix", "/run/haproxy/admin.sock"}, true},
		{"ipv4@127.0.0.1:9999", endpoint{"tcp4", "127.0.0.1:9999"}, true},
		{"ipv6@[::1]:9999", endpoint{"tcp6", "[::1]:9999"}, true},
		{"", endpoint{}, false},
		{"admin.sock", endpoint{}, false},
		{"127.0.0.1:9999", endpoint{}, false},
		{"ipv4@localhost:9999", endpoint{}, false},
		{"ipv4@[::1]:9999", endpoint{}, false},
		{"ipv6@127.0.0.1:9999", endpoint{}, false},
		{"ipv4@127.0.0.1:0", endpoint{}, false},
		{"ipv4@127.0.0.1", endpoint{}, false},
		{"/run/haproxy/admin.sock\nset server web/blue state maint", endpoint{}, false},
		{"abns@haproxy", endpoint{}, false},
	} {
		got, err := parseSocket(tc.socket)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("parseSocket(%q) = %v, %v; want %v", tc.socket, got, err, tc.want)
		}
		if !tc.ok && !errors.Is(err, bluegreen.ErrBadInput) {
			t.Errorf("parseSocket(%q) = %v, %v; want an error wrapping ErrBadInput", tc.socket, got, err)
		}
	}
	for _, name := range []string{"", "web;show info", "web\nset server web/blue state maint", "web ", `we\b`, "wéb", strings.Repeat("w", 129)} {
		if err := checkName("haproxy.backend", name); !errors.Is(err, bluegreen.ErrBadInput) {
			t.Errorf("checkName(%q) = %v, want an error wrapping ErrBadInput", name, err)
		}
	}
	for _, name := range []string{"web", "app_1.be:http-2"} {
		if err := checkName("haproxy.backend", name); err != nil {
			t.Errorf("checkName(%q) = %v", name, err)
		}
	}
	for _, addrs := range [][]string{
		nil, {}, {"localhost:8080"}, {"127.0.0.1"}, {"127.0.0.1:0"}, {"127.0.0.1:65536"}, {"[fe80::1%eth0]:80"},
		{"127.0.0.1:8080;shutdown sessions server web/blue"}, {"127.0.0.1:8080\nset server web/blue state maint"},
		{"127.0.0.1:8080", "no port"}, {" 127.0.0.1:8080"},
	} {
		if _, err := parseAddrs(addrs); !errors.Is(err, bluegreen.ErrBadInput) {
			t.Errorf("parseAddrs(%q) = %v, want an error wrapping ErrBadInput", addrs, err)
		}
	}
	got, err := parseAddrs([]string{"127.0.0.1:8080", "[::1]:8081", "[::ffff:10.0.0.1]:80"})
	if err != nil || got[0].String() != "127.0.0.1:8080" || got[1].String() != "[::1]:8081" || got[2].String() != "10.0.0.1:80" {
		t.Errorf("parseAddrs = %v, %v", got, err)
	}
	for _, line := range []string{"show info;show sess", "set server web/blue state ready\n", `set server web/bl\ ue state ready`} {
		if err := checkLine(line); !errors.Is(err, bluegreen.ErrBadInput) {
			t.Errorf("checkLine(%q) = %v, want an error wrapping ErrBadInput", line, err)
		}
	}
}
