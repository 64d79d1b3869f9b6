package api

import (
	"strings"
	"testing"

	"github.com/pictor/pictor/catalog"
)

var _ catalog.Links = Links{}

// Every link the catalog is given is a GET route of the router, so a route renamed in
// routes.go cannot leave the catalog handing out dead URLs.
func TestLinksAreRoutes(t *testing.T) {
	t.Parallel()
	routes := routeSet(t, setup(t, nil, nil).h)
	for name, link := range map[string]string{
		"rendition": Links{}.RenditionContent("ID"), "image": Links{}.ImageContent("ID"), "preview": Links{}.ScenePreview("ID", 42),
	} {
		path, _, _ := strings.Cut(link, "?")
		if route := "GET " + strings.Replace(path, "ID", "{id}", 1); !routes[route] {
			t.Errorf("%s link %q: no route %q", name, link, route)
		}
	}
	if got := (Links{}).ImageContent("a/b c"); got != "/v1/images/a%2Fb%20c/content" {
		t.Errorf("ImageContent escapes the id: got %q", got)
	}
}
