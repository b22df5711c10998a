"""`chatcanary compare`, the rollout gate: the same canaries against the current model
(the baseline target) and the next one (the candidate), with a verdict a pipeline acts on.

    plan      the interleaved schedule, what it may spend, what its runs can detect
    collect   the runs, through the same runner as `run` (checks, judges, cost guard)
    analyse   statistics (exporter.stats), Holm correction and a verdict per metric
    render    the terminal table and the JSON document
    page      the self-contained HTML page
    command   the subcommand: exit 0 / 1 (regression) / 2 (usage)
"""
