// Package greeting stands for a third-party dependency, vendored with `go mod vendor`.
package greeting

// Line is what the example prints.
func Line() string { return "Hello from a vendored module!" }
