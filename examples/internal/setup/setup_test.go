package setup

import (
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

// planted is the password planted in the store URLs below; no error may
// quote any part of it.
const planted = "Pl4nted-S3cret"

func TestOpenStoreErrorsHideThePassword(t *testing.T) {
	tests := []struct {
		name string
		url  string
	}{
		{name: "postgres, bad sslmode", url: "postgres://app:" + planted + "@127.0.0.1:5432/app?sslmode=bogus"},
		{name: "postgres, bad escape", url: "postgres://app:" + planted + "%zz@127.0.0.1:5432/app"},
		{name: "postgres, unescaped slash", url: "postgres://app:Pl4nted/S3cret@127.0.0.1:5432/app"},
		{name: "postgres, nothing listening", url: "postgres://app:" + planted + "@127.0.0.1:1/app?sslmode=disable&connect_timeout=2"},
		{name: "postgres, password parameter", url: "postgresql://app@127.0.0.1:5432/app?password=" + planted + "&sslmode=bogus"},
		{name: "postgres, bad password parameter", url: "postgres://app@127.0.0.1:5432/app?password=" + planted + "%zz"},
		{name: "mysql, bad port", url: "mysql://root:" + planted + "@127.0.0.1:x/app"},
		{name: "mysql, space in password, nothing listening", url: "mysql://root:Pl4nted S3cret@127.0.0.1:1/app"},
		{name: "mysql, bad escape", url: "mysql://root:" + planted + "%z@127.0.0.1:3306/app"},
		{name: "mysql, unescaped question mark", url: "mysql://root:Pl4nted?S3cret@127.0.0.1:3306/app"},
		{name: "redis, bad database", url: "redis://:" + planted + "@127.0.0.1:6379/x"},
		{name: "redis, bad port", url: "redis://default:" + planted + "@127.0.0.1:x/0"},
		{name: "redis, bad option", url: "rediss://:" + planted + "@127.0.0.1:6379/0?dial_timeout=x"},
		{name: "redis, unescaped hash", url: "redis://:Pl4nted#S3cret@127.0.0.1:6379/0"},
		{name: "unknown scheme", url: "postgress://app:" + planted + "@127.0.0.1/app"},
		{name: "driver DSN, not a URL", url: "root:" + planted + "@tcp(127.0.0.1:3306)/app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, closeStore, err := OpenStore(ctx, tt.url)
			if err == nil {
				closeStore()
				t.Fatalf("OpenStore(%q) = nil error, want one", tt.url)
			}
			for _, part := range []string{"Pl4nted", "S3cret"} {
				if strings.Contains(err.Error(), part) {
					t.Errorf("OpenStore(%q) = %q, which quotes the password", tt.url, err)
				}
			}
		})
	}
}

func TestSplitStoreURL(t *testing.T) {
	tests := []struct {
		url          string
		wantMasked   string
		wantPassword string // "" for none
	}{
		{url: "postgres://app:p%40ss%20w%2Frd@db:5432/app?sslmode=disable", wantMasked: "postgres://app:xxxxx@db:5432/app?sslmode=disable", wantPassword: "p@ss w/rd"},
		{url: "mysql://root:p@ss@db/app", wantMasked: "mysql://root:xxxxx@db/app", wantPassword: "p@ss"},
		{url: "redis://:s3cret@127.0.0.1:6379/0", wantMasked: "redis://:xxxxx@127.0.0.1:6379/0", wantPassword: "s3cret"},
		{url: "postgres://app@db/app?sslmode=disable&password=a%26b#f", wantMasked: "postgres://app@db/app?sslmode=disable&password=xxxxx#f", wantPassword: "a&b"},
		{url: "redis://user@127.0.0.1:6379/0", wantMasked: "redis://user@127.0.0.1:6379/0"},
		{url: "redis://127.0.0.1:6379/0", wantMasked: "redis://127.0.0.1:6379/0"},
	}
	for _, tt := range tests {
		u, err := splitStoreURL(tt.url)
		if err != nil || u.masked != tt.wantMasked || u.password != tt.wantPassword || u.hasPassword != (tt.wantPassword != "") {
			t.Errorf("splitStoreURL(%q) = %q, %q, %v, %v; want %q, %q", tt.url, u.masked, u.password, u.hasPassword, err, tt.wantMasked, tt.wantPassword)
		}
	}
}

func TestParseReadsTheEnvironmentAfterTheFlags(t *testing.T) {
	t.Setenv("SERVERAUTH_TOKEN_KEYS", "1:"+planted)
	t.Setenv("SERVERAUTH_STORE", "postgres://app:"+planted+"@db/app")
	t.Setenv("SERVERAUTH_SCOPES", "")
	tests := []struct {
		name      string
		args      []string
		wantKeys  string
		wantStore string
	}{
		{name: "environment", wantKeys: "1:" + planted, wantStore: "postgres://app:" + planted + "@db/app"},
		{name: "flag over environment", args: []string{"-store", "file:x"}, wantKeys: "1:" + planted, wantStore: "file:x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			var f Flags
			f.Register(fs)
			if err := Parse(fs, tt.args); err != nil {
				t.Fatal(err)
			}
			if f.Keys != tt.wantKeys || f.Store != tt.wantStore || f.Scopes != "email drive.appdata" {
				t.Errorf("Parse(%q): keys %q, store %q, scopes %q; want %q, %q and the default scopes", tt.args, f.Keys, f.Store, f.Scopes, tt.wantKeys, tt.wantStore)
			}
		})
	}

	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var usage strings.Builder
	fs.SetOutput(&usage)
	new(Flags).Register(fs)
	if err := Parse(fs, []string{"-help"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Parse(-help) = %v, want flag.ErrHelp", err)
	}
	if strings.Contains(usage.String(), planted) || !strings.Contains(usage.String(), "$SERVERAUTH_TOKEN_KEYS") {
		t.Errorf("usage quotes the environment's secrets or does not name the variables:\n%s", usage.String())
	}
}
