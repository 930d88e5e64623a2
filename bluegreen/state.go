package bluegreen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/atomicfile"
)

// historyLimit caps the releases kept in the state file.
const historyLimit = 50

// Outcome is how a deploy or a rollback ended.
type Outcome string

// Outcomes recorded in the history.
const (
	OutcomeRunning    Outcome = "running"       // begun; a crash leaves it so
	OutcomeSucceeded  Outcome = "succeeded"     // the release took traffic and the old slot was retired
	OutcomeFailed     Outcome = "failed"        // the release never took traffic; it was removed
	OutcomeSwitchBack Outcome = "switched-back" // it took traffic, failed verification, traffic went back
	OutcomeIncomplete Outcome = "incomplete"    // it took traffic but drain or retire failed
)

// Release is one entry of a project's history.
type Release struct {
	ID       int               `json:"id"`
	Kind     string            `json:"kind"` // "deploy", "rollback" or "switch"
	Slot     Slot              `json:"slot"`
	Images   map[string]string `json:"images"` // service -> image reference
	Env      map[string]string `json:"env,omitempty"`
	Started  time.Time         `json:"started"`
	Finished time.Time         `json:"finished,omitzero"`
	Outcome  Outcome           `json:"outcome"`
	Step     Step              `json:"step,omitempty"` // the step that failed
	Reason   string            `json:"reason,omitempty"`
	// Of is, for a rollback or a switch, the earlier release that it
	// brought back to traffic.
	Of int `json:"of,omitempty"`
	// Switching is true from just before the switch until its result is
	// known: a crash in between leaves it set, and the next deploy first
	// makes the proxy route to a slot that answers again.
	Switching bool `json:"switching,omitempty"`
	// Canary holds, for a deploy with strategy canary, the figures of its
	// latest step: while it runs, and after.
	Canary *CanaryProgress `json:"canary,omitempty"`
}

// origin is the release that r brought to traffic: r itself, or for a
// rollback or a switch, the earlier release it brought back.
func (r *Release) origin() int {
	if r.Of != 0 {
		return r.Of
	}
	return r.ID
}

// image returns the recorded image of service; a nil Release has none.
func (r *Release) image(service string) (string, bool) {
	if r == nil {
		return "", false
	}
	img, ok := r.Images[service]
	return img, ok && img != ""
}

// stateFile is what the state file holds.
type stateFile struct {
	Project  string    `json:"project"`
	Releases []Release `json:"releases"` // oldest first
}

// last returns the newest release, or nil.
func (s *stateFile) last() *Release {
	if len(s.Releases) == 0 {
		return nil
	}
	return &s.Releases[len(s.Releases)-1]
}

// begin appends a running release and returns it.
func (s *stateFile) begin(r Release) *Release {
	r.ID = 1
	if last := s.last(); last != nil {
		r.ID = last.ID + 1
	}
	r.Outcome = OutcomeRunning
	s.Releases = append(s.Releases, r)
	if n := len(s.Releases); n > historyLimit {
		s.Releases = append([]Release(nil), s.Releases[n-historyLimit:]...)
	}
	return s.last()
}

// previousGood returns the release before the live one: the newest release
// that took traffic and kept it (succeeded, or incomplete: live although its
// old slot was not retired), before the newest such release. A rollback goes
// back to it; a second rollback therefore goes forward again.
func (s *stateFile) previousGood() (Release, bool) {
	seen := false
	for i := len(s.Releases) - 1; i >= 0; i-- {
		if o := s.Releases[i].Outcome; o != OutcomeSucceeded && o != OutcomeIncomplete {
			continue
		}
		if seen {
			return s.Releases[i], true
		}
		seen = true
	}
	return Release{}, false
}

// newestIn returns the newest release that took traffic in slot, without
// its variables, or nil.
func (s *stateFile) newestIn(slot Slot) *Release {
	r := s.releaseWith(slot, nil)
	if r != nil {
		r.Env = nil
	}
	return r
}

