"""The `chatcanary` command line.

Exit codes: 0 ok; 1 a check or probe failed (`check`: the config is invalid); 2 a usage
or config error that stops `run`, `probe` or `demo` from starting (a store database this
chatcanary cannot use too). `db check`: 0 up to date, 1 a migration is due, 2 a config
error or a database it cannot use, 3 the store is unreachable.

Start-up: this module imports only the standard library's light parts. A subcommand's
options are added when that subcommand is parsed (or its help shown), and each command
imports what it uses when it runs, so `--version` and `--help` load nothing else and
`check` loads the config models but no HTTP client, simulator, tracing SDK or store.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exporter import __version__

if TYPE_CHECKING:
    from exporter.config import Config, RunSpec
    from exporter.result import ProbeResult
    from exporter.service import Service
    from exporter.simulator import Simulator
    from exporter.store import Location
    from exporter.webconfig import WebConfig

DEFAULT_LISTEN = "127.0.0.1:9477"
DEMO_URL_VAR = "CHATCANARY_SIMULATOR_URL"
SHARD_VAR = "CHATCANARY_SHARD"
WEB_CONFIG_HELP = "TLS, basic auth, bearer tokens for every endpoint (YAML; docs/web-and-apis.md)"


def main(argv: Sequence[str] | None = None) -> int:
    # pydantic looks for plugins in every installed package's metadata before it builds the
    # first model (3 % of `check`); the command uses none. Set to "" to load them anyway.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    parser = build_parser()
    args = parser.parse_args(argv)  # --version and --help end here
    if os.environ["PYDANTIC_DISABLE_PLUGINS"] == "__all__":
        _no_plugin_discovery()
    from exporter import logs

    logs.setup(args.log_level, args.log_format)
    try:
        if args.is_async:
            import asyncio

            code: int = asyncio.run(args.func(args))
        else:
            code = args.func(args)
    except KeyboardInterrupt:
        code = 130
    return code


def _no_plugin_discovery() -> None:
    """With every pydantic plugin disabled, spare importing what only discovers them:
    pydantic's loader imports `importlib.metadata` (and `email`, `zipfile`, ... with it),
    about 15 ms of `check`, to answer `get_plugins()` with nothing. This loader answers
    the same; anything else asked of it comes from pydantic's own."""
    import types

    name = "pydantic.plugin._loader"
    if name in sys.modules:
        return
    loader = types.ModuleType(name)

    def get_plugins() -> tuple[()]:
        return ()

    def real(attribute: str) -> object:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        import importlib.machinery
        import importlib.util

        import pydantic.plugin

        spec = importlib.machinery.PathFinder.find_spec(name, pydantic.plugin.__path__)
        if spec is None or spec.loader is None:
            raise AttributeError(attribute)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return getattr(module, attribute)

    loader.get_plugins = get_plugins  # type: ignore[attr-defined]
    loader.__getattr__ = real  # type: ignore[method-assign]
    sys.modules[name] = loader


class _Command(argparse.ArgumentParser):
    """A subcommand's parser that adds its own options when it is first used (to parse or
    to show help), so that building the whole parser imports nothing."""

    add_options: Callable[[argparse.ArgumentParser], None] | None = None

    def _complete(self) -> None:
        add, self.add_options = self.add_options, None
        if add is not None:
            add(self)

    def parse_known_args(self, *args: Any, **kwargs: Any) -> Any:
        self._complete()
        return super().parse_known_args(*args, **kwargs)

    def format_usage(self) -> str:
        self._complete()
        return super().format_usage()

    def format_help(self) -> str:
        self._complete()
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    def logging_options(default: object) -> _Command:
        options = _Command(add_help=False)
        options.add_argument(
            "--log-level",
            default=default or "info",
            choices=["debug", "info", "warning", "error"],
            help="(default: info)",
        )
        options.add_argument(
            "--log-format",
            default=default or "text",
            choices=["text", "json"],
            help="(default: text)",
        )
        return options

    # Before or after the subcommand: a subcommand's own defaults must not undo
    # `chatcanary --log-format json run ...`, so there they are SUPPRESS.
    common = logging_options(argparse.SUPPRESS)
    parser = argparse.ArgumentParser(
        prog="chatcanary",
        description="Canary prober and Prometheus exporter for chat (LLM) endpoints.",
        parents=[logging_options(None)],
    )
    parser.add_argument("--version", action="version", version=f"chatcanary {__version__}")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Command
    )
    for name, help, func, is_async, add_options in COMMANDS:
        p = sub.add_parser(name, help=help, description=help, parents=[common])
        p.set_defaults(func=func, is_async=is_async)
        p.add_options = add_options
    return parser


