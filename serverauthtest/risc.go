package serverauthtest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// The fake's Cross-Account Protection (RISC) paths, relative to its base
// URL (developers.google.com/identity/protocols/risc). Google serves the
// configuration at accounts.google.com and the stream API at
// risc.googleapis.com; the fake serves both at its one address.
const (
	RISCConfigurationPath = "/.well-known/risc-configuration"
	RISCKeysPath          = "/risc/v1/certs" // the RISC jwks_uri: keys of their own, not the ID-token keys
)

// RISCManagementAudience is the aud of the service-account JWT that
// authorises calls to the RISC stream API.
const RISCManagementAudience = "https://risc.googleapis.com/google.identity.risc.v1beta.RiscManagementService"

// RISCPushDeliveryMethod is the stream's delivery method: push (RFC 8935).
const RISCPushDeliveryMethod = "https://schemas.openid.net/secevent/risc/delivery-method/push"

// riscTypes are the event types the fake transmits, by their short names.
var riscTypes = []string{
	"https://schemas.openid.net/secevent/risc/event-type/sessions-revoked",
	"https://schemas.openid.net/secevent/oauth/event-type/tokens-revoked",
	"https://schemas.openid.net/secevent/oauth/event-type/token-revoked",
	"https://schemas.openid.net/secevent/risc/event-type/account-disabled",
	"https://schemas.openid.net/secevent/risc/event-type/account-enabled",
	"https://schemas.openid.net/secevent/risc/event-type/account-purged",
	"https://schemas.openid.net/secevent/risc/event-type/account-credential-change-required",
	"https://schemas.openid.net/secevent/risc/event-type/verification",
}

// riscType returns the event type URI for a URI or a short name such as
// "account-disabled".
func riscType(t string) (string, bool) {
	for _, u := range riscTypes {
		if t == u || t == u[strings.LastIndexByte(u, '/')+1:] {
			return u, true
		}
	}
	return "", false
}

// RISCForgery makes [Google.SendRISCEvent] send a token a receiver must
// refuse, or one that looks odd but is valid. The zero value forges nothing.
type RISCForgery string

// The forgeries.
const (
	// RISCForgeBadSignature: signed by a key the fake never publishes,
	// under the published RISC kid.
	RISCForgeBadSignature RISCForgery = "bad_signature"
	// RISCForgeUnknownKey: a kid in no key set.
	RISCForgeUnknownKey RISCForgery = "unknown_kid"
	// RISCForgeIDTokenKey: signed with the ID-token signing key, whose kid
	// is published, but in the ID-token key set, not the RISC one.
	RISCForgeIDTokenKey RISCForgery = "id_token_key"
	// RISCForgeHS256: alg HS256 keyed with the RISC public key, the classic
	// algorithm-confusion attack.
	RISCForgeHS256 RISCForgery = "hs256_public_key"
	// RISCForgeWrongIssuer: iss without the trailing slash, as the ID-token
	// issuer is spelled.
	RISCForgeWrongIssuer RISCForgery = "wrong_issuer"
	// RISCForgeWrongAudience: aud is another project's client.
	RISCForgeWrongAudience RISCForgery = "wrong_audience"
	// RISCForgeFutureIssuedAt: iat an hour ahead.
	RISCForgeFutureIssuedAt RISCForgery = "future_iat"
	// RISCForgeOldIssuedAt: iat 30 days ago.
	RISCForgeOldIssuedAt RISCForgery = "old_iat"
	// RISCForgeNoID: no jti.
	RISCForgeNoID RISCForgery = "no_jti"
	// RISCForgeTwoEvents: events holds the event and a sessions-revoked (or,
	// for a sessions-revoked, an account-credential-change-required).
	RISCForgeTwoEvents RISCForgery = "two_events"
	// RISCForgeExpired: an exp an hour in the past. Valid: SETs describe
	// past events and a receiver must not check exp.
	RISCForgeExpired RISCForgery = "exp"
)

var riscForgeries = []RISCForgery{
	RISCForgeBadSignature, RISCForgeUnknownKey, RISCForgeIDTokenKey, RISCForgeHS256, RISCForgeWrongIssuer,
	RISCForgeWrongAudience, RISCForgeFutureIssuedAt, RISCForgeOldIssuedAt, RISCForgeNoID, RISCForgeTwoEvents, RISCForgeExpired,
}

