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
// cut-out, is W x 3H, on get_concat_v's RGBA canvas (stacked masks keep
// their values in the colour channels under an opaque alpha, and the PNG
// keeps its alpha channel, as PIL writes it). Segment-anything answers SAM's three multimask
// outputs in decoder order with no scores: a part of the object, the whole
// object and the object with some surroundings, in an order that depends on
// the picture and never puts the whole object first.
//
// It is as strict as the real servers, and stricter where that catches a
// client's mistake. An explicit null in a field the API models declare
// non-optional (denoising_strength on img2img, send_images, save_images,
// alwayson_scripts, script_args, sampler_index, include_init_images) is a
// 422. Pictures, SAM masks included, are encoded in the samples_format
// option (png, jpg or webp; alpha dropped for the latter two). A greyscale
// inpainting mask keeps its soft edge; only the alpha of a semi-transparent
// RGBA mask is rounded. Sampler names are looked up exactly (an unknown one
// silently runs the default), checkpoint overrides only by the names
// checkpoint_aliases holds (a file path is silently dropped), and the Forge
// flavor lists Forge's schedulers and defaults hr_cfg to 1.0, which drops
// the negative prompt from the hires pass. A job runs on when its client
// goes away, as in the WebUI. Unlike the WebUI, a key that a request model
// does not declare (a misspelt field, an unknown override_settings option)
// is a 422 "extra fields not permitted" unless Options.IgnoreUnknownFields
// is set.
//
// With Options.RembgServer it is rembg's standalone server instead (`rembg
// s --no-ui`, rembg RembgVersion): POST /api/remove takes a multipart file
// and the form fields model, a, af, ab, ae, om and ppm and answers a raw
// PNG; a missing file, a model outside its pattern or a threshold out of
// range is FastAPI's 422 in pydantic v2 form; an unreadable picture, or a
// model that matches the pattern (pydantic v2 searches it anywhere in the
// value) but names no session, is a bare text 500; GET /openapi.json lists
// the models in the model field's pattern; GET /api/remove?url= refuses
// internal addresses as the real one does and fetches nothing.
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
// The stand-in behaves like a WebUI started with --api: the UI's POST
// /internal/progress reports a task (its force_task_id, or the id made up
// for it) as queued, active or completed, and Call.Task records it. With
// Options.NoWebUI it behaves like --api --nowebui: the UI-only routes
// (/internal/*) answer 404. http(s) URLs given as images are refused instead
// of fetched.
package sdtest
