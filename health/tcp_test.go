package health

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
)

func TestTCP(t *testing.T) {
	open, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	for _, tc := range []struct {
		name      string
		addr      string
		pass      bool
		permanent bool
	}{
		{name: "listening", addr: open.Addr().String(), pass: true},
		{name: "closed port", addr: closedAddr},
		{name: "no port", addr: "127.0.0.1", permanent: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := TCP{Addr: tc.addr}.Check(context.Background())
			if (err == nil) != tc.pass {
				t.Fatalf("err = %v, want pass=%v", err, tc.pass)
			}
			if err == nil {
				return
			}
			if !strings.Contains(err.Error(), tc.addr) {
				t.Errorf("err = %v, want it to name %s", err, tc.addr)
			}
			if errors.Is(err, ErrPermanent) != tc.permanent {
				t.Errorf("err = %v, want permanent=%v", err, tc.permanent)
			}
		})
	}
}

func TestTCPString(t *testing.T) {
	if got, want := (TCP{Addr: "127.0.0.1:8080"}).String(), "TCP 127.0.0.1:8080"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
