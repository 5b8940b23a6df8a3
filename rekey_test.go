package serverauth

import (
	"bytes"
	"context"
	"slices"
	"testing"
)

// rekeyFixture is an Exchanger over a MemoryStore holding the records put.
func rekeyFixture(t *testing.T, kr *Keyring, recs ...*Record) (*Exchanger, *MemoryStore) {
	t.Helper()
	store := NewMemoryStore()
	for _, r := range recs {
		if err := store.Put(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	e, err := New(Config{ClientID: "w", ClientSecret: "s", Store: store, Cipher: kr})
	if err != nil {
		t.Fatal(err)
	}
	return e, store
}

// sealedRecord is a record of the user's tokens sealed by seal.
func sealedRecord(userID string, seal func(plaintext, associatedData []byte) []byte) *Record {
	return &Record{
		UserID:       userID,
		RefreshToken: seal([]byte("1//rt-"+userID), associatedData(userID, fieldRefreshToken)),
		AccessToken:  seal([]byte("ya29.at-"+userID), associatedData(userID, fieldAccessToken)),
		Profile:      seal([]byte(`{"sub":"`+userID+`"}`), associatedData(userID, fieldProfile)),
		Status:       StatusActive,
	}
}

func TestRekeyMovesVersion1ToVersion2(t *testing.T) {
	k, _ := GenerateKey(1)
	kr, _ := NewKeyring(k)
	v1 := sealV1(t, k)
	e, store := rekeyFixture(t, kr, sealedRecord("a", v1), sealedRecord("b", v1))
	report, err := e.Rekey(context.Background())
	if err != nil || report.Rewritten != 2 || len(report.Undecryptable) != 0 {
		t.Fatalf("Rekey = %+v, %v; want 2 rewritten, none undecryptable", report, err)
	}
	for _, u := range []string{"a", "b"} {
		rec, err := store.Get(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		for field, f := range map[string]struct {
			ct   []byte
			want string
		}{fieldRefreshToken: {rec.RefreshToken, "1//rt-" + u}, fieldAccessToken: {rec.AccessToken, "ya29.at-" + u}, fieldProfile: {rec.Profile, `{"sub":"` + u + `"}`}} {
			if f.ct[0] != keyringV2 || kr.NeedsRekey(f.ct) {
				t.Errorf("%s of %s after Rekey has version %d, want 2", field, u, f.ct[0])
			}
			if got, err := e.open(u, field, f.ct); err != nil || got != f.want {
				t.Errorf("%s of %s after Rekey = %q, %v; want %q", field, u, got, err, f.want)
			}
		}
	}
	if report, err := e.Rekey(context.Background()); err != nil || report.Rewritten != 0 {
		t.Errorf("second Rekey = %+v, %v; want 0 rewritten", report, err)
	}
}

// TestRekeySkipsUndecryptable: records no key opens are left as they are
// and reported; the others are rewritten all the same.
func TestRekeySkipsUndecryptable(t *testing.T) {
	k1, _ := GenerateKey(1)
	k2, _ := GenerateKey(2)
	k3, _ := GenerateKey(3)
	imposter, _ := GenerateKey(1)
	kr, _ := NewKeyring(k2, k1)
	tampered := sealedRecord("tampered", sealV1(t, k1))
	tampered.AccessToken[len(tampered.AccessToken)-1] ^= 1
	skipped := []*Record{
		sealedRecord("dropped-key", sealV1(t, k3)),
		sealedRecord("wrong-key", sealV1(t, imposter)),
		tampered,
		{UserID: "garbage", RefreshToken: []byte("1//plaintext"), Status: StatusActive},
	}
	recs := append([]*Record{sealedRecord("fine-1", sealV1(t, k1)), sealedRecord("fine-2", sealV1(t, k1))}, skipped...)
	e, store := rekeyFixture(t, kr, recs...)
	report, err := e.Rekey(context.Background())
	slices.Sort(report.Undecryptable)
	if want := []string{"dropped-key", "garbage", "tampered", "wrong-key"}; err != nil || report.Rewritten != 2 || !slices.Equal(report.Undecryptable, want) {
		t.Fatalf("Rekey = %+v, %v; want 2 rewritten and %q undecryptable", report, err, want)
	}
	for _, want := range skipped {
		got, err := store.Get(context.Background(), want.UserID)
		if err != nil || got.Version != want.Version || !bytes.Equal(got.RefreshToken, want.RefreshToken) || !bytes.Equal(got.AccessToken, want.AccessToken) {
			t.Errorf("undecryptable record %s changed: %v, %v", want.UserID, got, err)
		}
	}
}
