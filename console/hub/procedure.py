"""On-site procedure in the hub: ``procedure.*`` on the field link, ``case.*`` for consoles.

A squad officer starts the guided procedure from an enforcement task; the hub opens the case
file (checklist version by the enterprise's industry, enterprise facts prefilled from the
world, the squad's officers), then records each step through the core rules. Check-in reuses
the field link's geofence check; signatures become attachments (file + SHA-256) like photos;
archiving seals the case file and applies the task's ``complete_procedure`` action. Every
change is on the case's hash chain (see console.core.evidence and ``verify-case``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from datetime import datetime
from functools import partial
from typing import Any

import msgspec

from console.core.model import Officer, Role
from console.core.paths import data_dir
from console.core.procedure import (
    GENERAL_INDUSTRY,
    INTERVIEW_TEMPLATE,
    NOTICE_TEXT,
    ChecklistItem,
    InspectionType,
    InvalidStepData,
    ProcedureError,
    Step,
    check_can_record,
    check_inspect,
    check_interview,
    check_notify,
    check_signatures,
    check_verify_info,
    inspect_attachment_ids,
)
from console.core.tasks import Action, TaskKind, TaskState
from console.hub.field_link import (
    FIELD_HANDLERS,
    FieldConnection,
    FieldLink,
)
from console.hub.field_protocol import (
    FieldErrorCode,
    FieldProtocolError,
    ShortText,
    TaskStatus,
    error_message,
)
from console.hub.protocol import ErrorCode
from console.hub.registry import MethodError, NoParams, method
from console.hub.state import CallContext, HubState, utc_now
from console.store.casefile_repo import (
    AttachmentLink,
    CaseFile,
    CasefileRepo,
    UnknownCaseError,
    stored_file_sha256,
)
from console.store.dispatch_repo import StaleTask, TaskRecord
from console.store.field_repo import Attachment

ATTACHMENTS_FOLDER = "attachments"
"""Under the data dir, where the field link files attachments (and ``verify-case`` looks)."""
VERIFY_ROLES = frozenset({Role.ADMIN, Role.DISPATCHER, Role.COMMANDER, Role.LEADER})
PROCEDURE_UPDATED = "procedure.updated"
PROCEDURE_STATE = "procedure.state"
SIGNATURE_KIND = "signature"


class ProcedureStart(msgspec.Struct, tag="procedure.start", tag_field="type"):
    task_id: ShortText
    msg_id: str | int | None = None


class ProcedureStep(msgspec.Struct, tag="procedure.step", tag_field="type"):
    task_id: ShortText
    step: Step
    data: dict[str, Any] = {}
    skip_reason: str | None = None
    msg_id: str | int | None = None


_start_decoder = msgspec.json.Decoder(ProcedureStart)
_step_decoder = msgspec.json.Decoder(ProcedureStep)


def _decode(decoder: msgspec.json.Decoder[Any], raw: str) -> Any:
    try:
        return decoder.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        ref = None
        with contextlib.suppress(msgspec.ValidationError, msgspec.DecodeError):
            ref = msgspec.json.decode(raw, type=dict[str, Any]).get("msg_id")
        raise FieldProtocolError(FieldErrorCode.SCHEMA, f"invalid message: {exc}", ref) from None


def _repo(state: HubState) -> CasefileRepo:
    repo = _REPOS.get(id(state))
    if repo is None:
        repo = _REPOS[id(state)] = CasefileRepo(state.store)
    return repo


_REPOS: dict[int, CasefileRepo] = {}


# --- opening a case ----------------------------------------------------------------------------


def _case_setup(link: FieldLink, record: TaskRecord, officer: Officer) -> dict[str, Any]:
    """What the case starts with: notice, officers of the squad, enterprise facts."""
    task = record.task
    squad_id = task.assignee_squad_id or officer.squad_id
    members = [
        o
        for o in link.officers.values()
        if o.id == officer.id or (squad_id is not None and o.squad_id == squad_id)
    ]
    members.sort(key=lambda o: (o.id != officer.id, o.id))
    enterprise = link.enterprises.get(str(task.enterprise_id)) if task.enterprise_id else None
    return {
        "interview_template": INTERVIEW_TEMPLATE.to_json(),
        "notice_text": NOTICE_TEXT,
        "officers": [{"id": o.id, "name": o.name, "badge_no": o.badge_no} for o in members],
        "enterprise": (
            None
            if enterprise is None
            else {
                "id": enterprise.id,
                "name": enterprise.name,
                "credit_code": enterprise.credit_code,
                "legal_representative": enterprise.legal_representative,
                "industry": str(enterprise.industry),
                "address": enterprise.address,
                "permit_no": enterprise.permit_no,
                "credit_rating": str(enterprise.credit_rating),
                "lon": enterprise.lon,
                "lat": enterprise.lat,
                "outlets": [
                    {"id": o.id, "name": o.name, "kind": str(o.kind)} for o in enterprise.outlets
                ],
            }
        ),
        "site": {"lon": record.lon, "lat": record.lat, "title": task.title},
    }


async def _open_case(link: FieldLink, record: TaskRecord, officer: Officer) -> CaseFile:
    state = link.state
    repo = _repo(state)
    existing = await state.db.run(lambda: repo.get_case(task_id=record.task.id))
    if existing is not None:
        return existing
    await state.db.run(repo.ensure_default_templates, utc_now())
    task = record.task
    enterprise = link.enterprises.get(str(task.enterprise_id)) if task.enterprise_id else None
    industry = GENERAL_INDUSTRY if enterprise is None else str(enterprise.industry)
    inspection = InspectionType.COMPLAINT if task.complaint_id else InspectionType.ROUTINE
    template = await state.db.run(repo.latest_template, industry, inspection)
    setup = _case_setup(link, record, officer)
    case_id = f"case-{uuid.uuid4().hex[:16]}"
    return await state.db.run(
        lambda: repo.open_case(
            case_id,
            task.id,
            task.district_adcode,
            task.enterprise_id,
            template,
            setup,
            utc_now(),
        )
    )


def procedure_state(case: CaseFile) -> dict[str, Any]:
    """The ``procedure.state`` message the device renders the guided steps from."""
    full = case.to_json()
    return {
        "type": PROCEDURE_STATE,
        "task_id": case.task_id,
        "case_id": case.id,
        "template": full["template"],
        "interview_template": full["interview_template"],
        "notice_text": full["notice_text"],
        "officers": full["officers"],
        "enterprise": full["enterprise"],
        "site": full["site"],
        "steps": full["steps"],
        "current_step": full["current_step"],
        "attachments": full["attachments"],
        "sealed": full["sealed"],
        "chain_head": case.chain_head,
    }


async def _enforcement_task(
    conn: FieldConnection, officer: Officer, task_id: str, ref: Any
) -> TaskRecord:
    record = await conn.link.task_of(officer, task_id, ref)
    if record.task.kind is not TaskKind.ENFORCEMENT:
        raise FieldProtocolError(
            FieldErrorCode.FORBIDDEN,
            f"task {task_id} is a {record.task.kind} task: the procedure is for enforcement tasks",
            ref,
        )
    return record


async def on_start(conn: FieldConnection, officer: Officer, raw: str) -> None:
    message: ProcedureStart = _decode(_start_decoder, raw)
    record = await _enforcement_task(conn, officer, message.task_id, message.msg_id)
    case = await _open_case(conn.link, record, officer)
    await conn.send({**procedure_state(case), "ref": message.msg_id})


# --- recording a step --------------------------------------------------------------------------


async def on_step(conn: FieldConnection, officer: Officer, raw: str) -> None:
    message: ProcedureStep = _decode(_step_decoder, raw)
    ref = message.msg_id
    link = conn.link
    state = link.state
    record = await _enforcement_task(conn, officer, message.task_id, ref)
    repo = _repo(state)
    case = await state.db.run(lambda: repo.get_case(task_id=record.task.id))
    if case is None:
        raise FieldProtocolError(
            FieldErrorCode.SCHEMA, "send procedure.start before the first step", ref
        )
    try:
        check_can_record(case.progress, message.step, message.skip_reason)
        data, links = await _step_payload(conn, officer, record, case, message)
        updated = await state.db.run(
            lambda: repo.record_step(
                case.id,
                message.step,
                data,
                officer.id,
                utc_now(),
                skip_reason=message.skip_reason,
                links=links,
            )
        )
    except ProcedureError as exc:
        await conn.send(_error(exc, ref))
        return
    if updated.sealed_at is not None:
        await _complete_task(link, officer, record.task.id)
    step_record = updated.progress.record(message.step)
    current = updated.progress.current_step
    state.bus.publish(
        PROCEDURE_UPDATED,
        {
            "task_id": updated.task_id,
            "case_id": updated.id,
            "current_step": None if current is None else str(current),
            "step": str(message.step),
            "status": str(step_record.status),
            "at": step_record.finished_at.isoformat() if step_record.finished_at else None,
        },
        updated.district_adcode,
    )
    await conn.send({**procedure_state(updated), "ref": ref})


def _error(exc: ProcedureError, ref: Any) -> dict[str, Any]:
    """A rule violation as a field-link error (codes step_out_of_order, skip_needs_reason ...)."""
    message = error_message(FieldErrorCode.SCHEMA, str(exc), ref)
    message["code"] = exc.code
    return message


async def _step_payload(
    conn: FieldConnection,
    officer: Officer,
    record: TaskRecord,
    case: CaseFile,
    message: ProcedureStep,
) -> tuple[dict[str, Any], list[AttachmentLink]]:
    """Check the step's data and turn it into what is stored (files written, ids linked)."""
    data = dict(message.data)
    if message.skip_reason is not None:
        return data, []
    step = message.step
    if step is Step.CHECKIN:
        return await _checkin(conn, officer, record, data, message.msg_id), []
    if step is Step.NOTIFY:
        check_notify(data, [o["id"] for o in case.setup.get("officers", [])])
    elif step is Step.VERIFY_INFO:
        check_verify_info(data)
    elif step is Step.INSPECT:
        check_inspect(data, case.template)
        return data, await _photo_links(conn.link, record, data)
    elif step is Step.INTERVIEW:
        check_interview(data, INTERVIEW_TEMPLATE)
    elif step is Step.SIGN:
        return await _signatures(conn.link, officer, record, data)
    return data, []