// RISCEvent is a security event for the fake to transmit, with
// [Google.SendRISCEvent] or POST /emulator/risc/events.
type RISCEvent struct {
	// Type is the event type: its URI or its last path segment, such as
	// "account-disabled" or "verification".
	Type string `json:"type"`

	// Sub is the Google user ID the event is about. token-revoked names a
	// token instead: the one in RefreshToken, or else Sub's live refresh
	// token (one of them, if there are several).
	Sub string `json:"sub,omitempty"`

	// Reason is account-disabled's reason: "hijacking", "bulk-account" or
	// empty.
	Reason string `json:"reason,omitempty"`

	// State is verification's state.
	State string `json:"state,omitempty"`

	// Email, when set, sends the subject as id_token_claims with this
	// email instead of iss-sub.
	Email string `json:"email,omitempty"`

	// TokenIdentifierAlg is how token-revoked names the token: "prefix"
	// (the default: its first 16 characters) or
	// "hash_base64_sha512_sha512".
	TokenIdentifierAlg string `json:"token_identifier_alg,omitempty"`

	// RefreshToken is the refresh token token-revoked names.
	RefreshToken string `json:"refresh_token,omitempty"`

	// Forge sends a forged or odd variant of the token.
	Forge RISCForgery `json:"forge,omitempty"`
}

// RISCDelivery is what happened to one security event token the fake
// pushed.
type RISCDelivery struct {
	ID          string `json:"jti"`                   // the token's jti ("" for RISCForgeNoID)
	Type        string `json:"type"`                  // the event type URI
	Status      int    `json:"status"`                // the receiver's HTTP status; 0 when it was not reached
	Err         string `json:"err,omitempty"`         // the RFC 8935 error code of a 400 answer
	Description string `json:"description,omitempty"` // its description
	Error       string `json:"error,omitempty"`       // why the receiver was not reached
}

// RISCStream is the fake project's event stream, as the RISC API's
// stream:update sets it.
type RISCStream struct {
	URL             string   // the receiver
	EventsRequested []string // the event types it gets
	Enabled         bool     // stream/status: "enabled" or "disabled"
}

// risc is the fake's transmitter state. Lock order: risc.mu, then g.mu.
type risc struct {
	mu        sync.Mutex    // guards the fields below
	signing   *signingKey   // the RISC signing key, made on first use
	published []*signingKey // the RISC key set: signing and the keys it replaced
	account   *signingKey   // the service account's key, made on first use
	stream    *RISCStream   // nil until stream:update
	sent      map[string]sentSET
	order     []string // jtis of sent, oldest first
	log       []RISCDelivery
}

// sentSET is a token kept for redelivery.
type sentSET struct {
	typ   string
	token string
}

// maxKeptSETs bounds the tokens kept for redelivery and the delivery log.
const maxKeptSETs = 1000

func newRISC() *risc { return &risc{sent: map[string]sentSET{}} }

// riscKeys returns the RISC signing key and the service account's key,
// making them on first use. Call with g.risc.mu held.
func (g *Google) riscKeysLocked() (signing, account *signingKey) {
	r := g.risc
	if r.signing == nil {
		g.mu.Lock()
		r.signing = newSigningKey(g.nextPoolKey, g.now())
		r.account = newSigningKey(g.nextPoolKey+1, g.now())
		g.nextPoolKey += 2
		g.mu.Unlock()
		r.published = []*signingKey{r.signing}
	}
	return r.signing, r.account
}

// RotateRISCKey publishes a new RISC signing key and signs security event
// tokens with it from now on; the old keys stay published. It returns the
// new kid.
func (g *Google) RotateRISCKey() (kid string) {
	r := g.risc
	r.mu.Lock()
	defer r.mu.Unlock()
	g.riscKeysLocked()
	g.mu.Lock()
	k := newSigningKey(g.nextPoolKey, g.now())
	g.nextPoolKey++
	g.mu.Unlock()
	r.signing = k
	r.published = append(r.published, k)
	return k.kid
}

// RISCConfigurationURL is the fake's RISC configuration document, for
// risc.Config.ConfigurationURL.
func (s *Server) RISCConfigurationURL() string { return s.URL + RISCConfigurationPath }

// RISCIssuer returns the iss of the fake's security event tokens: the ID
// tokens' issuer as an https URL with a trailing slash, as Google's
// "https://accounts.google.com/".
func (g *Google) RISCIssuer() string {
	iss := g.Issuer()
	if !strings.HasPrefix(iss, "https://") {
		iss = "https://" + iss
	}
	if !strings.HasSuffix(iss, "/") {
		iss += "/"
	}
	return iss
}

