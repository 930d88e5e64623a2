package xvalue

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bluegreen-dev/bluegreen/internal/redact"
)

// Nearest returns the key of known nearest to key by edit distance (a
// letter added, dropped, changed, or two swapped), ignoring case, when it
// is close enough to be a typo of it: one edit for a key of up to four
// letters, two up to nine, three for a longer one. Of equally near keys,
// the first in sorted order wins.
func Nearest(key string, known []string) (string, bool) {
	best, bestDist := "", -1
	for _, k := range slices.Sorted(slices.Values(known)) {
		d := distance(strings.ToLower(key), strings.ToLower(k))
		if d <= 1+utf8.RuneCountInString(k)/5 && d < utf8.RuneCountInString(key) && (bestDist < 0 || d < bestDist) {
			best, bestDist = k, d
		}
	}
	return best, bestDist >= 0
}

// distance is the optimal string alignment distance between a and b: the
// edits (insert, delete, substitute, swap two neighbours) from one to the
// other.
func distance(a, b string) int {
	s, t := []rune(a), []rune(b)
	// d[i][j] is the distance between s[:i] and t[:j].
	d := make([][]int, len(s)+1)
	for i := range d {
		d[i] = make([]int, len(t)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(s); i++ {
		for j := 1; j <= len(t); j++ {
			cost := 1
			if s[i-1] == t[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && s[i-1] == t[j-2] && s[i-2] == t[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(s)][len(t)]
}

// maxShown is the longest value a message shows: a longer one may be a
// token or a key pasted in the wrong place.
const maxShown = 40

// got says what a JSON value is, for "want ..., got ...": a short scalar
// as it was written (a string quoted, its control characters escaped, a
// URL's secrets masked), a longer one, a list or a mapping by its shape
// only.
func got(raw []byte) string {
	if len(raw) == 0 {
		return "got nothing"
	}
	switch raw[0] {
	case '{':
		return "got a mapping"
	case '[':
		return "got a list"
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return "got " + Shown(s)
		}
	}
	if len(raw) > maxShown {
		return fmt.Sprintf("got a value of %d characters", len(raw))
	}
	return "got " + EscapeControl(string(raw))
}

// Shown is the string s as a message shows it: quoted, its control
// characters escaped and a URL's secrets masked, or only its length when
// it is long.
func Shown(s string) string {
	if utf8.RuneCountInString(s) > maxShown {
		return fmt.Sprintf("a string of %d characters", utf8.RuneCountInString(s))
	}
	return strconv.Quote(redact.URL(s))
}