async def _checkin(
    conn: FieldConnection,
    officer: Officer,
    record: TaskRecord,
    data: dict[str, Any],
    ref: Any,
) -> dict[str, Any]:
    """Geofenced check-in (the field link's own check); outside only with a reason."""
    lat, lon = data.get("lat"), data.get("lon")
    reason = data.get("reason")
    if isinstance(lat, int | float) and isinstance(lon, int | float):
        accuracy = data.get("accuracy")
        status = TaskStatus(
            task_id=record.task.id,
            action="arrive",
            lat=float(lat),
            lon=float(lon),
            accuracy=float(accuracy) if isinstance(accuracy, int | float) else None,
            msg_id=ref,
        )
        checkin = conn._checkin(officer, record, status)
        stored = {
            "lat": float(lat),
            "lon": float(lon),
            "accuracy": status.accuracy,
            "distance_m": checkin["distance_m"],
            "inside": checkin["inside"],
        }
        if not checkin["inside"]:
            if not (isinstance(reason, str) and reason.strip()):
                raise FieldProtocolError(
                    FieldErrorCode.OUTSIDE_GEOFENCE,
                    f"{checkin['distance_m']:.0f} m from the site; check in within "
                    f"{conn.link.limits.geofence_m:g} m or give a reason",
                    ref,
                )
            stored["reason"] = reason.strip()
    elif isinstance(reason, str) and reason.strip():
        stored = {"reason": reason.strip(), "inside": False}
    else:
        raise InvalidStepData("checkin needs lat/lon or a reason")
    if record.task.state is TaskState.ACCEPTED:
        try:
            await conn.link.apply_officer_action(
                officer, record.task.id, Action.ARRIVE, record.task.version, {}
            )
        except StaleTask as exc:
            raise FieldProtocolError(FieldErrorCode.CONFLICT, str(exc), ref) from None
    return stored


