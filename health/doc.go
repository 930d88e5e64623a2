// Package health decides when a new release is ready to take traffic.
//
// A running container is not a ready one: an app may need seconds after its
// process starts before it answers. Wait polls one or more Checkers until all
// of them pass a number of times in a row, or a deadline passes:
//
//	check := health.HTTP{URL: "http://127.0.0.1:8080/healthz"}
//	err := health.Wait(ctx, health.Policy{
//		Interval:         250 * time.Millisecond,
//		Timeout:          60 * time.Second,
//		HealthyThreshold: 2,
//	}, check)
//
// HTTP passes on any 2xx or 3xx, or only on Status when that is set; set Host
// for apps that reject requests not addressed to their own name. TCP passes
// when a port accepts connections, for apps that do not speak HTTP.
//
// A Checker that knows waiting longer cannot help (the container exited)
// returns an error wrapped by Permanent, and Wait gives up at once. Checkers
// must honour their context: Wait ends it at the overall deadline.
package health
