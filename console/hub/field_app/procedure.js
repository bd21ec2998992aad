// Squad mode: the guided on-site enforcement procedure (标准化执法流程) of an enforcement task.
//
// The hub owns the rules (console/core/procedure.py): it answers every procedure.start and
// procedure.step with the case's procedure.state, or with an error the officer must see
// (out of order, a skip without a reason, outside the geofence, a missing photo ...). The
// device checks what it can first, so the officer hears about a gap before sending.
// Steps go through the same IndexedDB queue as statuses: offline, a step is shown as
// "waiting to sync" and the next step opens; photos upload first (chunked, SHA-256), and
// the step is sent with the attachment ids the uploads got.

import { distanceM } from "./geo.js";
import { t } from "./i18n.js";
import { sha256Hex } from "./link.js";

export const STEPS = ["checkin", "notify", "verify_info", "inspect", "interview", "sign", "archive"];
const UNSKIPPABLE = new Set(["archive"]);
const RESULTS = ["compliant", "non_compliant", "not_applicable"];
const VERIFY_FIELDS = ["name", "credit_code", "address", "permit_no", "industry"];
const SIGNERS = ["party", "officer"];

/** Enforcement task states from which the procedure can be started or resumed. */
export const PROCEDURE_STATES = new Set(["accepted", "on_site"]);

const $ = (selector) => document.querySelector(selector);

function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

function base64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

/** Fill the inspect items' attachment_ids from finished uploads (run by Sync before sending). */
export async function withAttachmentIds(message, item, db) {
  if (!item.photo_uploads) return;
  const items = [];
  for (const entry of message.data.items) {
    const ids = [];
    for (const uploadId of item.photo_uploads[entry.id] ?? []) {
      const upload = await db.get("uploads", uploadId);
      if (upload?.attachment_id) ids.push(upload.attachment_id);
    }
    items.push({ ...entry, attachment_ids: ids });
  }
  message.data = { ...message.data, items };
}

/** A signature pad: pointer events draw on a canvas; the PNG and its SHA-256 are made here. */
class SignaturePad {
  constructor(role) {
    this.canvas = h("canvas", { class: "signature", width: 600, height: 200, "data-role": role });
    this.strokes = 0;
    const context = this.canvas.getContext("2d");
    context.lineWidth = 3;
    context.lineCap = "round";
    context.strokeStyle = "#111";
    let drawing = false;
    const point = (event) => {
      const box = this.canvas.getBoundingClientRect();
      return [((event.clientX - box.left) * this.canvas.width) / box.width, ((event.clientY - box.top) * this.canvas.height) / box.height];
    };
    this.canvas.addEventListener("pointerdown", (event) => {
      drawing = true;
      this.canvas.setPointerCapture?.(event.pointerId);
      context.beginPath();
      context.moveTo(...point(event));
    });
    this.canvas.addEventListener("pointermove", (event) => {
      if (!drawing) return;
      context.lineTo(...point(event));
      context.stroke();
      this.strokes += 1;
      this.canvas.dataset.strokes = String(this.strokes);
    });
    const end = () => {
      drawing = false;
    };
    this.canvas.addEventListener("pointerup", end);
    this.canvas.addEventListener("pointercancel", end);
  }

  clear() {
    this.canvas.getContext("2d").clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.strokes = 0;
    this.canvas.dataset.strokes = "0";
  }

  async png() {
    const blob = await new Promise((resolve) => this.canvas.toBlob(resolve, "image/png"));
    return { base64: base64(new Uint8Array(await blob.arrayBuffer())), sha256: await sha256Hex(blob), url: this.canvas.toDataURL("image/png") };
  }
}

export class ProcedureView {
  /**
   * `app` gives: db, sync, link, notice(text, kind), currentFix(), saveTask(record),
   * describeError(reply), back() (leave squad mode).
   */
  constructor(app) {
    this.app = app;
    this.record = null;
    this.renderedStep = null;
    this.photos = {}; // item id -> [upload ids] for the inspect step being filled in
    this.pads = {};
    this.section = $("#procedure");
  }

  // --- entering -------------------------------------------------------------------------

