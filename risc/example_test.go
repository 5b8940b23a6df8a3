package risc_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http/httptest"

	"github.com/serverauth/serverauth"
	"github.com/serverauth/serverauth/risc"
	"github.com/serverauth/serverauth/serverauthtest"
)

// A receiver mounted beside the sign-in, against the fake Google: the
// user's account is disabled after a hijacking, and the backend stops
// acting for them at once.
func ExampleNewReceiver() {
	ctx := context.Background()
	google := serverauthtest.NewServer(serverauthtest.Options{})
	defer google.Close()
	cfg := google.Config()
	cfg.Store = serverauth.NewMemoryStore()
	exchanger, err := serverauth.New(cfg)
	if err != nil {
		log.Fatal(err)
	}

	receiver, err := risc.NewReceiver(risc.Config{
		Exchanger:        exchanger,
		ConfigurationURL: google.RISCConfigurationURL(), // leave empty for Google's
		OnEvent: func(ctx context.Context, ev *risc.Event) error {
			fmt.Printf("event for user %s: %s, reason %q\n", ev.Subject, ev.Type, ev.Reason)
			return nil // end the user's sessions here
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(receiver)
	defer srv.Close()
	// What cmd/riscstream register does against Google.
	if err := google.SetRISCStream(serverauthtest.RISCStream{URL: srv.URL, EventsRequested: risc.EventTypes(), Enabled: true}); err != nil {
		log.Fatal(err)
	}

	code, _ := google.MintCode(serverauthtest.CodeRequest{})
	res, err := exchanger.Exchange(ctx, code)
	if err != nil {
		log.Fatal(err)
	}
	d, err := google.SendRISCEvent(ctx, serverauthtest.RISCEvent{Type: "account-disabled", Sub: res.UserID, Reason: risc.ReasonHijacking})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("receiver answered", d.Status)
	_, err = exchanger.Token(ctx, res.UserID)
	fmt.Println("Token needs a new sign-in:", errors.Is(err, serverauth.ErrReauthRequired))
	// Output:
	// event for user 109876543210987654321: https://schemas.openid.net/secevent/risc/event-type/account-disabled, reason "hijacking"
	// receiver answered 202
	// Token needs a new sign-in: true
}
