package haproxy

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

// showStatCounted is the answer of HAProxy 2.6.12 to "show stat web 4 -1"
// after blue was put in maint and green answered a 500, closed a
// connection without a response (eresp, the client got HAProxy's 502),
// cut a response short (srv_abrt, counted in eresp and hrsp_2xx) and
// answered 20 requests; a server where nothing listens, without checks,
// was sent one request alone (3 retries, then econ) and 13 of 20 beside
// green (each redispatched to green: wredis). That server was named
// "closed"; it is green1 here.
const showStatCounted = `# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,
web,blue,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,0,0,1,5,5,,1,3,1,,0,,2,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:18081,,http,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,
web,green,0,0,0,1,,23,1899,2872,,0,,0,2,0,0,UP,1,1,0,0,1,1,0,,1,3,2,,23,,2,20,,20,L4OK,,0,0,21,0,0,1,0,,,,22,0,1,,,,,1,,,0,1,1,1,,,,Layer4 check passed,,2,3,4,,,,127.0.0.1:18082,,http,,,,,,,,0,23,0,,,2,,0,1,7,7,0,2,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,
web,green1,0,0,0,1,,17,82,217,,0,,1,0,3,13,no check,1,1,0,,,4,,,1,3,3,,14,,2,13,,14,,,,0,0,0,0,0,0,,,,0,0,0,,,,,1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:18083,,http,,,,,,,,0,17,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,
`

// showStatTCP is the answer for a backend in mode tcp: no hrsp_*.
const showStatTCP = `# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,
tcpb,blue,0,0,0,0,,0,0,0,,0,,0,0,0,0,no check,1,1,0,,,178,,,1,9,1,,0,,2,0,,0,,,,,,,,,,,,,,0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:18081,,tcp,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,0,1,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,
`

// showStatBackend is the answer of "show stat web 2 -1".
const showStatBackend = `# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,
web,BACKEND,0,0,0,1,999,24,1981,3089,0,0,,1,2,3,13,UP,2,2,0,,0,178,0,,1,3,0,,37,,1,18,,20,,,,0,21,0,0,3,0,,,,24,0,1,0,0,0,0,1,,,0,1,1,1,,,,,,,,,,,,,,http,roundrobin,,,,,,,0,40,0,0,0,,,0,1,7,7,0,,,,,2,0,0,0,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,2,0,40,40,2597,1830,0,0,
`

func TestHAProxyParseStatCounters(t *testing.T) {
	stats, err := parseStat(showStatCounted)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]counters{}
	for name, st := range stats {
		got[name] = st.counters
		if !st.http {
			t.Errorf("%s: http false, want true in mode http", name)
		}
	}
	want := map[string]counters{
		"blue":   {},
		"green":  {responses: 22, responses5: 1, eresp: 2, srvAbrt: 1},
		"green1": {econ: 1, wretr: 3, wredis: 13},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(counters{})); diff != "" {
		t.Errorf("parseStat (-want +got):\n%s", diff)
	}
	// green: 22 responses, 1 with none (the 502), 17 failed attempts on
	// green1; errors: the 500, the 502 and the 17. The response cut short
	// counts once, as its 200.
	for slot, want := range map[bluegreen.Slot]bluegreen.Counts{
		bluegreen.Blue:  {},
		bluegreen.Green: {Requests: 22 + 1 + 17, Errors: 1 + 1 + 17},
	} {
		if got, err := slotCounts(stats, "web", slot); err != nil || got != want {
			t.Errorf("slotCounts(%s) = %+v, %v; want %+v", slot, got, err, want)
		}
	}
	if _, err := slotCounts(map[string]stat{"sorry": {http: true}}, "web", bluegreen.Blue); !errors.Is(err, ErrNoServer) {
		t.Errorf("slotCounts without a blue server: %v, want ErrNoServer", err)
	}

	tcp, err := parseStat(showStatTCP)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := slotCounts(tcp, "tcpb", bluegreen.Blue); !errors.Is(err, ErrNoSplit) {
		t.Errorf("slotCounts in mode tcp: %v, want ErrNoSplit", err)
	}
}

