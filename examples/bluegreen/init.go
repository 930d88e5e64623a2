package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/nginxconf"
)

// initOptions are the flags of init.
type initOptions struct {
	print   bool
	nginx   string // private or system
	listen  string
	service string
	port    int
	slots   []int // blue, green
}

// initFile is a file that init writes (or prints).
type initFile struct {
	path    string
	content string
}

func newInitCommand(opts *globalOptions, stdout io.Writer) *cobra.Command {
	var o initOptions
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Add an x-bluegreen section to the compose file and write the nginx files it names",
		Long: `init reads the compose file, guesses the service that takes traffic and its
container port (when there is one of each), and writes:
  - the x-bluegreen section, appended to the compose file;
  - the placeholder upstream file that bluegreen owns;
  - for --nginx private (the default): a complete nginx.conf for a private nginx
    that an unprivileged user runs from ./nginx, on 127.0.0.1:8088;
    for --nginx system: a server block for /etc/nginx/conf.d (needs root to write).
It writes nothing when any of these exists already; --print prints them instead.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.nginx != "private" && o.nginx != "system" {
				return &usageError{fmt.Errorf("--nginx %q: want private or system", o.nginx)}
			}
			if len(o.slots) != 2 {
				return &usageError{fmt.Errorf("--slots: want two ports, blue,green (such as 8081,8080)")}
			}
			file, err := composeFileOf(opts.files)
			if err != nil {
				return err
			}
			files, err := initFiles(file, o)
			if err != nil {
				return err
			}
			if o.print {
				for _, f := range files {
					fmt.Fprintf(stdout, "# %s\n%s\n", f.path, f.content)
				}
				return nil
			}
			return writeInitFiles(stdout, file, files, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.print, "print", false, "print the section and the files instead of writing them")
	f.StringVar(&o.nginx, "nginx", "private", "private (an nginx of your own in ./nginx, no root) or system (the nginx in /etc/nginx)")
	f.StringVar(&o.listen, "listen", "", "where nginx listens (default 127.0.0.1:8088 for private, 80 for system)")
	f.StringVar(&o.service, "service", "", "the service that takes traffic (default: guessed from the file)")
	f.IntVar(&o.port, "port", 0, "its container port (default: guessed from the file)")
	f.IntSliceVar(&o.slots, "slots", []int{8081, 8080}, "the blue and green slots' host ports on 127.0.0.1")
	return cmd
}

// composeFileOf is the one compose file init edits: the -f given, or the
// first of compose's default names in the working directory.
func composeFileOf(files []string) (string, error) {
	switch len(files) {
	case 0:
	case 1:
		return filepath.Abs(files[0])
	default:
		return "", &usageError{errors.New("init edits one compose file: give one -f")}
	}
	for _, name := range []string{"compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"} {
		if _, err := os.Stat(name); err == nil {
			return filepath.Abs(name)
		}
	}
	return "", fmt.Errorf("%w: no compose file here (compose.yaml, compose.yml, docker-compose.yaml or docker-compose.yml): give one with -f", bluegreen.ErrBadInput)
}

// composeServices is what init reads of a compose file: no interpolation, so
// that it works before any release's variables are set.
type composeServices struct {
	Services map[string]struct {
		Ports  []any `yaml:"ports"`
		Expose []any `yaml:"expose"`
	} `yaml:"services"`
	Extension any `yaml:"x-bluegreen"`
}

// initFiles returns the section and the files for the compose file at path.
func initFiles(path string, o initOptions) ([]initFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", bluegreen.ErrBadInput, err)
	}
	var cf composeServices
	if err := yaml.Unmarshal(data, &cf); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", bluegreen.ErrBadInput, path, err)
	}
	if cf.Extension != nil {
		return nil, fmt.Errorf("%w: %s already has an x-bluegreen section: init changes nothing", bluegreen.ErrBadInput, path)
	}
	service, port, err := guessService(cf, o)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", bluegreen.ErrBadInput, path, err)
	}
	dir := filepath.Dir(path)
	const upstream = nginxconf.DefaultUpstream
	// The server block init writes sends HTTP/1.1 with an empty Connection
	// header, so nginx can keep connections to the slot: measured in
	// bench/README.md, it doubles the requests/s through nginx during a
	// deploy and leaves a fraction of the TIME_WAIT sockets.
	const keepaliveLine = "    keepalive: 16\n"
	var section string
	var files []initFile
	switch o.nginx {
	case "private":
		listen := cmpOr(o.listen, "127.0.0.1:8088")
		prefix := filepath.Join(dir, "nginx")
		upstreamFile := filepath.Join(prefix, "upstream.conf")
		section = fmt.Sprintf("  nginx:\n    upstream: %s\n    upstream_file: nginx/upstream.conf\n    conf: nginx/nginx.conf\n    prefix: nginx\n%s    access_log: nginx/bluegreen.log\n", upstream, keepaliveLine)
		files = []initFile{
			{upstreamFile, nginxconf.Placeholder(upstream)},
			{filepath.Join(prefix, "nginx.conf"), nginxconf.PrivateConf(prefix, listen, upstream, upstreamFile)},
		}
	case "system":
		listen := cmpOr(o.listen, "80")
		upstreamFile := filepath.Join(nginxconf.DefaultConfDir, service+"-upstream.conf")
		accessLog := filepath.Join("/var/log/nginx", service+"-bluegreen.log")
		section = fmt.Sprintf("  nginx:\n    upstream: %s\n    upstream_file: %s\n%s    access_log: %s\n", upstream, upstreamFile, keepaliveLine, accessLog)
		files = []initFile{
			{upstreamFile, nginxconf.Placeholder(upstream)},
			// conf.d/*.conf is included by the packaged nginx.conf, the
			// upstream file with it.
			// The log format a canary reads, at http level as conf.d is.
			{filepath.Join(nginxconf.DefaultConfDir, service+".conf"), nginxconf.LogFormat + "\n" + nginxconf.ServerBlock(listen, upstream, accessLog)},
		}
	}
	ext := fmt.Sprintf("\n# Added by bluegreen init: the settings of bluegreen's deploys (docs/configuration.md).\nx-bluegreen:\n  service: %s\n", service)
	if port > 0 {
		ext += fmt.Sprintf("  port: %d\n", port)
	}
	ext += fmt.Sprintf("  slots: {blue: %d, green: %d}   # host ports on 127.0.0.1\n  health: {path: /, timeout: 60s}\n", o.slots[0], o.slots[1])
	ext += "  # strategy: canary   # new releases take 10% then 50% of requests first, judged by their errors (docs/configuration.md)\n"
	ext += section
	return append([]initFile{{path, ext}}, files...), nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// guessService returns the service that takes traffic and its container
// port: the flags when given, else the only service (or the only one that
// publishes or exposes a port) and its only container port. A port it
// cannot tell is 0: the deploy then asks for it, naming the key.
func guessService(cf composeServices, o initOptions) (string, int, error) {
	if len(cf.Services) == 0 {
		return "", 0, errors.New("no services: init needs the service that takes traffic")
	}
	names := slices.Sorted(maps.Keys(cf.Services))
	service := o.service
	if service == "" {
		var withPorts []string
		for _, n := range names {
			if s := cf.Services[n]; len(s.Ports)+len(s.Expose) > 0 {
				withPorts = append(withPorts, n)
			}
		}
		switch {
		case len(names) == 1:
			service = names[0]
		case len(withPorts) == 1:
			service = withPorts[0]
		default:
			return "", 0, fmt.Errorf("cannot tell which of the services %s takes traffic: give --service", strings.Join(names, ", "))
		}
	}
	svc, ok := cf.Services[service]
	if !ok {
		return "", 0, fmt.Errorf("--service %q: no such service (the file has %s)", service, strings.Join(names, ", "))
	}
	if o.port > 0 {
		return service, o.port, nil
	}
	var ports []int
	for _, entry := range append(slices.Clone(svc.Ports), svc.Expose...) {
		if p := containerPort(entry); p > 0 && !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	if len(ports) == 1 {
		return service, ports[0], nil
	}
	return service, 0, nil
}

// containerPort reads the container port of a ports or expose entry: 8000,
// "8000", "8080:8000", "127.0.0.1:8080:8000/tcp", {target: 8000}; 0 for a
// range or what it cannot read.
func containerPort(entry any) int {
	switch v := entry.(type) {
	case int:
		return v
	case string:
		v, _, _ = strings.Cut(v, "/")
		n, err := strconv.Atoi(v[strings.LastIndexByte(v, ':')+1:])
		if err != nil {
			return 0
		}
		return n
	case map[string]any:
		return containerPort(v["target"])
	}
	return 0
}

// writeInitFiles appends the section to the compose file and writes the
// other files, after checking that none of them exists: init either does
// all of it or nothing.
func writeInitFiles(out io.Writer, composeFile string, files []initFile, o initOptions) error {
	for _, f := range files[1:] {
		if _, err := os.Stat(f.path); err == nil {
			return fmt.Errorf("%w: %s exists already: init changes nothing (--print shows what it would write)", bluegreen.ErrBadInput, f.path)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("init: %w", err)
		}
	}
	// The compose file must take the section before anything is written.
	cf, err := os.OpenFile(composeFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	defer cf.Close()
	for _, f := range files[1:] {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return fmt.Errorf("init: %w", err)
		}
		if err := os.WriteFile(f.path, []byte(f.content), 0o644); err != nil {
			return fmt.Errorf("init: %w", err)
		}
		fmt.Fprintf(out, "wrote %s\n", f.path)
	}
	if _, err := io.WriteString(cf, files[0].content); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if err := cf.Close(); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	fmt.Fprintf(out, "added x-bluegreen to %s\n", composeFile)
	if o.nginx == "private" {
		fmt.Fprintf(out, "next: start nginx with  nginx -p %s -c nginx.conf\n      then  bluegreen deploy\n", filepath.Join(filepath.Dir(composeFile), "nginx"))
	} else {
		fmt.Fprintln(out, "next: nginx -t && nginx -s reload, then  bluegreen deploy")
	}
	return nil
}
