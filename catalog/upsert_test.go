package catalog_test

import (
	"context"
	"sync"
	"testing"

	"github.com/pictor/pictor/catalog"
)

// PUT of a recipe or template racing a DELETE of it never fails: the write and the
// read of what was written are one statement. created is true exactly when the name
// was not there.
func TestPutRacesDelete(t *testing.T) {
	t.Parallel()
	recipe := []byte(`{"steps":[{"op":"resize","width":100,"height":100,"fit":"inside"}],"outputs":[{"name":"main","format":"jpeg"}]}`)
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, be)
			ctx := context.Background()
			if _, created, err := b.svc.PutRecipe(ctx, "race", recipe); err != nil || !created {
				t.Fatalf("first put: created %v, %v; want created", created, err)
			}
			if _, created, err := b.svc.PutRecipe(ctx, "race", recipe); err != nil || created {
				t.Fatalf("second put: created %v, %v; want updated", created, err)
			}
			tpl := catalog.PromptTemplate{Name: "race", Prompt: "a product on a wooden table"}
			if _, created, err := b.svc.PutTemplate(ctx, tpl); err != nil || !created {
				t.Fatalf("first template put: created %v, %v; want created", created, err)
			}
			if _, created, err := b.svc.PutTemplate(ctx, tpl); err != nil || created {
				t.Fatalf("second template put: created %v, %v; want updated", created, err)
			}
			const rounds = 150
			var wg sync.WaitGroup
			errs := make(chan error, 4*rounds)
			for range 2 {
				wg.Add(2)
				go func() {
					defer wg.Done()
					for range rounds {
						if sr, _, err := b.svc.PutRecipe(ctx, "race", recipe); err != nil || sr.Name != "race" {
							errs <- err
						}
						if pt, _, err := b.svc.PutTemplate(ctx, tpl); err != nil || pt.Name != "race" {
							errs <- err
						}
					}
				}()
				go func() {
					defer wg.Done()
					for range rounds {
						_ = b.svc.DeleteRecipe(ctx, "race")
						_ = b.svc.DeleteTemplate(ctx, "race")
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("put racing delete: %v", err)
			}
		})
	}
}
