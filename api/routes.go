package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes builds the router: every route of the service is listed here, and openapi.json
// documents each one (TestOpenAPICoversEveryRoute walks this router).
//
// Access: the operations routes, signed delivery (/img) and the console's files are open;
// every /v1 route needs an API key once keys are configured (a bearer key, or the console's
// session cookie from POST /v1/session, see session.go), with the scope requiredScope gives
// (read for GET and HEAD and the selection preview, write for other methods, admin for
// recipes and backends). The session routes check for themselves. Ingest, render, analyze,
// the selection preview and sign-in are rate limited.
// Whatever the keys, a browser may change nothing from another site (crossOrigin) except
// from the configured CORS origins.
func (s *server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.requestID, s.instrument, s.accessLog, s.recoverer, s.cors, s.crossOrigin, middleware.GetHead)
	r.NotFound(s.notFound)
	r.MethodNotAllowed(s.methodNotAllowed(r))

	// Operations.
	r.Get("/healthz", s.handleHealthz())
	r.Get("/readyz", s.handleReadyz())
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{}))
	r.Get("/openapi.json", s.handleOpenAPI())

	// Signed delivery: the signature is the credential.
	r.Get("/img/{signature}/{recipe}/{id}.{ext}", s.handleDeliver())

	// The designers' console: static files behind strict security headers.
	r.With(consoleHeaders).Get("/console/*", s.handleConsole())

	r.Route("/v1", func(r chi.Router) {
		r.Use(s.authorize)
		// The console's sign-in: a key for an HttpOnly cookie (authorize lets these through).
		r.Get("/session", s.handleGetSession())
		r.With(s.rateLimit).Post("/session", s.handleCreateSession())
		r.Delete("/session", s.handleDeleteSession())

		// Every POST and PUT honours Idempotency-Key; the costly ones are rate limited first.
		idem := r.With(s.idempotent)
		limited := r.With(s.rateLimit, s.idempotent)

		limited.Post("/images", s.handleIngest())
		r.Get("/images", s.handleListImages())
		// A selection's count and sample: read scope (requiredScope), rate limited as it
		// may count a million rows.
		r.With(s.rateLimit).Post("/images/select", s.handleSelectImages())
		r.Patch("/images/{id}/meta", s.handlePatchImageMeta())
		r.Get("/images/{id}", s.handleGetImage())
		r.Get("/images/{id}/content", s.handleImageContent())
		limited.Post("/images/{id}/renditions", s.handleRender())
		r.Get("/images/{id}/renditions", s.handleListRenditions())
		r.Delete("/images/{id}/renditions", s.handlePurgeRenditions())

		r.Get("/renditions/{id}/content", s.handleRenditionContent())

		r.Get("/recipes", s.handleListRecipes())
		r.Get("/recipes/{name}", s.handleGetRecipe())
		idem.Put("/recipes/{name}", s.handlePutRecipe())
		r.Delete("/recipes/{name}", s.handleDeleteRecipe())

		limited.Post("/analyze", s.handleAnalyze())

		r.Get("/jobs/{id}", s.handleGetJob())
		r.Get("/backends", s.handleBackends())

		limited.Post("/images/{id}/scenes", s.handleCreateScene())
		r.Get("/scenes/{id}", s.handleGetScene())
		r.Get("/scenes/{id}/events", s.handleSceneEvents())
		r.Get("/scenes/{id}/preview", s.handleScenePreview())
		idem.Post("/scenes/{id}/approve", s.handleApproveScene())
		idem.Post("/scenes/{id}/cancel", s.handleCancelScene())

		// Manifests may be large and are spooled to disk, so no Idempotency-Key buffering.
		r.With(s.batchRateLimit).Post("/batches", s.handleCreateBatch())
		r.Get("/batches", s.handleListBatches())
		r.Get("/batches/{id}", s.handleGetBatch())
		for _, a := range []string{"trial", "start", "pause", "resume", "cancel", "retry"} {
			idem.Post("/batches/{id}/"+a, s.handleBatchAction(a))
		}
		r.Get("/batches/{id}/results", s.handleBatchResults())

		r.Get("/reviews", s.needReviews(s.handleListReviews()))
		idem.Post("/reviews/decide", s.needReviews(s.handleDecideReviews()))
		limited.Post("/reviews/{id}/retry", s.needReviews(s.handleRetryReview()))

		r.Get("/templates", s.handleListTemplates())
		r.Get("/templates/{name}", s.handleGetTemplate())
		idem.Put("/templates/{name}", s.handlePutTemplate())
		r.Delete("/templates/{name}", s.handleDeleteTemplate())
	})
	return r
}
