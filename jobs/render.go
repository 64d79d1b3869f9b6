package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/riverqueue/river"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/pipeline"
)

// RenderArgs is an async render: a recipe (canonical JSON) on a stored image.
type RenderArgs struct {
	ImageID string `json:"image_id"`
	Recipe  []byte `json:"recipe"`
	Accept  string `json:"accept,omitempty"`
}

// Kind never changes: it is stored on every job row.
func (RenderArgs) Kind() string { return "render" }

// InsertOpts puts renders on the interactive queue.
func (RenderArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: QueueInteractive} }

// RenderOutput is what a finished render job records.
type RenderOutput struct {
	Renditions []catalog.Rendition `json:"renditions"`
}

type renderWorker struct {
	river.WorkerDefaults[RenderArgs]
	cat *catalog.Service
}

func (w *renderWorker) Work(ctx context.Context, job *river.Job[RenderArgs]) error {
	rends, err := w.cat.Render(ctx, job.Args.ImageID, catalog.RecipeRef{Inline: job.Args.Recipe}, job.Args.Accept)
	if err != nil {
		if permanent(err) {
			return river.JobCancel(err)
		}
		return err
	}
	return river.RecordOutput(ctx, RenderOutput{Renditions: rends})
}

// permanent tells errors that no retry can fix: bad input, bad recipe, missing things.
func permanent(err error) bool {
	for _, e := range []error{
		catalog.ErrNotFound, catalog.ErrInvalid, catalog.ErrSDRequired, pipeline.ErrInvalidRecipe, pipeline.ErrNotImplemented,
		imaging.ErrCorrupt, imaging.ErrTooManyPixels, imaging.ErrUnsupportedFormat, imaging.ErrInvalidOption,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// EnqueueRender queues a render of recipe (any form ParseRecipe takes) on an image and
// returns the job.
func (s *Service) EnqueueRender(ctx context.Context, imageID string, recipe []byte, accept string) (Job, error) {
	r, err := pipeline.ParseRecipe(recipe)
	if err != nil {
		return Job{}, err
	}
	res, err := s.client.Insert(ctx, RenderArgs{ImageID: imageID, Recipe: r.Canonical(), Accept: accept}, nil)
	if err != nil {
		return Job{}, fmt.Errorf("insert render job: %w", err)
	}
	return view(res.Job), nil
}
