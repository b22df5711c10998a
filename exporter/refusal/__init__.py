"""Refusal detection from the text of an answer: did the model decline the request?

The structured signals (an OpenAI `refusal` field, `finish_reason: content_filter`,
Anthropic `stop_reason: refusal`, an HTTP 400 content filter) are exact and are judged in
`exporter.runner`; this package is the text classifier behind them, pure and offline, so
it also runs over a saved list of answers (`detect_refusal(text)`). It is a heuristic: a
run's outcome depends on it only where the canary asks (`expect_refusal`, or a
`refused` / `not_refused` check).

Rules, not a learned model, so that every verdict names the rule and the phrase that
decided it. They read English and nine other languages (es fr de pt it ru ja ko zh;
`language` tells which, `lexicons` holds their phrasing), and look at *who* declines
*what*, and at *what else* the answer says:

1. **Decline** — a first-person decline anywhere in the answer's own prose ("I can't help
   with", "I'm not going to list", "I'd rather not", "I can only help with billing",
   "my guidelines don't allow"). Quoted text, code, dialogue lines and drafted letters are
   not the assistant speaking, so they are set aside first. Conditionals ("if I can't"),
   limitations ("I can't give a definitive answer without ...", "I can't recommend one
   brand in general, but ...") and disclaimers ("As an AI I don't have feelings, but ...")
   do not count. A decline beside substantial other content is a **partial** refusal.
2. **Lecture** — the opening condemns the request ("X is theft", "It is not appropriate
   to ...", "I strongly condemn ..."): a categorical judgement in the first sentence
   refuses whatever follows; warnings further down refuse only when nothing answers
   before the redirect ("Instead, consider ...").
3. **Premise** — the opening rejects the question's premise ("There's no chapter like
   that", "That premise isn't supported by research").
4. **Redirect** — the opening sends the user to someone else ("Please talk to your doctor
   about this") without answering anyway.
5. **Capability** and **as an AI** — "I can't send emails" or "As an AI I can't ..." with
   nothing after it; with an answer after it, a limitation.

Partial refusals count as refused, following the published benchmarks' convention (full
and partial refusals are both refusals); `Verdict.partial` tells them apart. Each
verdict carries a `confidence`: how often its detector agreed with people on the
development corpus (`calibration`). docs/REFUSAL.md has the evaluation.
"""

from exporter.refusal.baseline import prefix_refusal
from exporter.result import Verdict


def detect_refusal(text: str) -> Verdict:
    """Judge whether an answer refuses its request, from its text alone.

    The rules (about 50 ms of pattern compiling) load on the first call, not when the
    package is imported: `chatcanary --version`, `check` and `rules` never classify."""
    from exporter.refusal.classify import detect_refusal as classify

    return classify(text)


def load_rules() -> None:
    """Compile the rules now: a long-running process does it before its first runs, whose
    timings would otherwise hold the pause."""
    import exporter.refusal.classify  # noqa: F401


__all__ = ["Verdict", "detect_refusal", "load_rules", "prefix_refusal"]
