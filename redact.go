package serverauth

import (
	"fmt"
	"log/slog"
	"slices"
)

// The library's types print no secret: fmt's %v, %+v and %#v and slog use
// these methods. (A bare *oauth2.Token is x/oauth2's type and prints its
// tokens: do not log it.)

// String shows the configuration without the client secret.
func (c Config) String() string {
	return fmt.Sprintf("serverauth.Config{ClientID:%q ClientSecret:%s ClientSecretsFile:%q AllowedClientIDs:%q Scopes:%q RedirectURL:%q HostedDomain:%q Store:%T Cipher:%T}",
		c.ClientID, secretMark(c.ClientSecret != "" || len(c.ClientSecretsJSON) > 0), c.ClientSecretsFile, c.AllowedClientIDs, c.Scopes, c.RedirectURL, c.HostedDomain, c.Store, c.Cipher)
}

// GoString is String, so %#v shows no secret either.
func (c Config) GoString() string { return c.String() }

// LogValue implements slog.LogValuer without the client secret.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("client_id", c.ClientID), slog.Any("scopes", c.Scopes), slog.String("redirect_url", c.RedirectURL))
}

// String identifies the Exchanger by its client ID.
func (e *Exchanger) String() string {
	if e == nil {
		return "<nil>"
	}
	return fmt.Sprintf("serverauth.Exchanger{ClientID:%q}", e.creds.ClientID)
}

// GoString is String.
func (e *Exchanger) GoString() string { return e.String() }

// String shows the record without its sealed tokens.
func (r *Record) String() string {
	if r == nil {
		return "<nil>"
	}
	return fmt.Sprintf("serverauth.Record{UserID:%q RefreshToken:%s AccessToken:%s Expiry:%s Scopes:%q ClientID:%q Status:%s Version:%d}",
		r.UserID, secretMark(len(r.RefreshToken) > 0), secretMark(len(r.AccessToken) > 0), r.Expiry.Format("2006-01-02T15:04:05Z07:00"), r.Scopes, r.ClientID, r.Status, r.Version)
}

// GoString is String.
func (r *Record) GoString() string { return r.String() }

// LogValue implements slog.LogValuer without the sealed tokens.
func (r *Record) LogValue() slog.Value {
	if r == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(slog.String("user_id", r.UserID), slog.String("status", string(r.Status)),
		slog.Bool("refresh_token", len(r.RefreshToken) > 0), slog.Int64("version", r.Version))
}

func secretMark(present bool) string {
	if present {
		return "[REDACTED]"
	}
	return `""`
}

// String shows the keyring's key IDs, never its keys.
func (k *Keyring) String() string {
	if k == nil {
		return "<nil>"
	}
	ids := make([]uint32, 0, len(k.aeads))
	for id := range k.aeads {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return fmt.Sprintf("serverauth.Keyring{Primary:%d Keys:%v}", k.primary, ids)
}

// GoString is String.
func (k *Keyring) GoString() string { return k.String() }
