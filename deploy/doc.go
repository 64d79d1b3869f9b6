// Package deploy holds no code: it is the home of Pictor's deployment files
// (the compose file, the Kubernetes manifests, the Grafana dashboard and the
// Prometheus rules) and of the tests that keep them honest against the real
// service: its settings, its routes and the metrics it exports.
//
// It is a module of its own (github.com/pictor/pictor/deploy), so that the Kubernetes,
// compose-go and Prometheus Operator types its tests decode into stay out of the service's
// dependencies; its tests build ./cmd/pictor from the repository root. Run them with
// `make test PKGS=./deploy/...` or `go test -C deploy ./...`.
package deploy
