"""Where the gateway's time goes: py-spy samples, grouped by layer.

py-spy records collapsed stacks (`frame;frame;... count`, flamegraph.pl's and
speedscope's input) of the gateway process while the bench drives sequential
small echoes through it. Each sample's innermost frame is charged to a layer
(self time), and each layer also gets the share of samples whose stack passes
through it at all (inclusive). Parsing and grouping are pure functions.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.client import echo_frame, open_session
from bench.targets import ROOT, Endpoint

_FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^()]*):\d+\)$")
_SITE = "/site-packages/"
# The target profiled: the gateway as a newcomer runs it (`rungateway`, no flags).
PROFILED = "rungateway"

# (layer, how to recognise its files); the first match wins.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Daphne/Twisted/autobahn",
        (
            f"{_SITE}daphne/",
            f"{_SITE}twisted/",
            f"{_SITE}autobahn/",
            f"{_SITE}txaio/",
        ),
    ),
    ("uvicorn/uvloop", (f"{_SITE}uvicorn/", f"{_SITE}uvloop/")),
    ("Channels/asgiref", (f"{_SITE}channels/", f"{_SITE}asgiref/")),
    ("websockets (upstream leg)", (f"{_SITE}websockets/",)),
    ("Django", (f"{_SITE}django/",)),
    (
        "gateway code",
        (
            f"{ROOT}/realtime/",
            f"{ROOT}/gateway_project/",
            f"{ROOT}/keys/",
        ),
    ),
    ("asyncio event loop", ("/asyncio/",)),
)
OTHER_STDLIB = "other stdlib"
OTHER = "other"
# Innermost frames that mean a thread was waiting, not working: the event
# loop's epoll and the database thread pool's queue. py-spy's own idle filter
# lets some of these through; they are counted apart, not in the shares.
WAITING: tuple[tuple[str, str], ...] = (
    ("EpollSelector.select", "selectors.py"),
    ("_worker", "concurrent/futures/thread.py"),
    ("Condition.wait", "threading.py"),
)


def is_waiting(function: str, path: str) -> bool:
    """Whether an innermost frame is a thread blocked waiting for work."""
    return any(function == f and path.endswith(p) for f, p in WAITING)


def layer_of(path: str) -> str:
    """The layer a source file belongs to."""
    for layer, markers in LAYERS:
        if any(marker in path for marker in markers):
            return layer
    if _SITE not in path and "/lib/python3" in path:
        return OTHER_STDLIB
    return OTHER


def parse_frame(frame: str) -> tuple[str, str]:
    """`function (path:line)` as (function, path); unparsable frames keep a name."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip(), ""
    return match.group("function"), match.group("path")


def parse_collapsed(text: str) -> list[tuple[list[tuple[str, str]], int]]:
    """Collapsed stacks as (frames outermost first, sample count)."""
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        stacks.append(([parse_frame(f) for f in stack.split(";")], int(count)))
    return stacks


# Frames where an event loop or a worker thread calls into a task or job: the
# frames above the innermost of these say what the process was working on.
DISPATCH: tuple[tuple[str, str], ...] = (
    ("Handle._run", "asyncio/events.py"),
    # uvloop runs handles in C: the task's frames sit right under the runner.
    ("Runner.run", "asyncio/runners.py"),
    ("_WorkItem.run", "concurrent/futures/thread.py"),
)


