package serverauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// The backend's sign-in endpoint: the app POSTs its code with
// X-Requested-With, and gets the public profile back (never tokens).
func ExampleExchanger_SignInHandler() {
	google := serverauthtest.NewServer(serverauthtest.Options{})
	defer google.Close()
	cfg := google.Config()
	cfg.Store = serverauth.NewMemoryStore()
	exchanger, err := serverauth.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	handler, err := exchanger.SignInHandler(serverauth.HandlerConfig{})
	if err != nil {
		log.Fatal(err)
	}
	backend := httptest.NewServer(handler)
	defer backend.Close()

	// The app's side: what the iOS snippet in the README sends.
	code, _ := google.MintCode(serverauthtest.CodeRequest{Origin: serverauthtest.OriginIOS})
	req, _ := http.NewRequest(http.MethodPost, backend.URL, strings.NewReader(url.Values{"code": {code}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Requested-With", "XMLHttpRequest")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var profile serverauth.PublicProfile
	json.NewDecoder(resp.Body).Decode(&profile)
	fmt.Println(resp.Status, resp.Header.Get("Cache-Control"))
	fmt.Println(profile.UserID, profile.Email, profile.Name)
	// Output:
	// 200 OK no-store
	// 109876543210987654321 jane.doe.demo@gmail.com Jane Doe
}

// Exchange with a store keeps the refresh token; hours later, with the user
// offline, Client calls a Google API as the user and refreshes the token on
// its own.
func ExampleExchanger_Client() {
	clock := serverauthtest.NewClock(time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC))
	google := serverauthtest.NewServer(serverauthtest.Options{Now: clock.Now})
	defer google.Close()
	cfg := google.Config()
	cfg.Now = clock.Now
	cfg.Store = serverauth.NewMemoryStore() // in production: sqlstore, redisstore or filestore, with a Cipher
	exchanger, err := serverauth.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	code, _ := google.MintCode(serverauthtest.CodeRequest{})
	res, err := exchanger.Exchange(context.Background(), code)
	if err != nil {
		log.Fatal(err)
	}

	clock.Advance(3 * time.Hour) // the user is long gone; the access token expired
	client := exchanger.Client(res.UserID)
	resp, err := client.Get(google.UserInfoURL())
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var info struct{ Email string }
	json.Unmarshal(body, &info)
	fmt.Println(resp.Status, info.Email)
	fmt.Println("refreshes:", google.RefreshCount(res.UserID))
	// Output:
	// 200 OK jane.doe.demo@gmail.com
	// refreshes: 1
}

// Per-user state in the user's Drive app data folder, which only this app
// can see.
func ExampleExchanger_AppData() {
	google := serverauthtest.NewServer(serverauthtest.Options{})
	defer google.Close()
	cfg := google.Config()
	cfg.Store = serverauth.NewMemoryStore()
	exchanger, _ := serverauth.New(cfg)
	code, _ := google.MintCode(serverauthtest.CodeRequest{Scopes: []string{"openid", "email", "drive.appdata"}})
	res, err := exchanger.Exchange(context.Background(), code)
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	appData, err := exchanger.AppData(ctx, res.UserID)
	if err != nil {
		log.Fatal(err)
	}
	appData.Write(ctx, "settings.json", "application/json", []byte(`{"theme":"dark"}`))
	appData.Write(ctx, "settings.json", "application/json", []byte(`{"theme":"light"}`)) // an upsert
	content, _ := appData.Read(ctx, "settings.json")
	files, _ := appData.List(ctx)
	fmt.Printf("%s, %d file\n", content, len(files))
	// Output:
	// {"theme":"light"}, 1 file
}

// Disconnect: revoke the grant at Google and forget the user's tokens.
func ExampleExchanger_Revoke() {
	google := serverauthtest.NewServer(serverauthtest.Options{})
	defer google.Close()
	cfg := google.Config()
	cfg.Store = serverauth.NewMemoryStore()
	exchanger, _ := serverauth.New(cfg)
	code, _ := google.MintCode(serverauthtest.CodeRequest{})
	res, _ := exchanger.Exchange(context.Background(), code)

	if err := exchanger.Revoke(context.Background(), res.UserID); err != nil {
		log.Fatal(err)
	}
	_, err := exchanger.Token(context.Background(), res.UserID)
	fmt.Println("revoke calls:", google.RequestCount(serverauthtest.EndpointRevoke))
	fmt.Println("tokens forgotten:", errors.Is(err, serverauth.ErrNotFound))
	// Output:
	// revoke calls: 1
	// tokens forgotten: true
}
