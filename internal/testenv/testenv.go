// Package testenv gives tests the real services they run against: the
// PostgreSQL server and MinIO server that scripts/testenv.sh starts (make test
// does), or private MinIO servers a test starts and stops itself.
//
// It reads the environment that scripts/testenv.sh writes:
//
//	PICTOR_TEST_DATABASE_URL       postgres://postgres@127.0.0.1:PORT/pictor_test?sslmode=disable
//	PICTOR_TEST_S3_ENDPOINT        127.0.0.1:PORT
//	PICTOR_TEST_S3_ACCESS_KEY      MinIO root user
//	PICTOR_TEST_S3_SECRET_KEY      MinIO root password
//	PICTOR_TEST_MINIO_BIN          path of a minio server binary
//	PICTOR_TEST_REQUIRE_SERVICES   "1": a missing service fails the test instead of skipping it
//
// Import it only from _test.go files.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
)

// Environment variable names read by this package.
const (
	// EnvDatabaseURL is the URL of the shared PostgreSQL test database.
	EnvDatabaseURL = "PICTOR_TEST_DATABASE_URL"
	// EnvS3Endpoint is the host:port of the shared MinIO server.
	EnvS3Endpoint = "PICTOR_TEST_S3_ENDPOINT"
	// EnvS3AccessKey is the access key of the shared MinIO server.
	EnvS3AccessKey = "PICTOR_TEST_S3_ACCESS_KEY"
	// EnvS3SecretKey is the secret key of the shared MinIO server.
	EnvS3SecretKey = "PICTOR_TEST_S3_SECRET_KEY"
	// EnvMinIOBinary is the path of a minio server binary for StartMinIO.
	EnvMinIOBinary = "PICTOR_TEST_MINIO_BIN"
	// EnvRequireServices, when "1", turns a skip for a missing service into a failure.
	EnvRequireServices = "PICTOR_TEST_REQUIRE_SERVICES"
)

// Required reports whether missing services fail tests rather than skip them
// (PICTOR_TEST_REQUIRE_SERVICES=1, which make test sets). Default false.
func Required() bool {
	return os.Getenv(EnvRequireServices) == "1"
}

// missing skips the test, or fails it when services are required.
func missing(t testing.TB, what, env string) {
	t.Helper()
	msg := fmt.Sprintf("%s not configured: %s is empty (run make test, or scripts/testenv.sh start)", what, env)
	if Required() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// lookup returns the environment variable env, or skips/fails the test when
// it is empty.
func lookup(t testing.TB, what, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		missing(t, what, env)
	}
	return v
}

// randomHex returns n random bytes as lower-case hex.
func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}

// sanitize lower-cases s and keeps only [a-z0-9], replacing runs of anything
// else by sep, trimmed of sep at both ends and cut to max bytes.
func sanitize(s string, sep byte, max int) string {
	var b strings.Builder
	pendingSep := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if pendingSep && b.Len() > 0 {
				b.WriteByte(sep)
			}
			pendingSep = false
			b.WriteRune(r)
			continue
		}
		pendingSep = true
	}
	out := b.String()
	if len(out) > max {
		out = out[:max]
	}
	return strings.Trim(out, string(sep))
}
