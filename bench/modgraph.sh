#!/usr/bin/env bash
# Measures what a user's build gets from serverauth: builds throwaway consumer
# modules in a temp dir, each pointing at this checkout with `replace`, and
# prints, for each, the modules in `go list -m all` (less the consumer itself), the non-standard packages
# linked (`go list -deps`) and the size of the binary.
#
#   bench/modgraph.sh          # the table
#   KEEP=1 bench/modgraph.sh   # and keep the consumers (the path is printed)
#
# The consumers:
#   root                 imports only github.com/serverauth/serverauth
#   oauth2+drive         golang.org/x/oauth2 + google.golang.org/api/drive/v3
#                        alone, at the versions the root go.mod requires
#   root+sqlstore        the root package and sqlstore (no driver: that is the
#                        user's choice)
#   root+redisstore      the root package and redisstore (with go-redis)
#
# Each consumer calls the package's constructor and its main methods, so that
# the linker keeps them. Needs the Go module proxy (or a warm module cache).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export GOWORK=off GOFLAGS=-mod=mod

tmp=$(mktemp -d)
if [ -n "${KEEP:-}" ]; then echo "consumers in $tmp" >&2; else trap 'rm -rf "$tmp"' EXIT; fi

# version MODULE: the version the root go.mod requires.
version() { (cd "$root" && go list -m -f '{{.Version}}' "$1"); }
oauth2=$(version golang.org/x/oauth2)
api=$(version google.golang.org/api)

# replaces: a replace line for the root module and for each module of this
# checkout that a consumer may require (sqlstore and redisstore, once they are
# modules of their own).
replaces() {
  echo "replace github.com/serverauth/serverauth => $root"
  for m in sqlstore redisstore; do
    if [ -f "$root/$m/go.mod" ]; then
      echo "replace github.com/serverauth/serverauth/$m => $root/$m"
    fi
  done
}

# consumer NAME REQUIRES MAIN.GO: a module in $tmp/NAME.
consumer() {
  local dir=$tmp/$1
  mkdir -p "$dir"
  {
    echo "module example.com/$1"
    echo
    echo "go 1.26.0"
    echo
    echo "require ("
    printf '%s\n' "$2"
    echo ")"
    echo
    replaces
  } >"$dir/go.mod"
  cat >"$dir/main.go"
  (cd "$dir" && go mod tidy -e >/dev/null 2>&1 || true)
}

serverauth='	github.com/serverauth/serverauth v0.0.0-00010101000000-000000000000'
sqlstore='	github.com/serverauth/serverauth/sqlstore v0.0.0-00010101000000-000000000000'
redisstore='	github.com/serverauth/serverauth/redisstore v0.0.0-00010101000000-000000000000'
[ -f "$root/sqlstore/go.mod" ] || sqlstore=
[ -f "$root/redisstore/go.mod" ] || redisstore=

# The root package's calls, shared by three consumers.
use_root='
	ex, err := serverauth.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	h, err := ex.SignInHandler(serverauth.HandlerConfig{OnSignIn: func(w http.ResponseWriter, r *http.Request, res *serverauth.Result) {
		fmt.Fprintln(w, res.UserID)
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	http.Handle("/signin", h)
	if len(os.Args) > 1 { // linked, not run
		ctx := context.Background()
		res, err := ex.Exchange(ctx, os.Args[1])
		fmt.Println(res, err)
		tok, err := ex.Token(ctx, res.UserID)
		fmt.Println(tok.Expiry, err)
		ad, err := ex.AppData(ctx, res.UserID)
		fmt.Println(err)
		b, err := ad.Read(ctx, "state.json")
		fmt.Println(len(b), err)
		fmt.Println(ex.Revoke(ctx, res.UserID))
	}
	fmt.Println("ok")
}'

consumer root "$serverauth" <<EOF
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/serverauth/serverauth"
)

func main() {
	cfg := serverauth.Config{ClientID: "id", ClientSecret: "secret", Store: serverauth.NewMemoryStore()}
$use_root
EOF

consumer oauth2+drive "	golang.org/x/oauth2 $oauth2
	google.golang.org/api $api" <<'EOF'
package main

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/oauth2"
	"google.golang.org/api/drive/v3"
	"google.golang.org/api/option"
)

func main() {
	cfg := &oauth2.Config{
		ClientID:     "id",
		ClientSecret: "secret",
		Endpoint: oauth2.Endpoint{
			AuthURL:  "https://accounts.google.com/o/oauth2/auth",
			TokenURL: "https://oauth2.googleapis.com/token",
		},
		Scopes: []string{drive.DriveAppdataScope},
	}
	if len(os.Args) > 1 { // linked, not run
		ctx := context.Background()
		tok, err := cfg.Exchange(ctx, os.Args[1])
		fmt.Println(err)
		srv, err := drive.NewService(ctx, option.WithTokenSource(cfg.TokenSource(ctx, tok)))
		fmt.Println(err)
		list, err := srv.Files.List().Spaces("appDataFolder").Q("name = 'state.json'").Do()
		fmt.Println(list, err)
		resp, err := srv.Files.Get("id").Download()
		fmt.Println(resp, err)
	}
	fmt.Println("ok")
}
EOF

if [ -n "$sqlstore" ]; then sqlreq="$serverauth
$sqlstore"; else sqlreq=$serverauth; fi
consumer root+sqlstore "$sqlreq" <<EOF
package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/sqlstore"
)

func main() {
	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL")) // the driver is the user's choice
	if err != nil {
		fmt.Println(err)
		return
	}
	store, err := sqlstore.New(db, sqlstore.Config{Dialect: sqlstore.Postgres})
	if err != nil {
		fmt.Println(err)
		return
	}
	if len(os.Args) > 2 {
		fmt.Println(store.CreateTable(context.Background()))
	}
	key, _ := serverauth.GenerateKey(1)
	keyring, _ := serverauth.NewKeyring(key)
	cfg := serverauth.Config{ClientID: "id", ClientSecret: "secret", Store: store, Cipher: keyring}
$use_root
EOF

if [ -n "$redisstore" ]; then redisreq="$serverauth
$redisstore"; else redisreq=$serverauth; fi
consumer root+redisstore "$redisreq" <<EOF
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/redisstore"
)

func main() {
	store, err := redisstore.New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"}), redisstore.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	key, _ := serverauth.GenerateKey(1)
	keyring, _ := serverauth.NewKeyring(key)
	cfg := serverauth.Config{ClientID: "id", ClientSecret: "secret", Store: store, Cipher: keyring}
$use_root
EOF

heavy='jackc/pgx|go-sql-driver/mysql|modernc.org/sqlite|redis/go-redis|coreos/go-oidc|golang-jwt'
printf '%-16s %8s %9s %10s  %s\n' consumer modules packages binary 'heavy modules in the graph'
for c in root oauth2+drive root+sqlstore root+redisstore; do
  dir=$tmp/$c
  (
    cd "$dir"
    go build -trimpath -o "$dir/bin" . || { echo "FAIL: $c does not build" >&2; exit 1; }
    mods=$(go list -m all | tail -n +2 | wc -l) # less the consumer itself
    pkgs=$(go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' . | grep -vc "^example.com/")
    size=$(stat -c %s "$dir/bin")
    found=$(go list -m all | grep -oE "$heavy" | sort -u | paste -sd, - || true)
    printf '%-16s %8d %9d %10d  %s\n' "$c" "$mods" "$pkgs" "$size" "${found:--}"
  )
done
