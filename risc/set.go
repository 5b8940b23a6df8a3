package risc

import (
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// errCode is an RFC 8935 §2.4 error code, the "err" of a 400 answer.
type errCode string

const (
	errInvalidRequest       errCode = "invalid_request"       // not a SET, or not the shape its event type defines
	errInvalidKey           errCode = "invalid_key"           // signed with a key not in Google's RISC key set
	errInvalidIssuer        errCode = "invalid_issuer"        // iss is not the discovery document's issuer
	errInvalidAudience      errCode = "invalid_audience"      // aud names none of Config.Audiences
	errAuthenticationFailed errCode = "authentication_failed" // the signature does not verify
)

// refusal is why a SET was refused: its RFC 8935 code and a description
// that quotes nothing from the token.
type refusal struct {
	code errCode
	desc string
}

func (r *refusal) Error() string {
	return "risc: security event token refused: " + string(r.code) + ": " + r.desc
}

func refuse(code errCode, desc string) *refusal { return &refusal{code, desc} }

// Limits on a SET's strings.
const (
	maxIDLen      = 255 // jti and sub: 1 to 255 printable ASCII characters
	maxStringLen  = 1024
	maxEventTypes = 1 // events holds exactly one event (Google's SETs carry one)
)

// set is a SET's payload, decoded and checked for shape (RFC 8417 §2.2,
// Google's RISC guide): everything the Receiver checks that needs neither
// configuration nor clock.
type set struct {
	iss  string
	aud  []string
	iat  time.Time
	jti  string
	typ  string   // the one event type
	sub  subject  // the event's subject (zero for a verification without one)
	data evtAttrs // the event's other members
}

// subject is an event's subject member (Subject Identifiers for Security
// Event Tokens, as Google's RISC guide uses them).
type subject struct {
	SubjectType        string `json:"subject_type"`
	Iss                string `json:"iss"`
	Sub                string `json:"sub"`
	Email              string `json:"email"`
	TokenType          string `json:"token_type"`
	TokenIdentifierAlg string `json:"token_identifier_alg"`
	Token              string `json:"token"`
}

// evtAttrs are the event members besides subject that the Receiver reads.
type evtAttrs struct {
	Reason optional `json:"reason"`
	State  optional `json:"state"`
}

// optional is a string member that may be absent but never null.
type optional struct {
	set bool
	v   string
}

func (o *optional) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if dec.PeekKind() != '"' {
		return errors.New("not a string")
	}
	o.set = true
	return json.UnmarshalDecode(dec, &o.v)
}

// payload is the claims set as decoded. Raw values tell an absent member
// from a null one, which is refused wherever a value is required.
type payload struct {
	Iss    jsontext.Value `json:"iss"`
	Aud    jsontext.Value `json:"aud"`
	Iat    jsontext.Value `json:"iat"`
	Jti    jsontext.Value `json:"jti"`
	Events jsontext.Value `json:"events"`
	// exp is not read: SETs record past events and do not expire (Google's
	// RISC guide: "you don't need to verify the token's expiration").
}

// Subject types. Google's guide spells id_token_claims with underscores;
// the RISC profile with hyphens; both are accepted.
const (
	subjectIssSub     = "iss-sub"
	subjectIDToken    = "id_token_claims"
	subjectIDTokenAlt = "id-token-claims"
	subjectOAuthToken = "oauth_token"
)

// parseSET decodes and checks a verified SET payload, whose iss must be
// exactly issuer. The JSON must be strict (no duplicate member names, valid
// UTF-8), as for ID tokens.
func parseSET(b []byte, issuer string) (*set, *refusal) {
	var p payload
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, refuse(errInvalidRequest, "the payload is not a strict JSON object")
	}
	s := new(set)
	var ok bool
	if s.iss, ok = str(p.Iss); !ok || s.iss != issuer {
		return nil, refuse(errInvalidIssuer, "iss is not exactly the RISC issuer "+strconv.Quote(issuer)+" (mind the trailing slash)")
	}
	if s.aud, ok = audience(p.Aud); !ok {
		return nil, refuse(errInvalidAudience, "aud must be a non-empty string or an array of them")
	}
	var iat float64
	if p.Iat == nil || json.Unmarshal(p.Iat, &iat) != nil || math.IsNaN(iat) || iat < 0 || iat >= 253402300800 {
		return nil, refuse(errInvalidRequest, "iat must be a NumericDate")
	}
	sec, frac := math.Modf(iat)
	s.iat = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	if s.jti, ok = str(p.Jti); !ok || !printableID(s.jti) {
		return nil, refuse(errInvalidRequest, "jti must be 1 to 255 printable ASCII characters")
	}
	var events map[string]jsontext.Value
	if p.Events == nil || p.Events.Kind() != '{' || json.Unmarshal(p.Events, &events) != nil {
		return nil, refuse(errInvalidRequest, "events must be a JSON object")
	}
	if len(events) != maxEventTypes {
		return nil, refuse(errInvalidRequest, "events must hold exactly one event")
	}
	for typ, v := range events {
		s.typ = typ
		if r := s.parseEvent(v); r != nil {
			return nil, r
		}
	}
	return s, nil
}

