package serverauthtest_test

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/serverauth/serverauth/serverauthtest"
)

// A test whose backend runs in another process cannot share the fake's
// clock, so it moves the clock and expires tokens over HTTP. The same
// controls are Go methods: AdvanceClock, ExpireAccessTokens, RevokeUser.
func Example_controls() {
	srv := serverauthtest.NewServer(serverauthtest.Options{Now: serverauthtest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)).Now})
	defer srv.Close()

	control := func(path, body string) {
		res, err := srv.Client().Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			panic(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		fmt.Println(res.StatusCode, strings.Join(strings.Fields(string(out)), " "))
	}

	sub := serverauthtest.DemoUser().Sub
	code, _ := srv.MintCode(serverauthtest.CodeRequest{})
	exchanged, _ := srv.Client().PostForm(srv.Endpoints().TokenURL, map[string][]string{
		"grant_type": {"authorization_code"}, "code": {code},
		"client_id": {srv.WebClientID()}, "client_secret": {srv.WebClientSecret()},
	})
	exchanged.Body.Close()

	control("/emulator/clock", `{"advance_seconds": 60}`)
	control("/emulator/users/"+sub+"/expire-access-tokens", ``)
	control("/emulator/users/"+sub+"/revoke", `{}`)
	fmt.Println("emulator requests:", srv.RequestCount(serverauthtest.EndpointEmulator))
	// Output:
	// 200 { "now": "2026-01-02T03:05:05Z", "offset_seconds": 60 }
	// 200 { "expired": 1, "sub": "109876543210987654321" }
	// 200 { "sub": "109876543210987654321" }
	// emulator requests: 3
}
