"""docs/protocol.md stays complete: every method, event topic and field message is documented.

Conventions checked (see the top of docs/protocol.md): a console method has a
``### `name``` heading in the "Console link methods" section; an event topic is a
backticked first cell of a table row in the "Events" section; a field message type is a
backticked first cell of a table row in the "Field link" section.
"""

from __future__ import annotations

import ast
import re
import typing
from pathlib import Path

import console.hub.server  # noqa: F401  (imports every method module, so all register)
from console.hub.call_signalling import DEVICE_CALL_TYPES
from console.hub.field_link import FIELD_HANDLERS
from console.hub.field_protocol import DEVICE_MESSAGE_TYPES
from console.hub.registry import REGISTRY
from console.monitoring.alarms import AlarmEvent

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "protocol.md"
HUB_SOURCES = sorted((ROOT / "console" / "hub").glob("*.py"))

# Publish sites whose topic is not a constant, and where their topics are declared.
DYNAMIC_TOPICS: dict[tuple[str, str], frozenset[str]] = {
    ("monitoring_service.py", "event.topic"): frozenset(
        typing.get_args(typing.get_type_hints(AlarmEvent)["topic"])
    ),
}


def _sections() -> dict[str, str]:
    """Level-2 sections of the doc by title (without their number)."""
    parts = re.split(r"^## +(?:\d+\. +)?(.+)$", DOC.read_text(encoding="utf-8"), flags=re.M)
    return {title.strip(): body for title, body in zip(parts[1::2], parts[2::2], strict=True)}


def _headings(text: str) -> set[str]:
    return set(re.findall(r"^### +`([^`]+)`", text, flags=re.M))


def _table_names(text: str) -> set[str]:
    return set(re.findall(r"^\| *`([^`]+)` *\|", text, flags=re.M))


def _string_constants() -> dict[str, str]:
    """Module-level ``NAME = "literal"`` of the hub sources (topic constants live there)."""
    constants: dict[str, str] = {}
    for path in HUB_SOURCES:
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        constants[target.id] = node.value.value
    return constants


def _topic_sinks(trees: dict[str, ast.Module]) -> dict[str, int]:
    """Functions that take a topic, with its positional index: ``publish`` and every helper
    that passes its own ``topic`` parameter on to a sink (``publish_task`` ...)."""
    sinks = {"publish": 0, "BusEvent": 0}
    changed = True
    while changed:
        changed = False
        for tree in trees.values():
            for func in ast.walk(tree):
                if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                names = [a.arg for a in func.args.args]
                if func.name in sinks or "topic" not in names:
                    continue
                if any(
                    _topic_argument(call, sinks) == "topic"
                    for call in ast.walk(func)
                    if isinstance(call, ast.Call)
                ):
                    offset = 1 if names and names[0] in ("self", "cls") else 0
                    sinks[func.name] = names.index("topic") - offset
                    changed = True
    return sinks


def _callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _topic_argument(call: ast.Call, sinks: dict[str, int]) -> str | None:
    """Source text of the topic argument of a call to a sink, else None."""
    index = sinks.get(_callee(call) or "")
    if index is None:
        return None
    for keyword in call.keywords:
        if keyword.arg == "topic":
            return ast.unparse(keyword.value)
    return ast.unparse(call.args[index]) if len(call.args) > index else None


def published_topics() -> set[str]:
    """Every topic the hub's sources publish, resolved through constants; fails on unknowns."""
    trees = {p.name: ast.parse(p.read_text(encoding="utf-8")) for p in HUB_SOURCES}
    sinks = _topic_sinks(trees)
    constants = _string_constants()
    topics: set[str] = set()
    unresolved: list[str] = []
    for name, tree in trees.items():
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            forwarding = func.name in sinks
            for call in ast.walk(func):
                if not isinstance(call, ast.Call):
                    continue
                argument = _topic_argument(call, sinks)
                if argument is None or (forwarding and argument == "topic"):
                    continue
                literal = re.fullmatch(r"""(['"])([a-z0-9_.]+)\1""", argument)
                if literal:
                    topics.add(literal.group(2))
                elif argument in constants:
                    topics.add(constants[argument])
                elif (name, argument) in DYNAMIC_TOPICS:
                    topics |= DYNAMIC_TOPICS[(name, argument)]
                else:
                    unresolved.append(f"{name}:{call.lineno}: {argument}")
    assert not unresolved, f"publish sites with a topic this test cannot resolve: {unresolved}"
    return topics


def hub_to_device_types() -> set[str]:
    """``{"type": …}`` dict literals the field link, procedure and call relay send."""
    constants = _string_constants()
    found: set[str] = set()
    for name in ("field_link.py", "procedure.py", "call_signalling.py"):
        tree = ast.parse((ROOT / "console" / "hub" / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Dict):
                continue
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "type":
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        found.add(value.value)
                    elif isinstance(value, ast.Name) and value.id in constants:
                        found.add(constants[value.id])
    return found


def test_doc_declares_the_protocol_version() -> None:
    from console.hub.field_protocol import FIELD_PROTOCOL_VERSION
    from console.hub.protocol import PROTOCOL_VERSION

    assert PROTOCOL_VERSION == FIELD_PROTOCOL_VERSION == 1
    assert f"**Protocol version {PROTOCOL_VERSION}**" in DOC.read_text(encoding="utf-8")


def test_every_registered_method_has_a_heading() -> None:
    names = set(REGISTRY._methods)
    assert len(names) > 50, "the hub's method modules did not register"
    documented = _headings(_sections()["Console link methods"])
    missing = sorted(names - documented)
    assert not missing, f"methods missing from docs/protocol.md (### `name`): {missing}"
    stale = sorted(documented - names)
    assert not stale, f"docs/protocol.md documents methods the hub does not have: {stale}"


def test_every_published_topic_is_in_the_events_tables() -> None:
    topics = published_topics()
    assert {"task.updated", "monitoring.data", "alarm.raised", "seats.changed"} <= topics
    documented = _table_names(_sections()["Events"])
    missing = sorted(topics - documented)
    assert not missing, f"event topics missing from docs/protocol.md (Events): {missing}"


def test_every_field_message_type_is_documented() -> None:
    device_types = DEVICE_MESSAGE_TYPES | DEVICE_CALL_TYPES | set(FIELD_HANDLERS)
    hub_types = hub_to_device_types()
    assert {"welcome", "upload.done", "procedure.state", "call.incoming"} <= hub_types
    documented = _table_names(_sections()["Field link (`/ws/field`)"])
    missing = sorted((device_types | hub_types) - documented)
    assert not missing, f"field messages missing from docs/protocol.md (Field link): {missing}"
