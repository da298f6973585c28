package engine

import "github.com/cocoon-provider/cocoon-provider/engine/worker"

// DevEstimate is what the dev-mode worker would be paid at a price
// coefficient under the built-in client's load. It is an assumption
// spelled out, not a forecast of real earnings: dev mode earns nothing
// real, and real demand is the proxies'.
type DevEstimate struct {
	Coefficient int64 // 1000 = 1.0×
	// RequestsPerSecond is the built-in client's rate; 0 when the client
	// refuses workers this expensive (MaxCoefficient).
	RequestsPerSecond float64
	// Usage is one request's assumed token counts: the built-in client's
	// prompt (one token a word, its system prompt included) and answer.
	Usage worker.Usage
	// FeePerToken is the stand-in root's worker fee per adjusted token
	// (nanoTON).
	FeePerToken int64
	// MaxCoefficient is the most the built-in client accepts.
	MaxCoefficient int64
	// NanoTONPerDay is the estimate.
	NanoTONPerDay int64
}

// DevModelName is the stand-in model that dev mode serves.
const DevModelName = devModelName

// devSystemPromptWords is the stand-in client's shared system prompt.
const devSystemPromptWords = 64

// EstimateDevEarnings estimates a day's pay of the dev-mode worker at
// coefficient k (0: the default) under DefaultDevLoad and the stand-in
// root's prices.
func EstimateDevEarnings(k int64) DevEstimate {
	if k == 0 {
		k = worker.DefaultWorkerCoefficient
	}
	load := DefaultDevLoad()
	root := DevRoot("", "")
	e := DevEstimate{Coefficient: k, RequestsPerSecond: load.Rate, FeePerToken: root.WorkerFeePerToken, MaxCoefficient: load.MaxCoefficient,
		Usage: worker.Usage{PromptTokens: int64(load.PromptWords + devSystemPromptWords), CompletionTokens: int64(load.MaxTokens),
			ReasoningTokens: int64(load.ReasoningTokens)}}
	if load.MaxCoefficient > 0 && k > load.MaxCoefficient {
		e.RequestsPerSecond = 0
		return e
	}
	adj := worker.AdjustTokens(e.Usage, k, root.Multipliers())
	e.NanoTONPerDay = int64(e.RequestsPerSecond * 86400 * float64(adj.Total*e.FeePerToken))
	return e
}
