package haproxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"time"
)

// maxAnswer bounds what is read of one answer: "show servers state" and
// "show stat" of one backend of a thousand servers stay far below it.
const maxAnswer = 16 << 20

// runtimeAPI sends commands to HAProxy's runtime API, one connection per
// command: HAProxy answers a command sent without "prompt" and closes the
// connection, so the end of the answer is the end of the stream.
type runtimeAPI struct {
	ep      endpoint
	timeout time.Duration
}

// do sends cmd and returns HAProxy's answer without its trailing newlines.
func (r runtimeAPI) do(ctx context.Context, cmd string) (string, error) {
	if err := checkLine(cmd); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, r.ep.network, r.ep.address)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrSocket, r.ep, err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	// A cancelled ctx ends the exchange at once, not at the deadline.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := io.WriteString(conn, cmd+"\n"); err != nil {
		return "", r.ioError(ctx, cmd, err)
	}
	answer, err := io.ReadAll(io.LimitReader(conn, maxAnswer+1))
	if err != nil {
		return "", r.ioError(ctx, cmd, err)
	}
	if len(answer) > maxAnswer {
		return "", fmt.Errorf("%w: %s: the answer to %q is over %d bytes", ErrSocket, r.ep, cmd, maxAnswer)
	}
	return strings.TrimRight(string(answer), "\n"), nil
}

func (r runtimeAPI) ioError(ctx context.Context, cmd string, err error) error {
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	return fmt.Errorf("%w: %s: %q: %w", ErrSocket, r.ep, cmd, err)
}

// set sends a command that answers nothing when it succeeds, as "set
// server ... state" does; any answer is HAProxy's refusal.
func (r runtimeAPI) set(ctx context.Context, cmd string) error {
	answer, err := r.do(ctx, cmd)
	if err != nil {
		return err
	}
	if answer != "" {
		return refused(cmd, answer)
	}
	return nil
}

// addrAnswer is what "set server ... addr IP port N" answers when it
// succeeds (HAProxy 2.6, src/server.c): it says what changed, or that
// nothing had to.
var addrAnswer = regexp.MustCompile(`^(IP changed from '[^']*' to '[^']*'|no need to change the addr)` +
	`(, (port changed from '[^']*' to '[^']*'|no need to change the port))? by 'stats socket command'$`)

// setAddr sends "set server BK/SRV addr IP port N". Unlike the other set
// commands it answers on success too; anything else is a refusal.
func (r runtimeAPI) setAddr(ctx context.Context, cmd string) error {
	answer, err := r.do(ctx, cmd)
	if err != nil {
		return err
	}
	if !addrAnswer.MatchString(answer) {
		return refused(cmd, answer)
	}
	return nil
}

func refused(cmd, answer string) error {
	if strings.Contains(answer, "static LB algorithm") {
		return fmt.Errorf("%w: %w: %q: %q (a split needs a balance algorithm that takes weights at run time, such as roundrobin)", ErrRefused, ErrNoSplit, cmd, answer)
	}
	if answer == "Permission denied" {
		return fmt.Errorf("%w: %q: %q (the socket needs \"level admin\" on its stats socket line): %w", ErrRefused, cmd, answer, ErrNotAdmin)
	}
	return fmt.Errorf("%w: %q: %q", ErrRefused, cmd, answer)
}

// servers returns the servers of backend as "show servers state" lists
// them.
func (r runtimeAPI) servers(ctx context.Context, backend string) ([]server, error) {
	cmd := "show servers state " + backend
	answer, err := r.do(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if answer == "Can't find backend." {
		return nil, r.noBackend(ctx, backend)
	}
	servers, err := parseServersState(answer)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", cmd, err)
	}
	return servers, nil
}

// noBackend is the error for a backend that HAProxy does not have, with
// the backends it has when it says.
func (r runtimeAPI) noBackend(ctx context.Context, backend string) error {
	err := fmt.Errorf("%w: HAProxy has no backend %q", ErrNoBackend, backend)
	answer, lerr := r.do(ctx, "show backend")
	if lerr != nil || !strings.HasPrefix(answer, "# name") {
		return err
	}
	have := strings.Fields(strings.TrimPrefix(answer, "# name"))
	if len(have) == 0 {
		return err
	}
	return fmt.Errorf("%w (it has %s)", err, strings.Join(have, ", "))
}

// stats returns the servers' stats of backend.
func (r runtimeAPI) stats(ctx context.Context, backend string) (map[string]stat, error) {
	cmd := "show stat " + backend + " 4 -1" // type 4: servers; -1: all of them
	answer, err := r.do(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if answer == "No such proxy." {
		return nil, r.noBackend(ctx, backend)
	}
	stats, err := parseStat(answer)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", cmd, err)
	}
	return stats, nil
}

// backend returns the backend's mode and balance algorithm.
func (r runtimeAPI) backend(ctx context.Context, backend string) (backendStat, error) {
	cmd := "show stat " + backend + " 2 -1" // type 2: the backend
	answer, err := r.do(ctx, cmd)
	if err != nil {
		return backendStat{}, err
	}
	if answer == "No such proxy." {
		return backendStat{}, r.noBackend(ctx, backend)
	}
	st, err := parseBackendStat(answer)
	if err != nil {
		return backendStat{}, fmt.Errorf("%q: %w", cmd, err)
	}
	return st, nil
}

// level returns the level of the socket: admin, operator or user.
func (r runtimeAPI) level(ctx context.Context) (string, error) {
	answer, err := r.do(ctx, "show cli level")
	if err != nil {
		return "", err
	}
	switch answer {
	case "admin", "operator", "user":
		return answer, nil
	}
	return "", fmt.Errorf("%w: %q: %q", ErrRefused, "show cli level", answer)
}
