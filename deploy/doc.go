// Package deploy holds no code: it is the home of Pictor's deployment files
// (the compose file, the Kubernetes manifests, the Grafana dashboard and the
// Prometheus rules) and of the tests that keep them honest against the real
// service: its settings, its routes and the metrics it exports.
package deploy