def _above_dispatch(frames: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The frames of the job being run (all but the leaf if none is running)."""
    for index in range(len(frames) - 1, -1, -1):
        function, path = frames[index]
        if any(function == f and path.endswith(p) for f, p in DISPATCH):
            return frames[index + 1 :]
    return frames[-1:]


# Call paths worth naming: (label, function or path suffix any job frame has).
HOTSPOTS: tuple[tuple[str, str], ...] = (
    ("uvicorn's WebSocket protocol (client leg)", "uvicorn/protocols/websockets/"),
    ("the ASGI application (Channels' routing down)", "asgiref/"),
    ("Twisted's socket send/recv (client leg syscalls)", "untilConcludes"),
    ("asyncio socket write (upstream leg syscall)", "_SelectorSocketTransport.write"),
    ("autobahn frame parsing (processData)", "WebSocketProtocol.processData"),
    ("autobahn frame sending (sendMessage)", "WebSocketProtocol.sendMessage"),
    ("autobahn debug-log arguments built per frame, debug off", "autobahn/util.py"),
    ("websockets upstream send (Connection.send)", "Connection.send"),
    ("websockets masking key per frame (secrets.token_bytes)", "token_bytes"),
    ("Django ORM / database", "django/db/"),
)


def _matches(marker: str, function: str, path: str) -> bool:
    return function == marker or marker in path


def _label(function: str, path: str) -> str:
    return f"{function} ({Path(path).name})" if path else function


@dataclass(frozen=True, slots=True)
class Breakdown:
    """Shares (0..1) of the working samples, by layer and by function."""

    samples: int  # working samples (the shares are of these)
    waiting: int  # samples blocked in epoll or an idle worker, left out
    self_by_layer: list[tuple[str, float]]
    inclusive_by_layer: list[tuple[str, float]]
    top_self: list[tuple[str, str, float]]  # function, layer, share
    top_inclusive: list[tuple[str, str, float]]
    hotspots: list[tuple[str, float]]  # HOTSPOTS label, inclusive share


def breakdown(text: str, *, top: int = 20) -> Breakdown:
    """Group collapsed stacks by layer and function, self and inclusive.

    Self: the sample's innermost frame. Inclusive: anywhere in the job the loop
    (or a worker thread) was running, so the frames every stack shares (the
    command, the reactor, the loop) do not count as 100 %.
    """
    stacks = parse_collapsed(text)
    waiting = sum(count for frames, count in stacks if is_waiting(*frames[-1]))
    stacks = [(f, count) for f, count in stacks if not is_waiting(*f[-1])]
    total = sum(count for _, count in stacks)
    self_layers: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    self_functions: Counter[tuple[str, str]] = Counter()
    functions: Counter[tuple[str, str]] = Counter()
    hot: Counter[str] = Counter()
    for frames, count in stacks:
        leaf_function, leaf_path = frames[-1]
        self_layers[layer_of(leaf_path)] += count
        self_functions[(_label(leaf_function, leaf_path), layer_of(leaf_path))] += count
        job = _above_dispatch(frames)
        for layer in {layer_of(path) for _, path in job}:
            layers[layer] += count
        for key in {(_label(f, p), layer_of(p)) for f, p in job}:
            functions[key] += count
        for label, marker in HOTSPOTS:
            if any(_matches(marker, f, p) for f, p in job):
                hot[label] += count

    def shares(counter: Counter) -> list:
        return [(key, n / total) for key, n in counter.most_common()]

    def named(counter: Counter) -> list[tuple[str, str, float]]:
        return [
            (name, layer, n / total) for (name, layer), n in counter.most_common(top)
        ]

    return Breakdown(
        samples=total,
        waiting=waiting,
        self_by_layer=shares(self_layers),
        inclusive_by_layer=shares(layers),
        top_self=named(self_functions),
        top_inclusive=named(functions),
        hotspots=[
            (label, hot[label] / total if total else 0.0) for label, _ in HOTSPOTS
        ],
    )


def py_spy() -> str | None:
    """The py-spy executable beside this interpreter, or on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


async def record(
    endpoint: Endpoint, *, seconds: float, out: Path, size: int = 200
) -> str:
    """Sample the endpoint's process while echoing small frames; collapsed stacks."""
    executable = py_spy()
    if executable is None:
        raise FileNotFoundError("py-spy is not installed")
    process = await asyncio.create_subprocess_exec(
        executable,
        "record",
        "--pid",
        str(endpoint.pid),
        "--duration",
        str(int(seconds)),
        "--rate",
        "200",
        "--format",
        "raw",
        "--full-filenames",
        "-o",
        str(out),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    frame = echo_frame(size)
    ws, _created = await open_session(endpoint)
    try:
        async with asyncio.timeout(seconds + 30):
            while process.returncode is None:
                await ws.send(frame)
                await ws.recv()
                if process.stderr.at_eof():
                    break
            _, errors = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await ws.close()
    if process.returncode != 0 or not out.exists():
        raise RuntimeError(f"py-spy failed: {errors.decode(errors='replace')[-300:]}")
    return out.read_text()
