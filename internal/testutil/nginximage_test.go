package testutil

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseLDD(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      []string
		wantErr   bool
	}{
		{
			name: "debian nginx",
			out: "\tlinux-vdso.so.1 (0x00007ffd)\n" +
				"\tlibcrypt.so.1 => /lib/x86_64-linux-gnu/libcrypt.so.1 (0x00007f59)\n" +
				"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f59)\n" +
				"\t/lib64/ld-linux-x86-64.so.2 (0x00007f59)\n",
			want: []string{"/lib/x86_64-linux-gnu/libcrypt.so.1", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"},
		},
		{name: "missing library", out: "\tlibpcre.so.3 => not found\n\tlibc.so.6 => /lib/libc.so.6 (0x1)\n", wantErr: true},
		{name: "static", out: "\tnot a dynamic executable\n", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseLDD(tc.out)
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseLDD: %v; want error %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parseLDD (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNginxContainer builds the nginx image once and runs it both ways: on
// a network with its port published on 127.0.0.1, and on the host network
// bound to 127.0.0.1. Either answers 502 from the placeholder upstream.
func TestNginxContainer(t *testing.T) {
	image := NginxImage(t)
	for _, tc := range []struct {
		name string
		opts NginxContainerOptions
	}{
		{"published", NginxContainerOptions{Image: image, Network: Network(t)}},
		{"host network", NginxContainerOptions{Image: image, HostNetwork: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := NginxContainer(t, tc.opts)
			resp, err := http.Get(n.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadGateway {
				t.Errorf("GET %s: %s; want 502 from the placeholder upstream", n.URL, resp.Status)
			}
		})
	}
}
