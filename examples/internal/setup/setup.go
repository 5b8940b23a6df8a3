// Package setup builds the serverauth configuration that the example
// programs share from flags and environment variables: client secrets, the
// token store named by a URL, and the encryption keyring.
package setup

import (
	"context"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/filestore"
	"github.com/serverauth/serverauth/redisstore"
	"github.com/serverauth/serverauth/serverauthtest"
	"github.com/serverauth/serverauth/sqlstore"
)

// Flags are the settings both programs take. Each flag defaults to an
// environment variable, so a container can be configured either way.
type Flags struct {
	ClientSecrets string
	Store         string
	Keys          string
	AllowedIDs    string
	Scopes        string
	Google        string
	GoogleCA      string
}

// Register adds the shared flags to fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.ClientSecrets, "client-secrets", os.Getenv("SERVERAUTH_CLIENT_SECRETS"), "the web client's client_secret.json ($SERVERAUTH_CLIENT_SECRETS)")
	fs.StringVar(&f.Store, "store", envOr("SERVERAUTH_STORE", "file:serverauth-tokens"), "token store: file:DIR, sqlite:FILE, postgres://…, mysql://user:pass@host:port/db, redis://… ($SERVERAUTH_STORE)")
	fs.StringVar(&f.Keys, "keys", os.Getenv("SERVERAUTH_TOKEN_KEYS"), "keyring encrypting stored tokens, ID:base64 keys, primary first ($SERVERAUTH_TOKEN_KEYS)")
	fs.StringVar(&f.AllowedIDs, "allowed-client-ids", os.Getenv("SERVERAUTH_ALLOWED_CLIENT_IDS"), "comma-separated iOS and Android client IDs ($SERVERAUTH_ALLOWED_CLIENT_IDS)")
	fs.StringVar(&f.Scopes, "scopes", envOr("SERVERAUTH_SCOPES", "email drive.appdata"), "scopes that must be granted, space-separated ($SERVERAUTH_SCOPES)")
	fs.StringVar(&f.Google, "google", os.Getenv("SERVERAUTH_GOOGLE"), "base URL of a fake Google (cmd/fakegoogle) instead of Google ($SERVERAUTH_GOOGLE)")
	fs.StringVar(&f.GoogleCA, "google-ca", os.Getenv("SERVERAUTH_GOOGLE_CA"), "PEM certificate to trust for -google, if it serves TLS ($SERVERAUTH_GOOGLE_CA)")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Config builds the serverauth configuration and opens the store. close
// releases the store's connection.
func (f *Flags) Config(ctx context.Context) (cfg serverauth.Config, close func(), err error) {
	cfg = serverauth.Config{
		ClientSecretsFile: f.ClientSecrets,
		Scopes:            strings.Fields(f.Scopes),
	}
	if f.ClientSecrets == "" && f.Google != "" {
		// A fake Google accepts its documented default client.
		cfg.ClientSecretsFile = ""
		cfg.ClientID, cfg.ClientSecret = serverauthtest.DefaultWebClientID, serverauthtest.DefaultWebClientSecret
	}
	for _, id := range strings.Split(f.AllowedIDs, ",") {
		if id = strings.TrimSpace(id); id != "" {
			cfg.AllowedClientIDs = append(cfg.AllowedClientIDs, id)
		}
	}
	if f.Google != "" {
		cfg.Endpoints = serverauthtest.EndpointsAt(strings.TrimRight(f.Google, "/"))
		if len(cfg.AllowedClientIDs) == 0 {
			cfg.AllowedClientIDs = []string{serverauthtest.DefaultIOSClientID, serverauthtest.DefaultAndroidClientID}
		}
	}
	if f.GoogleCA != "" {
		hc, err := trusting(f.GoogleCA)
		if err != nil {
			return cfg, nil, err
		}
		cfg.HTTPClient = hc
	}
	if f.Keys == "" {
		return cfg, nil, errors.New("no keyring: set -keys or $SERVERAUTH_TOKEN_KEYS (generate one with: go run ./examples/backend -generate-key)")
	}
	if cfg.Cipher, err = serverauth.ParseKeyring(f.Keys); err != nil {
		return cfg, nil, err
	}
	cfg.Store, close, err = OpenStore(ctx, f.Store)
	return cfg, close, err
}

// trusting returns an HTTP client that trusts the PEM certificate in file.
func trusting(file string) (*http.Client, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs = pool
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

// OpenStore opens the token store a URL names, creating its table if it is
// SQL: file:DIR, sqlite:FILE, postgres://…, mysql://user:pass@host:port/db,
// redis://….
func OpenStore(ctx context.Context, raw string) (serverauth.TokenStore, func(), error) {
	scheme, rest, _ := strings.Cut(raw, ":")
	switch scheme {
	case "file":
		s, err := filestore.New(strings.TrimPrefix(rest, "//"))
		return s, func() {}, err
	case "sqlite":
		return openSQL(ctx, "sqlite", strings.TrimPrefix(rest, "//"), sqlstore.SQLite)
	case "postgres", "postgresql":
		return openSQL(ctx, "pgx", raw, sqlstore.Postgres)
	case "mysql":
		u, err := url.Parse(raw)
		if err != nil {
			return nil, nil, err
		}
		c := mysql.NewConfig()
		c.Net, c.Addr, c.DBName, c.ParseTime = "tcp", u.Host, strings.TrimPrefix(u.Path, "/"), true
		if u.User != nil {
			c.User = u.User.Username()
			c.Passwd, _ = u.User.Password()
		}
		return openSQL(ctx, "mysql", c.FormatDSN(), sqlstore.MySQL)
	case "redis", "rediss":
		opt, err := redis.ParseURL(raw)
		if err != nil {
			return nil, nil, err
		}
		c := redis.NewClient(opt)
		s, err := redisstore.New(c, redisstore.Config{})
		return s, func() { c.Close() }, err
	}
	return nil, nil, fmt.Errorf("store %q: want file:DIR, sqlite:FILE, postgres://…, mysql://… or redis://…", raw)
}

func openSQL(ctx context.Context, driver, dsn string, d sqlstore.Dialect) (serverauth.TokenStore, func(), error) {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, nil, err
	}
	db.SetMaxOpenConns(20) // see sqlstore's doc: replicas must not exhaust the database
	s, err := sqlstore.New(db, sqlstore.Config{Dialect: d})
	if err == nil {
		err = s.CreateTable(ctx)
	}
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return s, func() { db.Close() }, nil
}
