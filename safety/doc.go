// Package safety is Pictor's client for an optional image-safety classifier:
// a service, usually on a GPU host, that looks at a generated image and says
// whether it must not be published unseen. Pictor calls it on every image it
// generates when PICTOR_SAFETY_URL is set.
//
// The HTTP contract is docs/safety-api.md: POST /v1/classify with the image
// as standard base64 in JSON, answered by {"flagged": bool, "categories":
// {...}, "model": "..."}, and GET /v1/health.
//
// The client is deliberately unforgiving. Classify returns Flagged=false with
// a nil error only when the server answered 200 with "flagged": false in a
// body that follows the contract; everything else is an error matching one of
// ErrUnavailable, ErrRejected or ErrProtocol. The caller treats any error as
// "could not be classified" and holds the image for review.
//
// The package records no metrics and writes no logs; the caller does both.
// It is a leaf: it imports no other Pictor package. Package safetytest is a
// strict in-process stand-in for the server, for tests.
package safety
