"""``python -m console draw``: a double-random inspection draw (双随机) and its verification.

``draw --plan PLAN.json`` loads the enterprise register and the inspector pool from the
store's world, runs the draw (``console.core.draw``), writes the record JSON and optionally a
printable Chinese summary, and prints a JSON summary. ``draw --verify RECORD.json`` re-runs a
record against the store and exits 0 when it is reproduced exactly, 1 when it differs (the
differences are printed), 2 on bad input. Exit 1 from a draw means the constraints cannot be
met. Creating inspection tasks from a draw is not done here (dispatch integration).
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from pathlib import Path
from typing import Any

from console.core.draw import (
    DrawError,
    DrawPlan,
    DrawRecord,
    InfeasibleDrawError,
    run_draw,
    verify,
)
from console.core.model import World
from console.core.paths import data_dir, default_db_url


def add_arguments(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--plan", metavar="FILE.json", help="draw plan to run (docs/draw.md)")
    mode.add_argument("--verify", metavar="RECORD.json", help="re-run a draw record and compare")
    parser.add_argument("--db", help="database URL (default: SQLite file in the user data dir)")
    parser.add_argument(
        "--out",
        metavar="RECORD.json",
        help="where to write the record (default: draws/<digest>.json in the user data dir)",
    )
    parser.add_argument(
        "--previous",
        metavar="RECORD.json",
        help="last draw's record: its inspectors may not go to the same enterprise again",
    )
    parser.add_argument(
        "--printable", metavar="FILE.html|FILE.txt", help="also write a printable summary"
    )


def run(args: argparse.Namespace) -> int:
    if args.verify is not None:
        return _verify(args)
    if args.printable is not None and Path(args.printable).suffix.lower() not in (".html", ".txt"):
        return _bad_input("--printable must name a .html or .txt file")
    return _draw(args)


def _draw(args: argparse.Namespace) -> int:
    try:
        plan = DrawPlan.from_json(_read_json(args.plan))
        if args.previous is not None:
            plan = plan.with_previous(DrawRecord.from_json(_read_json(args.previous)).assignments())
    except DrawError as exc:
        return _bad_input(str(exc))
    world = _load_world(args.db)
    if world is None:
        return 2
    try:
        record = run_draw(plan, world.enterprises, world.officers)
    except InfeasibleDrawError as exc:
        print(
            json.dumps(
                {"error": "infeasible", "enterprise_id": exc.enterprise_id, "message": str(exc)},
                ensure_ascii=False,
            )
        )
        print(f"draw: {exc}", file=sys.stderr)
        return 1
    except DrawError as exc:
        return _bad_input(str(exc))
    out = Path(args.out) if args.out else data_dir() / "draws" / f"{record.record_digest}.json"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps(record.to_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        if args.printable is not None:
            Path(args.printable).write_text(printable(record, world, args.printable), "utf-8")
    except OSError as exc:
        return _bad_input(f"cannot write the record: {exc}")
    summary: dict[str, Any] = {
        "record": str(out),
        "plan": record.plan.name,
        "seed": record.seed,
        "seed_generated": record.seed_generated,
        "algorithm": record.algorithm,
        "register": {"sha256": record.register_digest, "size": record.register_size},
        "pool": {"sha256": record.pool_digest, "size": record.pool_size},
        "categories": [outcome.to_json() for outcome in record.categories],
        "selected": len(record.selections),
        "record_digest": record.record_digest,
    }
    if args.printable is not None:
        summary["printable"] = args.printable
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def _verify(args: argparse.Namespace) -> int:
    try:
        record = DrawRecord.from_json(_read_json(args.verify))
    except DrawError as exc:
        return _bad_input(str(exc))
    world = _load_world(args.db)
    if world is None:
        return 2
    try:
        result = verify(record, world.enterprises, world.officers)
    except DrawError as exc:
        return _bad_input(str(exc))
    print(
        json.dumps(
            {
                "record": args.verify,
                "equal": result.equal,
                "record_digest": record.record_digest,
                "differences": [difference.to_json() for difference in result.differences],
            },
            ensure_ascii=False,
        )
    )
    return 0 if result.equal else 1


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8-sig") as stream:
            return json.load(stream)
    except (OSError, UnicodeDecodeError) as exc:
        raise DrawError(f"cannot read {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise DrawError(f"{path} is not valid JSON: {exc}") from exc


def _load_world(url: str | None) -> World | None:
    """The stored world, or None after printing why it could not be loaded."""
    # Imported here so that a bad plan is reported without loading SQLAlchemy.
    from console.store import Store, StoreError

    try:
        store = Store.open(url or default_db_url())
        try:
            return store.load_world()
        finally:
            store.close()
    except StoreError as exc:
        _bad_input(str(exc))
        return None


def _bad_input(message: str) -> int:
    print(f"draw: {message}", file=sys.stderr)
    return 2


# -- printable summary --------------------------------------------------------------------------


def printable(record: DrawRecord, world: World, path: str) -> str:
    """The published table (抽查企业, 执法人员, 随机种子, 摘要) as HTML or plain text by suffix."""
    districts = {d.adcode: d.name for d in world.districts}
    rows = [
        (
            str(number),
            selection.enterprise_name,
            districts.get(selection.district_adcode, selection.district_adcode),
            selection.category,
            "、".join(f"{i.name}（{i.badge_no}）" for i in selection.inspectors),
        )
        for number, selection in enumerate(record.selections, start=1)
    ]
    facts = [
        ("抽查计划", record.plan.name),
        ("随机种子", record.seed + ("（系统生成）" if record.seed_generated else "")),
        ("算法", record.algorithm),
        ("企业名录摘要", f"{record.register_digest}（{record.register_size} 家）"),
        ("执法人员库摘要", f"{record.pool_digest}（{record.pool_size} 人）"),
        ("摘要", record.record_digest),
        ("生成时间", record.created_at),
    ]
    header = ("序号", "抽查企业", "区县", "类别", "执法人员")
    if Path(path).suffix.lower() == ".txt":
        lines = [f"双随机抽查结果：{record.plan.name}", ""]
        lines += ["\t".join(header), *("\t".join(row) for row in rows), ""]
        lines += [f"{label}：{value}" for label, value in facts]
        return "\n".join(lines) + "\n"
    esc = html.escape
    body_rows = "\n".join(
        "<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    fact_rows = "\n".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts)
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>双随机抽查结果 {esc(record.plan.name)}</title>
<style>body{{font-family:"Noto Sans CJK SC",sans-serif}}table{{border-collapse:collapse}}
td,th{{border:1px solid #444;padding:2px 6px;text-align:left}}</style></head>
<body><h1>双随机抽查结果：{esc(record.plan.name)}</h1>
<table><thead><tr>{"".join(f"<th>{esc(h)}</th>" for h in header)}</tr></thead>
<tbody>
{body_rows}
</tbody></table>
<h2>公开信息</h2><table>
{fact_rows}
</table></body></html>
"""
