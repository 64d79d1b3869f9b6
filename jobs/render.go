package jobs

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/riverqueue/river"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/fetch"
	"github.com/pictor/pictor/imaging"
	"github.com/pictor/pictor/pipeline"
	"github.com/pictor/pictor/sdclient"
)

// RenderArgs is an async render: a recipe (canonical JSON) on a stored image.
type RenderArgs struct {
	ImageID string `json:"image_id"`
	Recipe  []byte `json:"recipe"`
	// Accept lists the formats beyond JPEG and PNG an "auto" output may take. (Jobs queued
	// before it carried the raw header as "accept"; those render "auto" as JPEG or PNG.)
	Accept []imaging.Format `json:"accept_formats,omitempty"`
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

// permanent tells errors that no retry can fix: bad input, bad recipe, a source that
// is gone or refused (4xx-class), missing things. Timeouts, 5xx and unreachable stores
// are worth retrying.
func permanent(err error) bool {
	for _, e := range []error{
		catalog.ErrNotFound, catalog.ErrInvalid, catalog.ErrSDRequired, catalog.ErrPromptBlocked,
		pipeline.ErrInvalidRecipe, pipeline.ErrNotImplemented, pipeline.ErrSDRequired, pipeline.ErrOverBudget,
		imaging.ErrCorrupt, imaging.ErrTooManyPixels, imaging.ErrUnsupportedFormat, imaging.ErrInvalidOption, imaging.ErrNoPlainBackground,
		fetch.ErrBadURL, fetch.ErrBlocked, fetch.ErrTooLarge, fetch.ErrTooManyRedirects,
		sdclient.ErrBadRequest, sdclient.ErrUnknownName, sdclient.ErrUnauthorized,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	var se *fetch.StatusError
	if errors.As(err, &se) {
		return se.StatusCode >= 400 && se.StatusCode < 500 && se.StatusCode != http.StatusRequestTimeout && se.StatusCode != http.StatusTooManyRequests
	}
	return false
}

// EnqueueRender queues a render of recipe (any form ParseRecipe takes) on an image and
// returns the job.
func (s *Service) EnqueueRender(ctx context.Context, imageID string, recipe []byte, accept []imaging.Format) (Job, error) {
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