// RISCKeyID returns the kid of the key that signs the fake's security event
// tokens.
func (g *Google) RISCKeyID() string {
	g.risc.mu.Lock()
	defer g.risc.mu.Unlock()
	k, _ := g.riscKeysLocked()
	return k.kid
}

// SignRISC is [Google.Sign] with the RISC signing key: a compact JWS over
// exactly the header and payload given, for tests that craft security event
// tokens the forgeries do not cover.
func (g *Google) SignRISC(header, payload []byte) string {
	g.risc.mu.Lock()
	k, _ := g.riscKeysLocked()
	g.risc.mu.Unlock()
	return k.sign(header, payload)
}

// RISCServiceAccountEmail returns the email of the fake project's service
// account, the iss and sub of the JWTs that authorise the stream API.
func (g *Google) RISCServiceAccountEmail() string {
	return "risc-admin@" + g.ProjectID() + ".iam.gserviceaccount.com"
}

// RISCServiceAccountJSON returns the service account key file the Cloud
// console downloads, for the account that may call the fake's RISC stream
// API (the RISC Configuration Admin of the fake project). It is served at
// GET /emulator/risc/service-account too.
func (g *Google) RISCServiceAccountJSON() []byte {
	g.risc.mu.Lock()
	_, k := g.riscKeysLocked()
	g.risc.mu.Unlock()
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		panic("serverauthtest: encoding the service account key: " + err.Error())
	}
	email := g.RISCServiceAccountEmail()
	b, err := json.MarshalIndent(map[string]string{
		"type":                        "service_account",
		"project_id":                  g.ProjectID(),
		"private_key_id":              k.kid,
		"private_key":                 string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":                email,
		"client_id":                   "104729512345678901234",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   "https://oauth2.googleapis.com/token",
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"client_x509_cert_url":        "https://www.googleapis.com/robot/v1/metadata/x509/" + url.PathEscape(email),
		"universe_domain":             "googleapis.com",
	}, "", "  ")
	if err != nil {
		panic("serverauthtest: encoding the service account key: " + err.Error())
	}
	return append(b, '\n')
}

// SetRISCStream configures the fake project's event stream, as a call to
// stream:update and stream/status:update would. The receiver URL must be on
// a loopback host (http or https).
func (g *Google) SetRISCStream(s RISCStream) error {
	if err := checkReceiverURL(s.URL); err != nil {
		return err
	}
	s.EventsRequested = slices.Clone(s.EventsRequested)
	g.risc.mu.Lock()
	defer g.risc.mu.Unlock()
	g.risc.stream = &s
	return nil
}

// GetRISCStream returns the fake project's event stream, and false when
// none was configured.
func (g *Google) GetRISCStream() (RISCStream, bool) {
	g.risc.mu.Lock()
	defer g.risc.mu.Unlock()
	if g.risc.stream == nil {
		return RISCStream{}, false
	}
	s := *g.risc.stream
	s.EventsRequested = slices.Clone(s.EventsRequested)
	return s, true
}

// RISCDeliveries returns every push the fake made (the latest 1000), oldest
// first.
func (g *Google) RISCDeliveries() []RISCDelivery {
	g.risc.mu.Lock()
	defer g.risc.mu.Unlock()
	return slices.Clone(g.risc.log)
}

// checkReceiverURL accepts a receiver the fake may push to: an absolute
// http or https URL on a loopback host. Google demands https on one of the
// project's authorised domains; the fake's only domain is the local
// machine, where receivers under test often speak plain http.
func checkReceiverURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("serverauthtest: the receiver URL %q is not an absolute URL without user info or fragment", s)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("serverauthtest: the receiver URL %q must be https (or http on a loopback host)", s)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); !strings.EqualFold(host, "localhost") && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("serverauthtest: the receiver URL %q does not belong to the fake project's domains: it must be on a loopback host", s)
	}
	return nil
}

// errNoStream and friends are why the fake does not transmit.
var (
	errNoStream       = errors.New("serverauthtest: the project has no RISC stream: register a receiver with stream:update (or Google.SetRISCStream)")
	errStreamDisabled = errors.New("serverauthtest: the RISC stream is disabled: Google neither sends nor keeps events then (stream/status:update enables it)")
)

