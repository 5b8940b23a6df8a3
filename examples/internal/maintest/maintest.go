// Package maintest runs an example program's main function in a child
// process, as a user runs the command, for tests of its exit status and
// output.
package maintest

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// childArgs is the variable that carries the arguments to the child.
const childArgs = "SERVERAUTH_MAINTEST_ARGS"

// Run runs main with args in a child process and returns its exit status
// and its output (stdout and stderr together). The child is the test binary
// itself, running only the calling test, which must be a top-level test; in
// the child, Run runs main and exits, so the test must do nothing before Run
// that the child must not do. The child inherits the environment (t.Setenv
// included).
func Run(t *testing.T, main func(), args ...string) (status int, output string) {
	if raw, ok := os.LookupEnv(childArgs); ok {
		var a []string
		if err := json.Unmarshal([]byte(raw), &a); err != nil {
			panic(err)
		}
		os.Args = append(os.Args[:1], a...)
		main()
		os.Exit(0)
	}
	t.Helper()
	encoded, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$")
	cmd.Env = append(os.Environ(), childArgs+"="+string(encoded))
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	case err != nil:
		t.Fatalf("running %s %q: %v", os.Args[0], args, err)
	}
	return 0, string(out)
}

// secretEnv plants a secret in each variable the examples read one from.
var secretEnv = map[string]string{
	"SERVERAUTH_TOKEN_KEYS":     "1:c2VjcmV0LWtleS1mcm9tLXRoZS1lbnZpcm9ubWVudA==",
	"SERVERAUTH_STORE":          "postgres://app:env-db-password@db/app",
	"SERVERAUTH_CLIENT_SECRETS": "/run/secrets/env-client-secret.json",
	"SERVERAUTH_TLS_KEY":        "/run/secrets/env-tls.key",
}

// CheckHelp runs main with -help in a child process, with a secret planted
// in each SERVERAUTH_ variable that may hold one, and fails t unless it
// exits 0 with a usage text that quotes none of them.
func CheckHelp(t *testing.T, main func()) {
	t.Helper()
	for k, v := range secretEnv {
		t.Setenv(k, v)
	}
	status, out := Run(t, main, "-help")
	if status != 0 || !strings.Contains(out, "Usage of") {
		t.Fatalf("-help: exit status %d, output:\n%s\nwant 0 and a usage text", status, out)
	}
	for k, v := range secretEnv {
		if strings.Contains(out, v) {
			t.Errorf("-help quotes $%s's value %q:\n%s", k, v, out)
		}
	}
}