async def _photo_links(
    link: FieldLink, record: TaskRecord, data: dict[str, Any]
) -> list[AttachmentLink]:
    links = []
    for item_id, attachment_id in inspect_attachment_ids(data):
        attachment = await link.state.db.run(link.repo.get_attachment, attachment_id)
        if attachment is None or attachment.task_id != record.task.id:
            raise InvalidStepData(
                f"inspect: attachment {attachment_id!r} was not uploaded for this task"
            )
        links.append(AttachmentLink(attachment_id, Step.INSPECT, item_id, attachment.sha256))
    return links


async def _signatures(
    link: FieldLink, officer: Officer, record: TaskRecord, data: dict[str, Any]
) -> tuple[dict[str, Any], list[AttachmentLink]]:
    """Store each signature image as an attachment; the step keeps ids and hashes, not PNGs."""
    images = check_signatures(data)
    stored: list[dict[str, Any]] = []
    links: list[AttachmentLink] = []
    for image in images:
        target = link.attachment_path(image.sha256)
        await asyncio.to_thread(_write_file, target, image.png)
        attachment = await link.state.db.run(
            link.repo.add_attachment,
            Attachment(
                id=uuid.uuid4().hex,
                task_id=record.task.id,
                officer_id=officer.id,
                district_adcode=officer.district_adcode,
                kind=SIGNATURE_KIND,
                mime="image/png",
                size=len(image.png),
                sha256=image.sha256,
                upload_id=f"sig-{record.task.id[:24]}-{image.sha256[:32]}",
                created_at=utc_now(),
            ),
        )
        stored.append(
            {
                "role": str(image.role),
                "name": image.name,
                "officer_id": image.officer_id,
                "attachment_id": attachment.id,
                "sha256": image.sha256,
            }
        )
        links.append(AttachmentLink(attachment.id, Step.SIGN, str(image.role), image.sha256))
    return {"signatures": stored}, links