// SendRISCEvent builds a security event token for ev, signs it with the
// RISC key and pushes it to the stream's receiver (RFC 8935: POST, Content-Type
// application/secevent+jwt), as Google does when the event happens. It acts
// on the fake's own state as Google would: tokens-revoked revokes the
// user's grants, token-revoked the named refresh token, account-purged
// deletes the account. The receiver's answer is in the RISCDelivery; the
// error is for an event the fake cannot send (no stream, a stream that is
// disabled or does not request the type, an unknown type, no refresh token
// to name).
func (g *Google) SendRISCEvent(ctx context.Context, ev RISCEvent) (RISCDelivery, error) {
	typ, ok := riscType(ev.Type)
	if !ok {
		return RISCDelivery{}, fmt.Errorf("serverauthtest: unknown RISC event type %q", ev.Type)
	}
	if ev.Forge != "" && !slices.Contains(riscForgeries, ev.Forge) {
		return RISCDelivery{}, fmt.Errorf("serverauthtest: unknown RISC forgery %q", ev.Forge)
	}
	stream, err := g.streamFor(typ)
	if err != nil {
		return RISCDelivery{}, err
	}
	token, jti, err := g.buildSET(typ, ev)
	if err != nil {
		return RISCDelivery{}, err
	}
	return g.push(ctx, stream.URL, typ, jti, token), nil
}

// RedeliverRISCEvent pushes the token with jti again, byte for byte, as
// Google redelivers an event it believes was not received.
func (g *Google) RedeliverRISCEvent(ctx context.Context, jti string) (RISCDelivery, error) {
	g.risc.mu.Lock()
	s, ok := g.risc.sent[jti]
	g.risc.mu.Unlock()
	if !ok {
		return RISCDelivery{}, fmt.Errorf("serverauthtest: no security event token with jti %q was sent (or it was sent too long ago)", jti)
	}
	stream, err := g.streamFor(s.typ)
	if err != nil {
		return RISCDelivery{}, err
	}
	return g.push(ctx, stream.URL, s.typ, jti, s.token), nil
}

// streamFor returns the stream if it would carry an event of type typ.
func (g *Google) streamFor(typ string) (RISCStream, error) {
	s, ok := g.GetRISCStream()
	switch {
	case !ok:
		return s, errNoStream
	case !s.Enabled:
		return s, errStreamDisabled
	case !slices.Contains(s.EventsRequested, typ):
		return s, fmt.Errorf("serverauthtest: the RISC stream does not request %s", typ)
	}
	return s, nil
}

