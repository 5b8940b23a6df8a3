package serverauth

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestNormalizeScopes(t *testing.T) {
	got := normalizeScopes([]string{"email profile", "openid", "drive.appdata", "https://www.googleapis.com/auth/userinfo.email", " drive.appfolder "})
	want := []string{ScopeDriveAppData, ScopeEmail, ScopeProfile, ScopeOpenID}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("normalizeScopes = %q, want %q", got, want)
	}
}

func TestMissingScopes(t *testing.T) {
	granted := normalizeScopes([]string{"openid email https://www.googleapis.com/auth/drive"})
	tests := []struct {
		required []string
		want     []string
	}{
		{[]string{"email"}, nil},
		{[]string{"drive.appdata"}, nil}, // implied by full drive
		{[]string{"profile", "email"}, []string{ScopeProfile}},
	}
	for _, tt := range tests {
		if got := missingScopes(normalizeScopes(tt.required), granted); !slices.Equal(got, tt.want) {
			t.Errorf("missingScopes(%q) = %q, want %q", tt.required, got, tt.want)
		}
	}
}

func TestCheckCode(t *testing.T) {
	tests := []struct {
		name, code string
		ok         bool
	}{
		{"google shaped", "4/0AX4XfWh-abc_DEF", true},
		{"empty", "", false},
		{"leading space", " 4/0AX4", false},
		{"trailing newline", "4/0AX4\n", false},
		{"inner tab", "4/0A\tX4", false},
		{"control", "4/0A\x00X4", false},
		{"invalid UTF-8", "4/0A\xffX4", false},
		{"too long", "4/" + strings.Repeat("a", MaxCodeSize), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkCode(tt.code)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalidCode)) {
				t.Fatalf("checkCode(%q) = %v, want ok=%v", tt.code, err, tt.ok)
			}
			if err != nil && tt.code != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.code)) {
				t.Errorf("error %q echoes the code", err)
			}
		})
	}
}
