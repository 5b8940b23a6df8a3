// Package bench holds serverauth's benchmark suite and its storm tests, in
// test files only and in a module of its own, so that the libraries it
// compares against stay out of the root module's imports and module graph.
// BENCHMARKS.md at the repository root has the results and the commands
// (run.sh) to reproduce them; modgraph.sh measures what a user's build gets.
package bench
