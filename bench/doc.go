// Package bench holds serverauth's benchmark suite and its storm tests, in
// test files only, so that the libraries it compares against stay out of the
// main packages' imports. BENCHMARKS.md at the repository root has the
// results and the commands (run.sh) to reproduce them.
package bench