def listen_option(p: argparse.ArgumentParser, default: str, what: str) -> None:
    host = default.rpartition(":")[0]
    p.add_argument(
        "--listen",
        default=default,
        type=listen_address(host),
        metavar="ADDR",
        help=f"{what} (HOST:PORT, :PORT for every interface, or PORT on {host}; "
        "default: %(default)s)",
    )


def run_options(run: argparse.ArgumentParser) -> None:
    from exporter import sharding

    run.add_argument("-c", "--config", required=True, type=Path, help="config file (YAML)")
    listen_option(run, DEFAULT_LISTEN, "where to serve")
    run.add_argument(
        "--grace",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="seconds the runs in flight get to finish at shutdown (default: %(default)s)",
    )
    run.add_argument("--web.config.file", dest="web_config", type=Path, help=WEB_CONFIG_HELP)
    data_dir_option(run)
    run.add_argument(
        "--shard",
        default=os.environ.get(SHARD_VAR),
        help="run only shard INDEX/COUNT (0-based) of the canaries, or `auto`: the "
        f"StatefulSet pod's ordinal of ${sharding.SHARDS_VAR} shards; default ${SHARD_VAR}",
    )


def check_options(check: argparse.ArgumentParser) -> None:
    check.add_argument("-c", "--config", required=True, type=Path)


def probe_options(probe: argparse.ArgumentParser) -> None:
    probe.add_argument("-c", "--config", required=True, type=Path)
    probe.add_argument("--target", action="append", help="only this target (repeatable)")
    probe.add_argument("--canary", action="append", help="only this canary (repeatable)")
    probe.add_argument("--json", action="store_true", help="print a JSON array")


def rules_options(rule_cmd: argparse.ArgumentParser) -> None:
    from exporter import rules

    what = rule_cmd.add_mutually_exclusive_group(required=True)
    what.add_argument("-c", "--config", type=Path, help="recording and alert rules of its SLOs")
    what.add_argument(
        "--operational",
        action="store_true",
        help="the operational alerts, which need no SLOs (shipped in the package as "
        f"exporter/{rules.SHIPPED}/operational.yml)",
    )
    what.add_argument(
        "--runbook",
        action="store_true",
        help="the runbook every alert links to, in Markdown (shipped in the package as "
        f"exporter/{rules.SHIPPED}/RUNBOOK.md)",
    )
    rule_cmd.add_argument(
        "--format",
        default="prometheus",
        choices=["prometheus", "prometheus-operator"],
        help="a rule file, or a PrometheusRule (default: %(default)s)",
    )
    rule_cmd.add_argument(
        "--time-scale",
        type=float,
        metavar="FACTOR",
        help="SLO rules: multiply every window and `for:` (e.g. 0.01 to rehearse alerts in "
        "minutes) (default: 1.0)",
    )
    rule_cmd.add_argument(
        "--runbook-url",
        type=runbook_url,
        default=rules.RUNBOOK,
        metavar="URL",
        help="where you serve the runbook: each alert's runbook_url is URL#ALERTNAME "
        "(default: %(default)s)",
    )
    rule_cmd.add_argument("-o", "--output", type=Path, help="write to this file, not stdout")


def dashboards_options(dashboards: argparse.ArgumentParser) -> None:
    dashboards.add_argument(
        "--out", required=True, type=Path, help="directory, e.g. grafana/dashboards"
    )


def demo_options(demo: argparse.ArgumentParser) -> None:
    # The port of `run`, so every example in the docs works against `make demo` as copied.
    listen_option(demo, DEFAULT_LISTEN, "where the exporter serves; port 0 picks a free one")
    demo.add_argument(
        "--duration",
        type=float,
        metavar="SECONDS",
        help="stop after this many seconds (default: at Ctrl-C)",
    )
    demo.add_argument("--web.config.file", dest="web_config", type=Path, help=WEB_CONFIG_HELP)


def db_options(db: argparse.ArgumentParser) -> None:
    db.add_argument(
        "action", choices=["check", "upgrade"], help="check, or migrate to this version"
    )
    db.add_argument("-c", "--config", required=True, type=Path, help="config file (its store:)")
    data_dir_option(db)


def export_options(export: argparse.ArgumentParser) -> None:
    export.add_argument("kind", choices=list(EXPORTS), help="what to export")
    export.add_argument("-c", "--config", required=True, type=Path, help="config file (its store:)")
    export.add_argument(
        "--since", type=duration, metavar="DURATION", help="only the last DURATION (e.g. 7d)"
    )
    export.add_argument(
        "--format", default="jsonl", choices=["jsonl", "csv"], help="(default: jsonl)"
    )
    export.add_argument("-o", "--output", type=Path, help="write to this file, not stdout")
    data_dir_option(export)


