package catalog

import (
	"fmt"

	"github.com/pictor/pictor/pipeline"
)

// PromptBlockedError names the field whose text contains a blocked term (Config.PromptBlocklist).
// errors.Is(err, ErrPromptBlocked) is true for it.
type PromptBlockedError struct {
	// Field locates the text in the request: "prompt", "negative_prompt", "steps[2].prompt",
	// "steps[2].negative_prompt", or "template.prompt" / "template.negative_prompt" for a
	// scene's prompt filled from a template.
	Field string
	// Term is the blocked term found, as configured.
	Term string
}

// Error reads `steps[2].prompt: contains the blocked term "nude"`.
func (e *PromptBlockedError) Error() string {
	return fmt.Sprintf("%s: contains the blocked term %q", e.Field, e.Term)
}

// Is reports whether target is ErrPromptBlocked.
func (e *PromptBlockedError) Is(target error) bool { return target == ErrPromptBlocked }

// promptField is one text the policy must see, with where it came from.
type promptField struct {
	field, text string
}

// checkPrompts returns a *PromptBlockedError for the first field whose text contains a
// blocked term, or nil.
func (s *Service) checkPrompts(fields ...promptField) error {
	p := s.policy
	for _, f := range fields {
		if f.text == "" {
			continue
		}
		if term, ok := p.Check(f.text); !ok {
			return &PromptBlockedError{Field: f.field, Term: term}
		}
	}
	return nil
}

// checkRecipe checks the prompt and negative prompt of every replace_background step of r.
func (s *Service) checkRecipe(r *pipeline.Recipe) error {
	return s.checkPrompts(recipePrompts(r)...)
}

// recipePrompts lists the prompts of r's steps, named by their place in the recipe.
func recipePrompts(r *pipeline.Recipe) []promptField {
	var out []promptField
	for i, st := range r.Steps {
		if p, ok := st.Params.(*pipeline.ReplaceBackgroundParams); ok {
			out = append(out,
				promptField{fmt.Sprintf("steps[%d].prompt", i), p.Prompt},
				promptField{fmt.Sprintf("steps[%d].negative_prompt", i), p.NegativePrompt})
		}
	}
	return out
}
