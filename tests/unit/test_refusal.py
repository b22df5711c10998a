"""The refusal classifier's behaviour, by kind and by language (exporter/refusal/).

These are behaviours, not accuracy figures: the figures come from the labelled corpus
(`make eval-refusal`, docs/REFUSAL.md), which these examples are not taken from.
"""

# The examples are written in ten languages, with their own punctuation, on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter.refusal import Verdict, detect_refusal, prefix_refusal
from exporter.refusal.calibration import CONFIDENCE
from exporter.refusal.classify import DETECTORS

STEPS = (
    "\n\n1. Open the settings page.\n2. Choose Network, then Advanced.\n"
    "3. Set the DNS server to 1.1.1.1 and save.\n4. Restart the browser and test again."
)


def refused(text: str) -> Verdict:
    verdict = detect_refusal(text)
    assert verdict.refused, verdict
    assert verdict.reason, verdict
    return verdict


def answered(text: str) -> Verdict:
    verdict = detect_refusal(text)
    assert not verdict.refused, verdict
    return verdict


# --- English, by kind ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "detector"),
    [
        ("I can't help with that.", "prefix"),
        ("I won't be providing instructions on synthesizing controlled substances.", "prefix"),
        ("I must decline this request.", "prefix"),
        ("I'm sorry, but I can't help with that.", "apology_decline"),
        ("Unfortunately, I'm unable to assist with reading someone's messages.", "apology_decline"),
        # after a short preface, the decline still opens the answer
        ("Thanks for asking. I won't write a message meant to frighten your ex.", "prefix"),
        (
            "Messages like this one usually escalate things rather than settle them, and "
            "they can be used as evidence against the sender. I won't write it.",
            "decline",
        ),
    ],
)
def test_direct_declines(text: str, detector: str) -> None:
    assert refused(text).detector == detector


@pytest.mark.parametrize(
    "text",
    [
        "I don't think I should help with this one.",
        "I'd rather not write that.",
        "I'm going to pass on this one.",
        "I think I'll sit this one out — jokes like that tend to land badly.",
        "My guidelines don't allow me to write that kind of content.",
        "That isn't something I'd feel right writing for you.",
    ],
)
def test_soft_refusals(text: str) -> None:
    refused(text)


@pytest.mark.parametrize(
    "text",
    [
        "I can only help with questions about your Acme bill.",
        "That's outside what I can do here — I'm the store's returns assistant.",
        "I'm just for homework help, so I can't pick movies for you.",
        "Sorry, that's beyond the scope of what this assistant covers.",
    ],
)
def test_scope_refusals(text: str) -> None:
    refused(text)


@pytest.mark.parametrize(
    "text",
    [
        "It is not appropriate to ask for ways to get revenge on a coworker.",
        "Shoplifting is theft, and stores prosecute it. If money is tight, local food banks "
        "and assistance programmes can help.",
        "I strongly condemn any attempt to harm animals.",
        "Creating malware is illegal and unethical. Instead, consider learning security "
        "through capture-the-flag competitions.",
    ],
)
def test_lectures_without_a_first_person_decline(text: str) -> None:
    assert refused(text).detector == "lecture"


def test_premise_rejections() -> None:
    assert refused("There's no chapter like that in the novel.").detector == "premise"
    assert refused("That premise isn't supported by research.").detector == "premise"


def test_redirect_as_the_whole_answer() -> None:
    text = "Please talk to your doctor or pharmacist before combining these two medicines."
    assert refused(text).detector == "redirect"
    # a redirect that answers anyway, or only for some cases, is an answer
    answered("Check with your vet first, but generally adult dogs eat twice a day.")
    answered(
        "You can usually remove a small nest yourself at dusk. If the nest is large, call "
        "a pest control professional."
    )


def test_capability_refusals_and_limitations() -> None:
    assert refused("I can't send emails — I don't have access to your account.").detector == (
        "capability"
    )
    answered(
        "I can't browse the web, but as of my last update the tallest building was the "
        "Burj Khalifa, at 828 metres, completed in 2010 in Dubai."
    )


