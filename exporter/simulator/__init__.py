"""A chat server that speaks the OpenAI Chat Completions API with scripted behaviour.

It powers ``chatcanary demo``, the tests and the benchmarks, and lets operators rehearse
alerting: each model follows a :class:`Behaviour` (timings, answers, fault
probabilities), starting from one of the named :data:`SCENARIOS` and changeable at
runtime::

    sim = Simulator(scenario="demo", seed=1)
    base = await sim.start("127.0.0.1", 0)        # "http://127.0.0.1:PORT"
    sim.set_behaviour("my-model", Behaviour(ttft=0.2, faults={"http_429": 0.1}))
    await sim.stop()

It writes the wire format itself and imports nothing else from chatcanary, so a client
bug cannot be masked by the same bug on the server side.
"""

from exporter.simulator.answers import answer_for
from exporter.simulator.behaviour import FAULTS, Behaviour
from exporter.simulator.scenarios import DEFAULT_MODEL, SCENARIOS
from exporter.simulator.server import Simulator

__all__ = ["DEFAULT_MODEL", "FAULTS", "SCENARIOS", "Behaviour", "Simulator", "answer_for"]
