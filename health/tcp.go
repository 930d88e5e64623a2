package health

import (
	"context"
	"fmt"
	"net"
	"time"
)

// TCP passes when a TCP connection to Addr (host:port) opens. The connection
// is closed at once: it shows something listens, not that the app answers,
// so prefer HTTP for apps that speak it.
type TCP struct {
	Addr string
	// ProbeTimeout bounds one dial; zero means DefaultProbeTimeout.
	ProbeTimeout time.Duration
}

// Check dials t.Addr once.
func (t TCP) Check(ctx context.Context) error {
	if _, _, err := net.SplitHostPort(t.Addr); err != nil {
		return Permanent(fmt.Errorf("health address %q: %w", t.Addr, err))
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout(t.ProbeTimeout))
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return fmt.Errorf("TCP %s: %w", t.Addr, err)
	}
	_ = conn.Close() // the dial was the probe; a close error says nothing of the app
	return nil
}

// String describes the check for logs and errors.
func (t TCP) String() string { return "TCP " + t.Addr }
