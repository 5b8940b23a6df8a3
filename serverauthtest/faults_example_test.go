package serverauthtest_test

import (
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/serverauth/serverauth/serverauthtest"
)

// A 503 fails an exchange before Google processes it, so the code can be
// sent again; a reset after processing loses the tokens and spends the code.
func ExampleGoogle_FailNext() {
	srv := serverauthtest.NewServer(serverauthtest.Options{})
	defer srv.Close()

	exchange := func(code string) {
		res, err := srv.Client().PostForm(srv.Endpoints().TokenURL, url.Values{
			"grant_type":    {"authorization_code"},
			"code":          {code},
			"client_id":     {srv.WebClientID()},
			"client_secret": {srv.WebClientSecret()},
		})
		if err != nil {
			fmt.Println("no answer")
			return
		}
		defer res.Body.Close()
		var body struct {
			AccessToken string `json:"access_token"`
			Error       string `json:"error"`
		}
		json.NewDecoder(res.Body).Decode(&body)
		fmt.Printf("%d error=%q tokens=%t\n", res.StatusCode, body.Error, body.AccessToken != "")
	}

	code, _ := srv.MintCode(serverauthtest.CodeRequest{})
	srv.FailNext(serverauthtest.EndpointToken, 1, serverauthtest.Fault{Kind: serverauthtest.FaultUnavailable})
	exchange(code) // not processed
	exchange(code) // the code was still unused

	code, _ = srv.MintCode(serverauthtest.CodeRequest{})
	srv.FailNext(serverauthtest.EndpointToken, 1, serverauthtest.Fault{Kind: serverauthtest.FaultResetAfter})
	exchange(code) // processed, then the connection is reset
	exchange(code) // the code was spent

	fmt.Println("faults:", srv.FaultCount(serverauthtest.EndpointToken), "exchanges of the second code:", srv.CodeExchangeCount(code))
	// Output:
	// 503 error="internal_failure" tokens=false
	// 200 error="" tokens=true
	// no answer
	// 400 error="invalid_grant" tokens=false
	// faults: 2 exchanges of the second code: 2
}
