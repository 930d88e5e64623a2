// Package nginxconf switches an nginx between the blue and the green slot and
// tells when the requests still held by the old nginx workers have
// finished. It drives nginx the three ways people run it:
//
//   - Switcher rewrites one upstream file that the config includes, for an
//     nginx on this host (the default);
//   - SlotFiles copies a per-slot file (nginx.blue.conf, nginx.green.conf)
//     over the file nginx loads, for an nginx on this host;
//   - Container rewrites the upstream file inside an nginx container, through
//     the Docker Engine API.
//
// With an upstream file, the nginx config includes it inside its http block
// and proxies to the upstream by name:
//
//	http {
//	    include /etc/nginx/conf.d/app-upstream.conf;
//	    server {
//	        location / { proxy_pass http://backend; }
//	    }
//	}
//
// A deploy switches, then drains before it stops the old slot:
//
//	sw := &nginxconf.Switcher{
//		Upstream: "backend",
//		File:     "/etc/nginx/conf.d/app-upstream.conf",
//	}
//	if err := sw.Switch(ctx, bluegreen.Green, []string{"127.0.0.1:8080"}); err != nil {
//		return err // the old upstream is still live
//	}
//	if err := sw.Drain(ctx); err != nil {
//		return err
//	}
//
// Every Switch validates the config with nginx -t before it reloads, and
// confirms the reload by watching the master's worker processes, since nginx
// -s reload returns before nginx acts and a refused reload shows only in the
// error log; on failure it puts the previous file back. On this host a file
// that is a symbolic link is written through: the file it points to gets
// the new content, atomically, and the link stays. It needs a running
// nginx master with worker processes (master_process on, the default): in
// the same PID namespace, found through /proc, for Switcher and SlotFiles;
// in the container, listed by the engine, for Container.
//
// Each of the three is a bluegreen.Preflighter: Preflight checks, changing
// nothing, that a Switch would work (the files are where the settings say
// and may be written, the upstream file is bluegreen's to replace, nginx
// runs and nginx -t passes), so that a deploy can refuse a wrong setting
// before it starts a slot. Its errors wrap ErrPreflight and name the
// x-bluegreen setting at fault:
//
//	nginx preflight failed: nginx.upstream_file /etc/ngnix/conf.d/web-upstream.conf: directory /etc/ngnix/conf.d does not exist
package nginxconf
