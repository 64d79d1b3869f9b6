// Package safetytest is an in-process stand-in for an image-safety
// classifier that speaks docs/safety-api.md, for tests that have no GPU.
//
// It is as strict as a real server should be, so that a client bug fails a
// test instead of reaching production: 405 on a wrong method, 415 unless the
// body is application/json, 400 on malformed JSON, an unknown or misspelt
// field (keys match exactly), an id over 200 bytes, bad standard base64, or
// bytes that are not PNG, JPEG or WebP by magic number or do not decode, 413
// over the size limit and 422 when the image is missing or empty. Every
// error body is {"error": "..."}.
//
// It does not look at pictures the way a model does. Its verdict comes from
// the Mode (SetMode, at any time) and from Options.FlagWhen, which sees the
// decoded image, so a test can flag only some images, for example those
// carrying a marker colour.
//
// A Server is safe for concurrent use. Calls and LastID expose what arrived.
// It listens on the loopback interface only.
package safetytest
