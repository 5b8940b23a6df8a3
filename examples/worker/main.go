// Command worker is the offline job: it walks every user in the token
// store, reads their Drive app data folder while they are offline, and
// reports the users who must sign in and consent again (their grant was
// revoked, expired, needs reauthentication, or lacks the Drive scope),
// then the time-limited grants that end within -expiring (a week by
// default), each with the re-consent the app must ask for before then.
//
//	go run ./examples/worker -store postgres://app@db:5432/app -concurrency 16 -expiring 72h
//
// It takes the same configuration as examples/backend (flags or
// SERVERAUTH_* variables).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/api/drive/v3"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/examples/internal/setup"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

// outcome is what the job found for one user.
type outcome struct {
	user   string
	files  int
	reason string // why the user must consent again; "" if fine
	err    error  // a failure worth retrying later
}

func run(ctx context.Context, args []string, out, progress io.Writer) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	var shared setup.Flags
	shared.Register(fs)
	concurrency := fs.Int("concurrency", 8, "users processed at once")
	expiring := fs.Duration("expiring", 7*24*time.Hour, "report the time-limited grants that end within this window")
	if err := setup.Parse(fs, args); err != nil {
		return err
	}
	if *concurrency < 1 {
		return errors.New("-concurrency must be at least 1")
	}
	if *expiring < 0 {
		return errors.New("-expiring must not be negative")
	}
	cfg, closeStore, err := shared.Config(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	ex, err := serverauth.New(cfg)
	if err != nil {
		return err
	}
	lister, canList := cfg.Store.(serverauth.Lister)
	if !canList {
		return fmt.Errorf("store %T cannot list its users", cfg.Store)
	}

	users := make(chan string)
	results := make(chan outcome)
	var wg sync.WaitGroup
	for i := 0; i < *concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range users {
				results <- visit(ctx, ex, cfg.Store, u)
			}
		}()
	}
	var walkErr error
	go func() {
		defer close(users)
		for u, err := range lister.Users(ctx) {
			if err != nil {
				walkErr = err
				return
			}
			users <- u
		}
	}()
	go func() { wg.Wait(); close(results) }()

	var all []outcome
	var done atomic.Int64
	start := time.Now()
	for r := range results {
		all = append(all, r)
		fmt.Fprintf(progress, "\r%d users processed", done.Add(1))
	}
	fmt.Fprintln(progress)
	if walkErr != nil {
		return fmt.Errorf("listing users: %w", walkErr)
	}

	sort.Slice(all, func(i, j int) bool { return all[i].user < all[j].user })
	var ok, consent, failed int
	for _, r := range all {
		switch {
		case r.reason != "":
			consent++
			fmt.Fprintf(out, "needs consent  %s: %s\n", r.user, r.reason)
		case r.err != nil:
			failed++
			fmt.Fprintf(out, "failed         %s: %v\n", r.user, r.err)
		default:
			ok++
		}
	}
	fmt.Fprintf(out, "%d users: %d ok, %d need consent, %d failed (%s)\n", len(all), ok, consent, failed, time.Since(start).Round(time.Millisecond))
	return reportExpiring(ctx, ex, *expiring, out)
}

// reportExpiring lists the live grants that end within the window, with
// what the app must ask each user for, and the grants by status.
func reportExpiring(ctx context.Context, ex *serverauth.Exchanger, within time.Duration, out io.Writer) error {
	var expiring []*serverauth.Grant
	for g, err := range ex.ExpiringGrants(ctx, within) {
		if err != nil {
			return fmt.Errorf("listing expiring grants: %w", err)
		}
		expiring = append(expiring, g)
	}
	sort.Slice(expiring, func(i, j int) bool { return expiring[i].Ends.Before(expiring[j].Ends) })
	for _, g := range expiring {
		fmt.Fprintf(out, "expiring       %s: ends %s; %s\n", g.UserID, g.Ends.UTC().Format(time.RFC3339), g.Reconsent())
	}
	st := ex.Stats() // the walk above counted every grant by status
	var statuses []string
	for s := range st.Grants {
		statuses = append(statuses, string(s))
	}
	sort.Strings(statuses)
	fmt.Fprintf(out, "%d grants end within %s; by status:", len(expiring), within)
	for _, s := range statuses {
		fmt.Fprintf(out, " %s %d", s, st.Grants[serverauth.Status(s)])
	}
	fmt.Fprintln(out)
	return nil
}

// visit reads one user's app data folder.
func visit(ctx context.Context, ex *serverauth.Exchanger, store serverauth.TokenStore, user string) outcome {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	files := 0
	ad, err := ex.AppData(ctx, user)
	if err == nil {
		var list []*drive.File
		list, err = ad.List(ctx)
		files = len(list)
	}
	switch {
	case errors.Is(err, serverauth.ErrReauthRequired) || errors.Is(err, serverauth.ErrNoRefreshToken):
		reason := "the grant is dead"
		if rec, gerr := store.Get(ctx, user); gerr == nil && rec.Status.NeedsConsent() {
			reason = "grant " + string(rec.Status)
		}
		return outcome{user: user, reason: reason}
	case errors.Is(err, serverauth.ErrScopeNotGranted):
		return outcome{user: user, reason: "drive.appdata not granted"}
	}
	return outcome{user: user, files: files, err: err}
}