// buildSET makes the signed token for ev and keeps it for redelivery.
func (g *Google) buildSET(typ string, ev RISCEvent) (set, jti string, err error) {
	now := g.now()
	iss := g.RISCIssuer()
	subject := map[string]string{"subject_type": "iss-sub", "iss": iss, "sub": ev.Sub}
	if ev.Email != "" {
		subject = map[string]string{"subject_type": "id_token_claims", "iss": iss, "sub": ev.Sub, "email": ev.Email}
	}
	aud := g.WebClientID()
	switch typ {
	case riscTypes[2]: // token-revoked
		rt, presenter, err := g.refreshTokenToName(ev)
		if err != nil {
			return "", "", err
		}
		if presenter != "" {
			aud = presenter
		}
		subject = map[string]string{"subject_type": "oauth_token", "token_type": "refresh_token"}
		switch ev.TokenIdentifierAlg {
		case "", "prefix":
			subject["token_identifier_alg"], subject["token"] = "prefix", rt[:min(16, len(rt))]
		case "hash_base64_sha512_sha512":
			first := sha512.Sum512([]byte(rt))
			second := sha512.Sum512(first[:])
			subject["token_identifier_alg"], subject["token"] = "hash_base64_sha512_sha512", base64.StdEncoding.EncodeToString(second[:])
		default:
			return "", "", fmt.Errorf("serverauthtest: token_identifier_alg %q is not prefix or hash_base64_sha512_sha512", ev.TokenIdentifierAlg)
		}
		g.mu.Lock()
		g.revokeLocked(func(t *token) bool { return t.value == rt })
		g.mu.Unlock()
	case riscTypes[7]: // verification
		subject = nil
	default:
		if ev.Sub == "" {
			return "", "", fmt.Errorf("serverauthtest: a %s event needs the user's sub", typ)
		}
		if p := g.presenterOf(ev.Sub); p != "" {
			aud = p
		}
	}
	event := map[string]any{}
	if subject != nil {
		event["subject"] = subject
	}
	if ev.Reason != "" {
		event["reason"] = ev.Reason
	}
	if typ == riscTypes[7] {
		event["state"] = ev.State
	}
	jti = strings.ToUpper(randomHex(16))
	claims := map[string]any{
		"iss":    iss,
		"aud":    aud,
		"iat":    now.Unix(),
		"jti":    jti,
		"events": map[string]any{typ: event},
	}
	switch ev.Forge {
	case RISCForgeWrongIssuer:
		claims["iss"] = strings.TrimSuffix(iss, "/")
	case RISCForgeWrongAudience:
		claims["aud"] = "999999999999-0therpr0ject0f5omeb0dy3lse.apps.googleusercontent.com"
	case RISCForgeFutureIssuedAt:
		claims["iat"] = now.Add(time.Hour).Unix()
	case RISCForgeOldIssuedAt:
		claims["iat"] = now.Add(-30 * 24 * time.Hour).Unix()
	case RISCForgeNoID:
		delete(claims, "jti")
		jti = ""
	case RISCForgeTwoEvents:
		other := riscTypes[0]
		if typ == other {
			other = riscTypes[6]
		}
		claims["events"] = map[string]any{typ: event, other: map[string]any{"subject": subject}}
	case RISCForgeExpired:
		claims["exp"] = now.Add(-time.Hour).Unix()
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", "", fmt.Errorf("serverauthtest: encoding a security event token: %w", err)
	}
	set = g.signSET(payload, ev.Forge)
	if jti != "" {
		g.risc.mu.Lock()
		if len(g.risc.order) >= maxKeptSETs {
			delete(g.risc.sent, g.risc.order[0])
			g.risc.order = g.risc.order[1:]
		}
		g.risc.sent[jti] = sentSET{typ: typ, token: set}
		g.risc.order = append(g.risc.order, jti)
		g.risc.mu.Unlock()
	}
	switch typ {
	case riscTypes[1]: // tokens-revoked: the user removed the app's access
		g.RevokeUser(ev.Sub)
	case riscTypes[5]: // account-purged
		g.RevokeUser(ev.Sub)
		g.DeleteAccount(ev.Sub)
	}
	return set, jti, nil
}

