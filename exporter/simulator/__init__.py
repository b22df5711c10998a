"""A chat server with scripted behaviour that speaks four wire dialects.

It powers ``chatcanary demo``, the tests and the benchmarks, and lets operators rehearse
alerting: each model follows a :class:`Behaviour` (timings, answers, fault
probabilities), starting from one of the named :data:`SCENARIOS` and changeable at
runtime::

    sim = Simulator(scenario="demo", seed=1)
    base = await sim.start("127.0.0.1", 0)        # "http://127.0.0.1:PORT"
    sim.set_behaviour("my-model", Behaviour(ttft=0.2, faults={"http_429": 0.1}))
    await sim.stop()

Dialects (one module each in :mod:`exporter.simulator.dialects`), all on one port:

==========  =====================================================  ===================
dialect     chat route                                             API key header
==========  =====================================================  ===================
OpenAI      ``POST /v1/chat/completions`` (+ ``GET /v1/models``)   ``Authorization:
                                                                   Bearer``
Azure       ``POST /openai/deployments/{d}/chat/completions``      ``api-key``
            ``?api-version=`` (required); the deployment is the
            model
Anthropic   ``POST /v1/messages``; ``anthropic-version`` required  ``x-api-key``
Ollama      ``POST /api/chat`` (+ ``GET /api/tags``); streams      ``Authorization:
            unless ``"stream": false``                             Bearer``
==========  =====================================================  ===================

Every dialect follows the same Behaviours, timings and fault draws; only the bytes
differ. How each fault shows on each wire:

- ``http_*`` and ``prompt_filtered``: that HTTP status (``prompt_filtered``: 400) with
  the dialect's error body: OpenAI ``{"error": {message, type, param, code}}``; Azure
  the same, but ``{"error": {code, message}}`` for 401/429 and Azure's content-filter
  body (``code: content_filter``, ``innererror``) for ``prompt_filtered``; Anthropic
  ``{"type": "error", "error": {type, message}}`` (``rate_limit_error``, ``api_error``,
  ``overloaded_error`` for 529...); Ollama ``{"error": "..."}``. ``http_429`` adds
  ``Retry-After`` (and ``retry-after-ms`` for OpenAI and Azure).
- ``stream_error``: after a few tokens an error frame ends the stream: OpenAI/Azure
  ``data: {"error": ...}``, Anthropic ``event: error`` with ``overloaded_error``, Ollama
  a ``{"error": ...}`` line. Without a stream: that error body with HTTP 200.
- ``truncate``: the stream stops after a few tokens without its end marker
  (``[DONE]``, ``message_stop``, the ``done: true`` object); a whole body is cut short.
- ``malformed``: one frame of invalid JSON, then the stream goes on; a whole body is
  cut in half.
- ``hang_before_headers`` / ``hang_mid_stream``: a stall of ``hang_seconds`` before
  the headers or after a few tokens.
- ``empty``: no tokens at all. ``too_large``: ``large_bytes`` of content.
- ``content_filter``: no tokens; OpenAI/Azure ``finish_reason: content_filter`` (Azure
  also flags ``content_filter_results``), Anthropic ``stop_reason: refusal``, Ollama
  (which has no filter) an empty answer with ``done_reason: stop``.
- refusals (``refusal_pattern``) with ``refusal_style="field"``: OpenAI/Azure put the
  sentence in ``refusal``; Anthropic sends no text and ``stop_reason: refusal``; Ollama
  has no such field and sends it as text, as every dialect does with style ``"text"``.

It writes each wire format itself and imports nothing else from chatcanary, so a client
bug cannot be masked by the same bug on the server side.
"""

from exporter.simulator.answers import answer_for
from exporter.simulator.behaviour import FAULTS, Behaviour
from exporter.simulator.scenarios import DEFAULT_MODEL, SCENARIOS
from exporter.simulator.server import Simulator

__all__ = ["DEFAULT_MODEL", "FAULTS", "SCENARIOS", "Behaviour", "Simulator", "answer_for"]
