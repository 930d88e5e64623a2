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
// A Checker that knows waiting longer cannot help (the container exited)
// returns an error wrapped by Permanent, and Wait gives up at once.
package health