// parseEvent checks the one event's payload: an object whose subject has
// the shape the event type needs.
func (s *set) parseEvent(v jsontext.Value) *refusal {
	if len(s.typ) == 0 || len(s.typ) > maxStringLen {
		return refuse(errInvalidRequest, "the event type must be a URI")
	}
	var ev struct {
		Subject jsontext.Value `json:"subject"`
		evtAttrs
	}
	if v.Kind() != '{' || json.Unmarshal(v, &ev) != nil {
		return refuse(errInvalidRequest, "the event must be a JSON object whose reason and state, if present, are strings")
	}
	s.data = ev.evtAttrs
	if len(s.data.Reason.v) > maxStringLen || len(s.data.State.v) > maxStringLen {
		return refuse(errInvalidRequest, "reason and state must be at most 1024 bytes")
	}
	if ev.Subject == nil {
		if s.typ == TypeVerification || !known(s.typ) {
			return nil // a verification token names nobody
		}
		return refuse(errInvalidRequest, "the event has no subject")
	}
	if ev.Subject.Kind() != '{' || json.Unmarshal(ev.Subject, &s.sub) != nil {
		return refuse(errInvalidRequest, "subject must be a JSON object of strings")
	}
	sub := &s.sub
	for _, f := range [...]string{sub.SubjectType, sub.Iss, sub.Email, sub.TokenType, sub.TokenIdentifierAlg, sub.Token} {
		if len(f) > maxStringLen {
			return refuse(errInvalidRequest, "a subject member is longer than 1024 bytes")
		}
	}
	switch sub.SubjectType {
	case subjectIssSub, subjectIDToken, subjectIDTokenAlt:
		if s.typ == TypeTokenRevoked {
			return refuse(errInvalidRequest, "token-revoked must name a token (subject_type oauth_token)")
		}
		if !printableID(sub.Sub) {
			return refuse(errInvalidRequest, "the subject's sub must be 1 to 255 printable ASCII characters")
		}
		// The subject is a user of the SET's issuer: the same URL, with or
		// without its trailing slash (Google's ID tokens say
		// https://accounts.google.com).
		if sub.Iss != s.iss && sub.Iss+"/" != s.iss {
			return refuse(errInvalidRequest, "the subject's iss is not the SET's issuer")
		}
	case subjectOAuthToken:
		if s.typ != TypeTokenRevoked && known(s.typ) {
			return refuse(errInvalidRequest, "this event type names a user, not a token")
		}
		if sub.TokenType == "" || sub.TokenIdentifierAlg == "" || sub.Token == "" {
			return refuse(errInvalidRequest, "an oauth_token subject needs token_type, token_identifier_alg and token")
		}
	default:
		if known(s.typ) {
			return refuse(errInvalidRequest, "subject_type must be iss-sub, id_token_claims or oauth_token")
		}
	}
	return nil
}

// known reports whether typ is an event type this package acts on.
func known(typ string) bool {
	for _, t := range EventTypes() {
		if t == typ {
			return true
		}
	}
	return false
}

// str decodes a required string member; null is not one.
func str(v jsontext.Value) (string, bool) {
	var s string
	if v == nil || v.Kind() != '"' || json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// audience decodes aud: a string or an array of strings (RFC 7519 §4.1.3),
// none of them empty.
func audience(v jsontext.Value) ([]string, bool) {
	if s, ok := str(v); ok {
		return []string{s}, s != ""
	}
	var ss []string
	if v == nil || v.Kind() != '[' || json.Unmarshal(v, &ss) != nil || len(ss) == 0 {
		return nil, false
	}
	for _, s := range ss {
		if s == "" {
			return nil, false
		}
	}
	return ss, true
}

// printableID reports whether s is 1 to 255 printable ASCII characters: a
// Google user ID or an event ID.
func printableID(s string) bool {
	if s == "" || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
