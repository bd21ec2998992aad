// The officers' field app: enrolment, task list with alerts, task detail with map and
// navigation, status actions with GPS check-in, and reports with photos and voice memos.
// Every action goes through the offline queue (db.js) and is synced by link.js.

import { FieldCalls } from "./call.js";
import { FieldDb } from "./db.js";
import { amapUrl, baiduUrl, distanceM } from "./geo.js";
import { has, t } from "./i18n.js";
import { APP_VERSION, FieldLink, Sync, fieldSocketUrl, sha256Hex } from "./link.js";
import { PROCEDURE_STATES, ProcedureView, withAttachmentIds } from "./procedure.js";

const TOKEN_KEY = "field.token";
const DEVICE_KEY = "field.device_id";
const POSITION_INTERVAL_MS = 5000;
const MAX_QUEUED_POSITIONS = 720; // one hour at one fix per 5 s
const DEFAULT_GEOFENCE_M = 300;

// The officer's next steps per task kind and state (mirrors console/core/tasks.py for the
// officer role); used to show the right buttons, also for actions still waiting to sync.
const NEXT = {
  verification: {
    assigned: { accept: "accepted" },
    delivered: { accept: "accepted" },
    accepted: { depart: "en_route" },
    en_route: { arrive: "on_site" },
    on_site: { verify_confirmed: "verified_confirmed", verify_unfounded: "verified_unfounded" },
  },
  enforcement: {
    assigned: { accept: "accepted" },
    delivered: { accept: "accepted" },
    accepted: { arrive: "on_site" },
    on_site: {}, // sealing the case file (squad mode) completes the procedure
  },
};
const NEEDS_FINDINGS = new Set(["verify_confirmed", "verify_unfounded"]);

const $ = (selector) => document.querySelector(selector);

/** Build an element; strings become text nodes (never HTML), so task data cannot inject markup. */
function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function formatTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString("zh-CN", { hour12: false });
}

/** The task as the app uses it; tolerates an enterprise given only by id. */
function normaliseTask(raw) {
  const enterprise = raw.enterprise ?? (raw.enterprise_id ? { id: raw.enterprise_id } : null);
  return { ...raw, id: raw.id ?? raw.task_id, enterprise, geofence_m: raw.geofence_m || DEFAULT_GEOFENCE_M };
}

/** A hub error for the officer: our wording for known codes, the hub's detail after it. */
function describeError(reply) {
  const key = `error.${reply.code}`;
  const detail = reply.detail || reply.code;
  return has(key) ? `${t(key)}（${detail}）` : detail;
}

function effectiveState(record) {
  let state = record.state;
  for (const pending of record.pending) {
    state = NEXT[record.task.kind]?.[state]?.[pending.action] ?? state;
  }
  return state;
}

class FieldApp {
  constructor(db) {
    this.db = db;
    this.tasks = new Map(); // task id -> {id, task, outbox_id, seq, state, version, pending, received_at}
    this.openTaskId = null;
    this.watching = false;
    this.fix = null;
    this.lastSentFix = null;
    this.map = null;
    this.layers = null;
    this.draft = []; // attachments of the report being written: {kind, mime, blob}
    this.recorder = null;
    this.audio = null;
    this.link = null;
    this.sync = null;
  }

