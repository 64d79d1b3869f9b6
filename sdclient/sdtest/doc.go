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
// as a VAE round trip would. A prompt that contains "pure white background"
// (in any case) makes img2img paint the regenerated region white instead,
// with the same drift (every channel 250..255), whatever the denoising
// strength and inpainting fill; without a mask, white stands in for the
// pattern. Sampler steps take Options.StepLatency each, so progress,
// previews, interrupts and the lock can be observed. Background removal and
// segmentation flood-fill the plain background from the border. As in
// rembg 2.0.50, the rembg model u2net_cloth_seg answers three class masks
// (upper body, lower body, full body; here the product's top half, bottom
// half and whole) stacked vertically: for a W x H input the mask, and the
// cut-out, is W x 3H.
//
// A Server is safe for concurrent use. Failures can be injected with FailNext,
// and Calls and MaxConcurrent expose what happened for assertions.
//
// Faults (Options.Faults, SetFaults) make it answer wrong pictures on
// purpose, to test checks on a client's outputs: full, empty or shifted
// masks from rembg and SAM, blurry upscales, an off-white img2img
// background that overrides the white-background prompt. They never change
// the protocol. The stand-in's own control route, GET and PUT
// /sdtest/faults (FaultsPath), reads and sets them as a ParseFaults string
// at run time; it lies outside the WebUI's namespaces and needs no auth.
//
// The stand-in behaves like a WebUI started with --api --nowebui: the UI-only
// routes (/internal/*) answer 404, and http(s) URLs given as images are
// refused instead of fetched.
package sdtest
