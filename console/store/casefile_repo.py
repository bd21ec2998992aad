"""Case files of the on-site procedure: checklist versions, step records and their hash chain.

Every change to a case file happens in one transaction that also appends its chain entries
(step record, each linked attachment with its SHA-256, the seal), so the readable tables and
the chain never disagree unless someone edits the database behind the hub's back - which is
what :meth:`CasefileRepo.verify` finds and names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from console.core.evidence import (
    ChainEntry,
    Problem,
    append,
    canonical_json,
    diff_paths,
    latest_by,
    verify_chain,
)
from console.core.procedure import (
    STEP_ORDER,
    CaseSealed,
    ChecklistItem,
    ChecklistTemplate,
    InspectionType,
    Progress,
    Step,
    StepRecord,
    StepStatus,
    advance,
    default_checklists,
    validate_template_items,
)
from console.store import Store
from console.store.errors import StoreError
from console.store.schema_casefile import (
    CaseAttachmentRow,
    CaseChainRow,
    CaseFileRow,
    CaseStepRow,
    ChecklistTemplateRow,
)
from console.store.schema_field import AttachmentRow

T = TypeVar("T")

SYSTEM_USER = "system"


class UnknownCaseError(StoreError):
    """No case file with that id or task id."""


@dataclass(frozen=True, slots=True)
class AttachmentLink:
    """An attachment to link to a case step, with the SHA-256 the hub verified."""

    attachment_id: str
    step: Step
    item_id: str | None
    sha256: str


@dataclass(frozen=True, slots=True)
class CaseFile:
    id: str
    task_id: str
    district_adcode: str | None
    enterprise_id: str | None
    template: ChecklistTemplate
    setup: Mapping[str, Any]
    progress: Progress
    data: Mapping[str, Mapping[str, Any]]
    officers_by_step: Mapping[str, str | None]
    attachments: Sequence[Mapping[str, Any]]
    chain_head: str
    chain_length: int
    sealed_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        """The full case file as ``case.get`` returns it."""
        current = self.progress.current_step
        return {
            "case_id": self.id,
            "task_id": self.task_id,
            "district_adcode": self.district_adcode,
            "enterprise_id": self.enterprise_id,
            **self.setup,
            "template": self.template.to_json(),
            "started_at": self.progress.started_at.isoformat(),
            "current_step": None if current is None else str(current),
            "steps": [
                {
                    **record.to_json(),
                    "officer_id": self.officers_by_step.get(str(record.step)),
                    "data": dict(self.data.get(str(record.step), {})),
                }
                for record in self.progress.steps
            ],
            "step_times": self.progress.step_times(),
            "attachments": [dict(a) for a in self.attachments],
            "chain": {"head": self.chain_head, "length": self.chain_length},
            "sealed": self.sealed_at is not None,
            "sealed_at": None if self.sealed_at is None else self.sealed_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class VerifyReport:
    case_id: str
    task_id: str
    district_adcode: str | None
    head: str
    entries: int
    attachments: int
    sealed: bool
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "task_id": self.task_id,
            "ok": self.ok,
            "sealed": self.sealed,
            "head": self.head,
            "entries": self.entries,
            "attachments": self.attachments,
            "problems": [p.to_json() for p in self.problems],
        }


def stored_file_sha256(folder: Path, sha256: str) -> str | None:
    """SHA-256 of the file the hub filed under ``sha256`` in ``folder`` (None if missing).

    Attachments are content-addressed: ``<folder>/<first two hex digits>/<sha256>``.
    """
    path = folder / sha256[:2] / sha256
    try:
        with path.open("rb") as source:
            digest = hashlib.sha256()
            for block in iter(lambda: source.read(1 << 20), b""):
                digest.update(block)
            return digest.hexdigest()
    except FileNotFoundError:
        return None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _loads(text: str) -> Any:
    return json.loads(text)


def _dumps(value: Any) -> str:
    return canonical_json(value).decode("utf-8")


def _template(row: ChecklistTemplateRow) -> ChecklistTemplate:
    items = tuple(
        ChecklistItem(i["id"], i["text"], i["legal_basis"], bool(i["requires_photo"]))
        for i in _loads(row.items)
    )
    return ChecklistTemplate(row.industry, InspectionType(row.inspection_type), row.version, items)


def _entry(row: CaseChainRow) -> ChainEntry:
    return ChainEntry(row.seq, row.kind, row.at, _loads(row.body), row.prev_hash, row.entry_hash)


def _step_body(row: CaseStepRow) -> dict[str, Any]:
    """What a step entry of the chain records: the step row as the hub wrote it."""
    return {
        "step": row.step,
        "status": row.status,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "reason": row.reason,
        "officer_id": row.officer_id,
        "data": _loads(row.data),
    }


def _link_body(row: CaseAttachmentRow) -> dict[str, Any]:
    return {
        "attachment_id": row.attachment_id,
        "step": row.step,
        "item_id": row.item_id,
        "sha256": row.sha256,
    }


class CasefileRepo:
    """Case-file queries on one store; each method is one transaction."""

    def __init__(self, store: Store) -> None:
        self._sessions = sessionmaker(store.engine, expire_on_commit=False)

    def _read(self, query: Callable[[Session], T]) -> T:
        with self._sessions() as session:
            return query(session)

    # -- checklist templates ----------------------------------------------------------------

    def ensure_default_templates(self, now: datetime) -> int:
        """Store version 1 of each built-in checklist that is missing; how many were added."""
        added = 0
        with self._sessions.begin() as session:
            present = set(session.scalars(select(ChecklistTemplateRow.id)))
            for template in default_checklists():
                if template.id not in present:
                    session.add(self._template_row(template, now, SYSTEM_USER))
                    added += 1
        return added

    @staticmethod
    def _template_row(template: ChecklistTemplate, now: datetime, by: str) -> ChecklistTemplateRow:
        return ChecklistTemplateRow(
            id=template.id,
            industry=template.industry,
            inspection_type=str(template.inspection_type),
            version=template.version,
            items=_dumps([item.to_json() for item in template.items]),
            created_at=now,
            created_by=by,
        )

    def list_templates(self) -> list[ChecklistTemplate]:
        """Every version of every checklist, by industry, type and version."""
        return self._read(
            lambda session: [
                _template(row)
                for row in session.scalars(
                    select(ChecklistTemplateRow).order_by(
                        ChecklistTemplateRow.industry,
                        ChecklistTemplateRow.inspection_type,
                        ChecklistTemplateRow.version,
                    )
                )
            ]
        )

    def latest_template(self, industry: str, inspection_type: InspectionType) -> ChecklistTemplate:
        def query(session: Session) -> ChecklistTemplate:
            row = session.scalars(
                select(ChecklistTemplateRow)
                .where(
                    ChecklistTemplateRow.industry == industry,
                    ChecklistTemplateRow.inspection_type == str(inspection_type),
                )
                .order_by(ChecklistTemplateRow.version.desc())
            ).first()
            if row is None:
                raise StoreError(f"no checklist for {industry} / {inspection_type}")
            return _template(row)

        return self._read(query)

    def save_template(
        self,
        industry: str,
        inspection_type: InspectionType,
        items: Sequence[ChecklistItem],
        now: datetime,
        by: str,
    ) -> ChecklistTemplate:
        """A new version after the newest; old versions stay (cases keep theirs)."""
        validate_template_items(items)
        for _attempt in range(3):
            try:
                with self._sessions.begin() as session:
                    newest = session.scalar(
                        select(func.max(ChecklistTemplateRow.version)).where(
                            ChecklistTemplateRow.industry == industry,
                            ChecklistTemplateRow.inspection_type == str(inspection_type),
                        )
                    )
                    template = ChecklistTemplate(
                        industry, inspection_type, int(newest or 0) + 1, tuple(items)
                    )
                    session.add(self._template_row(template, now, by))
                return template
            except IntegrityError:
                continue  # another admin saved the same version first; take the next one
        raise StoreError(f"could not save a new {industry}/{inspection_type} checklist version")

    # -- case files -------------------------------------------------------------------------

    def open_case(
        self,
        case_id: str,
        task_id: str,
        district_adcode: str | None,
        enterprise_id: str | None,
        template: ChecklistTemplate,
        setup: Mapping[str, Any],
        started_at: datetime,
    ) -> CaseFile:
        """The task's case file, created on first call (a second device gets the same one)."""
        try:
            with self._sessions.begin() as session:
                existing = session.scalars(
                    select(CaseFileRow).where(CaseFileRow.task_id == task_id)
                ).first()
                if existing is not None:
                    return self._case(session, existing)
                opened = append(
                    None,
                    "open",
                    started_at.isoformat(),
                    {
                        "case_id": case_id,
                        "task_id": task_id,
                        "checklist_template_id": template.id,
                        "setup": dict(setup),
                    },
                )
                row = CaseFileRow(
                    id=case_id,
                    task_id=task_id,
                    district_adcode=district_adcode,
                    enterprise_id=enterprise_id,
                    checklist_template_id=template.id,
                    setup=_dumps(dict(setup)),
                    started_at=started_at,
                    sealed_at=None,
                    chain_head=opened.entry_hash,
                )
                session.add(row)
                session.add(self._chain_row(case_id, opened))
                for step in STEP_ORDER:
                    session.add(
                        CaseStepRow(
                            case_id=case_id, step=str(step), status="pending", data=_dumps({})
                        )
                    )
                session.flush()
                return self._case(session, row)
        except IntegrityError:
            found = self.get_case(task_id=task_id)  # another device opened it at the same time
            if found is None:
                raise
            return found

    @staticmethod
    def _chain_row(case_id: str, entry: ChainEntry) -> CaseChainRow:
        return CaseChainRow(
            case_id=case_id,
            seq=entry.seq,
            kind=entry.kind,
            at=entry.at,
            body=_dumps(dict(entry.body)),
            prev_hash=entry.prev_hash,
            entry_hash=entry.entry_hash,
        )

    def _row(self, session: Session, case_id: str | None, task_id: str | None) -> CaseFileRow:
        query = select(CaseFileRow)
        query = (
            query.where(CaseFileRow.id == case_id)
            if case_id is not None
            else query.where(CaseFileRow.task_id == task_id)
        )
        row = session.scalars(query).first()
        if row is None:
            raise UnknownCaseError(f"no case file for {case_id or task_id!r}")
        return row

    def get_case(self, case_id: str | None = None, task_id: str | None = None) -> CaseFile | None:
        if (case_id is None) == (task_id is None):
            raise ValueError("get_case needs exactly one of case_id or task_id")

        def query(session: Session) -> CaseFile | None:
            try:
                return self._case(session, self._row(session, case_id, task_id))
            except UnknownCaseError:
                return None

        return self._read(query)

    def active_cases(self) -> list[CaseFile]:
        """Unsealed case files, oldest first (the console's procedures panel)."""

        def query(session: Session) -> list[CaseFile]:
            rows = session.scalars(
                select(CaseFileRow)
                .where(CaseFileRow.sealed_at.is_(None))
                .order_by(CaseFileRow.started_at, CaseFileRow.id)
            )
            return [self._case(session, row) for row in rows]

        return self._read(query)

    def _case(self, session: Session, row: CaseFileRow) -> CaseFile:
        template_row = session.get(ChecklistTemplateRow, row.checklist_template_id)
        if template_row is None:
            raise StoreError(f"case {row.id}: checklist {row.checklist_template_id} is gone")
        steps = {
            s.step: s
            for s in session.scalars(select(CaseStepRow).where(CaseStepRow.case_id == row.id))
        }
        records = []
        for step in STEP_ORDER:
            s = steps.get(str(step))
            records.append(
                StepRecord(step)
                if s is None
                else StepRecord(
                    step,
                    StepStatus(s.status),
                    _parse(s.started_at),
                    _parse(s.finished_at),
                    s.reason,
                )
            )
        links = session.scalars(
            select(CaseAttachmentRow)
            .where(CaseAttachmentRow.case_id == row.id)
            .order_by(CaseAttachmentRow.step, CaseAttachmentRow.attachment_id)
        ).all()
        files = {
            a.id: a
            for a in session.scalars(
                select(AttachmentRow).where(
                    AttachmentRow.id.in_([link.attachment_id for link in links])
                )
            )
        }
        attachments = []
        for link in links:
            stored = files.get(link.attachment_id)
            attachments.append(
                {
                    **_link_body(link),
                    "kind": None if stored is None else stored.kind,
                    "mime": None if stored is None else stored.mime,
                    "size": None if stored is None else stored.size,
                }
            )
        length = session.scalar(
            select(func.count()).select_from(CaseChainRow).where(CaseChainRow.case_id == row.id)
        )
        sealed_at = None if row.sealed_at is None else _aware(row.sealed_at)
        return CaseFile(
            id=row.id,
            task_id=row.task_id,
            district_adcode=row.district_adcode,
            enterprise_id=row.enterprise_id,
            template=_template(template_row),
            setup=_loads(row.setup),
            progress=Progress(_aware(row.started_at), tuple(records), sealed_at is not None),
            data={name: _loads(s.data) for name, s in steps.items()},
            officers_by_step={name: s.officer_id for name, s in steps.items()},
            attachments=attachments,
            chain_head=row.chain_head,
            chain_length=int(length or 0),
            sealed_at=sealed_at,
        )

    def record_step(
        self,
        case_id: str,
        step: Step,
        data: Mapping[str, Any],
        officer_id: str,
        at: datetime,
        *,
        skip_reason: str | None = None,
        links: Iterable[AttachmentLink] = (),
    ) -> CaseFile:
        """Apply the procedure rules, store the step and append it (and its files) to the chain.

        Raises the core's ProcedureError subclasses (out of order, skip without reason, sealed)
        with nothing written.
        """
        with self._sessions.begin() as session:
            row = session.get(CaseFileRow, case_id, with_for_update=True)
            if row is None:
                raise UnknownCaseError(f"no case file {case_id!r}")
            if row.sealed_at is not None:
                raise CaseSealed("the case file is sealed: no more changes")
            case = self._case(session, row)
            progress = advance(case.progress, step, at, skip_reason=skip_reason)
            record = progress.record(step)
            head = _entry(
                session.scalars(
                    select(CaseChainRow)
                    .where(CaseChainRow.case_id == case_id)
                    .order_by(CaseChainRow.seq.desc())
                    .limit(1)
                ).one()
            )
            stamp = at.isoformat()
            for link in links:
                existing = session.get(CaseAttachmentRow, (case_id, link.attachment_id))
                if existing is not None:
                    continue
                link_row = CaseAttachmentRow(
                    case_id=case_id,
                    attachment_id=link.attachment_id,
                    step=str(link.step),
                    item_id=link.item_id,
                    sha256=link.sha256,
                )
                session.add(link_row)
                head = append(head, "attachment", stamp, _link_body(link_row))
                session.add(self._chain_row(case_id, head))
            step_row = session.get(CaseStepRow, (case_id, str(step)))
            if step_row is None:
                raise StoreError(f"case {case_id}: step row {step} is missing")
            step_row.status = str(record.status)
            step_row.started_at = _iso(record.started_at)
            step_row.finished_at = _iso(record.finished_at)
            step_row.reason = record.reason
            step_row.officer_id = officer_id
            step_row.data = _dumps(dict(data))
            head = append(head, "step", stamp, _step_body(step_row))
            session.add(self._chain_row(case_id, head))
            if progress.sealed:
                head = append(head, "seal", stamp, {"case_id": case_id, "sealed_at": stamp})
                session.add(self._chain_row(case_id, head))
                row.sealed_at = at
            row.chain_head = head.entry_hash
            session.flush()
            return self._case(session, row)

    # -- verification -----------------------------------------------------------------------

    def verify(
        self,
        case_ref: str,
        file_sha256: Callable[[str], str | None],
    ) -> VerifyReport:
        """Re-check the chain, the rows against it and every attachment file.

        ``case_ref`` is a case id or a task id; ``file_sha256(sha256)`` rehashes the stored file
        the hub filed under that digest (None when it is missing), e.g. ``stored_file_sha256``
        on the attachments folder. The ``verify-case`` command and the hub's ``case.verify``
        both call this.
        """

        def query(session: Session) -> VerifyReport:
            row = session.get(CaseFileRow, case_ref)
            if row is None:
                row = self._row(session, None, case_ref)
            entries = [
                _entry(r)
                for r in session.scalars(
                    select(CaseChainRow)
                    .where(CaseChainRow.case_id == row.id)
                    .order_by(CaseChainRow.seq)
                )
            ]
            problems = verify_chain(entries, row.chain_head)
            problems += self._check_rows(session, row, entries)
            links = list(
                session.scalars(
                    select(CaseAttachmentRow).where(CaseAttachmentRow.case_id == row.id)
                )
            )
            problems += self._check_files(session, entries, links, file_sha256)
            return VerifyReport(
                case_id=row.id,
                task_id=row.task_id,
                district_adcode=row.district_adcode,
                head=row.chain_head,
                entries=len(entries),
                attachments=len(links),
                sealed=row.sealed_at is not None,
                problems=problems,
            )

        return self._read(query)

    def _check_rows(
        self, session: Session, row: CaseFileRow, entries: list[ChainEntry]
    ) -> list[Problem]:
        problems: list[Problem] = []
        opened = entries[0].body if entries and entries[0].kind == "open" else None
        if opened is None:
            problems.append(Problem("case file", "open", "the chain has no opening entry"))
        else:
            now = {
                "case_id": row.id,
                "task_id": row.task_id,
                "checklist_template_id": row.checklist_template_id,
                "setup": _loads(row.setup),
            }
            problems += [
                Problem(f"case_files {row.id}", path, "differs from the chain's opening entry")
                for path in diff_paths(dict(opened), now)
            ]
        recorded = latest_by(entries, "step", "step")
        for step_row in session.scalars(select(CaseStepRow).where(CaseStepRow.case_id == row.id)):
            where = f"case_steps {step_row.step}"
            entry = recorded.get(step_row.step)
            if entry is None:
                if step_row.status != "pending" or _loads(step_row.data):
                    problems.append(Problem(where, "status", "recorded but not in the chain"))
                continue
            problems += [
                Problem(where, path, f"differs from chain entry {entry.seq}")
                for path in diff_paths(dict(entry.body), _step_body(step_row))
            ]
        sealed = [e for e in entries if e.kind == "seal"]
        if row.sealed_at is None and sealed:
            problems.append(Problem(f"case_files {row.id}", "sealed_at", "seal removed"))
        if row.sealed_at is not None and not sealed:
            problems.append(Problem(f"case_files {row.id}", "sealed_at", "not sealed in chain"))
        return problems

    def _check_files(
        self,
        session: Session,
        entries: list[ChainEntry],
        links: list[CaseAttachmentRow],
        file_sha256: Callable[[str], str | None],
    ) -> list[Problem]:
        problems: list[Problem] = []
        recorded = latest_by(entries, "attachment", "attachment_id")
        for link in links:
            where = f"attachment {link.attachment_id}"
            entry = recorded.get(link.attachment_id)
            if entry is None:
                problems.append(Problem(where, "link", "linked but not in the chain"))
                continue
            problems += [
                Problem(f"case_attachments {link.attachment_id}", path, "differs from chain")
                for path in diff_paths(dict(entry.body), _link_body(link))
            ]
        for attachment_id, entry in recorded.items():
            where = f"attachment {attachment_id}"
            sha = str(entry.body.get("sha256"))
            stored = session.get(AttachmentRow, attachment_id)
            if stored is None:
                problems.append(Problem(where, "row", "the attachment record is gone"))
            elif stored.sha256 != sha:
                problems.append(
                    Problem(where, "sha256", f"record says {stored.sha256}, chain says {sha}")
                )
            actual = file_sha256(sha)
            if actual is None:
                problems.append(Problem(where, "file", "the stored file is missing"))
            elif actual != sha:
                problems.append(
                    Problem(where, "file", f"file content altered: SHA-256 is now {actual}")
                )
        return problems
