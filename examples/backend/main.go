// Command backend is a production-shaped serverauth server: it receives the
// one-time codes apps post after Google Sign-In, keeps the users' tokens
// encrypted in a store, lets users disconnect, and reports its health.
//
//	POST /signin       the code (code=… or {"code":"…"}) or, later, an ID token; X-Requested-With required
//	POST /disconnect   revoke the caller's grant: id_token=… proves who they are; X-Requested-With required
//	POST /google/security-events  Google's Cross-Account Protection events (-risc-path; register it with cmd/riscstream)
//	GET  /healthz      200 when the store answers
//
// Configuration comes from flags or the environment:
//
//	export SERVERAUTH_CLIENT_SECRETS=client_secret.json
//	export SERVERAUTH_TOKEN_KEYS=$(go run ./examples/backend -generate-key)
//	export SERVERAUTH_STORE=postgres://app@db:5432/app   # or file:DIR, sqlite:FILE, mysql://…, redis://…
//	export SERVERAUTH_ALLOWED_CLIENT_IDS=IOS_ID.apps.googleusercontent.com,ANDROID_ID.apps.googleusercontent.com
//	go run ./examples/backend -addr :8443 -tls-cert cert.pem -tls-key key.pem
//
// Against the fake Google (go run ./cmd/fakegoogle), add
// -google http://127.0.0.1:8085 and leave out the client secrets.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/examples/internal/setup"
	"github.com/serverauth/serverauth/risc"
	"github.com/serverauth/serverauth/serverauthtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, nil); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "backend:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends. ready, if not nil, receives the listening
// address.
func run(ctx context.Context, args []string, out io.Writer, ready chan<- string) error {
	fs := flag.NewFlagSet("backend", flag.ContinueOnError)
	var shared setup.Flags
	shared.Register(fs)
	var addr, cert, key, origins string
	setup.StringEnv(fs, &addr, "addr", "SERVERAUTH_ADDR", "127.0.0.1:8080", "listen `address`")
	setup.StringEnv(fs, &cert, "tls-cert", "SERVERAUTH_TLS_CERT", "", "TLS certificate `file`; with -tls-key, serve HTTPS")
	setup.StringEnv(fs, &key, "tls-key", "SERVERAUTH_TLS_KEY", "", "TLS key `file`")
	setup.StringEnv(fs, &origins, "allowed-origins", "SERVERAUTH_ALLOWED_ORIGINS", "", "comma-separated web `origins` allowed to sign in")
	var riscPath string
	setup.StringEnv(fs, &riscPath, "risc-path", "SERVERAUTH_RISC_PATH", "/google/security-events", "`path` of the Cross-Account Protection receiver (empty: none)")
	generate := fs.Bool("generate-key", false, "print a new keyring for -keys and exit")
	if err := setup.Parse(fs, args); err != nil {
		return err
	}
	if *generate {
		k, err := serverauth.GenerateKey(1)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, k.Encode())
		return nil
	}
	if (cert == "") != (key == "") {
		return errors.New("-tls-cert and -tls-key go together")
	}

	cfg, closeStore, err := shared.Config(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	logger := slog.New(slog.NewJSONHandler(out, nil))
	cfg.Logger = logger
	ex, err := serverauth.New(cfg)
	if err != nil {
		return err
	}
	hcfg := serverauth.HandlerConfig{
		OnSignIn: func(w http.ResponseWriter, r *http.Request, res *serverauth.Result) {
			// Here a real app starts its own session for res.UserID.
			logger.Info("signed in", slog.String("user_id", res.UserID))
			writeJSON(w, res.PublicProfile())
		},
	}
	if origins != "" {
		hcfg.AllowedOrigins = strings.Split(origins, ",")
	}
	signIn, err := ex.SignInHandler(hcfg)
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("/signin", signIn)
	mux.HandleFunc("/disconnect", func(w http.ResponseWriter, r *http.Request) {
		disconnect(ex, w, r)
	})
	if riscPath != "" {
		rcfg := risc.Config{
			Exchanger: ex,
			Logger:    logger,
			OnEvent: func(ctx context.Context, ev *risc.Event) error {
				// Here a real app ends the user's sessions (sessions-revoked,
				// tokens-revoked, account-disabled with reason hijacking) and
				// turns off Google sign-in and account recovery by email
				// while the account is disabled.
				logger.Info("security event", slog.Any("event", ev))
				return nil
			},
		}
		if shared.Google != "" {
			rcfg.ConfigurationURL = strings.TrimRight(shared.Google, "/") + serverauthtest.RISCConfigurationPath
		}
		rc, err := risc.NewReceiver(rcfg)
		if err != nil {
			return err
		}
		mux.Handle("POST "+riscPath, rc)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := cfg.Store.Get(ctx, "healthz-probe"); err != nil && !errors.Is(err, serverauth.ErrNotFound) {
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute}
	logger.Info("listening", slog.String("addr", ln.Addr().String()), slog.Bool("tls", cert != ""))
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() {
		if cert != "" {
			errc <- srv.ServeTLS(ln, cert, key)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// disconnect revokes the grant of the user whose ID token is posted.
func disconnect(ex *serverauth.Exchanger, w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return
	case r.Header.Get("X-Requested-With") == "":
		http.Error(w, "X-Requested-With required", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, serverauth.MaxSignInBody)
	p, err := ex.VerifyIDToken(r.Context(), r.PostFormValue("id_token"))
	if err != nil {
		http.Error(w, "a valid id_token is required", http.StatusUnauthorized)
		return
	}
	if err := ex.Revoke(r.Context(), p.Subject); err != nil {
		http.Error(w, "could not reach Google; try again", http.StatusBadGateway)
		return
	}
	writeJSON(w, map[string]string{"disconnected": p.Subject})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
