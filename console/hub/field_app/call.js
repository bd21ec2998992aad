// Live video calls from the command centre (docs/protocol.md "Calls").
//
// The hub rings with `call.incoming`; the officer accepts or declines on a full-screen panel.
// On accept the camera and microphone are opened, then the console's offer arrives
// (`call.offer`). The console's peer (aiortc) has no trickle ICE, so this side answers only
// after ICE gathering completed: the answer carries every candidate. A new offer for the
// same call (the console reconnecting after an ICE failure) replaces the peer connection but
// keeps the camera. Hang-up from either side stops the tracks and closes the connection.

import { t } from "./i18n.js";

const GATHER_TIMEOUT_MS = 5000;

const PANEL_STYLE =
  "position:fixed;inset:0;z-index:3000;background:#101418;color:#fff;display:flex;" +
  "flex-direction:column;align-items:center;justify-content:center;gap:16px;padding:16px;";
const BUTTON_STYLE = "font-size:1.1rem;padding:14px 28px;border:0;border-radius:28px;color:#fff;";

function button(id, key, colour) {
  const element = document.createElement("button");
  element.id = id;
  element.type = "button";
  element.textContent = t(key);
  element.style.cssText = BUTTON_STYLE + `background:${colour};`;
  return element;
}

/** Resolves once `pc` finished gathering candidates (or after a timeout, with what it has). */
function gatheringComplete(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, GATHER_TIMEOUT_MS);
    function done() {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    }
    function check() {
      if (pc.iceGatheringState === "complete") done();
    }
    pc.addEventListener("icegatheringstatechange", check);
  });
}

export class FieldCalls {
  /** `link` is the app's FieldLink: calls use its socket and its "message" events. */
  constructor(link) {
    this.link = link;
    this.call = null; // {id, from, taskId}
    this.stream = null;
    this.pc = null;
    this.panel = this.buildPanel();
    this.onMessage = (event) => this.handle(event.detail);
    link.addEventListener("message", this.onMessage);
  }

  /** Stop listening and release any call (logout, a new link). */
  detach() {
    this.link.removeEventListener("message", this.onMessage);
    this.release();
    this.panel.remove();
  }

  buildPanel() {
    const panel = document.createElement("section");
    panel.id = "call";
    panel.hidden = true;
    panel.dataset.state = "idle";
    panel.style.cssText = PANEL_STYLE;
    panel.setAttribute("role", "dialog");
    const title = document.createElement("h2");
    title.id = "call-title";
    const status = document.createElement("p");
    status.id = "call-status";
    const video = document.createElement("video");
    video.id = "call-self";
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    video.style.cssText = "width:40%;max-width:240px;border-radius:8px;background:#000;";
    this.remoteAudio = document.createElement("audio");
    this.remoteAudio.id = "call-audio";
    this.remoteAudio.autoplay = true;
    const row = document.createElement("div");
    row.style.cssText = "display:flex;gap:24px;";
    this.acceptButton = button("call-accept", "callAccept", "#2b8a3e");
    this.declineButton = button("call-decline", "callDecline", "#c62828");
    this.hangupButton = button("call-hangup", "callHangup", "#c62828");
    this.acceptButton.addEventListener("click", () => this.accept());
    this.declineButton.addEventListener("click", () => this.decline());
    this.hangupButton.addEventListener("click", () => this.hangUp());
    row.append(this.acceptButton, this.declineButton, this.hangupButton);
    panel.append(title, status, video, this.remoteAudio, row);
    document.body.append(panel);
    this.selfView = video;
    return panel;
  }

  show(state, detail = "") {
    this.panel.hidden = state === "idle";
    this.panel.dataset.state = state;
    const ringing = state === "ringing";
    this.acceptButton.hidden = !ringing;
    this.declineButton.hidden = !ringing;
    this.hangupButton.hidden = ringing || state === "idle";
    this.panel.querySelector("#call-status").textContent = detail || t(`call_${state}`);
  }

  async handle(message) {
    const call = this.call;
    if (message.type === "call.incoming") {
      if (call) {
        this.link.send({ type: "call.decline", call_id: message.call_id });
        return;
      }
      this.call = { id: message.call_id, from: message.from || {}, taskId: message.task_id };
      const name = this.call.from.name || this.call.from.username || "";
      this.panel.querySelector("#call-title").textContent = t("callFrom", { name });
      this.show("ringing");
      if (navigator.vibrate) navigator.vibrate([400, 200, 400, 200, 400]);
    } else if (!call || message.call_id !== call.id) {
      return;
    } else if (message.type === "call.offer") {
      await this.answer(message.sdp);
    } else if (message.type === "call.state") {
      this.show(message.state === "connected" ? "connected" : message.state);
    } else if (message.type === "call.hangup") {
      this.release(t(message.reason === "answered_elsewhere" ? "callElsewhere" : "callEnded"));
    }
  }

  async accept() {
    const call = this.call;
    if (!call) return;
    this.show("connecting");
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        video: { width: 640, height: 480, facingMode: "environment" },
        audio: true,
      });
    } catch (error) {
      this.link.send({ type: "call.decline", call_id: call.id });
      this.release(t("callNoCamera", { reason: error.name || String(error) }));
      return;
    }
    this.selfView.srcObject = this.stream;
    if (!this.link.send({ type: "call.accept", call_id: call.id })) {
      this.release(t("callOffline"));
    }
  }

  decline() {
    if (this.call) this.link.send({ type: "call.decline", call_id: this.call.id });
    this.release();
  }

  hangUp() {
    if (this.call) this.link.send({ type: "call.hangup", call_id: this.call.id });
    this.release(t("callEnded"));
  }

  async answer(sdp) {
    const call = this.call;
    if (!this.stream) return;
    this.pc?.close();
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    for (const track of this.stream.getTracks()) pc.addTrack(track, this.stream);
    pc.ontrack = (event) => {
      if (event.track.kind === "audio") this.remoteAudio.srcObject = new MediaStream([event.track]);
    };
    pc.onconnectionstatechange = () => {
      if (this.pc !== pc) return;
      const state = pc.connectionState;
      if (state === "connected") {
        this.show("connected");
        this.link.send({ type: "call.state", call_id: call.id, state: "connected" });
      } else if (state === "disconnected" || state === "failed") {
        this.show("reconnecting");
        this.link.send({ type: "call.state", call_id: call.id, state: "reconnecting" });
      }
    };
    await pc.setRemoteDescription({ type: "offer", sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await gatheringComplete(pc);
    if (this.pc !== pc || this.call !== call) return;
    this.link.send({ type: "call.answer", call_id: call.id, sdp: pc.localDescription.sdp });
  }

  /** Stop the camera and microphone, close the peer connection, hide the panel. */
  release(notice = "") {
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.stream = null;
    this.pc?.close();
    this.pc = null;
    this.selfView.srcObject = null;
    this.remoteAudio.srcObject = null;
    this.call = null;
    if (notice) {
      this.show("ended", notice);
      setTimeout(() => {
        if (!this.call) this.show("idle");
      }, 1500);
    } else {
      this.show("idle");
    }
  }
}
