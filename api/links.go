package api

import (
	"net/url"
	"strconv"
)

// Links are the API's own routes for what the catalog stores (catalog.Links): the catalog
// hands out these URLs for renditions, originals and scene previews without knowing the
// routes. cmd wires them into the catalog.
type Links struct{}

// RenditionContent is GET /v1/renditions/{id}/content.
func (Links) RenditionContent(id string) string {
	return "/v1/renditions/" + url.PathEscape(id) + "/content"
}

// ImageContent is GET /v1/images/{id}/content.
func (Links) ImageContent(id string) string { return "/v1/images/" + url.PathEscape(id) + "/content" }

// ScenePreview is GET /v1/scenes/{id}/preview, versioned so a browser fetches a new one.
func (Links) ScenePreview(id string, version int64) string {
	return "/v1/scenes/" + url.PathEscape(id) + "/preview?v=" + strconv.FormatInt(version, 10)
}
