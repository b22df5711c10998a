"""Judge models: rubric checks and a second opinion on refusals, asked of a configured
model (`judges:` in the config) under a budget, with a bounded cache.

- `prompts` — the versioned templates a judge is sent;
- `parse` — the judge's JSON verdict, read robustly;
- `cache` — the bounded cache of verdicts;
- `client` — one question to a judge, through the canaries' own protocol code;
- `metrics` — the `chatcanary_judge_*` metrics;
- `panel` — the runner's judging stage, after the pure checks.

This is the one place where a verdict does I/O; a judge that fails gives the check the
status `unknown`, never an error of the canary under test.
"""
