package bluegreen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/compose/v2/pkg/api"
	"github.com/google/go-cmp/cmp"
)

// at returns a UTC time on a fixed day, without a monotonic reading, as a
// time read back from JSON is.
func at(hour, minute int) time.Time {
	return time.Date(2025, 6, 1, hour, minute, 0, 0, time.UTC)
}

// sampleState is a history with one release of each kind of outcome.
func sampleState() stateFile {
	return stateFile{
		Project: "shop",
		Releases: []Release{
			{
				ID: 1, Kind: "deploy", Slot: Blue,
				Images:  map[string]string{"web": "shop:v1", "worker": "shop-worker:v1"},
				Env:     map[string]string{"TAG": "v1"},
				Started: at(9, 0), Finished: at(9, 1), Outcome: OutcomeSucceeded,
			},
			{
				ID: 2, Kind: "deploy", Slot: Green,
				Images:  map[string]string{"web": "shop:v2"},
				Started: at(10, 0), Finished: at(10, 2), Outcome: OutcomeFailed,
				Step: StepWaitHealthy, Reason: "not healthy within 60s",
			},
			{
				ID: 3, Kind: "deploy", Slot: Green,
				Images:  map[string]string{"web": "shop:v3"},
				Started: at(11, 0), Finished: at(11, 1), Outcome: OutcomeSwitchBack,
				Step: StepVerify, Reason: "verify: 500",
			},
			{
				ID: 4, Kind: "rollback", Slot: Green,
				Images:  map[string]string{"web": "shop:v1"},
				Started: at(12, 0), Outcome: OutcomeRunning, Switching: true,
			},
		},
	}
}

// dirNames returns the names in dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestStateReadMissingFile(t *testing.T) {
	st, err := readState(filepath.Join(t.TempDir(), "shop.json"), "shop")
	if err != nil {
		t.Fatalf("readState of a missing file: %v", err)
	}
	if diff := cmp.Diff(stateFile{Project: "shop"}, st); diff != "" {
		t.Errorf("state of a missing file (-want +got):\n%s", diff)
	}
}

