// Package integration holds serverauth's tests that need real services or
// several processes (PostgreSQL, MySQL, Redis, replica processes, a TCP
// proxy cutting connections, headless Chromium), in a module of its own so
// that their drivers (and chromedp) stay out of the graph of every module
// users import.
package integration
