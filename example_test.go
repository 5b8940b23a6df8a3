package serverauth_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/serverauthtest"
)

// The backend receives a one-time code from the app and exchanges it. Here
// the fake Google plays Google and mints the code the iOS app would post.
func ExampleExchanger_Exchange() {
	google := serverauthtest.NewServer(serverauthtest.Options{})
	defer google.Close()

	// In production: serverauth.Config{ClientSecretsFile: "client_secret.json",
	// AllowedClientIDs: []string{iosClientID, androidClientID}, ...}.
	cfg := google.Config()
	cfg.Scopes = []string{"email", "drive.appdata"}
	exchanger, err := serverauth.New(cfg)
	if err != nil {
		log.Fatal(err)
	}

	// What GIDSignInResult.serverAuthCode would carry to the backend.
	code, err := google.MintCode(serverauthtest.CodeRequest{
		Origin: serverauthtest.OriginIOS,
		Scopes: []string{"openid", "email", "profile", "drive.appdata"},
	})
	if err != nil {
		log.Fatal(err)
	}

	res, err := exchanger.Exchange(context.Background(), code)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("user:", res.UserID)
	fmt.Println("email:", res.Profile.Email, "verified:", res.Profile.EmailVerified)
	fmt.Println("signed in with:", res.Profile.AuthorizedParty == google.IOSClientID())
	fmt.Println("refresh token issued:", res.RefreshTokenIssued)
	for _, s := range res.GrantedScopes {
		fmt.Println("granted:", s)
	}
	// Output:
	// user: 109876543210987654321
	// email: jane.doe.demo@gmail.com verified: true
	// signed in with: true
	// refresh token issued: true
	// granted: https://www.googleapis.com/auth/drive.appdata
	// granted: https://www.googleapis.com/auth/userinfo.email
	// granted: https://www.googleapis.com/auth/userinfo.profile
	// granted: openid
}

// Granular consent lets the user untick a scope. Exchange then returns
// ErrScopeNotGranted beside a usable Result: sign the user in, and ask again
// for what is missing.
func ExampleExchanger_Exchange_scopeNotGranted() {
	google := serverauthtest.NewServer(serverauthtest.Options{})
	defer google.Close()
	cfg := google.Config()
	cfg.Scopes = []string{"drive.appdata"}
	exchanger, err := serverauth.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	code, _ := google.MintCode(serverauthtest.CodeRequest{
		Scopes:        []string{"openid", "email", "drive.appdata"},
		GrantedScopes: []string{"openid", "email"},
	})

	res, err := exchanger.Exchange(context.Background(), code)
	var scopeErr *serverauth.ScopeError
	if errors.As(err, &scopeErr) {
		fmt.Println("signed in:", res.UserID)
		fmt.Println("missing:", scopeErr.Missing)
	}
	// Output:
	// signed in: 109876543210987654321
	// missing: [https://www.googleapis.com/auth/drive.appdata]
}

// A later sign-in, when the app has a fresh ID token but no new code, is
// verified with the same policy.
func ExampleExchanger_VerifyIDToken() {
	google := serverauthtest.NewServer(serverauthtest.Options{})
	defer google.Close()
	exchanger, err := serverauth.New(google.Config())
	if err != nil {
		log.Fatal(err)
	}

	// What the Android app's GoogleIdTokenCredential.idToken would carry.
	idToken := google.IDToken(serverauthtest.DemoUser(), google.AndroidClientID())

	profile, err := exchanger.VerifyIDToken(context.Background(), idToken)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(profile.Subject, profile.Email, profile.Name)

	// Anything else is refused, with the reason.
	_, err = exchanger.VerifyIDToken(context.Background(), "not.a.token")
	var idErr *serverauth.IDTokenError
	if errors.As(err, &idErr) {
		fmt.Println("refused:", idErr.Reason)
	}
	// Output:
	// 109876543210987654321 jane.doe.demo@gmail.com Jane Doe
	// refused: malformed
}
