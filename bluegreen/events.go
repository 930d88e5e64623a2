package bluegreen

import "time"

// Step names one stage of a deploy. Events, log lines and errors carry it.
type Step string

// The steps of a deploy, in order.
const (
	StepPrepare     Step = "prepare"       // find the live slot, clear the idle one, load the project
	StepStart       Step = "start"         // create and start the new slot
	StepWaitHealthy Step = "wait-healthy"  // probe the new slot until it is ready
	StepBeforeTasks Step = "before-switch" // run tasks.before_switch in the new release
	StepCanary      Step = "canary"        // strategy canary: one step of split traffic, judged
	StepSwitch      Step = "switch"        // route new traffic to the new slot
	StepDrain       Step = "drain"         // let requests held by the old routing finish
	StepVerify      Step = "verify"        // fetch verify_url through the proxy
	StepRetire      Step = "retire"        // stop (or remove) the old slot
	StepAfterTasks  Step = "after-switch"  // run tasks.after_switch in the new release
	StepCleanup     Step = "cleanup"       // remove a new slot that failed
	StepSwitchBack  Step = "switch-back"   // after a failed verify: traffic back to the old slot
)

// Phase tells where in its step an Event was sent.
type Phase string

// Phases of a step.
const (
	PhaseBegin Phase = "begin"
	PhaseDone  Phase = "done"
	PhaseFail  Phase = "fail"
	PhaseInfo  Phase = "info" // a note within a running step
)

// Event reports progress. The Deployer sends one when a step begins, one when
// it ends (done or fail, with Elapsed) and info events in between.
type Event struct {
	Time    time.Time
	Project string
	Step    Step
	Phase   Phase
	Slot    Slot
	Elapsed time.Duration // for done and fail: how long the step took
	Message string
	Err     error // for fail
	// Canary holds a canary step's figures, in its info events.
	Canary *CanaryProgress
}
