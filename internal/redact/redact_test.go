package redact

import (
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	tests := []struct {
		name, in string
		secrets  []string
		leak     string
	}{
		{"access token", `{"access_token":"ya29.a0AfH6SMBx-y_z.1"}`, nil, "ya29.a0AfH6SMBx"},
		{"refresh token", "refresh 1//0gLx-abc_DEF", nil, "1//0gLx"},
		{"code", "code=4/0AX4XfWjkl_mn-op", nil, "4/0AX4XfWjkl"},
		{"encoded code", "code=4%2F0AX4XfWjkl", []string{"4%2F0AX4XfWjkl"}, "0AX4XfWjkl"},
		{"jwt", "token eyJhbGciOi.eyJzdWIi.c2ln", nil, "eyJzdWIi"},
		{"client secret shape", "secret GOCSPX-abcDEF_123", nil, "abcDEF_123"},
		{"bearer header", "Authorization: Bearer abc.def-ghi", nil, "abc.def-ghi"},
		{"known secret", "the value s3cr3t-value leaked", []string{"s3cr3t-value"}, "s3cr3t-value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := String(tt.in, tt.secrets...)
			if strings.Contains(got, tt.leak) || !strings.Contains(got, Mask) {
				t.Errorf("String(%q) = %q, want %q masked", tt.in, got, tt.leak)
			}
		})
	}
	if got := String("invalid_grant: Bad Request"); got != "invalid_grant: Bad Request" {
		t.Errorf("String(plain) = %q, want it unchanged", got)
	}
}

func TestTruncate(t *testing.T) {
	if got := Truncate("héllo", 2); got != "h…(truncated)" {
		t.Errorf("Truncate = %q, want a cut on a rune boundary", got)
	}
	if got := Truncate("short", 10); got != "short" {
		t.Errorf("Truncate(short) = %q", got)
	}
}

func TestStringEncodedForms(t *testing.T) {
	for _, in := range []string{"code=4%2F0AX4XfWjklmn", "rt=1%2F%2F0gLxabcdef", "x=4%2f0AX4XfWjklmn"} {
		if got := String(in); strings.Contains(got, "0AX4XfW") || strings.Contains(got, "0gLx") {
			t.Errorf("String(%q) = %q, want the encoded credential masked", in, got)
		}
	}
	secret := "s3cr3t/with+chars"
	if got := String("client_secret=s3cr3t%2Fwith%2Bchars", secret); strings.Contains(got, "s3cr3t") {
		t.Errorf("String = %q, want the form-encoded secret masked", got)
	}
}