def report_options(report: argparse.ArgumentParser) -> None:
    report.add_argument("-c", "--config", required=True, type=Path, help="config file (its store:)")
    report.add_argument(
        "--since",
        type=duration,
        default=7 * 86400.0,
        metavar="DURATION",
        help="the window: the last DURATION (default: 7d)",
    )
    report.add_argument(
        "--prometheus",
        metavar="URL",
        help="also read Prometheus's HTTP API (e.g. http://prometheus:9090) for the days the "
        "store does not cover",
    )
    report.add_argument(
        "--format", default="html", choices=["html", "md", "json"], help="(default: html)"
    )
    report.add_argument(
        "--web-url",
        metavar="URL",
        help="the exporter's page (e.g. http://chatcanary:9091/): runs become links to it",
    )
    report.add_argument("-o", "--output", type=Path, help="write to this file, not stdout")
    data_dir_option(report)


def proxy_options(proxy: argparse.ArgumentParser) -> None:
    from exporter.config import Protocol

    proxy.add_argument(
        "--protocol", required=True, choices=[str(p) for p in Protocol], help="the dialect"
    )
    proxy.add_argument("--upstream", required=True, metavar="URL", help="e.g. http://vllm:8000")
    listen_option(proxy, "127.0.0.1:8080", "where the proxy listens")
    proxy.add_argument(
        "--metrics-listen",
        default=DEFAULT_LISTEN,
        type=listen_address(DEFAULT_LISTEN.rpartition(":")[0]),
        metavar="ADDR",
        help="where /metrics and the page are served (default: %(default)s)",
    )
    proxy.add_argument("--name", default="proxy", help="the `proxy` label (default: %(default)s)")
    proxy.add_argument(
        "--grace",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="seconds the requests in flight get to finish at shutdown (default: %(default)s)",
    )


def compare_options(compare: argparse.ArgumentParser) -> None:
    compare.add_argument("-c", "--config", required=True, type=Path, help="config file (YAML)")
    compare.add_argument("--baseline", required=True, metavar="TARGET", help="the current model")
    compare.add_argument("--candidate", required=True, metavar="TARGET", help="the next model")
    compare.add_argument(
        "--canary",
        action="append",
        metavar="C",
        help="only this canary (repeatable; default: every canary of the baseline target)",
    )
    compare.add_argument(
        "--runs",
        type=positive_int,
        metavar="N",
        help="runs per canary and target (default: compare.runs in the config, else 5)",
    )
    compare.add_argument(
        "--concurrency",
        type=positive_int,
        default=4,
        metavar="K",
        help="runs at a time, both targets together (default: %(default)s)",
    )
    compare.add_argument(
        "--format", default="table", choices=["table", "json", "html"], help="(default: table)"
    )
    compare.add_argument("-o", "--output", type=Path, help="write to this file, not stdout")
    compare.add_argument(
        "--dry-run",
        action="store_true",
        help="print the requests and tokens it would spend and whether N runs can detect "
        "the thresholds; run nothing",
    )
    compare.add_argument(
        "--fail-on-inconclusive",
        action="store_true",
        help='exit 1 when a metric "cannot tell", not only on a regression',
    )
    compare.add_argument(
        "--progress", action="store_true", help="report the runs done on stderr as they finish"
    )
    data_dir_option(compare)


def simulate_options(sim: argparse.ArgumentParser) -> None:
    from exporter.simulator.scenarios import SCENARIOS

    listen_option(sim, "127.0.0.1:8000", "where to serve")
    sim.add_argument(
        "--scenario",
        default="demo",
        choices=sorted(SCENARIOS),
        metavar="NAME",
        help="behaviour preset: %(choices)s (default: %(default)s)",
    )
    sim.add_argument("--api-key", help="require this bearer key")
    sim.add_argument("--seed", type=int, help="random seed, for repeatable faults")


DATA_DIR_VAR = "CHATCANARY_DATA_DIR"
EXPORTS = ("runs", "feedback", "model-changes", "traffic")


def data_dir_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="where the default store (a SQLite file, chatcanary.db) lives when the config "
        f"sets no store.url (default: ${DATA_DIR_VAR}, else $XDG_STATE_HOME/chatcanary, "
        "else ~/.local/state/chatcanary)",
    )


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"want a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def duration(value: str) -> float:
    from exporter.checkspecs import parse_duration

    try:
        seconds = float(parse_duration(value))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("the duration must be positive")
    return seconds


def _store_location(config: Config, data_dir: Path | None) -> Location | None:
    """The config's store (the data directory's SQLite file by default); errors to stderr."""
    from exporter import store

    try:
        return store.locate(config.store, store.data_dir(data_dir))
    except (store.URLError, OSError) as exc:
        print(f"chatcanary: {exc}", file=sys.stderr)
        return None


