"""Telling the answer's language apart (exporter/refusal/language.py)."""

from __future__ import annotations

import pytest

from exporter.refusal.language import LANGUAGES, language_of


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("The capital of France is Paris, and it is lovely in the spring.", "en"),
        ("La capital de Perú es Lima. ¿Necesitas algo más?", "es"),
        ("La capitale du Canada est Ottawa, et ce n'est pas Toronto.", "fr"),
        ("Die Hauptstadt von Österreich ist Wien, nicht Salzburg.", "de"),
        ("A capital do Brasil é Brasília, não o Rio de Janeiro.", "pt"),
        ("La capitale della Spagna è Madrid, non Barcellona.", "it"),
        ("Столица Японии — Токио.", "ru"),
        ("フランスの首都はパリです。", "ja"),
        ("이탈리아의 수도는 로마입니다.", "ko"),
        ("德国的首都是柏林。", "zh"),
        # a Japanese answer quoting English terms, a Chinese one with a model name
        ("Pythonの`print()`関数を使います。", "ja"),
        ("可以用 GPT-4o 或 Claude 3.5 来做这个。", "zh"),
    ],
)
def test_each_language(text: str, language: str) -> None:
    assert language_of(text) == language
    assert language in LANGUAGES


@pytest.mark.parametrize("text", ["", "42", "```\n$ ls -la\n```", "🙂👍"])
def test_nothing_to_go_on(text: str) -> None:
    assert language_of(text) == ""
