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
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/filestore"
	"github.com/serverauth/serverauth/redisstore"
	"github.com/serverauth/serverauth/serverauthtest"
	"github.com/serverauth/serverauth/sqlstore"
)

// Flags are the settings both programs take. Each flag falls back to an
// environment variable, so a container can be configured either way; the
// variables are read after parsing ([Parse]), never as flag defaults, so
// that -help prints no secret.
type Flags struct {
	ClientSecrets string
	Store         string
	Keys          string
	AllowedIDs    string
	Scopes        string
	Google        string
	GoogleCA      string
}

// Register adds the shared flags to fs. Parse fs with [Parse].
func (f *Flags) Register(fs *flag.FlagSet) {
	StringEnv(fs, &f.ClientSecrets, "client-secrets", "SERVERAUTH_CLIENT_SECRETS", "", "the web client's `client_secret.json`")
	StringEnv(fs, &f.Store, "store", "SERVERAUTH_STORE", "file:serverauth-tokens", "token `store`: file:DIR, sqlite:FILE, postgres://…, mysql://user:pass@host:port/db, redis://…")
	StringEnv(fs, &f.Keys, "keys", "SERVERAUTH_TOKEN_KEYS", "", "`keyring` encrypting stored tokens, ID:base64 keys, primary first")
	StringEnv(fs, &f.AllowedIDs, "allowed-client-ids", "SERVERAUTH_ALLOWED_CLIENT_IDS", "", "comma-separated iOS and Android client `IDs`")
	StringEnv(fs, &f.Scopes, "scopes", "SERVERAUTH_SCOPES", "email drive.appdata", "`scopes` that must be granted, space-separated")
	StringEnv(fs, &f.Google, "google", "SERVERAUTH_GOOGLE", "", "base `URL` of a fake Google (cmd/fakegoogle) instead of Google")
	StringEnv(fs, &f.GoogleCA, "google-ca", "SERVERAUTH_GOOGLE_CA", "", "PEM certificate `file` to trust for -google, if it serves TLS")
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
// redis://…. Its errors never quote a password: the URL's parsers see it
// with the password masked (see [splitStoreURL]).
func OpenStore(ctx context.Context, raw string) (serverauth.TokenStore, func(), error) {
	scheme, rest, _ := strings.Cut(raw, ":")
	switch scheme {
	case "file":
		s, err := filestore.New(strings.TrimPrefix(rest, "//"))
		return s, func() {}, err
	case "sqlite":
		db, err := sql.Open("sqlite", strings.TrimPrefix(rest, "//"))
		if err != nil {
			return nil, nil, err
		}
		return openSQL(ctx, db, sqlstore.SQLite)
	case "postgres", "postgresql", "mysql", "redis", "rediss":
	default:
		return nil, nil, fmt.Errorf("store: unknown scheme %q: want file:DIR, sqlite:FILE, postgres://…, mysql://… or redis://…", scheme)
	}
	u, err := splitStoreURL(raw)
	if err != nil {
		return nil, nil, err
	}
	s, closeStore, err := openNetworkStore(ctx, scheme, u)
	if err != nil {
		return nil, nil, fmt.Errorf("store %s: %w", u.masked, err)
	}
	return s, closeStore, nil
}

// openNetworkStore opens a PostgreSQL, MySQL or Redis store: it parses the
// masked URL and then sets the password in what the parser returned.
func openNetworkStore(ctx context.Context, scheme string, u storeURL) (serverauth.TokenStore, func(), error) {
	switch scheme {
	case "mysql":
		p, err := url.Parse(u.masked)
		if err != nil {
			return nil, nil, err
		}
		c := mysql.NewConfig()
		c.Net, c.Addr, c.DBName, c.ParseTime = "tcp", p.Host, strings.TrimPrefix(p.Path, "/"), true
		if p.User != nil {
			c.User = p.User.Username()
		}
		if u.hasPassword {
			c.Passwd = u.password
		}
		conn, err := mysql.NewConnector(c)
		if err != nil {
			return nil, nil, err
		}
		return openSQL(ctx, sql.OpenDB(conn), sqlstore.MySQL)
	case "redis", "rediss":
		opt, err := redis.ParseURL(u.masked)
		if err != nil {
			return nil, nil, err
		}
		if u.hasPassword {
			opt.Password = u.password
		}
		c := redis.NewClient(opt)
		s, err := redisstore.New(c, redisstore.Config{})
		return s, func() { c.Close() }, err
	}
	c, err := pgx.ParseConfig(u.masked)
	if err != nil {
		return nil, nil, err
	}
	if u.hasPassword {
		c.Password = u.password // the fallback hosts share it
	}
	return openSQL(ctx, stdlib.OpenDB(*c), sqlstore.Postgres)
}

// openSQL opens a SQL store on db, which it closes on failure.
func openSQL(ctx context.Context, db *sql.DB, d sqlstore.Dialect) (serverauth.TokenStore, func(), error) {
	db.SetMaxOpenConns(20) // see sqlstore's doc: replicas must not exhaust the database
	db.SetMaxIdleConns(20) // and keep those connections open between statements
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