def _load(path: Path) -> Config | None:
    from exporter.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        for message in exc.messages:
            print(message, file=sys.stderr)
        return None


def _load_web(path: Path | None) -> tuple[bool, WebConfig | None]:
    """(ok, the web config or None when no file was given); errors go to stderr."""
    from exporter.config import ConfigError

    if path is None:  # the web config's models are imported only for a file
        return True, None
    from exporter.webconfig import load_web_config

    try:
        return True, load_web_config(path)
    except ConfigError as exc:
        for message in exc.messages:
            print(message, file=sys.stderr)
        return False, None


Address = tuple[str, int]  # host ("": every interface), port


def listen_address(default_host: str) -> Callable[[str], Address]:
    """`--listen`'s parser: the forms of `config.parse_listen`."""

    def parse(value: str) -> Address:
        from exporter.config import parse_listen

        try:
            return parse_listen(value, default_host)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def cmd_check(args: argparse.Namespace) -> int:
    from exporter import rules

    config = _load(args.config)
    if config is None:
        return 1
    try:
        rules.generate(config)
    except rules.RuleError as exc:
        print(f"{args.config}: {exc}", file=sys.stderr)
        return 1
    plan = config.plan()
    print(
        f"{args.config}: ok ({len(config.targets)} targets, {len(config.canaries)} canaries, "
        f"{len(plan)} scheduled runs, {len(config.slos)} SLOs)"
    )
    return 0


def runbook_url(value: str) -> str:
    from exporter import rules

    try:
        rules.check_runbook(value)
    except rules.RuleError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def cmd_rules(args: argparse.Namespace) -> int:
    from exporter import rules

    misplaced = [
        f"{option} applies to {scope} only"
        for option, scope, given in (
            ("--time-scale", "SLO rules (-c)", args.time_scale is not None and not args.config),
            ("--format", "rules", args.format != "prometheus" and args.runbook),
            ("--runbook-url", "rules", args.runbook_url != rules.RUNBOOK and args.runbook),
        )
        if given
    ]
    if misplaced:
        print(f"chatcanary: {'; '.join(misplaced)}", file=sys.stderr)
        return 2
    if args.runbook:
        return _write(rules.runbook_text(), args.output)
    command = "chatcanary rules " + ("--operational" if args.operational else f"-c {args.config}")
    if args.runbook_url != rules.RUNBOOK:
        command += f" --runbook-url {args.runbook_url}"
    if args.operational:
        text = rules.operational(args.runbook_url)
        if args.format == "prometheus":
            return _write(text, args.output)  # as shipped, its comments kept
        import yaml

        document = rules.prometheus_rule(yaml.safe_load(text), name="chatcanary-operational")
    else:
        config = _load(args.config)
        if config is None:
            return 2
        try:
            scale = 1.0 if args.time_scale is None else args.time_scale
            document = rules.generate(config, scale, args.runbook_url)
        except rules.RuleError as exc:
            print(f"chatcanary: {exc}", file=sys.stderr)
            return 1
        if not config.slos:  # an empty file is valid, but rarely what was wanted
            print(
                f"chatcanary: {args.config} has no SLOs, so the rule file is empty. "
                "Add an `slos:` section, for example:\n\n" + rules.STARTER_SLOS + "\n"
                "The operational alerts need none: `chatcanary rules --operational`.",
                file=sys.stderr,
            )
        if args.format == "prometheus-operator":
            document = rules.prometheus_rule(document)
        command += f" --format {args.format}" if args.format != "prometheus" else ""
    return _write(f"# Generated by `{command}`; do not edit.\n" + rules.dump(document), args.output)


def _write(text: str, output: Path | None) -> int:
    if output is None:
        print(text, end="")
    else:
        output.write_text(text, encoding="utf-8")
    return 0