// signSET signs payload as Google signs security event tokens, or as the
// forgery says.
func (g *Google) signSET(payload []byte, forge RISCForgery) string {
	g.risc.mu.Lock()
	k, _ := g.riscKeysLocked()
	g.risc.mu.Unlock()
	header := func(kid string) []byte {
		return []byte(`{"alg":"RS256","kid":"` + kid + `","typ":"secevent+jwt"}`)
	}
	switch forge {
	case RISCForgeBadSignature:
		return g.SignUnpublished(header(k.kid), payload)
	case RISCForgeUnknownKey:
		return k.sign(header(randomHex(20)), payload)
	case RISCForgeIDTokenKey:
		kid := g.SigningKeyID()
		return g.SignWithKey(kid, header(kid), payload)
	case RISCForgeHS256:
		input := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"`+k.kid+`","typ":"secevent+jwt"}`)) + "." + base64.RawURLEncoding.EncodeToString(payload)
		der, _ := x509.MarshalPKIXPublicKey(&k.priv.PublicKey)
		mac := hmac.New(sha256.New, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		mac.Write([]byte(input))
		return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}
	return k.sign(header(k.kid), payload)
}

// refreshTokenToName returns the refresh token a token-revoked event names
// and the client that obtained it.
func (g *Google) refreshTokenToName(ev RISCEvent) (string, string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ev.RefreshToken != "" {
		t, ok := g.tokens[ev.RefreshToken]
		if !ok || !t.refresh {
			return "", "", errors.New("serverauthtest: RISCEvent.RefreshToken is not a refresh token this fake issued")
		}
		return t.value, t.presenter, nil
	}
	if ev.Sub == "" {
		return "", "", errors.New("serverauthtest: a token-revoked event needs RefreshToken or the sub of a user with a live refresh token")
	}
	var found *token
	for _, t := range g.tokens {
		if t.refresh && t.sub == ev.Sub && t.alive(g.now()) && (found == nil || t.value < found.value) {
			found = t
		}
	}
	if found == nil {
		return "", "", fmt.Errorf("serverauthtest: user %q has no live refresh token to name in a token-revoked event", ev.Sub)
	}
	return found.value, found.presenter, nil
}

// presenterOf returns the client that obtained one of sub's live refresh
// tokens: Google addresses events to one of the project's client IDs.
func (g *Google) presenterOf(sub string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	best := ""
	for _, t := range g.tokens {
		if t.refresh && t.sub == sub && t.presenter != "" && (best == "" || t.presenter < best) {
			best = t.presenter
		}
	}
	return best
}

// push delivers one token and logs the outcome.
func (g *Google) push(ctx context.Context, receiver, typ, jti, token string) RISCDelivery {
	d := RISCDelivery{ID: jti, Type: typ}
	client := g.opts.RISCClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, receiver, strings.NewReader(token))
	if err == nil {
		req.Header.Set("Content-Type", "application/secevent+jwt")
		req.Header.Set("Accept", "application/json")
		var resp *http.Response
		if resp, err = client.Do(req); err == nil {
			d.Status = resp.StatusCode
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if resp.StatusCode == http.StatusBadRequest {
				var e struct {
					Err         string `json:"err"`
					Description string `json:"description"`
				}
				if json.Unmarshal(body, &e) == nil {
					d.Err, d.Description = e.Err, e.Description
				}
			}
		}
	}
	if err != nil {
		d.Error = err.Error()
	}
	g.risc.mu.Lock()
	if len(g.risc.log) >= maxKeptSETs {
		g.risc.log = append(g.risc.log[:0], g.risc.log[len(g.risc.log)/2:]...)
	}
	g.risc.log = append(g.risc.log, d)
	g.risc.mu.Unlock()
	return d
}

// handleRISCConfiguration serves /.well-known/risc-configuration: the
// issuer and jwks_uri a receiver verifies tokens with, and the stream API.
func (g *Google) handleRISCConfiguration(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		googleHTMLError(w, http.StatusMethodNotAllowed)
		return
	}
	base := baseURL(r)
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSON(w, http.StatusOK, struct {
		Issuer                   string   `json:"issuer"`
		JWKSURI                  string   `json:"jwks_uri"`
		DeliveryMethodsSupported []string `json:"delivery_methods_supported"`
		ConfigurationEndpoint    string   `json:"configuration_endpoint"`
		StatusEndpoint           string   `json:"status_endpoint"`
		VerificationEndpoint     string   `json:"verification_endpoint"`
	}{
		Issuer:                   g.RISCIssuer(),
		JWKSURI:                  base + RISCKeysPath,
		DeliveryMethodsSupported: []string{RISCPushDeliveryMethod},
		ConfigurationEndpoint:    base + "/v1beta/stream",
		StatusEndpoint:           base + "/v1beta/stream/status",
		VerificationEndpoint:     base + "/v1beta/stream:verify",
	})
}

// handleRISCKeys serves the RISC jwks_uri: the RISC signing key only.
func (g *Google) handleRISCKeys(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		googleHTMLError(w, http.StatusMethodNotAllowed)
		return
	}
	g.risc.mu.Lock()
	g.riscKeysLocked()
	jwks := make([]string, len(g.risc.published))
	for i, k := range g.risc.published {
		jwks[i] = k.jwk()
	}
	g.risc.mu.Unlock()
	g.keyCacheHeaders(w)
	fmt.Fprintf(w, "{\n  \"keys\": [\n    %s\n  ]\n}\n", strings.Join(jwks, ",\n    "))
}

// riscStreamBody is the stream configuration of stream:update and GET
// stream.
type riscStreamBody struct {
	Delivery *struct {
		DeliveryMethod string `json:"delivery_method"`
		URL            string `json:"url"`
	} `json:"delivery"`
	EventsRequested []string `json:"events_requested"`
}

// handleRISCStream serves the stream API: POST stream:update, GET stream,
// POST stream:verify, GET stream/status and POST stream/status:update,
// each authorised by the service account's JWT.
func (g *Google) handleRISCStream(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.URL.Path, "/v1beta/")
	method := map[string]string{"stream:update": http.MethodPost, "stream": http.MethodGet, "stream:verify": http.MethodPost,
		"stream/status": http.MethodGet, "stream/status:update": http.MethodPost}[op]
	if method == "" {
		googleHTMLError(w, http.StatusNotFound)
		return
	}
	if r.Method != method {
		writeAPIError(w, http.StatusMethodNotAllowed, "methodNotAllowed", "Use "+method+".")
		return
	}
	if msg := g.checkRISCBearer(r); msg != "" {
		writeAPIError(w, http.StatusUnauthorized, "unauthorized", "Unauthorized. "+msg)
		return
	}
	var body []byte
	if method == http.MethodPost {
		var err error
		if body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBody)); err != nil {
			writeAPIError(w, http.StatusBadRequest, "badRequest", "The request body could not be read.")
			return
		}
	}
	switch op {
	case "stream:update":
		g.riscStreamUpdate(w, body)
	case "stream":
		s, ok := g.GetRISCStream()
		if !ok {
			writeAPIError(w, http.StatusNotFound, "notFound", "Project has no RISC configuration.")
			return
		}
		writeJSON(w, http.StatusOK, streamJSON(s))
	case "stream:verify":
		var v struct {
			State string `json:"state"`
		}
		if len(body) > 0 && json.Unmarshal(body, &v) != nil {
			writeAPIError(w, http.StatusBadRequest, "badRequest", "Invalid JSON payload received.")
			return
		}
		if _, ok := g.GetRISCStream(); !ok {
			writeAPIError(w, http.StatusNotFound, "notFound", "Project has no RISC configuration.")
			return
		}
		// Google sends the verification token afterwards; the fake sends it
		// before answering, so that a test sees it arrive. A stream that is
		// disabled or does not request verification gets nothing.
		g.SendRISCEvent(r.Context(), RISCEvent{Type: "verification", State: v.State})
		writeJSON(w, http.StatusOK, struct{}{})
	case "stream/status":
		s, ok := g.GetRISCStream()
		if !ok {
			writeAPIError(w, http.StatusNotFound, "notFound", "Project has no RISC configuration.")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": statusWord(s.Enabled)})
	case "stream/status:update":
		var v struct {
			Status string `json:"status"`
		}
		if json.Unmarshal(body, &v) != nil || (v.Status != "enabled" && v.Status != "disabled") {
			writeAPIError(w, http.StatusForbidden, "forbidden", "Unsupported status.")
			return
		}
		g.risc.mu.Lock()
		s := g.risc.stream
		if s != nil {
			s.Enabled = v.Status == "enabled"
		}
		g.risc.mu.Unlock()
		if s == nil {
			writeAPIError(w, http.StatusNotFound, "notFound", "Project has no existing RISC configuration, cannot update status.")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": v.Status})
	}
}

// riscStreamUpdate applies a stream:update body.
func (g *Google) riscStreamUpdate(w http.ResponseWriter, body []byte) {
	var v riscStreamBody
	if json.Unmarshal(body, &v) != nil {
		writeAPIError(w, http.StatusBadRequest, "badRequest", "Invalid JSON payload received.")
		return
	}
	switch {
	case v.Delivery == nil:
		writeAPIError(w, http.StatusBadRequest, "badRequest", "Stream configuration must contain delivery field.")
		return
	case v.Delivery.DeliveryMethod == "":
		writeAPIError(w, http.StatusBadRequest, "badRequest", "Stream configuration must contain delivery_method field.")
		return
	case v.Delivery.URL == "":
		writeAPIError(w, http.StatusBadRequest, "badRequest", "Stream configuration must contain url field.")
		return
	case len(v.EventsRequested) == 0:
		writeAPIError(w, http.StatusBadRequest, "badRequest", "Stream configuration must contain events_requested field.")
		return
	case v.Delivery.DeliveryMethod != RISCPushDeliveryMethod:
		writeAPIError(w, http.StatusForbidden, "forbidden", "Existing stream configuration does not have spec-compliant delivery method for RISC.")
		return
	}
	if err := checkReceiverURL(v.Delivery.URL); err != nil {
		msg := "The delivery endpoint does not belong to any of your project's domains."
		if u, perr := url.Parse(v.Delivery.URL); perr == nil && u.Scheme != "https" && u.Scheme != "http" {
			msg = "The delivery endpoint must be an HTTPS URL."
		}
		writeAPIError(w, http.StatusForbidden, "forbidden", msg)
		return
	}
	for _, t := range v.EventsRequested {
		if _, ok := riscType(t); !ok || !strings.HasPrefix(t, "https://") {
			writeAPIError(w, http.StatusBadRequest, "badRequest", "Unsupported event type: "+t)
			return
		}
	}
	s := RISCStream{URL: v.Delivery.URL, EventsRequested: v.EventsRequested, Enabled: true}
	g.risc.mu.Lock()
	if g.risc.stream != nil {
		s.Enabled = g.risc.stream.Enabled
	}
	g.risc.stream = &s
	g.risc.mu.Unlock()
	writeJSON(w, http.StatusOK, streamJSON(s))
}

// streamJSON is s as the stream API shows it.
func streamJSON(s RISCStream) any {
	var v riscStreamBody
	v.Delivery = &struct {
		DeliveryMethod string `json:"delivery_method"`
		URL            string `json:"url"`
	}{RISCPushDeliveryMethod, s.URL}
	v.EventsRequested = s.EventsRequested
	return v
}

func statusWord(enabled bool) string {
	if enabled {
		return "enabled"
	}
	return "disabled"
}

// checkRISCBearer checks the Authorization header of a stream API call: a
// JWT the service account signed (RS256, its private_key_id as kid) with
// iss and sub its email, aud RISCManagementAudience, and a lifetime of at
// most an hour that includes now (developers.google.com/identity/protocols/risc,
// "Generate an authorization token"). It returns what is wrong, or "".
func (g *Google) checkRISCBearer(r *http.Request) string {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		return "Send the service account's JWT as a Bearer token."
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "The bearer token is not a JWT."
	}
	dec := base64.RawURLEncoding.Strict()
	hb, err1 := dec.DecodeString(parts[0])
	pb, err2 := dec.DecodeString(parts[1])
	sig, err3 := dec.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return "The bearer token is not a JWT."
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	var c struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Iat *int64          `json:"iat"`
		Exp *int64          `json:"exp"`
	}
	if json.Unmarshal(hb, &h) != nil || json.Unmarshal(pb, &c) != nil {
		return "The bearer token is not a JWT."
	}
	g.risc.mu.Lock()
	_, k := g.riscKeysLocked()
	g.risc.mu.Unlock()
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if h.Alg != "RS256" || h.Kid != k.kid || rsa.VerifyPKCS1v15(&k.priv.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return "The JWT is not signed by the project's service account key."
	}
	email := g.RISCServiceAccountEmail()
	if c.Iss != email || c.Sub != email {
		return "The JWT's iss and sub must be the service account's email."
	}
	var aud string
	if json.Unmarshal(c.Aud, &aud) != nil || aud != RISCManagementAudience {
		return "The JWT's aud must be " + RISCManagementAudience + "."
	}
	now := g.now().Unix()
	switch {
	case c.Iat == nil || c.Exp == nil:
		return "The JWT needs iat and exp."
	case *c.Iat > now+60:
		return "The JWT's iat is in the future."
	case *c.Exp <= now:
		return "The JWT has expired: make a new one (they last an hour)."
	case *c.Exp-*c.Iat > 3600:
		return "The JWT's lifetime must not exceed an hour."
	}
	return ""
}

// EmulatorRISCRedeliver is the JSON body of POST /emulator/risc/redeliver.
type EmulatorRISCRedeliver struct {
	ID string `json:"jti"`
}

// handleEmulatorRISC serves the RISC controls: POST /emulator/risc/events
// (a [RISCEvent]; answers the [RISCDelivery]), POST /emulator/risc/redeliver
// ({"jti": …}), GET /emulator/risc/deliveries and GET
// /emulator/risc/service-account (the key file of
// [Google.RISCServiceAccountJSON]).
func (g *Google) handleEmulatorRISC(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.URL.Path, "/emulator/risc/")
	want := map[string]string{"events": http.MethodPost, "redeliver": http.MethodPost, "deliveries": http.MethodGet, "service-account": http.MethodGet}[op]
	switch {
	case want == "":
		oauthError(w, http.StatusNotFound, "invalid_request", "serverauthtest: /emulator/risc/ has events, redeliver, deliveries and service-account")
		return
	case r.Method != want:
		methodNotAllowed(w, want)
		return
	}
	switch op {
	case "events":
		var ev RISCEvent
		if !decodeControl(w, r, &ev) {
			return
		}
		d, err := g.SendRISCEvent(r.Context(), ev)
		if err != nil {
			oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
		writeJSON(w, http.StatusOK, d)
	case "redeliver":
		var body EmulatorRISCRedeliver
		if !decodeControl(w, r, &body) {
			return
		}
		d, err := g.RedeliverRISCEvent(r.Context(), body.ID)
		if err != nil {
			oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
		writeJSON(w, http.StatusOK, d)
	case "deliveries":
		writeJSON(w, http.StatusOK, g.RISCDeliveries())
	case "service-account":
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(bytes.TrimSpace(g.RISCServiceAccountJSON()))
	}
}