  async open(record) {
    this.record = record;
    this.renderedStep = null;
    this.section.hidden = false;
    if (!record.procedure && !(record.procedurePending ?? []).some((p) => p.step === "start")) {
      const message = { type: "procedure.start", task_id: record.id, msg_id: uuid() };
      record.procedurePending = [{ step: "start", msg_id: message.msg_id }];
      await this.app.saveTask(record);
      await this.app.sync.enqueue({ type: "procedure.start", msg: message });
    }
    this.render();
  }

  close() {
    this.record = null;
    this.section.hidden = true;
    this.section.replaceChildren();
  }

  // --- hub answers (through Sync) -------------------------------------------------------

  async onReply(item, reply, accepted) {
    const record = this.app.tasks.get(item.msg.task_id);
    if (!record) return;
    record.procedurePending = (record.procedurePending ?? []).filter((p) => p.msg_id !== item.msg.msg_id);
    if (accepted) {
      record.procedure = reply;
      if (reply.steps?.[0]?.status === "done" && record.state === "accepted") record.state = "on_site";
      if (reply.sealed) record.state = "procedure_complete";
      for (const ids of Object.values(item.photo_uploads ?? {})) for (const id of ids) await this.app.db.delete("uploads", id);
      const step = item.msg.step;
      if (step) this.app.notice(t(item.msg.skip_reason != null ? "proc.skipped" : "proc.saved", { step: t(`proc.step.${step}`) }), "ok");
    } else {
      this.app.notice(t("proc.refused", { detail: this.app.describeError(reply) }), "error");
      this.renderedStep = null; // the form comes back as the officer left it only if unchanged
    }
    await this.app.saveTask(record);
    if (this.record?.id === record.id) {
      this.record = record;
      this.render();
    }
  }

  // --- sending ----------------------------------------------------------------------------

  async send(step, data, { skipReason = null, photoUploads = null } = {}) {
    const record = this.record;
    const message = { type: "procedure.step", task_id: record.id, step, data, msg_id: uuid() };
    if (skipReason !== null) message.skip_reason = skipReason;
    const item = { type: "procedure.step", msg: message };
    if (photoUploads) item.photo_uploads = photoUploads;
    record.procedurePending = [...(record.procedurePending ?? []), { step, msg_id: message.msg_id }];
    await this.app.saveTask(record);
    this.render();
    await this.app.sync.enqueue(item);
  }

  // --- state --------------------------------------------------------------------------------

  /** The step to show: the hub's current step, moved past steps still waiting to sync. */
  currentStep() {
    const state = this.record.procedure;
    if (!state) return null;
    const pending = (this.record.procedurePending ?? []).map((p) => p.step).filter((s) => s !== "start");
    let index = state.current_step ? STEPS.indexOf(state.current_step) : STEPS.length;
    for (const step of pending) index = Math.max(index, STEPS.indexOf(step) + 1);
    return index < STEPS.length ? STEPS[index] : null;
  }

  statusOf(step) {
    if ((this.record.procedurePending ?? []).some((p) => p.step === step)) return "pending";
    return this.record.procedure?.steps.find((s) => s.step === step)?.status ?? "pending";
  }

  render() {
    if (!this.record) return;
    const state = this.record.procedure;
    if (!state) {
      this.section.replaceChildren(h("h2", {}, this.record.task.title), h("p", { class: "muted", id: "proc-opening" }, t("proc.opening")));
      return;
    }
    const current = this.currentStep();
    const waiting = new Set((this.record.procedurePending ?? []).map((p) => p.step));
    const rail = h(
      "ol",
      { id: "proc-steps" },
      STEPS.map((step) =>
        h(
          "li",
          { "data-step": step, "data-status": waiting.has(step) ? "waiting" : this.statusOf(step), class: step === current ? "current" : null },
          t(`proc.step.${step}`),
          waiting.has(step) ? h("small", {}, t("pending")) : null,
        ),
      ),
    );
    const key = `${state.case_id}:${current}:${state.sealed}`;
    if (this.renderedStep === key && this.section.querySelector("#proc-panel")) {
      this.section.querySelector("#proc-steps").replaceWith(rail);
      return;
    }
    this.renderedStep = key;
    const panel = h("div", { id: "proc-panel", "data-step": current ?? "done" });
    if (state.sealed) panel.append(...this.sealedView(state));
    else if (current === null) panel.append(h("p", { class: "muted" }, t("proc.syncing")));
    else panel.append(...this[`${current}Form`](state), ...this.skipControls(current));
    this.section.replaceChildren(
      h("h2", {}, t("proc.title"), "：", state.enterprise?.name ?? this.record.task.title),
      h("p", { class: "muted", id: "proc-case" }, t("proc.caseId", { id: state.case_id })),
      h("div", { class: "proc-layout" }, rail, panel),
    );
  }

