"""Scoring models: run them on held-out images through the one runner, score the results with
`translate.metrics` (which computes on arrays and loads no models), and report what `translate
evaluate` prints and writes. Evaluation while training calls the same functions."""
