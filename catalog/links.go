package catalog

// Links make the URLs of the service's own routes for what the catalog stores. The API knows
// its routes and the catalog does not: cmd wires the API's Links in (Deps.Links). Without
// them, a URL that would be the service's own route is empty.
type Links interface {
	// RenditionContent is the route serving a rendition's bytes (it checks the caller for a
	// rendition held for review).
	RenditionContent(id string) string
	// ImageContent is the route serving an original's bytes.
	ImageContent(id string) string
	// ScenePreview is the route serving a running scene's latest preview; version changes
	// whenever the preview does, so a browser fetches it anew.
	ScenePreview(id string, version int64) string
}

// noLinks is Links when none are wired: every route URL is empty.
type noLinks struct{}

func (noLinks) RenditionContent(string) string    { return "" }
func (noLinks) ImageContent(string) string        { return "" }
func (noLinks) ScenePreview(string, int64) string { return "" }

// ImageContentURL is the URL of an original's bytes, for reports that show before and after.
func (s *Service) ImageContentURL(id string) string { return s.links.ImageContent(id) }