  skipControls(step) {
    if (UNSKIPPABLE.has(step)) return [];
    const reason = h("textarea", { id: "skip-reason", rows: 2, placeholder: t("proc.skipReasonHint") });
    const box = h("div", { id: "skip-box", hidden: true }, h("label", { for: "skip-reason" }, t("proc.skipReason")), reason, h("button", { type: "button", id: "skip-confirm", onclick: () => this.send(step, {}, { skipReason: reason.value }) }, t("proc.skipConfirm")));
    return [h("div", { class: "row skip" }, h("button", { type: "button", id: "skip-step", onclick: () => (box.hidden = false) }, t("proc.skip"))), box];
  }

  // --- the steps ----------------------------------------------------------------------------

  checkinForm(state) {
    const site = state.site ?? {};
    const geofence = this.record.task.geofence_m;
    const where = h("p", { id: "checkin-distance", class: "muted" }, t("proc.locating"));
    const reason = h("textarea", { id: "checkin-reason", rows: 2 });
    const show = (fix) => {
      if (!fix || site.lon == null) return;
      const metres = Math.round(distanceM(fix.lon, fix.lat, site.lon, site.lat));
      where.textContent = t("distance", { m: metres, r: geofence });
      where.dataset.inside = String(metres <= geofence);
    };
    show(this.app.fix);
    const submit = async () => {
      const fix = await this.app.currentFix();
      if (!fix) return this.app.notice(t("checkinNeedsFix"), "error");
      show(fix);
      const data = { lat: fix.lat, lon: fix.lon, accuracy: fix.accuracy };
      const outside = site.lon != null && distanceM(fix.lon, fix.lat, site.lon, site.lat) > geofence;
      if (outside && !reason.value.trim()) return this.app.notice(t("proc.outsideNeedsReason"), "error");
      if (reason.value.trim()) data.reason = reason.value.trim();
      await this.send("checkin", data);
    };
    return [
      h("h3", {}, t("proc.step.checkin")),
      where,
      h("label", { for: "checkin-reason" }, t("proc.outsideReason")),
      reason,
      h("button", { type: "button", class: "primary", id: "checkin-submit", onclick: submit }, t("proc.checkin")),
    ];
  }

