package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/riverqueue/river"

	"github.com/pictor/pictor/catalog"
	"github.com/pictor/pictor/db"
	"github.com/pictor/pictor/pipeline"
)

// unpricedNote is what an estimate says instead of a cost when no price is configured.
const unpricedNote = "no prices configured: set PICTOR_COST_GPU_SECOND, PICTOR_COST_CPU_SECOND or PICTOR_COST_GB_MONTH (and PICTOR_COST_CURRENCY)"

// Priced reports whether any price is set; without one, costs are not shown at all
// (never as 0).
func (c Costs) Priced() bool { return c.GPUSecond > 0 || c.CPUSecond > 0 || c.GBMonth > 0 }

// currency is the configured currency, USD when prices are set without one.
func (c Costs) currency() string {
	if c.Currency != "" {
		return c.Currency
	}
	return "USD"
}

// of prices a spend: GPU- and CPU-seconds, and bytes stored for a month.
func (c Costs) of(gpu, cpu float64, bytes int64) float64 {
	return gpu*c.GPUSecond + cpu*c.CPUSecond + float64(bytes)/1e9*c.GBMonth
}

// roundCents rounds to 1/10,000 of the unit: small per-item costs stay visible.
func roundCents(v float64) float64 { return math.Round(v*1e4) / 1e4 }

// reviewPolicy checks a batch's review policy and fills its default: failed for a
// recipe with AI steps, none otherwise.
func reviewPolicy(p string, ai bool) (string, error) {
	switch p {
	case catalog.ReviewNone, catalog.ReviewFailed, catalog.ReviewAll:
		return p, nil
	case "":
		if ai {
			return catalog.ReviewFailed, nil
		}
		return catalog.ReviewNone, nil
	}
	return "", fmt.Errorf("review %q: want none, failed or all: %w", p, catalog.ErrInvalid)
}

// recipeHasAI tells whether a canonical recipe has AI steps (whose outputs are checked).
func recipeHasAI(canonical []byte) (bool, error) {
	r, err := pipeline.ParseRecipe(canonical)
	if err != nil {
		return false, err
	}
	return r.HasAIStep(), nil
}

// perItemCost is what the next item is expected to cost: the larger of the trial's
// estimate and the mean spend of the items finished so far (0 when neither is known).
func (s *Service) perItemCost(b batchRow) float64 {
	est := 0.0
	if b.estimate != "" {
		var e Estimate
		if json.Unmarshal([]byte(b.estimate), &e) == nil && e.CostPerItem != nil {
			est = *e.CostPerItem
		}
	}
	if b.itemsSpent > 0 {
		est = math.Max(est, s.cfg.Costs.of(b.gpuSeconds, b.cpuSeconds, b.bytes)/float64(b.itemsSpent))
	}
	return est
}

// reserve sets aside the next item's expected cost on a batch with a max_cost before the
// item runs, in one transaction holding the batch row. When spend, plus what items in
// flight set aside, plus this item's share would pass max_cost, the batch pauses itself
// with the reason, the item is parked and its job completed; reserve then reports false.
// An item keeps its reservation across attempts (a crash does not reserve twice), and
// finishItem gives it back when the item's real spend is added. It returns the amount
// the item holds.
func (s *Service) reserve(ctx context.Context, job *river.Job[BatchItemArgs]) (bool, float64, error) {
	tx, err := s.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return false, 0, dbError("begin", err)
	}
	defer tx.Rollback()
	lock := ""
	if s.db.Dialect == db.Postgres {
		lock = " FOR UPDATE"
	}
	b, err := scanBatch(tx.QueryRowContext(ctx, s.db.Rebind(`SELECT `+batchColumns+` FROM batches WHERE id = ?`+lock), job.Args.BatchID))
	if err != nil {
		return false, 0, dbError("lock batch", err)
	}
	if b.state == BatchPaused {
		// Another item paused the batch (at its max_cost, or a person did) since this
		// worker read it: park this one too instead of running past the cap.
		if err := tx.Rollback(); err != nil {
			return false, 0, dbError("rollback", err)
		}
		parked, err := s.parkItem(ctx, job)
		return !parked && err == nil, 0, err
	}
	if !b.maxCost.Valid || b.state != BatchRunning {
		return true, 0, nil
	}
	var held float64
	if err := tx.QueryRowContext(ctx, s.db.Rebind(`SELECT cost_reserved FROM batch_items WHERE batch_id = ? AND row_number = ?`),
		job.Args.BatchID, job.Args.Row).Scan(&held); err != nil {
		return false, 0, dbError("item reservation", err)
	}
	c := s.cfg.Costs
	spent := c.of(b.gpuSeconds, b.cpuSeconds, b.bytes)
	next := s.perItemCost(b)
	if held == 0 && spent+b.costReserved+next > b.maxCost.Float64 {
		cur := c.currency()
		reason := fmt.Sprintf("max_cost %.2f %s would be passed: spent %.2f %s", b.maxCost.Float64, cur, spent, cur)
		if b.costReserved > 0 {
			reason += fmt.Sprintf(", %.2f %s more in flight", b.costReserved, cur)
		}
		reason += fmt.Sprintf(", about %.4f %s an item", next, cur)
		if err := s.setBatchStateTx(ctx, tx, b.id, BatchPaused); err != nil {
			return false, 0, err
		}
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE batches SET paused_reason = ? WHERE id = ?`), reason, b.id); err != nil {
			return false, 0, dbError("pause reason", err)
		}
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE batch_items SET state = ?, updated_at = ? WHERE batch_id = ? AND row_number = ?
			AND state IN ('queued', 'running')`), ItemPending, time.Now().UTC().UnixNano(), b.id, job.Args.Row); err != nil {
			return false, 0, dbError("park item", err)
		}
		if err := s.completeTx(ctx, tx, job); err != nil {
			return false, 0, fmt.Errorf("complete parked item job: %w", err)
		}
		return false, 0, dbError("commit pause", tx.Commit())
	}
	if held > 0 || next == 0 {
		return true, held, nil
	}
	if _, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE batch_items SET cost_reserved = ? WHERE batch_id = ? AND row_number = ?`),
		next, b.id, job.Args.Row); err != nil {
		return false, 0, dbError("reserve", err)
	}
	if _, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE batches SET cost_reserved = cost_reserved + ? WHERE id = ?`), next, b.id); err != nil {
		return false, 0, dbError("reserve", err)
	}
	return true, next, dbError("commit reservation", tx.Commit())
}