def cmd_dashboards(args: argparse.Namespace) -> int:
    # The Grafana SDK is an extra that only this command needs; load it only here.
    try:
        from exporter import dashboards
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] != "grafana_foundation_sdk":
            raise
        print(
            "chatcanary: `chatcanary dashboards` needs the Grafana SDK, an optional extra: "
            "pip install 'chatcanary[dashboards]' (the committed JSON in grafana/dashboards/ "
            "needs no extra)",
            file=sys.stderr,
        )
        return 2
    try:
        written = dashboards.write(args.out)
    except OSError as exc:
        print(f"chatcanary: cannot write dashboards to {args.out}: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


async def cmd_run(args: argparse.Namespace) -> int:
    from exporter import sharding
    from exporter.service import Service

    _fewer_malloc_arenas()
    config = _load(args.config)
    loaded, web_config = _load_web(args.web_config)
    if config is None or not loaded:
        return 2
    try:
        shard = sharding.resolve(args.shard, os.environ)
    except sharding.ShardError as exc:
        print(f"chatcanary: {exc}", file=sys.stderr)
        return 2
    location = _store_location(config, args.data_dir)
    if location is None:
        return 2
    service = Service(config, path=args.config, shard=shard, store=location)
    return await _serve(service, args.listen, args.grace, web_config=web_config)


M_ARENA_MAX = -8  # glibc's mallopt parameter


def _fewer_malloc_arenas() -> None:
    """At most two glibc malloc arenas, unless MALLOC_ARENA_MAX says otherwise: by default
    each thread that allocates (the store's writer and readers, the resolver's) gets one
    of its own, up to 8 a core, and keeps what it once held (about 1 MB less RSS with
    1,000 canaries, bench/notes.md). Called before `run` starts any thread; glibc only.
    Through `_ctypes` alone: the `ctypes` package costs 0.1 MB more RSS for this one call."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return
    except (ValueError, OSError):  # not glibc (musl, macOS)
        return
    import _ctypes

    class CInt(_ctypes._SimpleCData):  # type: ignore[type-arg]  # ctypes.c_int
        _type_ = "i"

    class CFunction(_ctypes.CFuncPtr):  # ctypes.CFUNCTYPE(c_int)
        _flags_ = _ctypes.FUNCFLAG_CDECL
        _restype_ = CInt

    process = _ctypes.dlopen(None, os.RTLD_NOW)  # type: ignore[arg-type]  # (the process)
    mallopt = CFunction(_ctypes.dlsym(process, "mallopt"))
    mallopt(M_ARENA_MAX, 2)


async def _serve(
    service: Service,
    listen: Address,
    grace: float,
    duration: float | None = None,
    on_ready: Callable[[str], None] = lambda url: None,
    web_config: WebConfig | None = None,
) -> int:
    import asyncio
    import contextlib
    import logging
    import signal

    from exporter.web import make_app, server

    log = logging.getLogger("exporter")
    if service.config.canaries or service.config.proxies:
        from exporter.refusal import load_rules

        load_rules()  # before the first runs, whose timings would hold its ~50 ms

    # The handlers go in before any port opens (the proxies' open in start()): a supervisor
    # that sees a port answer may stop the process at once, and a SIGTERM that came before
    # them would kill it without a shutdown.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await service.start()
    except RuntimeError as exc:
        print(f"chatcanary: {exc}", file=sys.stderr)
        await service.stop(0)
        return 2
    loop.add_signal_handler(signal.SIGHUP, service.reload)
    tls = None if web_config is None else web_config.ssl_context()
    settings = service.config.web  # the port's limits apply from start; a reload keeps them
    try:
        runner = await server.start(
            make_app(service, web_config),
            *listen,
            header_timeout=settings.header_timeout,
            max_connections=settings.max_connections,
            ssl_context=tls,
        )
    except OSError as exc:
        print(
            f"chatcanary: cannot listen on {_url_host(listen[0])}:{listen[1]}: {exc}",
            file=sys.stderr,
        )
        await service.stop(0)
        return 2
    freeze_heap()
    host, port = runner.addresses[0][:2]
    url = f"{'http' if tls is None else 'https'}://{_url_host(host)}:{port}"
    log.info(
        "serving",
        extra={"url": url, "canaries": len(service.scheduler.keys), "shard": str(service.shard)},
    )
    on_ready(url)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), duration)
    log.info("stopping", extra={"grace_seconds": grace})
    await service.stop(grace)
    await runner.cleanup()
    return 0


def proxy_config_text(name: str, protocol: str, upstream: str, listen: Address) -> str:
    """The config `chatcanary proxy` runs: one proxy, no canaries."""
    import yaml

    proxy = {
        "name": name,
        "protocol": protocol,
        "listen": f"{_url_host(listen[0])}:{listen[1]}",
        "upstream": upstream,
    }
    return yaml.safe_dump({"targets": [], "canaries": [], "proxies": [proxy]}, sort_keys=False)


async def cmd_proxy(args: argparse.Namespace) -> int:
    from exporter.config import ConfigError, parse_config
    from exporter.service import Service

    text = proxy_config_text(args.name, args.protocol, args.upstream, args.listen)
    try:
        config = parse_config(text, "chatcanary proxy")
    except ConfigError as exc:
        for message in exc.messages:
            print(message, file=sys.stderr)
        return 2
    return await _serve(Service(config), args.metrics_listen, args.grace)


YOUNG_PASS_ALLOCATIONS = 50_000


def freeze_heap() -> None:
    """Spare what lives now (modules, config, one task per canary, the app) the cyclic
    collector's full passes, whose pause every run in flight would measure as latency
    (about 70 ms with 10,000 canaries; see docs/BENCHMARKS.md), and make its young passes
    rarer. It lives as long as the process, which the command owns; a library embedding
    Service owns neither."""
    import gc
    import logging

    log = logging.getLogger("exporter")
    gc.collect()
    gc.freeze()
    # A run leaves no cyclic garbage, so a young pass finds nothing to free, yet stops the
    # loop for as long as it walks the streams in flight (about 0.5 µs an object: 13 ms for
    # 200 streams' 26,000). At 700 allocations (the default) 200 streams paid about 35 of
    # them every 5 s, at 10,000 two; at 50,000 none in the window (bench/notes.md, Timing).
    # Cyclic garbage (an error's traceback) waits longer for its pass: 50,000 objects at most.
    gc.set_threshold(YOUNG_PASS_ALLOCATIONS, *gc.get_threshold()[1:])
    log.debug("start-up heap frozen", extra={"objects": gc.get_freeze_count()})


async def cmd_probe(args: argparse.Namespace) -> int:
    import json

    from exporter.result import Outcome

    config = _load(args.config)
    if config is None:
        return 2
    plan = config.plan()
    unknown = [
        f"unknown {what} {name!r}"
        for what, names, known in (
            ("target", args.target, {t.name for t in config.targets}),
            ("canary", args.canary, {c.name for c in config.canaries}),
        )
        for name in names or ()
        if name not in known
    ]
    if unknown:
        print("chatcanary: " + "; ".join(unknown), file=sys.stderr)
        return 2
    specs = [
        spec
        for (target, canary), spec in plan.items()
        if (not args.target or target in args.target) and (not args.canary or canary in args.canary)
    ]
    results = await probe_once(specs, config)
    if args.json:
        print(json.dumps([r.summary() for r in results], indent=2))
    else:
        print(render_table(results))
    return 0 if all(r.outcome is Outcome.SUCCESS for r in results) else 1


async def probe_once(specs: Sequence[RunSpec], config: Config) -> list[ProbeResult]:
    import asyncio

    from exporter import netguard
    from exporter.judges.panel import Panel
    from exporter.runner import http_client, run_canary

    limits = {
        t.name: asyncio.Semaphore(t.concurrency or config.defaults.concurrency)
        for t in config.targets
    }
    policy = netguard.Policy(config.security.allowed_networks)
    panel = Panel(config.judges)  # the judges of rubric checks, on no registry
    async with http_client(policy) as session:

        async def one(spec: RunSpec) -> ProbeResult:
            async with limits[spec.target.name]:
                return await run_canary(session, spec, panel)

        return list(await asyncio.gather(*(one(spec) for spec in specs)))


def render_table(
    results: Sequence[ProbeResult], runs: dict[tuple[str, str], int] | None = None
) -> str:
    """A fixed-width table: one line per run, failures explained at the end of the line."""
    header = ["TARGET", "CANARY", "OUTCOME", "TTFT", "DURATION", "TOKENS", "DETAIL"]
    if runs is not None:
        header.insert(2, "RUNS")
    rows = [header]
    for r in results:
        tokens = f"{r.input_tokens or 0}/{r.output_tokens or 0}"
        detail = (
            f"{r.error_class}: {r.error_detail}"
            if r.error_class
            else ("failed: " + ", ".join(r.failed_checks) if r.failed_checks else "")
        )
        row = [r.target, r.canary, str(r.outcome), _ms(r.ttft_seconds)]
        row += [_ms(r.duration_seconds), tokens, clip(detail, DETAIL_WIDTH)]
        if runs is not None:
            row.insert(2, str(runs.get((r.target, r.canary), 0)))
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1]
        for row in rows
    )


DETAIL_WIDTH = 80  # `--json` and the web page show the whole detail


def clip(text: str, width: int) -> str:
    """One line of at most `width` characters, cut at a word boundary with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    cut = text[: width - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > width // 2 else cut).rstrip(" ,;:(") + "…"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}ms"


def demo_config_text() -> str:
    from importlib import resources

    return resources.files("exporter").joinpath("data/demo.yaml").read_text(encoding="utf-8")


SCRIPTED_HEADING = "# Failing on purpose"


def scripted_failures(config_text: str) -> str:
    """The demo config's comment on which runs fail on purpose, uncommented: printed at
    start-up from the file itself, so the two can never tell different stories."""
    import itertools

    lines = config_text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(SCRIPTED_HEADING)), None)
    if start is None:
        return ""
    block = itertools.takewhile(lambda line: line.startswith("#"), lines[start:])
    return "".join(line.removeprefix("#").removeprefix(" ") + "\n" for line in block)