func TestStateReadCorruptFile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
	}{
		{"empty", ""},
		{"truncated", `{"project": "shop", "releases": [{"id": 1, "kind": "dep`},
		{"not json", "project = shop\n"},
		{"wrong type", `{"project": "shop", "releases": {"id": 1}}`},
		{"bad time", `{"project": "shop", "releases": [{"id": 1, "started": "yesterday"}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "shop.json")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := readState(path, "shop")
			if err == nil {
				t.Fatal("readState of a corrupt file succeeded")
			}
			if !errors.Is(err, ErrState) {
				t.Errorf("err = %v, want ErrState", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("err = %q, want it to name %s", err, path)
			}
		})
	}
}

// TestStateReadRefused: a state file that is empty, corrupt or another
// project's is refused with ErrState, by a message that says which file to
// move aside and what that loses, and the file is left as it was.
func TestStateReadRefused(t *testing.T) {
	const recovery = "to start a new history, move it aside (mv %q %q) and run again: " +
		"the releases it recorded are lost, and with them rollback to those releases; " +
		"the running containers and the traffic are not affected"
	for _, tc := range []struct {
		name    string
		content string
		problem string // what the error says of the file
	}{
		{"empty", "", "is empty (a write that did not finish?)"},
		{"blank", " \n\t\n", "is empty (a write that did not finish?)"},
		{"truncated", `{"project": "shop", "releases": [{"id": 1, "kind": "dep`, "is not valid JSON, truncated or corrupt (unexpected end of JSON input)"},
		{"cut after the object opens", `{`, "is not valid JSON, truncated or corrupt (unexpected end of JSON input)"},
		{"null", "null", "is not the JSON object bluegreen writes"},
		{"array", `[{"id": 1}]`, "is not the JSON object bluegreen writes"},
		{"nul bytes", "\x00\x00\x00", "is not the JSON object bluegreen writes"},
		{"trailing garbage", `{"project": "shop", "releases": []}}`, "is not valid JSON, truncated or corrupt (invalid character '}' after top-level value)"},
		{"another project", `{"project": "blog", "releases": [{"id": 1, "kind": "deploy", "slot": "blue"}]}`, `holds the history of project "blog", not of "shop"`},
		{"another project, escaped", `{"project": "blog\n", "releases": []}`, `holds the history of project "blog\n", not of "shop"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "shop.json")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			st, err := readState(path, "shop")
			if !errors.Is(err, ErrState) {
				t.Fatalf("err = %v, want ErrState", err)
			}
			want := "the state file cannot be used: " + path + " " + tc.problem + "; " + fmt.Sprintf(recovery, path, path+".bad")
			if err.Error() != want {
				t.Errorf("err =\n %s\nwant\n %s", err, want)
			}
			if diff := cmp.Diff(stateFile{Project: "shop"}, st); diff != "" {
				t.Errorf("state returned with the error (-want +got):\n%s", diff)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.content {
				t.Errorf("the refused file changed to %q", b)
			}
		})
	}
}

// A file that names no project (or an empty one) names no other one.
func TestStateReadWithoutProject(t *testing.T) {
	for _, content := range []string{
		`{"releases": [{"id": 1, "kind": "deploy", "slot": "blue", "outcome": "succeeded"}]}`,
		`{"project": "", "releases": [{"id": 1, "kind": "deploy", "slot": "blue", "outcome": "succeeded"}]}`,
		`{"project": null, "releases": [{"id": 1, "kind": "deploy", "slot": "blue", "outcome": "succeeded"}]}`,
	} {
		path := filepath.Join(t.TempDir(), "shop.json")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := readState(path, "shop")
		if err != nil {
			t.Fatalf("%s: %v", content, err)
		}
		want := stateFile{Project: "shop", Releases: []Release{{ID: 1, Kind: "deploy", Slot: Blue, Outcome: OutcomeSucceeded}}}
		if diff := cmp.Diff(want, st); diff != "" {
			t.Errorf("%s (-want +got):\n%s", content, diff)
		}
	}
}

func TestStateReadUnreadableFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shop.json")
	if err := os.Mkdir(path, 0o755); err != nil { // a directory in its place
		t.Fatal(err)
	}
	_, err := readState(path, "shop")
	if err == nil {
		t.Fatal("readState of a directory succeeded")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("err = %q, want it to name %s", err, path)
	}
}

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "shop.json")
	want := sampleState()
	if err := writeState(path, want); err != nil {
		t.Fatalf("writeState: %v", err)
	}
	got, err := readState(path, "shop")
	if err != nil {
		t.Fatalf("readState: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("state read back (-want +got):\n%s", diff)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("state file mode = %v, want -rw------- (it holds the variables)", fi.Mode())
	}
	if diff := cmp.Diff([]string{"shop.json"}, dirNames(t, dir)); diff != "" {
		t.Errorf("files in the state directory (-want +got):\n%s", diff)
	}
}

func TestStateWriteReplacesTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "shop.json")
	old := sampleState()
	if err := writeState(path, old); err != nil {
		t.Fatal(err)
	}
	// Someone loosened the mode in between: the new file is private again.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	// A reader that opened the old file before the write keeps reading
	// the whole old content: the file is replaced, not rewritten in place.
	reader, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()

	small := stateFile{Project: "shop", Releases: old.Releases[:1]}
	if err := writeState(path, small); err != nil {
		t.Fatalf("writeState over an existing file: %v", err)
	}

	wantBytes, err := json.MarshalIndent(small, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	gotBytes, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(wantBytes)+"\n", string(gotBytes)); diff != "" {
		t.Errorf("state file after the second write (-want +got):\n%s", diff)
	}
	var oldRead stateFile
	if err := json.NewDecoder(reader).Decode(&oldRead); err != nil {
		t.Fatalf("the file opened before the write: %v", err)
	}
	if diff := cmp.Diff(old, oldRead); diff != "" {
		t.Errorf("the file opened before the write changed (-want +got):\n%s", diff)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("state file mode = %v, want -rw-------", fi.Mode())
	}
	if diff := cmp.Diff([]string{"shop.json"}, dirNames(t, dir)); diff != "" {
		t.Errorf("files in the state directory (-want +got):\n%s", diff)
	}
}

// TestStateWriteIsAtomic reads the file while it is written over and over:
// every read must see one whole state, the old or the new, never a mix or
// an empty file.
func TestStateWriteIsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "shop.json")
	a := sampleState()
	b := stateFile{Project: "shop", Releases: a.Releases[:1]}
	if err := writeState(path, a); err != nil {
		t.Fatal(err)
	}

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; i < 40; i++ {
			st := a
			if i%2 == 0 {
				st = b
			}
			if err := writeState(path, st); err != nil {
				t.Errorf("write %d: %v", i, err)
				break
			}
		}
		close(done)
	})
	reads := 0
	for {
		select {
		case <-done:
			wg.Wait()
			if reads == 0 {
				t.Error("no read happened during the writes")
			}
			if diff := cmp.Diff([]string{"shop.json"}, dirNames(t, dir)); diff != "" {
				t.Errorf("files in the state directory (-want +got):\n%s", diff)
			}
			return
		default:
		}
		got, err := readState(path, "shop")
		reads++
		if err != nil {
			t.Fatalf("read during the writes: %v", err)
		}
		if !cmp.Equal(got, a) && !cmp.Equal(got, b) {
			t.Fatalf("read during the writes a state that was never written:\n%+v", got)
		}
	}
}

func TestWriteFileAtomic(t *testing.T) {
	for _, tc := range []struct {
		name string
		perm os.FileMode
	}{
		{"private", 0o600},
		{"shared", 0o644},
		{"read-only", 0o400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "missing", "state")
			path := filepath.Join(dir, "f.txt")
			if err := writeFileAtomic(path, []byte("hello\n"), tc.perm); err != nil {
				t.Fatalf("writeFileAtomic: %v", err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != "hello\n" {
				t.Errorf("content = %q, want %q", b, "hello\n")
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tc.perm {
				t.Errorf("mode = %v, want %v", fi.Mode().Perm(), tc.perm)
			}
			if diff := cmp.Diff([]string{"f.txt"}, dirNames(t, dir)); diff != "" {
				t.Errorf("files in the directory (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteFileAtomicFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	// A directory in the file's place: the rename fails after the
	// temporary file was written.
	path := filepath.Join(dir, "shop.json")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(path, []byte("{}\n"), 0o600); err == nil {
		t.Fatal("writeFileAtomic over a non-empty directory succeeded")
	}
	if diff := cmp.Diff([]string{"shop.json"}, dirNames(t, dir)); diff != "" {
		t.Errorf("files left in the directory (-want +got):\n%s", diff)
	}
}

func TestStateBegin(t *testing.T) {
	var st stateFile
	// The caller's ID and outcome do not count: begin assigns them.
	r := st.begin(Release{ID: 7, Kind: "deploy", Slot: Blue, Images: map[string]string{"web": "shop:v1"}, Started: at(9, 0), Outcome: OutcomeSucceeded})
	want := Release{ID: 1, Kind: "deploy", Slot: Blue, Images: map[string]string{"web": "shop:v1"}, Started: at(9, 0), Outcome: OutcomeRunning}
	if diff := cmp.Diff(want, *r); diff != "" {
		t.Errorf("first release (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Release{want}, st.Releases); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	// The returned release is the one in the history, not a copy.
	r.Outcome = OutcomeFailed
	if st.Releases[0].Outcome != OutcomeFailed {
		t.Error("begin returned a copy: a change to it is not in the history")
	}

	r = st.begin(Release{Kind: "rollback"})
	if r.ID != 2 || r.Outcome != OutcomeRunning {
		t.Errorf("second release = id %d, %s; want id 2, running", r.ID, r.Outcome)
	}
}

func TestStateBeginCapsTheHistory(t *testing.T) {
	var st stateFile
	total := historyLimit + 5
	for i := 1; i <= total; i++ {
		r := st.begin(Release{Kind: "deploy", Reason: fmt.Sprint(i)})
		if r.ID != i {
			t.Fatalf("release %d got id %d", i, r.ID)
		}
		r.Outcome = OutcomeSucceeded
	}
	if len(st.Releases) != historyLimit {
		t.Fatalf("history holds %d releases, want %d", len(st.Releases), historyLimit)
	}
	var ids []int
	for _, r := range st.Releases {
		ids = append(ids, r.ID)
		if r.Reason != fmt.Sprint(r.ID) {
			t.Errorf("release id %d holds the fields of release %s", r.ID, r.Reason)
		}
	}
	var want []int
	for id := total - historyLimit + 1; id <= total; id++ {
		want = append(want, id)
	}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("ids kept: the oldest dropped, the rest in order (-want +got):\n%s", diff)
	}
	// The IDs go on from the newest kept, not from the count.
	if r := st.begin(Release{}); r.ID != total+1 {
		t.Errorf("next id = %d, want %d", r.ID, total+1)
	}
	if len(st.Releases) != historyLimit {
		t.Errorf("history holds %d releases, want %d", len(st.Releases), historyLimit)
	}
}

func TestStateFind(t *testing.T) {
	st := sampleState()
	for _, tc := range []struct {
		id   int
		want int // index in Releases, -1 for none
	}{
		{id: 0, want: -1},
		{id: 1, want: 0},
		{id: 3, want: 2},
		{id: 4, want: 3},
		{id: 5, want: -1},
		{id: -1, want: -1},
	} {
		t.Run(fmt.Sprint(tc.id), func(t *testing.T) {
			got := st.find(tc.id)
			switch {
			case tc.want < 0 && got != nil:
				t.Errorf("find(%d) = release %d, want none", tc.id, got.ID)
			case tc.want >= 0 && got != &st.Releases[tc.want]:
				t.Errorf("find(%d) = %v, want a pointer to Releases[%d]", tc.id, got, tc.want)
			}
		})
	}
}

func TestStateLast(t *testing.T) {
	var st stateFile
	if r := st.last(); r != nil {
		t.Errorf("last of an empty history = %+v, want nil", r)
	}
	st = sampleState()
	if r := st.last(); r != &st.Releases[len(st.Releases)-1] {
		t.Errorf("last = %+v, want the newest release", r)
	}
}

func TestStatePreviousGood(t *testing.T) {
	rel := func(id int, kind string, o Outcome) Release {
		return Release{ID: id, Kind: kind, Outcome: o, Images: map[string]string{"web": fmt.Sprintf("shop:v%d", id)}}
	}
	ok := func(id int) Release { return rel(id, "deploy", OutcomeSucceeded) }
	for _, tc := range []struct {
		name     string
		releases []Release
		prev     int // release ID; 0 for none
	}{
		{"empty", nil, 0},
		{"one good", []Release{ok(1)}, 0},
		{"only failures", []Release{rel(1, "deploy", OutcomeFailed), rel(2, "deploy", OutcomeSwitchBack)}, 0},
		{"first still running", []Release{rel(1, "deploy", OutcomeRunning)}, 0},
		{"two good", []Release{ok(1), ok(2)}, 1},
		{"three good", []Release{ok(1), ok(2), ok(3)}, 2},
		{"failure between", []Release{ok(1), rel(2, "deploy", OutcomeFailed), ok(3)}, 1},
		{"newest running", []Release{ok(1), ok(2), rel(3, "deploy", OutcomeRunning)}, 1},
		{"newest switched back", []Release{ok(1), ok(2), rel(3, "deploy", OutcomeSwitchBack)}, 1},
		{"good after switched back", []Release{ok(1), rel(2, "deploy", OutcomeSwitchBack)}, 0},
		{"newest incomplete is live", []Release{ok(1), ok(2), rel(3, "deploy", OutcomeIncomplete)}, 2},
		{"rollback is good too", []Release{ok(1), ok(2), rel(3, "rollback", OutcomeSucceeded)}, 2},
		{"first good was a rollback", []Release{rel(1, "rollback", OutcomeSucceeded), ok(2)}, 1},
		{"failures around", []Release{rel(1, "deploy", OutcomeFailed), ok(2), rel(3, "deploy", OutcomeFailed), rel(4, "deploy", OutcomeIncomplete), ok(5), rel(6, "deploy", OutcomeRunning)}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := stateFile{Project: "shop", Releases: tc.releases}
			byID := func(id int) (Release, bool) {
				i := slices.IndexFunc(tc.releases, func(r Release) bool { return r.ID == id })
				if i < 0 {
					return Release{}, false
				}
				return tc.releases[i], true
			}
			for _, check := range []struct {
				name string
				f    func() (Release, bool)
				want int
			}{
				{"previousGood", st.previousGood, tc.prev},
			} {
				got, gotOK := check.f()
				want, wantOK := byID(check.want)
				if gotOK != wantOK {
					t.Errorf("%s: ok = %v, want %v", check.name, gotOK, wantOK)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s (-want +got):\n%s", check.name, diff)
				}
			}
		})
	}
}

func TestRecord(t *testing.T) {
	dir := t.TempDir()
	d := &Deployer{Project: &Project{Config: Config{Project: "shop", StateDir: dir}}}
	r := &Report{Project: "shop", Release: Release{
		Kind: "deploy", Slot: Blue, Images: map[string]string{"web": "shop:v1"},
		Env: map[string]string{"TAG": "v1"}, Started: at(9, 0),
	}}

	if err := d.record(r, func(*Release) {}); err != nil {
		t.Fatalf("first record: %v", err)
	}
	first := Release{
		ID: 1, Kind: "deploy", Slot: Blue, Images: map[string]string{"web": "shop:v1"},
		Env: map[string]string{"TAG": "v1"}, Started: at(9, 0), Outcome: OutcomeRunning,
	}
	if diff := cmp.Diff(first, r.Release); diff != "" {
		t.Errorf("the report's release after the first record (-want +got):\n%s", diff)
	}
	wantHistory(t, d, []Release{first})

	err := d.record(r, func(rel *Release) {
		rel.Outcome = OutcomeSucceeded
		rel.Finished = at(9, 2)
	})
	if err != nil {
		t.Fatalf("second record: %v", err)
	}
	done := first
	done.Outcome, done.Finished = OutcomeSucceeded, at(9, 2)
	if diff := cmp.Diff(done, r.Release); diff != "" {
		t.Errorf("the report's release after the second record (-want +got):\n%s", diff)
	}
	wantHistory(t, d, []Release{done})

	// The next deploy has a report of its own and a release of its own.
	next := &Report{Project: "shop", Release: Release{Kind: "rollback", Slot: Green, Started: at(10, 0)}}
	if err := d.record(next, func(rel *Release) { rel.Switching = true }); err != nil {
		t.Fatalf("record of the next release: %v", err)
	}
	second := Release{ID: 2, Kind: "rollback", Slot: Green, Started: at(10, 0), Outcome: OutcomeRunning, Switching: true}
	if diff := cmp.Diff(second, next.Release); diff != "" {
		t.Errorf("the next report's release (-want +got):\n%s", diff)
	}
	wantHistory(t, d, []Release{done, second})

	fi, err := os.Stat(filepath.Join(dir, "shop.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode = %v, want -rw-------", fi.Mode())
	}
	if diff := cmp.Diff([]string{"shop.json"}, dirNames(t, dir)); diff != "" {
		t.Errorf("files in the state directory (-want +got):\n%s", diff)
	}
}

// wantHistory checks what d.History returns.
func wantHistory(t *testing.T, d *Deployer, want []Release) {
	t.Helper()
	got, err := d.History()
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("History (-want +got):\n%s", diff)
	}
}

func TestRecordContinuesAnExistingHistory(t *testing.T) {
	dir := t.TempDir()
	d := &Deployer{Project: &Project{Config: Config{Project: "shop", StateDir: dir}}}
	old := sampleState()
	if err := writeState(d.statePath(), old); err != nil {
		t.Fatal(err)
	}
	r := &Report{Project: "shop", Release: Release{Kind: "deploy", Slot: Blue, Started: at(13, 0)}}
	if err := d.record(r, func(*Release) {}); err != nil {
		t.Fatal(err)
	}
	if r.Release.ID != 5 {
		t.Errorf("new release id = %d, want 5 (after the 4 recorded)", r.Release.ID)
	}
	wantHistory(t, d, append(old.Releases, r.Release))
}

func TestRecordKeepsACorruptHistory(t *testing.T) {
	dir := t.TempDir()
	d := &Deployer{Project: &Project{Config: Config{Project: "shop", StateDir: dir}}}
	corrupt := []byte(`{"project": "shop", "releases": [{"id": 1,`)
	if err := os.WriteFile(d.statePath(), corrupt, 0o600); err != nil {
		t.Fatal(err)
	}
	r := &Report{Project: "shop", Release: Release{Kind: "deploy"}}
	if err := d.record(r, func(*Release) {}); err == nil {
		t.Fatal("record over a corrupt history succeeded")
	}
	if _, err := d.History(); err == nil {
		t.Error("History of a corrupt history succeeded")
	}
	b, err := os.ReadFile(d.statePath())
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(corrupt) {
		t.Errorf("record overwrote the corrupt history with %q", b)
	}
}

// A deploy never writes over another project's history: it fails, and
// the file stays as it was.
func TestRecordRefusesAnotherProjectsHistory(t *testing.T) {
	dir := t.TempDir()
	blog := sampleState()
	blog.Project = "blog"
	d := &Deployer{Project: &Project{Config: Config{Project: "shop", StateDir: dir}}}
	if err := writeState(d.statePath(), blog); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(d.statePath())
	if err != nil {
		t.Fatal(err)
	}
	r := &Report{Project: "shop", Release: Release{Kind: "deploy"}}
	if err := d.record(r, func(*Release) {}); !errors.Is(err, ErrState) {
		t.Fatalf("record over blog's history: err = %v, want ErrState", err)
	}
	if _, err := d.History(); !errors.Is(err, ErrState) || !strings.Contains(err.Error(), `project "blog", not of "shop"`) {
		t.Errorf("History: err = %v, want ErrState naming both projects", err)
	}
	after, err := os.ReadFile(d.statePath())
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) {
		t.Error("record changed blog's history")
	}
}

func TestHistoryEmpty(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  func(t *testing.T) string
	}{
		{"no state file", func(t *testing.T) string { return t.TempDir() }},
		{"no state directory", func(t *testing.T) string { return filepath.Join(t.TempDir(), "missing") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &Deployer{Project: &Project{Config: Config{Project: "shop", StateDir: tc.dir(t)}}}
			wantHistory(t, d, nil)
		})
	}
}

func TestHistoryIsPerProject(t *testing.T) {
	dir := t.TempDir()
	shop := &Deployer{Project: &Project{Config: Config{Project: "shop", StateDir: dir}}}
	blog := &Deployer{Project: &Project{Config: Config{Project: "blog", StateDir: dir}}}
	if err := shop.record(&Report{Release: Release{Kind: "deploy", Slot: Blue}}, func(*Release) {}); err != nil {
		t.Fatal(err)
	}
	wantHistory(t, blog, nil)
	if err := blog.record(&Report{Release: Release{Kind: "deploy", Slot: Green}}, func(*Release) {}); err != nil {
		t.Fatal(err)
	}
	wantHistory(t, shop, []Release{{ID: 1, Kind: "deploy", Slot: Blue, Outcome: OutcomeRunning}})
	wantHistory(t, blog, []Release{{ID: 1, Kind: "deploy", Slot: Green, Outcome: OutcomeRunning}})
	if diff := cmp.Diff([]string{"blog.json", "shop.json"}, dirNames(t, dir)); diff != "" {
		t.Errorf("files in the state directory (-want +got):\n%s", diff)
	}
}

// statusCompose is a Compose that only lists containers: one running web
// container in each slot.
type statusCompose struct{ Compose }

func (statusCompose) Ps(_ context.Context, project string, _ api.PsOptions) ([]api.ContainerSummary, error) {
	switch project {
	case "shop-blue", "shop-green":
		return []api.ContainerSummary{{Name: project + "-web-1", Service: "web", Image: "shop:v1", State: "running"}}, nil
	}
	return nil, nil
}

// statusSwitcher says blue takes traffic.
type statusSwitcher struct{}

func (statusSwitcher) Switch(context.Context, Slot, []string) error { return nil }
func (statusSwitcher) Active(context.Context) (Slot, error)         { return Blue, nil }

// Status still says what runs when the history cannot be read: from the
// proxy and the engine, with the reason in HistoryError.
func TestStateRefusedStatusStillSaysWhatRuns(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string // of the state file; "" for none
		want    string // in HistoryError; "" for none
	}{
		{"no history", "", ""},
		{"another project's", `{"project": "blog", "releases": []}`, `holds the history of project "blog", not of "shop"`},
		{"truncated", `{"project": "shop", "rel`, "is not valid JSON, truncated or corrupt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validConfig()
			cfg.StateDir = t.TempDir()
			d := &Deployer{Compose: statusCompose{}, Switcher: statusSwitcher{}, Project: &Project{Config: cfg}}
			if tc.content != "" {
				if err := os.WriteFile(d.statePath(), []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			st, err := d.Status(context.Background())
			if err != nil {
				t.Fatalf("Status: %v", err)
			}
			if st.Active != Blue || len(st.Slots) != 2 || !st.Slots[0].Live || len(st.Slots[1].Containers) != 1 {
				t.Errorf("Status = %+v, want blue live and a container in each slot", st)
			}
			if tc.want == "" {
				if st.HistoryError != "" {
					t.Errorf("HistoryError = %q, want none", st.HistoryError)
				}
				return
			}
			if !strings.Contains(st.HistoryError, tc.want) || !strings.Contains(st.HistoryError, d.statePath()) || !strings.Contains(st.HistoryError, "move it aside") {
				t.Errorf("HistoryError = %q, want it to name the file, say %q and how to recover", st.HistoryError, tc.want)
			}
			b, err := json.Marshal(st)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), `"history_error":`) {
				t.Errorf("JSON %s has no history_error", b)
			}
		})
	}
}

// Status tells a release whose deploy still runs (the lock is held: it names
// the holder) from one whose deploy was killed (the history says running,
// nobody holds the lock: a warning names the release).
func TestStatusTellsARunningDeployFromAKilledOne(t *testing.T) {
	cfg := validConfig()
	cfg.StateDir = t.TempDir()
	d := &Deployer{Compose: statusCompose{}, Switcher: statusSwitcher{}, Project: &Project{Config: cfg}}
	var st stateFile
	st.Project = "shop"
	st.begin(Release{Kind: "deploy", Slot: Green, Started: time.Now()})
	if err := writeState(d.statePath(), st); err != nil {
		t.Fatal(err)
	}

	killed, err := d.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if killed.Deploying != nil || len(killed.Warnings) != 1 || !strings.Contains(killed.Warnings[0], "release 1 (deploy, begun ") || !strings.Contains(killed.Warnings[0], "did not finish") {
		t.Errorf("no deploy runs: Deploying %+v, Warnings %q; want no holder and a warning naming release 1", killed.Deploying, killed.Warnings)
	}

	// A new deploy holds the lock and has not recorded its release yet:
	// release 1, begun before the lock was taken, is still the killed one's.
	unlock, err := lockFile(context.Background(), d.lockPath(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	taken, err := d.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if taken.Deploying == nil || taken.Deploying.PID != os.Getpid() || taken.RunningRelease() != nil ||
		len(taken.Warnings) != 1 || !strings.Contains(taken.Warnings[0], "release 1 (deploy, begun ") {
		t.Errorf("a deploy took the lock: Deploying %+v, RunningRelease %+v, Warnings %q; want this process, no release of its own yet, and release 1 warned of",
			taken.Deploying, taken.RunningRelease(), taken.Warnings)
	}

	// Once it records its release, that one runs and nothing is warned of.
	st.begin(Release{Kind: "rollback", Slot: Blue, Started: time.Now().UTC()})
	if err := writeState(d.statePath(), st); err != nil {
		t.Fatal(err)
	}
	running, err := d.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rel := running.RunningRelease(); running.Deploying == nil || rel == nil || rel.ID != 2 || rel.Kind != "rollback" || len(running.Warnings) != 0 {
		t.Errorf("a deploy runs: Deploying %+v, RunningRelease %+v, Warnings %q; want this process, release 2 and no warning", running.Deploying, rel, running.Warnings)
	}
}
