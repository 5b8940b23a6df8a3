package risc

import (
	"testing"
	"unicode/utf8"
)

const fuzzIssuer = "https://accounts.google.com/"

// FuzzParseSET: the SET parser never panics, and what it accepts has the
// shape the Receiver relies on.
func FuzzParseSET(f *testing.F) {
	for _, seed := range []string{
		`{"iss":"https://accounts.google.com/","aud":"123-abc.apps.googleusercontent.com","iat":1508184845,"jti":"756E69717565206964656E746966696572","events":{"https://schemas.openid.net/secevent/risc/event-type/account-disabled":{"subject":{"subject_type":"iss-sub","iss":"https://accounts.google.com/","sub":"7375626A656374"},"reason":"hijacking"}}}`,
		`{"iss":"https://accounts.google.com/","aud":["a","b"],"iat":1.5e9,"jti":"x","events":{"https://schemas.openid.net/secevent/oauth/event-type/token-revoked":{"subject":{"subject_type":"oauth_token","token_type":"refresh_token","token_identifier_alg":"prefix","token":"1//0abcdefghijkl"}}}}`,
		`{"iss":"https://accounts.google.com/","aud":"a","iat":1,"jti":"v","events":{"https://schemas.openid.net/secevent/risc/event-type/verification":{"state":"s"}}}`,
		`{"iss":"https://accounts.google.com/","aud":"a","iat":1,"jti":"v","exp":2,"events":{"https://schemas.openid.net/secevent/risc/event-type/sessions-revoked":{"subject":{"subject_type":"id_token_claims","iss":"https://accounts.google.com","sub":"1","email":"a@b"}}}}`,
		`{"iss":"https://accounts.google.com/","events":{"a":{},"b":{}}}`,
		`{"iss":null}`, `[]`, `{`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, r := parseSET(b, fuzzIssuer)
		if (s == nil) == (r == nil) {
			t.Fatalf("parseSET = %v, %v: want exactly one", s, r)
		}
		if r != nil {
			if r.code == "" || r.desc == "" || !utf8.ValidString(r.desc) {
				t.Fatalf("refusal %+v lacks a code or a description", r)
			}
			return
		}
		switch {
		case s.iss != fuzzIssuer:
			t.Fatalf("accepted iss %q", s.iss)
		case len(s.aud) == 0:
			t.Fatal("accepted no audience")
		case !printableID(s.jti):
			t.Fatalf("accepted jti %q", s.jti)
		case s.typ == "" || len(s.typ) > maxStringLen:
			t.Fatalf("accepted event type %q", s.typ)
		}
		for _, a := range s.aud {
			if a == "" {
				t.Fatal("accepted an empty audience")
			}
		}
		if known(s.typ) && s.typ != TypeVerification {
			switch s.sub.SubjectType {
			case subjectOAuthToken:
				if s.typ != TypeTokenRevoked || s.sub.Token == "" || s.sub.TokenIdentifierAlg == "" || s.sub.TokenType == "" {
					t.Fatalf("accepted a token subject %+v for %s", s.sub, s.typ)
				}
			case subjectIssSub, subjectIDToken, subjectIDTokenAlt:
				if s.typ == TypeTokenRevoked || !printableID(s.sub.Sub) || (s.sub.Iss != s.iss && s.sub.Iss+"/" != s.iss) {
					t.Fatalf("accepted a user subject %+v for %s", s.sub, s.typ)
				}
			default:
				t.Fatalf("accepted subject type %q for %s", s.sub.SubjectType, s.typ)
			}
		}
	})
}
