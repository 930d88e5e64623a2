package nginxconf

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// process is a child of the nginx master, as /proc shows it.
type process struct {
	pid   int
	title string // the cmdline nginx set: "nginx: worker process"
}

// shuttingDown reports whether p is an old worker finishing its requests
// after a reload.
func (p process) shuttingDown() bool {
	return strings.Contains(p.title, "shutting down")
}

// children lists the live processes whose parent is ppid. Processes start
// and exit while /proc is read; one that vanishes midway is left out.
func children(ppid int) ([]process, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var kids []process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(pid)
		if err != nil || st.ppid != ppid || st.state == 'Z' {
			continue
		}
		title, err := cmdline(pid)
		if err != nil {
			continue
		}
		kids = append(kids, process{pid: pid, title: title})
	}
	return kids, nil
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	st, err := readStat(pid)
	return err == nil && st.state != 'Z'
}

type stat struct {
	state byte
	ppid  int
}

// readStat reads the state and parent of pid from /proc/PID/stat:
// "PID (comm) STATE PPID ...". comm may hold spaces and parentheses, so the
// fields are counted from the last ')'.
func readStat(pid int) (stat, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return stat{}, err
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return stat{}, fmt.Errorf("/proc/%d/stat: no ')' in %q", pid, data)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 2 || len(f[0]) != 1 {
		return stat{}, fmt.Errorf("/proc/%d/stat: malformed %q", pid, data)
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return stat{}, fmt.Errorf("/proc/%d/stat: ppid: %w", pid, err)
	}
	return stat{state: f[0][0], ppid: ppid}, nil
}

// cmdline returns the command line of pid with NULs as spaces. nginx
// overwrites it with the process title.
func cmdline(pid int) (string, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(bytes.ReplaceAll(data, []byte{0}, []byte{' '}))), nil
}
