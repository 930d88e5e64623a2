// Package nginxconf switches an nginx between the blue and the green slot by
// rewriting one upstream file that the nginx config includes, and tells when
// the requests still held by the old nginx workers have finished.
//
// The nginx config includes the file inside its http block and proxies to
// the upstream by name:
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
// Switch validates the config with nginx -t before it reloads, and confirms
// the reload by watching the master's worker processes, since nginx -s
// reload returns before nginx acts and a refused reload shows only in the
// error log. It needs a running nginx master with worker processes
// (master_process on, the default) in the same PID namespace, found through
// /proc.
package nginxconf