async def cmd_demo(args: argparse.Namespace) -> int:
    import asyncio
    import tempfile

    from exporter.config import ConfigError, parse_config
    from exporter.service import Service
    from exporter.simulator import Simulator

    loaded, web_config = _load_web(args.web_config)
    if not loaded:
        return 2
    simulator = Simulator(scenario="demo")
    sim_url = await simulator.start("127.0.0.1", 0)
    env = {**os.environ, DEMO_URL_VAR: sim_url}
    text = demo_config_text()
    try:
        config = parse_config(text, "demo.yaml", env)
    except ConfigError as exc:  # the bundled file is tested; this is a packaging bug
        print(exc, file=sys.stderr)
        await simulator.stop()
        return 2
    from exporter.store import locate

    keep = tempfile.TemporaryDirectory(prefix="chatcanary-demo-")  # gone when the demo ends
    service = Service(config, store=locate(config.store, Path(keep.name)))
    summary = asyncio.create_task(_print_summaries(service))
    drift = asyncio.create_task(_drift_later(simulator))

    def announce(url: str) -> None:
        print(
            f"\nchatcanary demo: {len(service.scheduler.keys)} canary runs scheduled\n"
            f"  page       {url}/\n"
            f"  metrics    {url}/metrics\n"
            f"  api        {url}/api/v1/status\n"
            f"  simulator  {sim_url}/v1 (scenario: demo; /_sim/behaviours to script it)\n"
            f"{scripted_failures(text)}"
            "Ctrl-C stops. The latest runs are summarised every 10 s.\n",
            flush=True,
        )

    try:
        return await _serve(
            service,
            args.listen,
            grace=2.0,
            duration=args.duration,
            on_ready=announce,
            web_config=web_config,
        )
    finally:
        summary.cancel()
        drift.cancel()
        await simulator.stop()
        keep.cleanup()


