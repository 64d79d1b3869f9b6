// Package sdtest is an in-process stand-in for a Stable Diffusion WebUI backend
// (the AUTOMATIC1111 API, also served by Forge), for tests that have no GPU.
//
// It speaks the contract in sd-webui-api.md (beside DESIGN.md): the /sdapi/v1 routes with
// their request fields, defaults, pydantic 422 bodies and api_middleware error
// bodies, the FIFO queue lock that runs one generation at a time, the global
// /progress state with live previews, /interrupt and /skip, optional
// --api-auth, and the rembg and segment-anything extension routes.
//
// Pictures are not diffused, they are painted: the area an img2img mask
// selects for regeneration gets a smooth pattern derived from the prompt and
// the seed, and every pixel outside it drifts by 2 to 4 levels per channel,
// as a VAE round trip would. Sampler steps take Options.StepLatency each, so
// progress, previews, interrupts and the lock can be observed. Background
// removal and segmentation flood-fill the plain background from the border.
//
// A Server is safe for concurrent use. Failures can be injected with FailNext,
// and Calls and MaxConcurrent expose what happened for assertions.
//
// The stand-in behaves like a WebUI started with --api --nowebui: the UI-only
// routes (/internal/*) answer 404, and http(s) URLs given as images are
// refused instead of fetched.
package sdtest
