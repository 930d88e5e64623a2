package appimage

import (
	"strings"
	"testing"
)

func TestReadBuildOutput(t *testing.T) {
	for _, tc := range []struct {
		name, stream, wantErr string
	}{
		{"ok", `{"stream":"Step 1/4 : FROM scratch\n"}{"aux":{"ID":"sha256:1"}}{"stream":"Successfully built 1\n"}`, ""},
		{"error in stream", `{"stream":"Step 1/4 : FROM scratch\n"}{"errorDetail":{"message":"COPY failed"},"error":"COPY failed"}`, "COPY failed"},
		{"truncated", `{"stream":"Step`, "read build output"},
	} {
		err := readBuildOutput(strings.NewReader(tc.stream))
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.wantErr)
		}
	}
}