  notifyForm(state) {
    const me = this.app.link.welcome?.officer?.id;
    const boxes = state.officers.map((officer) =>
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "officer", value: officer.id, checked: true }), `${officer.name}（${t("proc.badge")} ${officer.badge_no || "—"}）`, officer.id === me ? t("proc.me") : ""),
    );
    const confirmed = h("input", { type: "checkbox", id: "notify-confirm" });
    const submit = () => {
      if (!confirmed.checked) return this.app.notice(t("proc.notifyConfirmFirst"), "error");
      const ids = boxes.map((label) => label.querySelector("input")).filter((input) => input.checked).map((input) => input.value);
      return this.send("notify", { confirmed: true, officer_ids: ids });
    };
    return [
      h("h3", {}, t("proc.step.notify")),
      h("div", { class: "card", id: "notify-officers" }, boxes),
      h("blockquote", { id: "notice-text" }, state.notice_text),
      h("label", { class: "check" }, confirmed, t("proc.notifyConfirm")),
      h("button", { type: "button", class: "primary", id: "notify-submit", onclick: submit }, t("proc.confirm")),
    ];
  }

  verify_infoForm(state) {
    const enterprise = state.enterprise ?? {};
    const inputs = VERIFY_FIELDS.map((field) => h("input", { type: "text", name: field, value: enterprise[field] ?? "", "data-original": enterprise[field] ?? "" }));
    const submit = () => {
      const corrections = {};
      for (const input of inputs) if (input.value !== input.dataset.original) corrections[input.name] = input.value;
      return this.send("verify_info", { confirmed: Object.keys(corrections).length === 0, corrections });
    };
    return [
      h("h3", {}, t("proc.step.verify_info")),
      h("p", { class: "muted" }, t("proc.verifyHint")),
      h("div", { class: "form-grid" }, VERIFY_FIELDS.map((field, i) => [h("label", {}, t(`proc.field.${field}`)), inputs[i]])),
      h("button", { type: "button", class: "primary", id: "verify-submit", onclick: submit }, t("proc.confirm")),
    ];
  }

  inspectForm(state) {
    this.photos = {};
    const rows = state.template.items.map((item) => {
      const count = h("span", { class: "muted photo-count", "data-count": "0" }, t("attachments", { n: 0 }));
      const input = h("input", { type: "file", accept: "image/*", capture: "environment", multiple: true, class: "item-photo", "data-item": item.id });
      input.addEventListener("change", () => this.addPhotos(item.id, input.files, count));
      return h(
        "fieldset",
        { class: "check-item", "data-item": item.id, "data-requires-photo": String(item.requires_photo) },
        h("legend", {}, item.text, item.requires_photo ? h("span", { class: "needs-photo" }, t("proc.needsPhoto")) : null),
        h("p", { class: "legal" }, t("proc.legalBasis"), item.legal_basis),
        h("div", { class: "row results" }, RESULTS.map((result) => h("label", { class: "check" }, h("input", { type: "radio", name: `result-${item.id}`, value: result }), t(`proc.result.${result}`)))),
        h("input", { type: "text", class: "item-note", placeholder: t("proc.note") }),
        h("div", { class: "row" }, h("label", { class: "button" }, t("addPhoto"), input), count),
      );
    });
    const samples = h("div", { id: "samples" });
    const addSample = () => {
      const n = samples.children.length + 1;
      const stamp = new Date().toISOString().slice(0, 10).replaceAll("-", "");
      samples.append(
        h(
          "div",
          { class: "sample card" },
          h("input", { type: "text", class: "sample-id", value: `${this.record.procedure.case_id.slice(-6)}-${stamp}-${n}`, placeholder: t("proc.sampleId") }),
          h("input", { type: "text", class: "sample-point", placeholder: t("proc.samplePoint") }),
          h("input", { type: "text", class: "sample-pollutants", placeholder: t("proc.samplePollutants") }),
        ),
      );
    };
    const submit = async () => {
      const items = [];
      for (const row of rows) {
        const id = row.dataset.item;
        const result = row.querySelector("input[type=radio]:checked")?.value;
        if (!result) return this.app.notice(t("proc.itemUnanswered", { item: row.querySelector("legend").firstChild.textContent }), "error");
        if (result === "non_compliant" && row.dataset.requiresPhoto === "true" && !(this.photos[id] ?? []).length) {
          return this.app.notice(t("proc.itemNeedsPhoto", { item: row.querySelector("legend").firstChild.textContent }), "error");
        }
        items.push({ id, result, note: row.querySelector(".item-note").value.trim(), attachment_ids: [] });
      }
      const taken = [];
      for (const sample of samples.children) {
        const pollutants = sample.querySelector(".sample-pollutants").value.split(/[,，、\s]+/).filter(Boolean);
        const point = sample.querySelector(".sample-point").value.trim();
        if (!point || !pollutants.length) return this.app.notice(t("proc.sampleIncomplete"), "error");
        taken.push({ sample_id: sample.querySelector(".sample-id").value.trim(), point, pollutants, taken_at: new Date().toISOString() });
      }
      await this.send("inspect", { items, samples: taken }, { photoUploads: { ...this.photos } });
    };
    return [
      h("h3", {}, t("proc.step.inspect")),
      h("p", { class: "muted" }, t("proc.checklist", { id: state.template.id })),
      h("div", { id: "checklist" }, rows),
      h("h3", {}, t("proc.sampling")),
      samples,
      h("div", { class: "row" }, h("button", { type: "button", id: "add-sample", onclick: addSample }, t("proc.addSample"))),
      h("button", { type: "button", class: "primary", id: "inspect-submit", onclick: submit }, t("proc.submitStep")),
    ];
  }

  /** Photos are stored and queued for upload at once, so they leave the device early. */
  async addPhotos(itemId, files, counter) {
    if (!crypto.subtle) return this.app.notice(t("insecure"), "error");
    for (const file of files) {
      const uploadId = uuid();
      await this.app.db.put("uploads", {
        upload_id: uploadId,
        task_id: this.record.id,
        kind: "photo",
        mime: file.type || "image/jpeg",
        size: file.size,
        sha256: await sha256Hex(file),
        blob: file,
        attachment_id: null,
      });
      await this.app.sync.enqueue({ type: "upload", upload_id: uploadId });
      (this.photos[itemId] ??= []).push(uploadId);
    }
    const n = this.photos[itemId]?.length ?? 0;
    counter.dataset.count = String(n);
    counter.textContent = t("attachments", { n });
  }

  interviewForm(state) {
    const person = ["name", "position", "id_no"].map((field) => h("input", { type: "text", name: field, id: `interviewee-${field}` }));
    const questions = state.interview_template.questions.map((question) =>
      h("div", { class: "question", "data-question": question.id, "data-required": String(question.required) }, h("label", {}, question.text, question.required ? h("span", { class: "required" }, " *") : null), h("textarea", { rows: 2 })),
    );
    const submit = () => {
      const [name, position, idNo] = person.map((input) => input.value.trim());
      if (!name || !position) return this.app.notice(t("proc.intervieweeMissing"), "error");
      const missing = questions.filter((q) => q.dataset.required === "true" && !q.querySelector("textarea").value.trim());
      if (missing.length) return this.app.notice(t("proc.questionsMissing", { n: missing.length }), "error");
      const interviewee = { name, position };
      if (idNo) interviewee.id_no = idNo;
      const answers = questions.map((q) => ({ question_id: q.dataset.question, answer: q.querySelector("textarea").value.trim() }));
      return this.send("interview", { interviewee, answers });
    };
    return [
      h("h3", {}, t("proc.step.interview")),
      h("div", { class: "form-grid" }, ["name", "position", "id_no"].map((field, i) => [h("label", { for: `interviewee-${field}` }, t(`proc.interviewee.${field}`)), person[i]])),
      h("div", { id: "questions" }, questions),
      h("button", { type: "button", class: "primary", id: "interview-submit", onclick: submit }, t("proc.submitStep")),
    ];
  }

  signForm(state) {
    const me = this.app.link.welcome?.officer;
    this.pads = Object.fromEntries(SIGNERS.map((role) => [role, new SignaturePad(role)]));
    const partyName = h("input", { type: "text", id: "party-name", value: state.steps.find((s) => s.step === "interview")?.data?.interviewee?.name ?? "" });
    const officer = h("select", { id: "sign-officer" }, state.officers.map((o) => h("option", { value: o.id, selected: o.id === me?.id }, `${o.name}（${o.badge_no || o.id}）`)));
    const pad = (role, label, extra) =>
      h("div", { class: "pad", "data-role": role }, h("label", {}, label), extra, this.pads[role].canvas, h("button", { type: "button", class: "clear", onclick: () => this.pads[role].clear() }, t("proc.clear")));
    const submit = async () => {
      if (!partyName.value.trim()) return this.app.notice(t("proc.partyNameMissing"), "error");
      if (SIGNERS.some((role) => this.pads[role].strokes === 0)) return this.app.notice(t("proc.signaturesMissing"), "error");
      if (!crypto.subtle) return this.app.notice(t("insecure"), "error");
      const chosen = state.officers.find((o) => o.id === officer.value);
      const signatures = [];
      for (const role of SIGNERS) {
        const image = await this.pads[role].png();
        signatures.push({
          role,
          name: role === "party" ? partyName.value.trim() : chosen.name,
          officer_id: role === "officer" ? chosen.id : null,
          png_base64: image.base64,
          sha256: image.sha256,
        });
      }
      await this.send("sign", { signatures });
    };
    return [
      h("h3", {}, t("proc.step.sign")),
      h("div", { class: "row" }, h("button", { type: "button", id: "print-record", onclick: () => this.print() }, t("proc.print"))),
      h("div", { class: "pads" }, pad("party", t("proc.partySigns"), partyName), pad("officer", t("proc.officerSigns"), officer)),
      h("button", { type: "button", class: "primary", id: "sign-submit", onclick: submit }, t("proc.submitStep")),
    ];
  }

  archiveForm(state) {
    const rows = state.steps.filter((s) => s.step !== "archive").map((s) => h("li", { "data-status": s.status }, t(`proc.step.${s.step}`), "：", t(`proc.status.${s.status}`), s.reason ? `（${s.reason}）` : ""));
    return [
      h("h3", {}, t("proc.step.archive")),
      h("ul", { class: "summary" }, rows),
      h("p", { class: "muted" }, t("proc.archiveHint")),
      h("button", { type: "button", class: "primary", id: "archive-submit", onclick: () => this.send("archive", {}) }, t("proc.archive")),
    ];
  }

  sealedView(state) {
    return [
      h("h3", { id: "proc-sealed" }, t("proc.sealed")),
      h("p", {}, t("proc.chainHead"), h("code", {}, state.chain_head ?? "—")),
      h("div", { class: "row" }, h("button", { type: "button", id: "print-record", onclick: () => this.print() }, t("proc.print")), h("button", { type: "button", onclick: () => this.app.back() }, t("back"))),
    ];
  }

  // --- printable record -----------------------------------------------------------------

  /** The on-site record (现场检查笔录) laid out for the portable printer. */
  print() {
    const state = this.record.procedure;
    const data = (step) => state.steps.find((s) => s.step === step)?.data ?? {};
    const enterprise = { ...(state.enterprise ?? {}), ...(data("verify_info").corrections ?? {}) };
    const items = new Map(state.template.items.map((item) => [item.id, item]));
    const questions = new Map(state.interview_template.questions.map((q) => [q.id, q.text]));
    const interview = data("interview");
    const signed = Object.fromEntries((data("sign").signatures ?? []).map((s) => [s.role, s.name]));
    const names = {
      party: this.section.querySelector("#party-name")?.value.trim() || signed.party || "",
      officer: this.section.querySelector("#sign-officer")?.selectedOptions[0]?.textContent || signed.officer || "",
    };
    const signatures = SIGNERS.map((role) => {
      const pad = this.pads[role];
      const mark = pad?.strokes ? h("img", { src: pad.canvas.toDataURL("image/png"), alt: "" }) : h("div", { class: "sign-line" });
      return h("figure", {}, mark, h("figcaption", {}, t(`proc.signer.${role}`), names[role]));
    });
    const view = h(
      "article",
      { id: "print-view" },
      h("h1", {}, t("proc.recordTitle")),
      h("p", {}, t("proc.caseId", { id: state.case_id })),
      h("dl", {}, VERIFY_FIELDS.flatMap((field) => [h("dt", {}, t(`proc.field.${field}`)), h("dd", {}, enterprise[field] ?? "—")])),
      h("p", {}, state.notice_text),
      h("ol", {}, (data("inspect").items ?? []).map((entry) => h("li", {}, items.get(entry.id)?.text ?? entry.id, "：", t(`proc.result.${entry.result}`), entry.note ? `（${entry.note}）` : ""))),
      h("dl", {}, (interview.answers ?? []).flatMap((a) => [h("dt", {}, t("proc.question"), questions.get(a.question_id) ?? a.question_id), h("dd", {}, t("proc.answer"), a.answer || "—")])),
      h("div", { class: "signatures" }, signatures),
    );
    document.querySelector("#print-view")?.remove();
    document.body.append(view);
    window.print();
  }
}