func TestHAProxyParseBackendStat(t *testing.T) {
	got, err := parseBackendStat(showStatBackend)
	if err != nil || got != (backendStat{mode: "http", algo: "roundrobin"}) {
		t.Errorf("parseBackendStat = %+v, %v; want http, roundrobin", got, err)
	}
	for _, bad := range []string{"No such proxy.", "# pxname,svname,mode\nweb,BACKEND,http\n", "# pxname,svname,mode,algo\nweb,blue,http,\n"} {
		if _, err := parseBackendStat(bad); !errors.Is(err, ErrRefused) {
			t.Errorf("parseBackendStat(%q) = %v, want an error wrapping ErrRefused", bad, err)
		}
	}
}

// splitServers returns nb servers of base at weight wb and nc of the other
// slot at wc, all ready, with weight 1 in the config.
func splitServers(base bluegreen.Slot, nb, wb, nc, wc int) []server {
	var out []server
	for i := range nb {
		out = append(out, server{name: fmt.Sprintf("%s%d", base, i+1), weight: wb, iweight: 1})
	}
	for i := range nc {
		out = append(out, server{name: fmt.Sprintf("%s%d", base.Other(), i+1), weight: wc, iweight: 1})
	}
	return out
}

func TestHAProxySplitWeights(t *testing.T) {
	none := func(int, int) bool { return false }
	for _, tc := range []struct {
		base            bluegreen.Slot
		nb, nc, pct     int
		wantB, wantC    int
		config          func(int, int) bool
		wantShareWithin float64
	}{
		{bluegreen.Blue, 1, 1, 10, 9, 1, none, 0},
		{bluegreen.Green, 1, 1, 10, 18, 2, none, 0},
		{bluegreen.Blue, 1, 1, 1, 99, 1, none, 0},
		{bluegreen.Green, 1, 1, 99, 2, 198, none, 0},
		{bluegreen.Blue, 3, 2, 10, 6, 1, none, 0},
		{bluegreen.Green, 3, 2, 20, 16, 6, none, 0},
		// 1:1 is how the config has them: not a split for readRouting.
		{bluegreen.Blue, 1, 1, 50, 3, 3, func(b, c int) bool { return b == 1 && c == 1 }, 0},
		{bluegreen.Green, 1, 1, 50, 2, 2, none, 0},
		// Beyond what 1-256 make exact: the nearest.
		{bluegreen.Blue, 1, 3, 1, 256, 1, none, 0.002},
		{bluegreen.Green, 1, 3, 1, 256, 2, none, 0.013},
	} {
		name := fmt.Sprintf("%d%% to %d servers beside %d of %s", tc.pct, tc.nc, tc.nb, tc.base)
		wb, wc := splitWeights(tc.base, tc.nb, tc.nc, tc.pct, tc.config)
		if wb != tc.wantB || wc != tc.wantC {
			t.Errorf("%s: weights %d and %d, want %d and %d", name, wb, wc, tc.wantB, tc.wantC)
		}
		share := float64(tc.nc*wc) / float64(tc.nb*wb+tc.nc*wc)
		if d := share - float64(tc.pct)/100; d > tc.wantShareWithin+1e-9 || d < -tc.wantShareWithin-1e-9 {
			t.Errorf("%s: share %.4f", name, share)
		}
	}

	// Every percent, for a few numbers of servers at weight 1 in the
	// config: readRouting reads back the base, the canary and, whenever
	// the weights can be exact, the percent.
	configOnes := func(b, c int) bool { return b == 1 && c == 1 }
	for _, base := range []bluegreen.Slot{bluegreen.Blue, bluegreen.Green} {
		limit := map[bluegreen.Slot]int{bluegreen.Blue: maxWeight, bluegreen.Green: maxWeight / 2}[base]
		for _, nb := range []int{1, 2, 3, 5, 10} {
			for _, nc := range []int{1, 2, 3, 5, 10} {
				for pct := 1; pct <= 99; pct++ {
					wb, wc := splitWeights(base, nb, nc, pct, configOnes)
					r := readRouting(splitServers(base, nb, wb, nc, wc))
					g := gcd((100-pct)*nc, pct*nb)
					exact := (100-pct)*nc/g <= limit && pct*nb/g <= limit
					if r.active != base || r.canary != base.Other() || r.err != nil || exact && r.percent != pct {
						t.Fatalf("%d%% to %d servers beside %d of %s: weights %d, %d read back as %s (%v)", pct, nc, nb, base, wb, wc, r, r.err)
					}
				}
			}
		}
	}
}

