package nginxconf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

// LogFormat is the log_format a canary needs, at http level of the nginx
// config; the server or location that proxies to the upstream logs with
// it to AccessLog ("access_log /var/log/nginx/bluegreen.log bluegreen;").
// Fields after these three are allowed.
const LogFormat = `log_format bluegreen '$upstream_addr $upstream_status $request_time';`

// logFollower reads an access log in the bluegreen format as nginx appends
// to it, and keeps running totals per upstream address. It copes with
// rotation: a new file at the path (logrotate's create, or nginx -s reopen
// after a rename) is read from its start once the old one is read to its
// end, and a file truncated in place (copytruncate) from its start again.
type logFollower struct {
	path   string
	f      *os.File
	ino    uint64
	off    int64
	rest   []byte // a line nginx has not finished writing
	totals map[string]*bluegreen.Counts
}

// start opens the log and skips what it holds: only responses from now on
// count. A log that does not exist yet counts from its creation.
func (l *logFollower) start() error {
	l.totals = map[string]*bluegreen.Counts{}
	if err := l.open(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if l.f != nil {
		off, err := l.f.Seek(0, io.SeekEnd)
		if err != nil {
			return fmt.Errorf("nginx.access_log %s: %w", l.path, err)
		}
		l.off = off
	}
	return nil
}

func (l *logFollower) open() error {
	f, err := os.Open(l.path)
	if err != nil {
		return fmt.Errorf("nginx.access_log %s: %w", l.path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("nginx.access_log %s: %w", l.path, err)
	}
	l.f, l.ino, l.off, l.rest = f, inode(fi), 0, nil
	return nil
}

// read takes in what nginx has written since the last read.
func (l *logFollower) read() error {
	if l.f == nil {
		if err := l.open(); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // not created yet: nothing logged
			}
			return err
		}
	}
	if err := l.drain(); err != nil {
		return err
	}
	fi, err := os.Stat(l.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // renamed away, its successor not created yet
	case err != nil:
		return fmt.Errorf("nginx.access_log %s: %w", l.path, err)
	case inode(fi) != l.ino:
		// Rotated: the old file is read to its end; the new one from its
		// start.
		l.f.Close()
		l.f = nil
		if err := l.open(); err != nil {
			return err
		}
		return l.drain()
	case fi.Size() < l.off:
		// Truncated in place.
		l.off, l.rest = 0, nil
		return l.drain()
	}
	return nil
}

// drain reads l.f from l.off to its end.
func (l *logFollower) drain() error {
	buf := make([]byte, 64<<10)
	for {
		n, err := l.f.ReadAt(buf, l.off)
		l.off += int64(n)
		l.take(buf[:n])
		if errors.Is(err, io.EOF) || n == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("nginx.access_log %s: %w", l.path, err)
		}
	}
}

// take counts the complete lines of data, keeping a partial last line.
func (l *logFollower) take(data []byte) {
	data = append(l.rest, data...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		for _, a := range parseLogLine(string(data[:i])) {
			c := l.totals[a.addr]
			if c == nil {
				c = &bluegreen.Counts{}
				l.totals[a.addr] = c
			}
			c.Requests++
			if a.failed {
				c.Errors++
			}
		}
		data = data[i+1:]
	}
	l.rest = append([]byte(nil), data...)
}

// sum returns the totals of addrs.
func (l *logFollower) sum(addrs []string) bluegreen.Counts {
	var c bluegreen.Counts
	for _, a := range addrs {
		if t := l.totals[a]; t != nil {
			c.Requests += t.Requests
			c.Errors += t.Errors
		}
	}
	return c
}

func (l *logFollower) close() {
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// attempt is one upstream attempt of a logged request.
type attempt struct {
	addr   string
	failed bool
}

// parseLogLine reads "$upstream_addr $upstream_status $request_time": each
// of the first two is a list when nginx tried several servers
// ("127.0.0.1:8081, 127.0.0.1:8080 502, 200"), with " : " between the
// groups of an internal redirect. An attempt failed when its status is 5xx
// or missing ("-": no answer). Lines of another shape give nothing.
func parseLogLine(line string) []attempt {
	fields := strings.Fields(line)
	addrs, fields := logList(fields)
	statuses, _ := logList(fields)
	if len(addrs) == 0 || len(addrs) != len(statuses) {
		return nil
	}
	out := make([]attempt, 0, len(addrs))
	for i, a := range addrs {
		if a == "-" || strings.HasPrefix(a, "unix:") {
			continue
		}
		code, err := strconv.Atoi(statuses[i])
		out = append(out, attempt{addr: a, failed: err != nil || code >= 500})
	}
	return out
}

// logList takes one list variable's value off the front of fields: items
// joined by ", " or " : ".
func logList(fields []string) (items, rest []string) {
	for len(fields) > 0 {
		f := fields[0]
		fields = fields[1:]
		if f == ":" {
			continue
		}
		item, more := strings.CutSuffix(f, ",")
		items = append(items, item)
		if !more && (len(fields) == 0 || fields[0] != ":") {
			break
		}
	}
	return items, fields
}

// inode is fi's inode number, 0 where the system has none.
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
