// Package sdclient is Pictor's client for Stable Diffusion WebUI backends:
// the AUTOMATIC1111 API (/sdapi/v1), also served by its Forge fork, plus the
// rembg and segment-anything extension routes; and for rembg's standalone
// server (`rembg s`, KindRembg: POST /api/remove with a multipart file,
// answering a raw PNG, and GET /openapi.json, which lists its models).
//
// A Client talks to one backend. It sends images as plain standard base64,
// decodes responses (tolerating a data: URI prefix), decodes the generation
// info that the WebUI returns as a JSON string, and turns both error body
// shapes (A1111's `errors` and Forge's `message`, plain `detail` and 422
// validation lists in pydantic v1 and v2 form) into *APIError values that
// match the package sentinels with errors.Is.
//
// A Pool spreads calls over all configured backends. The WebUI runs one
// generation at a time and never refuses work, so the pool keeps exactly one
// call in flight per backend and queues the rest here, serving the
// Interactive lane before the Batch lane. It health-checks backends with
// unlocked GETs, opens a circuit on a failing backend, stops a generation
// the caller gave up on (interrupting the backend only when its current job
// is that generation's own task id: /interrupt is global), records
// GPU-seconds per call and never re-sends a call whose outcome is unknown.
// A Pool runs backends of one Kind: a service with both WebUIs and rembg
// servers runs two, which share metrics (labelled by kind).
// CheckNames matches sampler, scheduler, checkpoint, upscaler and rembg
// model names exactly as the backend will, since the WebUI silently falls
// back to a default on anything else, and names the close matches.
//
// The package is a leaf: it imports no other Pictor package.
package sdclient