def _write_file(target: Any, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        return  # content-addressed: the same bytes are already filed under this name
    partial = target.with_suffix(".tmp")
    partial.write_bytes(content)
    os.replace(partial, target)


async def _complete_task(link: FieldLink, officer: Officer, task_id: str) -> None:
    """Sealing ends the on-site work: complete_procedure if the task is still on site."""
    record = await link.state.db.run(link.dispatch.get_task, task_id)
    if record is not None and record.task.state is TaskState.ON_SITE:
        await link.apply_officer_action(
            officer, task_id, Action.COMPLETE_PROCEDURE, record.task.version, {}
        )


FIELD_HANDLERS["procedure.start"] = on_start
FIELD_HANDLERS["procedure.step"] = on_step


# --- console-link methods ------------------------------------------------------------------------


@method("procedures.active", params=NoParams)
async def procedures_active(ctx: CallContext, params: NoParams) -> list[dict[str, Any]]:
    """Unsealed procedures in the caller's scope: officers on the case, per-step durations."""
    repo = _repo(ctx.hub)
    cases = await ctx.hub.db.run(repo.active_cases)
    return [
        {
            "task_id": case.task_id,
            "case_id": case.id,
            "enterprise": case.setup.get("enterprise"),
            "officers": [
                {"id": o["id"], "name": o["name"], "badge_no": o["badge_no"]}
                for o in case.setup.get("officers", [])
            ],
            "current_step": (
                None if case.progress.current_step is None else str(case.progress.current_step)
            ),
            "step_times": case.progress.step_times(),
            "started_at": case.progress.started_at.isoformat(),
        }
        for case in cases
        if ctx.principal.scope.covers(case.district_adcode)
    ]


class CaseGetParams(msgspec.Struct, forbid_unknown_fields=True):
    case_id: str | None = None
    task_id: str | None = None


@method("case.get", params=CaseGetParams)
async def case_get(ctx: CallContext, params: CaseGetParams) -> dict[str, Any]:
    """The full case file: steps with data, attachments with SHA-256, chain head."""
    if (params.case_id is None) == (params.task_id is None):
        raise MethodError(ErrorCode.BAD_REQUEST, "give exactly one of case_id or task_id")
    repo = _repo(ctx.hub)
    case = await ctx.hub.db.run(
        lambda: repo.get_case(case_id=params.case_id, task_id=params.task_id)
    )
    if case is None:
        raise MethodError(
            ErrorCode.NOT_FOUND, f"no case file for {params.case_id or params.task_id!r}"
        )
    if not ctx.principal.scope.covers(case.district_adcode):
        raise MethodError(ErrorCode.OUT_OF_SCOPE, "the case file is outside your scope")
    return case.to_json()


@method("case.verify", params=CaseGetParams, roles=VERIFY_ROLES)
async def case_verify(ctx: CallContext, params: CaseGetParams) -> dict[str, Any]:
    """Re-check a case file's hash chain, rows and attachment files (as ``verify-case``).

    The report names every alteration; ``ok`` is true when the case file is intact.
    """
    if (params.case_id is None) == (params.task_id is None):
        raise MethodError(ErrorCode.BAD_REQUEST, "give exactly one of case_id or task_id")
    case_ref = str(params.case_id or params.task_id)
    repo = _repo(ctx.hub)
    file_sha256 = partial(stored_file_sha256, data_dir() / ATTACHMENTS_FOLDER)
    try:
        report = await ctx.hub.db.run(repo.verify, case_ref, file_sha256)
    except UnknownCaseError:
        raise MethodError(ErrorCode.NOT_FOUND, f"no case file for {case_ref!r}") from None
    if not ctx.principal.scope.covers(report.district_adcode):
        raise MethodError(ErrorCode.OUT_OF_SCOPE, "the case file is outside your scope")
    return report.to_json()


@method("checklists.list", params=NoParams)
async def checklists_list(ctx: CallContext, params: NoParams) -> list[dict[str, Any]]:
    """Every checklist version (a case cites the version it started with)."""
    repo = _repo(ctx.hub)
    await ctx.hub.db.run(repo.ensure_default_templates, utc_now())
    return [t.to_json() for t in await ctx.hub.db.run(repo.list_templates)]


class ChecklistItemParams(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    text: str
    legal_basis: str
    requires_photo: bool = False


class ChecklistSaveParams(msgspec.Struct, forbid_unknown_fields=True):
    industry: str
    inspection_type: InspectionType
    items: list[ChecklistItemParams]


@method("checklist.save", params=ChecklistSaveParams, roles={Role.ADMIN})
async def checklist_save(ctx: CallContext, params: ChecklistSaveParams) -> dict[str, Any]:
    """A new version of a checklist (admin); older versions stay for the cases using them."""
    repo = _repo(ctx.hub)
    await ctx.hub.db.run(repo.ensure_default_templates, utc_now())
    items = [ChecklistItem(i.id, i.text, i.legal_basis, i.requires_photo) for i in params.items]
    now: datetime = utc_now()
    try:
        template = await ctx.hub.db.run(
            lambda: repo.save_template(
                params.industry, params.inspection_type, items, now, ctx.principal.user.username
            )
        )
    except ProcedureError as exc:
        raise MethodError(ErrorCode.BAD_REQUEST, str(exc)) from None
    return template.to_json()
