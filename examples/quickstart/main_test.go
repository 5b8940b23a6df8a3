package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serverauth/serverauth/examples/internal/maintest"
)

func TestQuickstartRunsTwice(t *testing.T) {
	dir := t.TempDir()
	for i, wantKey := range []string{"new key generated", "key from an earlier run"} {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"-dir", dir}, &out); err != nil {
			t.Fatalf("run %d = %v\n%s", i+1, err, out.String())
		}
		for _, want := range []string{wantKey, "token store  " + filepath.Join(dir, "tokens"), "key          " + filepath.Join(dir, "token.key"), "signed in  Jane Doe <jane.doe.demo@gmail.com>, email verified: true",
			"granted    drive.appdata, email, profile, openid", "(1 refresh call)", "read back  {\"items\":3"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("run %d output lacks %q:\n%s", i+1, want, out.String())
			}
		}
	}
}

func TestQuickstartFlags(t *testing.T) {
	if err := run(context.Background(), []string{"-dir", t.TempDir(), "-code", "x"}, &bytes.Buffer{}); err == nil {
		t.Error("-code without -client-secrets accepted")
	}
}

// TestHelp checks that -help exits 0.
func TestHelp(t *testing.T) {
	maintest.CheckHelp(t, main)
}
