// Package serverauth does the server side of Google Sign-In: it exchanges
// the one-time authorization code that a mobile app or web page posts to the
// backend, verifies the ID token, keeps the refresh token, and gives the
// backend tokens and clients for the user while they are offline.
package serverauth