  async start() {
    this.takeTokenFromFragment();
    for (const record of await this.db.all("tasks")) this.tasks.set(record.id, record);
    $("#enrol-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.enrol($("#token-input").value.trim());
    });
    $("#logout").addEventListener("click", () => this.logout());
    $("#back").addEventListener("click", () => this.showList());
    document.addEventListener("click", () => this.unlockAudio(), { once: true });
    if (localStorage.getItem(TOKEN_KEY)) this.connect();
    else this.showEnrol();
  }

  // --- enrolment ----------------------------------------------------------------------------

  takeTokenFromFragment() {
    const params = new URLSearchParams(location.hash.slice(1));
    const token = params.get("token");
    if (!token) return;
    localStorage.setItem(TOKEN_KEY, token);
    // Keep the bearer token out of the address bar and the history.
    history.replaceState(null, "", location.pathname + location.search);
  }

  enrol(token) {
    if (!token) {
      this.notice(t("tokenMissing"), "error");
      return;
    }
    localStorage.setItem(TOKEN_KEY, token);
    this.unlockAudio();
    this.connect();
  }

  async logout() {
    if (!confirm(t("logoutConfirm"))) return;
    this.link?.stop();
    localStorage.removeItem(TOKEN_KEY);
    await this.db.clear();
    this.tasks.clear();
    this.showEnrol();
  }

  deviceId() {
    let id = localStorage.getItem(DEVICE_KEY);
    if (!id) {
      id = uuid();
      localStorage.setItem(DEVICE_KEY, id);
    }
    return id;
  }

  connect() {
    this.link?.stop();
    const hello = async () => ({
      type: "hello",
      token: localStorage.getItem(TOKEN_KEY),
      device: { id: this.deviceId(), model: navigator.userAgent.slice(0, 120), app_version: APP_VERSION },
      last_seq: await this.db.meta("last_seq", 0),
    });
    this.link = new FieldLink(fieldSocketUrl(), hello);
    this.calls?.detach();
    this.calls = new FieldCalls(this.link);
    this.sync = new Sync(this.db, this.link);
    this.sync.prepare["procedure.step"] = withAttachmentIds;
    this.procedure = new ProcedureView(this);
    this.link.addEventListener("state", (event) => this.showConnection(event.detail));
    this.link.addEventListener("message", (event) => this.onMessage(event.detail));
    this.link.addEventListener("unauthorized", (event) => {
      localStorage.removeItem(TOKEN_KEY);
      this.showEnrol();
      this.notice(t("tokenRejected", { reason: event.detail || "4401" }), "error");
    });
    this.sync.addEventListener("queue", (event) => this.showQueue(event.detail));
    this.sync.addEventListener("accepted", (event) => this.onAccepted(event.detail));
    this.sync.addEventListener("refused", (event) => this.onRefused(event.detail));
    this.showList();
    this.link.start();
    this.sync.changed();
    this.watchPosition();
  }

  // --- hub messages -------------------------------------------------------------------------

  async onMessage(message) {
    if (message.type === "welcome") {
      $("#officer").textContent = `${message.officer.name}（${message.officer.badge_no || message.officer.id}）`;
    } else if (message.type === "task.assigned") {
      await this.onAssigned(message);
    } else if (message.type === "task.cancelled") {
      await this.onCancelled(message);
    } else if (message.type === "error" && message.ref == null) {
      this.notice(t("actionRejected", { detail: describeError(message) }), "error");
    }
  }

  async onAssigned(message) {
    const task = normaliseTask(message.task);
    const fresh = await this.db.markSeen(message.outbox_id);
    if (fresh && !this.tasks.has(task.id)) {
      const record = {
        id: task.id,
        task,
        outbox_id: message.outbox_id,
        seq: message.seq,
        state: "delivered",
        version: null,
        pending: [],
        received_at: new Date().toISOString(),
      };
      await this.saveTask(record);
      this.alert(t("newTask", { title: task.title }));
    }
    await this.advanceSeq(message.seq);
    this.link.send({ type: "task.ack", seq: message.seq });
    this.render();
  }

  async onCancelled(message) {
    const record = this.tasks.get(message.task?.task_id ?? message.task?.id ?? message.task_id);
    if (record && (await this.db.markSeen(message.outbox_id))) {
      record.state = "cancelled";
      record.pending = [];
      await this.saveTask(record);
      this.alert(t("taskCancelled", { title: record.task.title }));
    }
    await this.advanceSeq(message.seq);
    this.link.send({ type: "task.ack", seq: message.seq });
    this.render();
  }

  async advanceSeq(seq) {
    if (seq > (await this.db.meta("last_seq", 0))) await this.db.setMeta("last_seq", seq);
  }

  async onAccepted({ item, reply }) {
    if (item.type.startsWith("procedure.")) return this.procedure.onReply(item, reply, true);
    if (item.type === "task.status") {
      const record = this.tasks.get(item.msg.task_id);
      if (record) {
        record.state = reply.state ?? record.state;
        record.version = reply.version ?? record.version;
        record.pending = record.pending.filter((p) => p.msg_id !== item.msg.msg_id);
        await this.saveTask(record);
      }
      if (reply.checkin) this.notice(t("checkinOk", { m: Math.round(reply.checkin.distance_m) }), "ok");
    } else if (item.type === "report") {
      this.notice(t("reportSent"), "ok");
    }
    this.render();
  }

  async onRefused({ item, reply }) {
    if (item.type.startsWith("procedure.")) return this.procedure.onReply(item, reply, false);
    if (item.type === "task.status") {
      const record = this.tasks.get(item.msg.task_id);
      if (record) {
        record.pending = record.pending.filter((p) => p.msg_id !== item.msg.msg_id);
        await this.saveTask(record);
      }
    }
    this.notice(t("actionRejected", { detail: describeError(reply) }), "error");
    this.render();
  }

  async saveTask(record) {
    this.tasks.set(record.id, record);
    await this.db.put("tasks", record);
  }

  // --- alerts ---------------------------------------------------------------------------------

  unlockAudio() {
    // Browsers only allow sound after a user gesture; create the context on the first tap.
    if (this.audio || !window.AudioContext) return;
    this.audio = new AudioContext();
  }

  alert(text) {
    this.notice(text, "alert");
    if (navigator.vibrate) navigator.vibrate([300, 120, 300, 120, 300]);
    const audio = this.audio;
    if (!audio) return;
    audio.resume();
    const start = audio.currentTime;
    for (let i = 0; i < 3; i += 1) {
      const oscillator = audio.createOscillator();
      const gain = audio.createGain();
      oscillator.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, start + i * 0.35);
      gain.gain.exponentialRampToValueAtTime(0.5, start + i * 0.35 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + i * 0.35 + 0.25);
      oscillator.connect(gain).connect(audio.destination);
      oscillator.start(start + i * 0.35);
      oscillator.stop(start + i * 0.35 + 0.26);
    }
  }

  notice(text, kind = "info") {
    const box = $("#notice");
    box.textContent = text;
    box.dataset.kind = kind;
    box.hidden = false;
  }

  // --- position -------------------------------------------------------------------------------

  watchPosition() {
    if (this.watching || !navigator.geolocation) return;
    this.watching = true;
    navigator.geolocation.watchPosition(
      (position) => this.onFix(position),
      () => {}, // no permission or no fix yet: the check-in button explains when it matters
      { enableHighAccuracy: true, maximumAge: POSITION_INTERVAL_MS, timeout: 30000 },
    );
    setInterval(() => this.reportPosition(), POSITION_INTERVAL_MS);
  }

  onFix(position) {
    const first = this.fix === null;
    const c = position.coords;
    this.fix = {
      lat: c.latitude,
      lon: c.longitude,
      accuracy: c.accuracy,
      speed: Number.isFinite(c.speed) ? c.speed : null,
      heading: Number.isFinite(c.heading) ? c.heading : null,
      ts: position.timestamp,
    };
    if (first) this.reportPosition();
    this.drawOwnPosition();
  }

  async reportPosition() {
    const fix = this.fix;
    if (!fix || fix === this.lastSentFix || !this.sync) return;
    this.lastSentFix = fix;
    const message = { type: "position", lat: fix.lat, lon: fix.lon, accuracy: fix.accuracy, ts: fix.ts, datum: "wgs84" };
    if (fix.speed !== null) message.speed = fix.speed;
    if (fix.heading !== null) message.heading = fix.heading;
    const battery = await this.batteryPercent();
    if (battery !== null) message.battery = battery;
    if (this.link.state !== "online") await this.db.trimPositions(MAX_QUEUED_POSITIONS - 1);
    await this.sync.enqueue({ type: "position", msg: message });
  }

  async batteryPercent() {
    if (!navigator.getBattery) return null;
    try {
      return Math.round((await navigator.getBattery()).level * 100);
    } catch {
      return null;
    }
  }

  /** A fresh fix for a check-in; falls back to the last watched fix. */
  currentFix() {
    return new Promise((resolve) => {
      if (!navigator.geolocation) return resolve(this.fix);
      navigator.geolocation.getCurrentPosition(
        (position) => {
          this.onFix(position);
          resolve(this.fix);
        },
        () => resolve(this.fix),
        { enableHighAccuracy: true, maximumAge: 0, timeout: 10000 },
      );
    });
  }

  // --- actions --------------------------------------------------------------------------------

  async act(record, action) {
    const message = { type: "task.status", task_id: record.id, action, msg_id: uuid() };
    if (NEEDS_FINDINGS.has(action)) {
      const findings = $("#findings")?.value.trim();
      if (!findings) {
        this.notice(t("findingsRequired"), "error");
        return;
      }
      message.findings = findings;
    }
    if (action === "arrive") {
      const fix = await this.currentFix();
      if (!fix) {
        this.notice(t("checkinNeedsFix"), "error");
        return;
      }
      Object.assign(message, { lat: fix.lat, lon: fix.lon, accuracy: fix.accuracy });
    }
    record.pending.push({ action, msg_id: message.msg_id });
    await this.saveTask(record);
    this.render();
    await this.sync.enqueue({ type: "task.status", msg: message });
  }

  async submitReport(record) {
    const notes = $("#notes").value.trim();
    const findings = $("#findings")?.value.trim() ?? "";
    if (!notes && !findings && this.draft.length === 0) {
      this.notice(t("reportEmpty"), "error");
      return;
    }
    if (this.draft.length > 0 && !crypto.subtle) {
      this.notice(t("insecure"), "error");
      return;
    }
    const uploadIds = [];
    for (const attachment of this.draft) {
      const uploadId = uuid();
      await this.db.put("uploads", {
        upload_id: uploadId,
        task_id: record.id,
        kind: attachment.kind,
        mime: attachment.mime,
        size: attachment.blob.size,
        sha256: await sha256Hex(attachment.blob),
        blob: attachment.blob,
        attachment_id: null,
      });
      await this.db.enqueue({ type: "upload", upload_id: uploadId });
      uploadIds.push(uploadId);
    }
    const message = { type: "report", task_id: record.id, findings, notes, attachment_ids: [], msg_id: uuid() };
    this.draft = [];
    $("#notes").value = "";
    this.notice(t("reportQueued"), "info");
    await this.sync.enqueue({ type: "report", msg: message, upload_ids: uploadIds });
    this.renderDraft();
  }

  addPhotos(files) {
    for (const file of files) {
      this.draft.push({ kind: "photo", mime: file.type || "image/jpeg", blob: file });
    }
    this.renderDraft();
  }

  async toggleVoice() {
    if (this.recorder) {
      this.recorder.stop();
      return;
    }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const recorder = new MediaRecorder(stream);
      const parts = [];
      recorder.ondataavailable = (event) => parts.push(event.data);
      recorder.onstop = () => {
        stream.getTracks().forEach((track) => track.stop());
        const mime = (recorder.mimeType || "audio/webm").split(";")[0];
        this.draft.push({ kind: "voice", mime, blob: new Blob(parts, { type: mime }) });
        this.recorder = null;
        this.renderDraft();
      };
      recorder.start();
      this.recorder = recorder;
      this.renderDraft();
    } catch (error) {
      this.notice(t("voiceUnavailable", { detail: error.message }), "error");
    }
  }

  // --- views ----------------------------------------------------------------------------------

  showEnrol() {
    $("#enrol").hidden = false;
    $("#list").hidden = true;
    $("#detail").hidden = true;
    $("#back").hidden = true;
    $("#logout").hidden = true;
    $("#status").hidden = true;
  }

  showList() {
    this.openTaskId = null;
    this.procedure?.close();
    this.draft = [];
    this.closeMap();
    $("#enrol").hidden = true;
    $("#detail").hidden = true;
    $("#back").hidden = true;
    $("#list").hidden = false;
    $("#logout").hidden = false;
    $("#status").hidden = false;
    this.render();
  }

  openTask(id) {
    this.openTaskId = id;
    this.draft = [];
    $("#list").hidden = true;
    $("#detail").hidden = false;
    $("#back").hidden = false;
    this.renderDetail(true);
  }

  /** Squad mode: the guided procedure replaces the task detail (tablet or phone layout). */
  openProcedure(record) {
    $("#detail").hidden = true; // the map stays until the list is shown (it may be mid-animation)
    this.procedure.open(record);
  }

  back() {
    this.showList();
  }

  describeError(reply) {
    return describeError(reply);
  }

  showConnection(state) {
    const element = $("#conn");
    element.dataset.state = state;
    element.textContent = t(state);
  }

  showQueue(count) {
    const element = $("#sync");
    element.dataset.count = String(count);
    element.textContent = count > 0 ? t("queued", { n: count }) : t("synced");
  }

  render() {
    if (this.openTaskId) this.renderDetail(false);
    else this.renderList();
  }

  renderList() {
    const list = $("#task-list");
    const records = [...this.tasks.values()].sort((a, b) => b.received_at.localeCompare(a.received_at));
    list.replaceChildren(
      ...records.map((record) => {
        const state = effectiveState(record);
        return h(
          "li",
          { class: "task", "data-task-id": record.id, "data-state": state, onclick: () => this.openTask(record.id) },
          h("span", { class: `urgency urgency-${record.task.urgency}` }, t(`urgency.${record.task.urgency}`)),
          h("span", { class: "title" }, record.task.title),
          h("span", { class: "state" }, t(`state.${state}`), record.pending.length ? t("pending") : ""),
        );
      }),
    );
    $("#no-tasks").hidden = records.length > 0;
  }

  renderDetail(fresh) {
    const record = this.tasks.get(this.openTaskId);
    if (!record) return this.showList();
    const task = record.task;
    const state = effectiveState(record);
    $("#detail-title").textContent = task.title;
    const stateElement = $("#detail-state");
    stateElement.textContent = t(`state.${state}`) + (record.pending.length ? t("pending") : "");
    stateElement.dataset.state = state;
    stateElement.dataset.confirmed = record.state;
    if (fresh) {
      $("#detail-facts").replaceChildren(
        ...[
          [t("category"), `${t(`kind.${task.kind}`)} · ${task.category}`],
          [t("urgency"), t(`urgency.${task.urgency}`)],
          [t("deadline"), formatTime(task.deadline)],
          [t("address"), task.address || "—"],
          [t("description"), task.description || "—"],
        ].flatMap(([label, value]) => [h("dt", {}, label), h("dd", {}, value)]),
      );
      $("#enterprise").replaceChildren(...this.enterpriseCard(task.enterprise));
      $("#nav-amap").href = amapUrl(task.lon, task.lat, task.title);
      $("#nav-baidu").href = baiduUrl(task.lon, task.lat, task.title);
      $("#notes").value = "";
      $("#photo-input").value = "";
      $("#photo-input").onchange = (event) => this.addPhotos(event.target.files);
      $("#voice").onclick = () => this.toggleVoice();
      $("#submit-report").onclick = () => this.submitReport(record);
      this.openMap(task);
      this.renderDraft();
    }
    const next = Object.keys(NEXT[task.kind]?.[state] ?? {});
    const needsFindings = next.some((action) => NEEDS_FINDINGS.has(action)) || state === "on_site";
    $("#findings-row").hidden = !needsFindings;
    $("#actions").replaceChildren(
      ...next.map((action) =>
        h("button", { type: "button", class: `action action-${action}`, "data-action": action, onclick: () => this.act(record, action) }, t(`action.${action}`)),
      ),
      task.kind === "enforcement" && (PROCEDURE_STATES.has(state) || record.procedure)
        ? h("button", { type: "button", class: "action", id: "start-procedure", onclick: () => this.openProcedure(record) }, t(record.procedure ? "proc.resume" : "proc.start"))
        : "",
    );
    this.showDistance();
  }

  enterpriseCard(enterprise) {
    if (!enterprise) return [h("p", { class: "muted" }, t("noEnterprise"))];
    const outlets = (enterprise.outlets || []).map((outlet) => h("li", {}, typeof outlet === "string" ? outlet : outlet.name || outlet.id));
    return [
      h("h3", {}, t("enterprise"), "：", enterprise.name || enterprise.id),
      h("dl", {}, h("dt", {}, t("industry")), h("dd", {}, enterprise.industry || "—"), h("dt", {}, t("creditRating")), h("dd", { class: `credit credit-${enterprise.credit_rating}` }, enterprise.credit_rating || "—")),
      outlets.length ? h("div", {}, h("strong", {}, t("outlets")), h("ul", {}, outlets)) : null,
    ];
  }

  renderDraft() {
    const list = $("#draft");
    if (!list) return;
    list.replaceChildren(
      ...this.draft.map((attachment) =>
        attachment.kind === "photo"
          ? h("img", { class: "thumb", alt: "", src: URL.createObjectURL(attachment.blob) })
          : h("audio", { controls: true, src: URL.createObjectURL(attachment.blob) }),
      ),
    );
    list.dataset.count = String(this.draft.length);
    $("#draft-count").textContent = t("attachments", { n: this.draft.length });
    $("#voice").textContent = this.recorder ? t("stopVoice") : t("recordVoice");
  }

  // --- map ------------------------------------------------------------------------------------

  openMap(task) {
    this.closeMap();
    if (!window.L) return;
    const map = L.map("map", { attributionControl: false, zoomControl: true });
    const site = [task.lat, task.lon];
    map.setView(site, 16); // layers are only placed once the map has a view
    const fence = L.circle(site, { radius: task.geofence_m, color: "#d9480f", weight: 2, fillOpacity: 0.08 }).addTo(map);
    L.circleMarker(site, { radius: 8, color: "#fff", weight: 2, fillColor: "#d9480f", fillOpacity: 1 }).addTo(map);
    this.map = map;
    this.layers = { fence, own: null };
    map.fitBounds(fence.getBounds(), { padding: [20, 20] });
    this.drawOwnPosition();
  }

  drawOwnPosition() {
    if (!this.map || !this.fix) return;
    const here = [this.fix.lat, this.fix.lon];
    if (!this.layers.own) {
      this.layers.own = L.circleMarker(here, { radius: 7, color: "#fff", weight: 2, fillColor: "#1c7ed6", fillOpacity: 1 }).addTo(this.map);
      this.map.fitBounds(this.layers.fence.getBounds().extend(here), { padding: [20, 20] });
    } else {
      this.layers.own.setLatLng(here);
    }
    this.showDistance();
  }

  closeMap() {
    if (this.map) this.map.remove();
    this.map = null;
    this.layers = null;
  }

  showDistance() {
    const record = this.tasks.get(this.openTaskId);
    const element = $("#distance");
    if (!record || !element) return;
    if (!this.fix) {
      element.textContent = t("noFix");
      return;
    }
    const metres = distanceM(this.fix.lon, this.fix.lat, record.task.lon, record.task.lat);
    element.textContent = t("distance", { m: Math.round(metres), r: record.task.geofence_m });
  }
}

function applyStaticText() {
  for (const element of document.querySelectorAll("[data-t]")) element.textContent = t(element.dataset.t);
  document.title = t("appTitle");
}

async function main() {
  applyStaticText();
  const app = new FieldApp(await FieldDb.open());
  await app.start();
  document.body.dataset.ready = "true";
}

main();