func TestHAProxyReadRouting(t *testing.T) {
	srv := func(name string, admin, weight, iweight int) server {
		return server{name: name, admin: admin, weight: weight, iweight: iweight}
	}
	for _, tc := range []struct {
		name    string
		servers []server
		want    string
		wantErr bool
	}{
		{"both enabled, as the config has them", []server{srv("blue", admReady, 1, 1), srv("green", admReady, 1, 1)}, "no slot", false},
		{"both enabled at weights of the config other than 1", []server{srv("blue", admReady, 2, 2), srv("green", admReady, 5, 5)}, "no slot", false},
		{"10% to green", []server{srv("blue", admReady, 9, 1), srv("green", admReady, 1, 1)}, "blue, 10% to green", false},
		{"10% to blue", []server{srv("blue", admReady, 2, 1), srv("green", admReady, 18, 1)}, "green, 10% to blue", false},
		{"50% to green", []server{srv("blue", admReady, 3, 1), srv("green", admReady, 3, 1)}, "blue, 50% to green", false},
		{"replicas, 20% to blue", append(splitServers(bluegreen.Green, 3, 16, 2, 6), srv("blue3", admMaint, 1, 1)), "green, 20% to blue", false},
		{"a switch ended the split, weights not set back", []server{srv("blue", admDrain, 9, 1), srv("green", admReady, 1, 1)}, "green", false},
		{"unequal weights in a slot", []server{srv("blue1", admReady, 9, 1), srv("blue2", admReady, 3, 1), srv("green", admReady, 1, 1)}, "no slot", true},
		{"weight 0", []server{srv("blue", admReady, 0, 1), srv("green", admReady, 1, 1)}, "no slot", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := readRouting(tc.servers)
			if r.String() != tc.want || (r.err != nil) != tc.wantErr {
				t.Errorf("readRouting = %s (err %v, why %q), want %s (error: %v)", r, r.err, r.why, tc.want, tc.wantErr)
			}
			if r.err != nil && !errors.Is(r.err, ErrNoServer) {
				t.Errorf("err = %v, want ErrNoServer", r.err)
			}
		})
	}
}