DRIFT_AFTER = 45.0


async def _drift_later(simulator: Simulator) -> None:
    """Rehearse a silent model update: sim-fast starts wording its answers differently,
    which the deterministic `describe` canary counts in chatcanary_answer_changes_total."""
    import asyncio
    from dataclasses import replace

    await asyncio.sleep(DRIFT_AFTER)
    before = simulator.behaviour_for("sim-fast")
    simulator.set_behaviour("sim-fast", replace(before, answer_tokens=before.answer_tokens - 3))
    print(
        "chatcanary demo: sim-fast was silently updated; watch "
        'chatcanary_answer_changes_total{canary="describe"}\n',
        flush=True,
    )


async def _print_summaries(service: Service, every: float = 10.0) -> None:
    import asyncio

    while True:
        await asyncio.sleep(every)
        latest = service.latest
        results = [latest.results[k] for k in sorted(latest.results)]
        if results:
            print(render_table(results, latest.runs) + "\n", flush=True)


async def cmd_compare(args: argparse.Namespace) -> int:
    from exporter.compare.command import main as compare

    return await compare(args)


async def cmd_simulate(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from exporter.simulator import Simulator

    simulator = Simulator(scenario=args.scenario, seed=args.seed, api_key=args.api_key)
    host, port = args.listen
    stop = asyncio.Event()  # handlers before the port opens, as in _serve
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        url = await simulator.start(host, port)
    except OSError as exc:
        print(f"chatcanary: cannot listen on {_url_host(host)}:{port}: {exc}", file=sys.stderr)
        return 2
    print(
        f"simulator ({args.scenario}) — base_url per protocol:\n"
        f"  openai        {url}/v1\n"
        f"  azure_openai  {url}\n"
        f"  anthropic     {url}\n"
        f"  ollama        {url}",
        flush=True,
    )
    await stop.wait()
    await simulator.stop()
    return 0


DB_CURRENT, DB_DUE, DB_UNUSABLE, DB_UNREACHABLE = 0, 1, 2, 3


async def cmd_db(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return DB_UNUSABLE
    location = _store_location(config, args.data_dir)
    if location is None:
        return DB_UNUSABLE
    from exporter.store import SchemaError, Unavailable, engine, migrate
    from exporter.store.errors import classify
    from exporter.store.schema import HEAD

    shown = location.shown()
    if args.action == "check" and location.path is not None and not location.path.exists():
        print(f"{shown}: no database yet; `chatcanary db upgrade` (or `run`) creates it")
        return DB_DUE
    db = engine.Database(location)
    try:
        if args.action == "upgrade":
            before, now = await db.run(migrate.upgrade, shown)
            print(
                f"{shown}: schema {now}" + ("" if before == now else f" (was {before or 'empty'})")
            )
            return DB_CURRENT
        state, revision = await db.run(migrate.state, shown)
        if state is migrate.State.CURRENT:
            print(f"{shown}: schema {revision}, up to date")
            return DB_CURRENT
        print(f"{shown}: schema {revision or 'empty'}, {HEAD} is due: run `chatcanary db upgrade`")
        return DB_DUE
    except Exception as exc:
        error = classify(exc, shown, location.engine)
        print(f"chatcanary: {error}", file=sys.stderr)
        if isinstance(error, SchemaError):
            return DB_UNUSABLE
        assert isinstance(error, Unavailable)
        return DB_UNREACHABLE
    finally:
        await db.dispose()


async def cmd_export(args: argparse.Namespace) -> int:
    import time

    config = _load(args.config)
    if config is None:
        return 2
    location = _store_location(config, args.data_dir)
    if location is None:
        return 2
    if location.path is not None and not location.path.exists():
        print(f"chatcanary: no store at {location.shown()}", file=sys.stderr)
        return 2
    from exporter.store import Store, StoreError, Unavailable, export

    since = None if args.since is None else time.time() - args.since
    store = Store(location, config.store)
    try:
        await store.open(background=False, maintain=False)
        out = (
            sys.stdout
            if args.output is None
            else args.output.open("w", encoding="utf-8", newline="")
        )
        try:
            count = await export.write(store, args.kind, since, args.format, out)
        finally:
            if out is not sys.stdout:
                out.close()
    except StoreError as exc:
        print(f"chatcanary: {exc}", file=sys.stderr)
        return 3 if isinstance(exc, Unavailable) else 2
    except OSError as exc:  # -o FILE cannot be written
        print(f"chatcanary: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    finally:
        await store.close(0)
    print(f"chatcanary: exported {count} {args.kind}", file=sys.stderr)
    return 0


async def cmd_report(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return 2
    location = _store_location(config, args.data_dir)
    if location is None:
        return 2
    if location.path is not None and not location.path.exists():
        print(f"chatcanary: no store at {location.shown()}", file=sys.stderr)
        return 2
    from exporter.report.build import build
    from exporter.report.render import render
    from exporter.store import Store, StoreError, Unavailable

    store = Store(location, config.store)
    try:
        await store.open(background=False, maintain=False)
        report = await build(store, config, args.since, args.prometheus)
    except StoreError as exc:
        print(f"chatcanary: {exc}", file=sys.stderr)
        return 3 if isinstance(exc, Unavailable) else 2
    finally:
        await store.close(0)
    root = None if args.web_url is None else args.web_url.rstrip("/") + "/"
    for notice in report.notices:
        print(f"chatcanary: {notice}", file=sys.stderr)
    try:
        _write(render(report, args.format, root), args.output)
    except OSError as exc:  # -o FILE cannot be written
        print(f"chatcanary: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    print(f"chatcanary: report with {len(report.findings)} findings", file=sys.stderr)
    return 0


# name, help (also the description), implementation, whether it is a coroutine, options
COMMANDS: tuple[
    tuple[str, str, Callable[[argparse.Namespace], Any], bool, Callable[[Any], None]], ...
] = (
    ("run", "Schedule the canaries and serve /metrics.", cmd_run, True, run_options),
    (
        "check",
        "Validate a config file; exit 0 if valid, 1 if not.",
        cmd_check,
        False,
        check_options,
    ),
    ("probe", "Run each selected canary once and report.", cmd_probe, True, probe_options),
    (
        "rules",
        "Print Prometheus rules: for the config's SLOs, or the operational alerts, or the "
        "runbook they link to.",
        cmd_rules,
        False,
        rules_options,
    ),
    (
        "dashboards",
        "Write the Grafana dashboards (JSON) to a directory.",
        cmd_dashboards,
        False,
        dashboards_options,
    ),
    (
        "demo",
        "Run the simulator and the exporter on a bundled config.",
        cmd_demo,
        True,
        demo_options,
    ),
    (
        "db",
        "Check or upgrade the store's schema (exit codes: 0 up to date, 1 a migration is due, "
        "2 config error or a database this version cannot use, 3 unreachable).",
        cmd_db,
        True,
        db_options,
    ),
    (
        "export",
        "Write what the store kept, as JSON lines or CSV.",
        cmd_export,
        True,
        export_options,
    ),
    (
        "report",
        "Write the operator report: findings, per-target figures, model changes, feedback.",
        cmd_report,
        True,
        report_options,
    ),
    (
        "proxy",
        "Forward real traffic to one upstream byte for byte and measure it (docs/proxy.md); "
        "a config's `proxies:` under `run` does the same beside canaries.",
        cmd_proxy,
        True,
        proxy_options,
    ),
    (
        "compare",
        "Run the canaries against two targets and compare them: the rollout gate (exit 0 no "
        "regression, 1 a regression, 2 a usage or config error).",
        cmd_compare,
        True,
        compare_options,
    ),
    ("simulate", "Run the chat simulator alone.", cmd_simulate, True, simulate_options),
)