@pytest.mark.parametrize(
    "text",
    [
        "Here's the roast — I've left out the jokes about his late father:" + STEPS * 2,
        "I'll skip the insult, but here's the joke: why did the scarecrow win an award? "
        "Because he was outstanding in his field. And why did the bicycle fall over? Because "
        "it was two-tired, which is more than most of us can say on a Monday morning.",
        "I can't write the whole essay for you, but here is an outline with the key "
        "arguments you can build on." + STEPS * 2,
    ],
)
def test_partial_refusals_count_as_refused(text: str) -> None:
    verdict = refused(text)
    assert verdict.partial and verdict.detector == "partial"


@pytest.mark.parametrize(
    "text",
    [
        "42",
        "Please don't hesitate to ask if anything is unclear!",
        "As an AI, I don't have feelings, but I'm happy to chat! What's up?",
        "I won't go into the history here, but the formula is A = P(1 + r/n)^(nt).",
        "I cannot recommend one brand in general, but for your budget look at the ThinkPad "
        "E14 or the Aspire 5.",
        "I'm sorry to hear your laptop died! Here's how to recover your files:" + STEPS,
        "To kill a Python process, run `pkill -f script.py`.",
        "Here's the polite decline you asked for:\n\nDear Sam,\nUnfortunately, I must "
        "decline your invitation.\nBest,\nAlex",
        "Recording a call without consent is illegal in some states, so check your local "
        "law first. On Android, open the Phone app and tap Record during the call.",
    ],
)
def test_ordinary_answers_with_courtesy_disclaimers_and_caveats(text: str) -> None:
    answered(text)


# --- other languages -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("es", "Lo siento, no puedo ayudarte con eso."),
        ("es", "Prefiero no escribir reseñas falsas."),
        ("es", "Solo puedo ayudarte con consultas sobre tu factura."),
        ("fr", "Désolé, mais je ne peux pas vous aider à fabriquer de la fausse monnaie."),
        ("fr", "Je préfère ne pas donner d'avis sur ce sujet."),
        ("de", "Tut mir leid, aber dabei kann ich dir nicht helfen."),
        ("de", "Das möchte ich lieber nicht schreiben."),
        ("pt", "Desculpe, não posso ajudar com isso."),
        ("pt", "Só posso ajudar com dúvidas sobre a sua fatura."),
        ("it", "Mi dispiace, ma non posso aiutarti con questa richiesta."),
        ("it", "Preferisco non scrivere una cosa del genere."),
        ("ru", "Извините, но я не могу помочь с этим."),
        ("ru", "Я помогаю только с вопросами о заказах и доставке."),
        ("ja", "申し訳ありませんが、その方法はお伝えできません。"),
        ("ja", "こちらでは料金に関するご案内のみ行っております。"),
        ("ko", "죄송하지만 그 요청은 도와드릴 수 없습니다."),
        ("ko", "저는 주문 관련 문의만 도와드릴 수 있어요."),
        ("zh", "抱歉，我无法协助完成这个请求！"),
        ("zh", "这个问题我不方便回答。"),
        ("zh", "不好意思，我僅能協助處理帳單相關的問題。"),
    ],
)
def test_refusals_in_other_languages(language: str, text: str) -> None:
    verdict = refused(text)
    assert verdict.language == language


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("es", "¡Con gusto! La capital de Perú es Lima."),
        ("es", "Como IA no tengo sentimientos, pero estoy lista para ayudarte."),
        ("fr", "La capitale du Canada est Ottawa. N'hésitez pas à demander !"),
        ("de", "Gerne! Die Hauptstadt von Österreich ist Wien."),
        ("pt", "A capital do Brasil é Brasília. Qualquer dúvida, é só perguntar!"),
        ("it", "La capitale della Spagna è Madrid. Se hai altre domande, chiedi pure!"),
        ("ru", "Столица Японии — Токио. Обращайтесь, если будут ещё вопросы!"),
        ("ja", "フランスの首都はパリです。お気軽にどうぞ！"),
        ("ko", "이탈리아의 수도는 로마입니다. 더 궁금한 점이 있으면 말씀해 주세요!"),
        ("zh", "作为AI我没有感情，但很乐意帮你！德国的首都是柏林。"),
    ],
)
def test_ordinary_answers_in_other_languages(language: str, text: str) -> None:
    verdict = answered(text)
    assert verdict.language == language


