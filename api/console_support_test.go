package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pictor/pictor/catalog"
)

func TestListRenditions(t *testing.T) {
	t.Parallel()
	rends := []catalog.Rendition{
		{ID: "rnd_2", Name: "scene", Width: 800, Height: 600, Format: "jpeg", Lineage: map[string]string{"seed": "7", "prompt": "oak table"}},
		{ID: "rnd_1", Name: "thumb", Width: 320, Height: 240, Format: "webp"},
	}
	cat := okCatalog()
	cat.list = func(_ context.Context, id string) ([]catalog.Rendition, error) {
		switch id {
		case "img_a1":
			return rends, nil
		case "img_none":
			return nil, nil
		}
		return nil, fmt.Errorf("image %s: %w", id, catalog.ErrNotFound)
	}
	reg := prometheus.NewRegistry()
	withList, err := New(DefaultConfig(), Deps{Catalog: cat, Registerer: reg, Gatherer: reg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("New: got %v, want nil", err)
	}

	tests := []struct {
		name   string
		h      http.Handler
		target string
		status int
		ids    []string
	}{
		{"newest first with lineage", withList, "/v1/images/img_a1/renditions", 200, []string{"rnd_2", "rnd_1"}},
		{"none is an empty list", withList, "/v1/images/img_none/renditions", 200, []string{}},
		{"unknown image", withList, "/v1/images/img_zz/renditions", 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			tt.h.ServeHTTP(rec, httptest.NewRequest("GET", tt.target, nil))
			if rec.Code != tt.status {
				t.Fatalf("status: got %d, want %d (body %s)", rec.Code, tt.status, rec.Body)
			}
			if tt.ids == nil {
				return
			}
			var got struct {
				Renditions []catalog.Rendition `json:"renditions"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Renditions == nil {
				t.Fatalf("body: got %s (err %v), want a renditions array", rec.Body, err)
			}
			if len(got.Renditions) != len(tt.ids) {
				t.Fatalf("renditions: got %d, want %d", len(got.Renditions), len(tt.ids))
			}
			for i, id := range tt.ids {
				if got.Renditions[i].ID != id {
					t.Errorf("renditions[%d]: got %s, want %s", i, got.Renditions[i].ID, id)
				}
			}
			if len(tt.ids) > 0 && got.Renditions[0].Lineage["seed"] != "7" {
				t.Errorf("lineage: got %v, want seed 7", got.Renditions[0].Lineage)
			}
		})
	}
}