// releaseWith returns (a copy of) the newest release that took traffic in
// slot and ran the images given (service -> image; nil matches any), or nil.
func (s *stateFile) releaseWith(slot Slot, images map[string]string) *Release {
	for i := len(s.Releases) - 1; i >= 0; i-- {
		r := s.Releases[i]
		if r.Slot != slot || (r.Outcome != OutcomeSucceeded && r.Outcome != OutcomeIncomplete) {
			continue
		}
		same := true
		for service, image := range images {
			if r.Images[service] != image {
				same = false
			}
		}
		if same {
			return &r
		}
	}
	return nil
}

// ErrState reports a state file (<state_dir>/<project>.json) that cannot be
// used: it is empty, truncated or otherwise not the JSON bluegreen writes, or
// it holds the history of another project. The error names the file and
// says how to recover: move the file aside, which loses the recorded
// history (and the rollback to the releases in it) but changes nothing that
// runs. Nothing was changed.
var ErrState = errors.New("the state file cannot be used")

// readState reads the state file of project; a missing file is an empty
// state. A file that is empty, not JSON, or another project's is refused
// with ErrState.
func readState(path, project string) (stateFile, error) {
	st := stateFile{Project: project}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("reading the history: %w", err)
	}
	refuse := func(problem string, args ...any) (stateFile, error) {
		return stateFile{Project: project}, fmt.Errorf("%w: %s %s; %s", ErrState, path, fmt.Sprintf(problem, args...), moveAside(path))
	}
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) == 0 {
		return refuse("is empty (a write that did not finish?)")
	}
	if trimmed[0] != '{' {
		return refuse("is not the JSON object bluegreen writes")
	}
	var file struct {
		Project *string `json:"project"`
		stateFile
	}
	if err := json.Unmarshal(b, &file); err != nil {
		return refuse("is not valid JSON, truncated or corrupt (%v)", err)
	}
	// A file without a project (or with an empty one) names no other one:
	// it is taken as this project's.
	if file.Project != nil && *file.Project != "" && *file.Project != project {
		return refuse("holds the history of project %q, not of %q", *file.Project, project)
	}
	file.stateFile.Project = project
	return file.stateFile, nil
}

// moveAside says how to recover from a state file that cannot be used, and
// what it costs.
func moveAside(path string) string {
	return fmt.Sprintf("to start a new history, move it aside (mv %q %q) and run again: "+
		"the releases it recorded are lost, and with them rollback to those releases; "+
		"the running containers and the traffic are not affected", path, path+".bad")
}

// writeState replaces the state file atomically: a temporary file in the
// same directory, fsync, rename, fsync of the directory. It is readable by
// its owner only, since it records the variables that interpolate the file.
func writeState(path string, st stateFile) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'), 0o600)
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, data, perm)
}

func (d *Deployer) statePath() string {
	return filepath.Join(d.Project.Config.StateDir, d.Project.Config.Project+".json")
}

func (d *Deployer) readState() (stateFile, error) {
	return readState(d.statePath(), d.Project.Config.Project)
}

// History returns the recorded releases of the project, oldest first.
func (d *Deployer) History() ([]Release, error) {
	st, err := d.readState()
	return st.Releases, err
}

// record applies change to r's release in the state file, adding the
// release on its first record, and keeps r.Release in step.
func (d *Deployer) record(r *Report, change func(*Release)) error {
	st, err := d.readState()
	if err != nil {
		return err
	}
	rel := st.find(r.Release.ID)
	if rel == nil {
		rel = st.begin(r.Release)
	}
	change(rel)
	if err := writeState(d.statePath(), st); err != nil {
		return fmt.Errorf("writing the history: %w", err)
	}
	r.Release = *rel
	return nil
}

// find returns the release with id, or nil.
func (s *stateFile) find(id int) *Release {
	for i := range s.Releases {
		if id != 0 && s.Releases[i].ID == id {
			return &s.Releases[i]
		}
	}
	return nil
}
