package setup

import (
	"flag"
	"os"
)

// envString is a string flag that falls back to an environment variable.
// The variable is read by [Parse], after the command line, and never becomes
// the flag's default: -help prints defaults, and the variable may hold a
// secret.
type envString struct {
	p   *string
	env string // the variable's name
}

// String returns the value; "" for the zero envString flag builds to find
// out whether a default is its zero value.
func (v *envString) String() string {
	if v == nil || v.p == nil {
		return ""
	}
	return *v.p
}

// Set sets the value.
func (v *envString) Set(s string) error { *v.p = s; return nil }

// StringEnv defines a string flag whose value, when the command line does
// not set it, comes from the environment variable env (if set and not
// empty), and otherwise is def. The usage text names the variable, not its
// value.
func StringEnv(fs *flag.FlagSet, p *string, name, env, def, usage string) {
	*p = def
	fs.Var(&envString{p: p, env: env}, name, usage+" ($"+env+")")
}

// Parse parses args into fs and then fills every [StringEnv] flag the
// command line left unset from its environment variable.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := f.Value.(*envString); ok && !set[f.Name] {
			if s := os.Getenv(v.env); s != "" {
				*v.p = s
			}
		}
	})
	return nil
}