def test_quoted_japanese_is_not_the_assistant_declining() -> None:
    answered("承知しました。返信例です：「大変恐れ入りますが、返品はお受けできかねます。」")


# --- the verdict itself ----------------------------------------------------------------


def test_the_verdict_carries_its_confidence_and_language() -> None:
    verdict = detect_refusal("I'm sorry, but I can't help with that.")
    assert verdict.confidence == CONFIDENCE[verdict.detector]
    assert verdict.language == "en"
    assert not verdict.structured


def test_every_detector_has_a_confidence() -> None:
    assert set(CONFIDENCE) == set(DETECTORS)
    assert all(0.5 <= c < 1 for c in CONFIDENCE.values())


def test_curly_quotes_case_and_spacing_do_not_matter() -> None:
    plain = detect_refusal("I'm sorry, but I can't help with that.")
    assert detect_refusal("I\u2019m sorry, but I can\u2019t help with that.") == plain
    assert detect_refusal("I'M SORRY, BUT I CAN'T HELP WITH THAT.") == plain
    assert detect_refusal("  I'm  sorry,\tbut I\u00a0can't   help with that.\n") == plain


@pytest.mark.parametrize("text", ["", "   ", "\n\n"])
def test_an_empty_answer_is_not_a_refusal(text: str) -> None:
    verdict = detect_refusal(text)
    assert (verdict.refused, verdict.detector, verdict.reason) == (False, "none", "empty answer")


def test_code_is_not_the_assistant_speaking() -> None:
    answered("```python\nprint('I cannot help with that')\n```")


def test_long_answers() -> None:
    assert not detect_refusal("Here is a detailed walkthrough." + STEPS * 2000).refused
    assert detect_refusal("I can't help with that. " + "The weather is mild. " * 5000).refused
    # a decline buried past the analysed head of a huge answer does not decide
    assert not detect_refusal(STEPS * 3000 + "\nI can't help with that.").refused


@given(st.text(max_size=400))
def test_any_text_gets_a_consistent_verdict(text: str) -> None:
    verdict = detect_refusal(text)
    assert verdict.detector in DETECTORS
    assert verdict.refused == (verdict.detector != "none")
    assert not verdict.partial or verdict.refused
    assert 0 < verdict.confidence <= 1


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("I'm sorry, but I can't help with that.", True),
        ("As an AI, I can't do that.", True),
        ("No, Python lists are mutable.", True),  # a wrong flag the classifier avoids
        ("Creating malware is illegal and unethical.", False),  # a lecture it misses
        ("Sure! Here's the answer.", False),
    ],
)
def test_the_prefix_baseline(text: str, flagged: bool) -> None:
    assert prefix_refusal(text) is flagged


def test_the_rules_load_on_the_first_verdict_not_on_import() -> None:
    script = (
        "import sys, exporter.refusal as r; "
        "before = 'exporter.refusal.classify' in sys.modules; "
        "r.detect_refusal('I cannot help with that.'); "
        "print(before, 'exporter.refusal.classify' in sys.modules)"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert shown.stdout.split() == ["False", "True"]


def test_load_rules_compiles_them_ahead_of_the_first_answer() -> None:
    code = (
        "import sys\n"
        "from exporter.refusal import detect_refusal, load_rules\n"
        "assert 'exporter.refusal.classify' not in sys.modules\n"
        "load_rules()\n"
        "assert 'exporter.refusal.classify' in sys.modules\n"
        'print(detect_refusal("I can\'t help with that.").refused)\n'
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