func TestHAProxyPlanSplit(t *testing.T) {
	ap := netip.MustParseAddrPort
	srv := func(name, addr string, admin, weight int) server {
		return server{name: name, addr: ap(addr), admin: admin, op: opRunning, weight: weight, iweight: 1}
	}
	show := func(p plan) string {
		var as, ws []string
		for _, a := range p.assign {
			as = append(as, a.srv.name+"="+a.addr.String())
		}
		for _, w := range p.weights {
			ws = append(ws, fmt.Sprintf("%s %d->%d", w.srv, w.from, w.to))
		}
		return fmt.Sprintf("weights %s; assign %s; retire %s; expect %s", strings.Join(ws, ", "), strings.Join(as, " "), names(p.retire), p.expect)
	}
	addrs := func(s ...string) []netip.AddrPort {
		var out []netip.AddrPort
		for _, a := range s {
			out = append(out, ap(a))
		}
		return out
	}
	for _, tc := range []struct {
		name          string
		servers       []server
		base          bluegreen.Slot
		bAddrs, cAddr []netip.AddrPort
		pct           int
		want          string
		wantErr       error
	}{
		{
			name:    "first step, green in maintenance at the placeholder",
			servers: []server{srv("blue", "127.0.0.1:8081", admReady, 1), srv("green", "127.0.0.1:1", admMaint, 1)},
			base:    bluegreen.Blue, bAddrs: addrs("127.0.0.1:8081"), cAddr: addrs("127.0.0.1:8080"), pct: 10,
			want: "weights blue 1->9; assign blue=127.0.0.1:8081 green=127.0.0.1:8080; retire ; expect blue, 10% to green",
		},
		{
			name:    "next step",
			servers: []server{srv("blue", "127.0.0.1:8081", admReady, 9), srv("green", "127.0.0.1:8080", admReady, 1)},
			base:    bluegreen.Blue, bAddrs: addrs("127.0.0.1:8081"), cAddr: addrs("127.0.0.1:8080"), pct: 50,
			want: "weights blue 9->3, green 1->3; assign blue=127.0.0.1:8081 green=127.0.0.1:8080; retire ; expect blue, 50% to green",
		},
		{
			name: "replicas: a ready server of the base left without an address is drained",
			servers: []server{
				srv("green1", "127.0.0.1:8091", admReady, 1), srv("green2", "127.0.0.1:8092", admReady, 1),
				srv("blue1", "127.0.0.1:1", admMaint, 1), srv("blue2", "127.0.0.1:1", admMaint, 1),
			},
			base: bluegreen.Green, bAddrs: addrs("127.0.0.1:8092"), cAddr: addrs("127.0.0.1:8081"), pct: 20,
			want: "weights green2 1->8, blue1 1->2; assign green2=127.0.0.1:8092 blue1=127.0.0.1:8081; retire green1; expect green, 20% to blue",
		},
		{
			name:    "more addresses than servers",
			servers: []server{srv("blue", "127.0.0.1:8081", admReady, 1), srv("green", "127.0.0.1:1", admMaint, 1)},
			base:    bluegreen.Blue, bAddrs: addrs("127.0.0.1:8081"), cAddr: addrs("127.0.0.1:8080", "127.0.0.1:8082"), pct: 10,
			wantErr: ErrNoServer,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := planSplit(tc.servers, "web", tc.base, tc.bAddrs, tc.base.Other(), tc.cAddr, tc.pct)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("planSplit: %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				t.Log(err)
				return
			}
			if got := show(p); got != tc.want {
				t.Errorf("plan:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestHAProxyPlanSwitchEndsSplit(t *testing.T) {
	ap := netip.MustParseAddrPort
	srv := func(name, addr string, admin, weight int) server {
		return server{name: name, addr: ap(addr), admin: admin, op: opRunning, weight: weight, iweight: 1}
	}
	resets := func(p plan) string {
		var ws []string
		for _, w := range p.reset {
			ws = append(ws, fmt.Sprintf("%s %d->%d", w.srv, w.from, w.to))
		}
		return strings.Join(ws, ", ") + "; retire " + names(p.retire)
	}
	split := []server{srv("blue", "127.0.0.1:8081", admReady, 9), srv("green", "127.0.0.1:8080", admReady, 1)}
	for _, tc := range []struct {
		name    string
		servers []server
		slot    bluegreen.Slot
		addr    string
		want    string
	}{
		{"to the canary", split, bluegreen.Green, "127.0.0.1:8080", "blue 9->1; retire blue"},
		{"back to the base", split, bluegreen.Blue, "127.0.0.1:8081", "blue 9->1; retire green"},
		{"not split: weights are left alone", []server{srv("blue", "127.0.0.1:8081", admReady, 5), srv("green", "127.0.0.1:8080", admMaint, 1)},
			bluegreen.Green, "127.0.0.1:8080", "; retire blue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := planSwitch(tc.servers, "web", tc.slot, []netip.AddrPort{ap(tc.addr)})
			if err != nil {
				t.Fatal(err)
			}
			if got := resets(p); got != tc.want {
				t.Errorf("resets %q, want %q", got, tc.want)
			}
		})
	}
}
