package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes builds the router: every route of the service is listed here, and openapi.json
// documents each one (TestOpenAPICoversEveryRoute walks this router).
func (s *server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.requestID, s.instrument, s.accessLog, s.recoverer, middleware.GetHead)
	r.NotFound(s.notFound)
	r.MethodNotAllowed(s.methodNotAllowed(r))

	// Operations.
	r.Get("/healthz", s.handleHealthz())
	r.Get("/readyz", s.handleReadyz())
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{}))
	r.Get("/openapi.json", s.handleOpenAPI())

	r.Route("/v1", func(r chi.Router) {
		// Every POST and PUT honours Idempotency-Key.
		idem := r.With(s.idempotent)

		idem.Post("/images", s.handleIngest())
		r.Get("/images", s.handleListImages())
		r.Get("/images/{id}", s.handleGetImage())
		r.Get("/images/{id}/content", s.handleImageContent())
		idem.Post("/images/{id}/renditions", s.handleRender())

		r.Get("/renditions/{id}/content", s.handleRenditionContent())

		r.Get("/recipes", s.handleListRecipes())
		r.Get("/recipes/{name}", s.handleGetRecipe())
		idem.Put("/recipes/{name}", s.handlePutRecipe())
		r.Delete("/recipes/{name}", s.handleDeleteRecipe())

		idem.Post("/analyze", s.handleAnalyze())
	})
	return r
}
