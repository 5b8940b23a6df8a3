package serverauthtest_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/serverauth/serverauth/serverauthtest"
)

// The app's user signs in on iOS and the app posts the server auth code to
// the backend, which exchanges it once; a second sign-in brings no new
// refresh token.
func Example() {
	clock := serverauthtest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	srv := serverauthtest.NewServer(serverauthtest.Options{Now: clock.Now})
	defer srv.Close()

	exchange := func(code string) {
		res, err := srv.Client().PostForm(srv.Endpoints().TokenURL, url.Values{
			"grant_type":    {"authorization_code"},
			"code":          {code},
			"client_id":     {srv.WebClientID()},
			"client_secret": {srv.WebClientSecret()},
		})
		if err != nil {
			panic(err)
		}
		defer res.Body.Close()
		var tok struct {
			ExpiresIn    int    `json:"expires_in"`
			RefreshToken string `json:"refresh_token"`
			Error        string `json:"error"`
			Description  string `json:"error_description"`
		}
		json.NewDecoder(res.Body).Decode(&tok)
		if tok.Error != "" {
			fmt.Printf("%d %s %q\n", res.StatusCode, tok.Error, tok.Description)
			return
		}
		fmt.Printf("%d expires_in=%d refresh_token=%t\n", res.StatusCode, tok.ExpiresIn, tok.RefreshToken != "")
	}

	code, err := srv.MintCode(serverauthtest.CodeRequest{Scopes: []string{"openid", "email", "drive.appdata"}})
	if err != nil {
		panic(err)
	}
	exchange(code)
	exchange(code) // codes are single use

	code, _ = srv.MintCode(serverauthtest.CodeRequest{})
	exchange(code) // not the first consent: no refresh token

	code, _ = srv.MintCode(serverauthtest.CodeRequest{})
	clock.Advance(11 * time.Minute)
	exchange(code) // expired

	fmt.Println(srv.WebClientID())
	// Output:
	// 200 expires_in=3599 refresh_token=true
	// 400 invalid_grant "Bad Request"
	// 200 expires_in=3599 refresh_token=false
	// 400 invalid_grant "Bad Request"
	// 123456789012-8h3kq1t0v5m2r9c7w4n6b0x1s3d5f7g9.apps.googleusercontent.com
}
