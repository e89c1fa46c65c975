// The minimal meeting page: joins a meeting over the /ws signaling socket, publishes camera
// and microphone on one RTCPeerConnection, shows the others' videos, the participant list
// (with media_proven) and, for a host, the live quorum. No build step, no dependencies.
//
// Tokens come from the URL fragment (kept out of server logs) or the query:
//   /meet#access_token=…&join_token=…[&audio_only=1]
//
// Negotiation (see docs/signaling.md and signaling/src/media/mod.rs): a participant who may
// publish sends the first offer; afterwards the server offers when tracks change and the page
// answers. The server is the polite peer: the page never rolls back. A server offer that
// arrives while the page's own offer waits for its answer crossed it; the server has withdrawn
// that offer and makes it again after answering, so the page drops it.
//
// State for tests and debugging: window.hongying.
(function () {
  "use strict";

  const params = new URLSearchParams(location.hash.length > 1 ? location.hash.slice(1) : location.search.slice(1));
  const accessToken = params.get("access_token") || "";
  const joinToken = params.get("join_token") || "";
  const audioOnly = params.get("audio_only") === "1";

  const $ = (id) => document.getElementById(id);
  const state = {
    joined: false,
    participantId: null,
    grants: grantsOf(joinToken),
    room: null,
    participants: {},
    quorum: null,
    activeSpeaker: null,
    audioOnly: audioOnly,
    closed: null,
    errors: [],
    connectionState: "new",
    stats: stats,
    leave: leave,
  };
  window.hongying = state;

  let ws = null;
  let pc = null;
  let localStream = null;
  let nextId = 0;
  const pending = new Map(); // request id -> {resolve, reject}
  let offerPending = false; // our offer waits for the server's answer
  let chain = Promise.resolve(); // negotiation steps, one at a time
  const earlyCandidates = []; // server candidates before the remote description

  function grantsOf(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const claims = JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
      return claims.grants || null;
    } catch (e) {
      return null;
    }
  }

  function showError(text) {
    state.errors.push(text);
    $("error").textContent = text;
  }

  function setStatus(text) {
    $("status").textContent = text;
  }

  function send(type, data) {
    const id = String(++nextId);
    const frame = { v: 1, id: id, type: type };
    if (data !== undefined) frame.data = data;
    ws.send(JSON.stringify(frame));
    return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
  }

  function enqueue(step) {
    chain = chain.then(step).catch((e) => showError("媒体协商失败：" + (e && e.message ? e.message : e)));
    return chain;
  }

  function connect() {
    if (!accessToken || !joinToken) {
      showError("链接缺少 access_token 或 join_token，无法入会。");
      setStatus("无法入会");
      return;
    }
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(scheme + "//" + location.host + "/ws?access_token=" + encodeURIComponent(accessToken));
    ws.onopen = () => {
      setStatus("正在入会…");
      send("join", { join_token: joinToken, audio_only: audioOnly }).then(onJoined, (e) => {
        showError("入会失败：" + e.message);
        setStatus("未入会");
      });
    };
    ws.onmessage = (ev) => {
      let f;
      try {
        f = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      onFrame(f);
    };
    ws.onclose = (ev) => {
      state.joined = false;
      setStatus("连接已断开" + (ev.reason ? "（" + ev.reason + "）" : ""));
      $("leave").disabled = true;
      for (const p of pending.values()) p.reject(new Error("连接已断开"));
      pending.clear();
    };
  }

  function onFrame(f) {
    if (f.id && pending.has(f.id)) {
      const p = pending.get(f.id);
      pending.delete(f.id);
      if (f.type === "error") {
        const err = new Error(f.data.message + "（" + f.data.code + "）");
        err.code = f.data.code;
        p.reject(err);
      } else {
        p.resolve(f);
      }
      return;
    }
    const d = f.data;
    switch (f.type) {
      case "participant_joined":
      case "participant_updated":
        state.participants[d.participant_id] = d;
        renderParticipants();
        break;
      case "participant_left":
        delete state.participants[d.participant_id];
        removeTile(d.participant_id);
        renderParticipants();
        break;
      case "quorum_update":
        state.quorum = d;
        renderQuorum();
        break;
      case "active_speaker":
        state.activeSpeaker = d;
        break;
      case "audio_only":
        state.audioOnly = d;
        break;
      case "offer":
        onServerOffer(d.sdp);
        break;
      case "candidate":
        onServerCandidate(d);
        break;
      case "closed":
        state.closed = d.reason;
        setStatus("会议连接已关闭（" + d.reason + "）");
        break;
      case "error":
        showError(d.message + "（" + d.code + "）");
        break;
      default:
        break;
    }
  }

  async function onJoined(f) {
    const d = f.data;
    state.joined = true;
    state.participantId = d.participant_id;
    state.room = d.room;
    state.quorum = d.room.quorum || null;
    state.participants = {};
    for (const p of d.room.participants) state.participants[p.participant_id] = p;
    $("title").textContent = d.room.title;
    document.title = d.room.title + " · 红鹰";
    setStatus("已入会");
    $("leave").disabled = false;
    renderParticipants();
    renderQuorum();
    await startMedia(d.ice_servers || []);
  }

  async function startMedia(iceServers) {
    pc = new RTCPeerConnection({
      iceServers: iceServers.map((s) => {
        const o = { urls: s.urls };
        if (s.username) o.username = s.username;
        if (s.credential) o.credential = s.credential;
        return o;
      }),
      bundlePolicy: "max-bundle",
      rtcpMuxPolicy: "require",
    });
    pc.onicecandidate = (ev) => {
      if (!ev.candidate || !ev.candidate.candidate) return;
      const c = { candidate: ev.candidate.candidate };
      if (ev.candidate.sdpMid != null) c.sdp_mid = ev.candidate.sdpMid;
      if (ev.candidate.sdpMLineIndex != null) c.sdp_mline_index = ev.candidate.sdpMLineIndex;
      send("candidate", c).catch((e) => showError("候选地址被拒：" + e.message));
    };
    pc.onconnectionstatechange = () => {
      state.connectionState = pc.connectionState;
      const labels = { connected: "媒体已连接", connecting: "媒体连接中…", failed: "媒体连接失败", disconnected: "媒体连接中断" };
      if (labels[pc.connectionState]) setStatus(labels[pc.connectionState]);
      if (pc.connectionState === "failed") requestIceRestart();
    };
    pc.ontrack = (ev) => {
      // The server names each forwarded stream after its publisher's participant id.
      const owner = ev.streams[0] ? ev.streams[0].id : ev.track.id;
      const stream = ev.streams[0] || new MediaStream([ev.track]);
      showRemote(owner, stream);
    };

    const publish = !state.grants || state.grants.publish;
    if (!publish) return; // receive only: the server sends the first offer
    try {
      localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: !audioOnly });
    } catch (e) {
      showError("无法打开摄像头或麦克风：" + e.message);
      try {
        localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
      } catch (e2) {
        return; // receive only after all; the server will offer
      }
    }
    $("local").srcObject = localStream;
    for (const t of localStream.getTracks()) pc.addTrack(t, localStream);
    $("mute-audio").disabled = false;
    await enqueue(sendOffer);
  }

  async function sendOffer(iceRestart) {
    let answer;
    offerPending = true;
    try {
      const offer = await pc.createOffer(iceRestart ? { iceRestart: true } : undefined);
      await pc.setLocalDescription(offer);
      answer = await send("offer", { sdp: pc.localDescription.sdp });
    } finally {
      // Cleared as soon as the answer frame is in (this runs before the next frame is
      // handled): a server offer after it is a new one, queued behind this step.
      offerPending = false;
    }
    await pc.setRemoteDescription({ type: "answer", sdp: answer.data.sdp });
    await flushCandidates();
  }

  function requestIceRestart() {
    enqueue(() => sendOffer(true));
  }

  function onServerOffer(sdp) {
    if (offerPending) return; // crossed our offer: the server withdrew it and offers again
    enqueue(async () => {
      await pc.setRemoteDescription({ type: "offer", sdp: sdp });
      await flushCandidates();
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      await send("answer", { sdp: pc.localDescription.sdp });
    });
  }

  function onServerCandidate(c) {
    const init = { candidate: c.candidate, sdpMid: c.sdp_mid, sdpMLineIndex: c.sdp_mline_index };
    if (!pc || !pc.remoteDescription) {
      earlyCandidates.push(init);
      return;
    }
    pc.addIceCandidate(init).catch((e) => showError("无法使用候选地址：" + e.message));
  }

  async function flushCandidates() {
    while (earlyCandidates.length) {
      const c = earlyCandidates.shift();
      try {
        await pc.addIceCandidate(c);
      } catch (e) {
        showError("无法使用候选地址：" + e.message);
      }
    }
  }

  function showRemote(owner, stream) {
    let tile = $("tile-" + owner);
    if (!tile) {
      tile = document.createElement("div");
      tile.className = "tile";
      tile.id = "tile-" + owner;
      const v = document.createElement("video");
      v.autoplay = true;
      v.playsInline = true;
      const label = document.createElement("span");
      tile.append(v, label);
      $("videos").append(tile);
    }
    const v = tile.querySelector("video");
    if (v.srcObject !== stream) v.srcObject = stream;
    tile.querySelector("span").textContent = nameOf(owner);
  }

  function removeTile(owner) {
    const tile = $("tile-" + owner);
    if (tile) tile.remove();
  }

  function nameOf(pid) {
    const p = state.participants[pid];
    return p ? p.name : "参会人";
  }

  const roleLabel = { host: "主持人", member: "党员", observer: "列席" };

  function renderParticipants() {
    const ul = $("participants");
    ul.textContent = "";
    for (const p of Object.values(state.participants)) {
      const li = document.createElement("li");
      const me = p.participant_id === state.participantId ? "（我）" : "";
      const flags = [];
      if (p.audio_muted) flags.push("已静音");
      if (p.audio_only) flags.push("仅音频");
      if (p.hand_raised) flags.push("举手");
      if (p.has_floor) flags.push("发言中");
      const proven = document.createElement("span");
      proven.className = p.media_proven ? "proven" : "unproven";
      proven.textContent = p.media_proven ? "● 在线（媒体已确认）" : "○ 媒体未确认";
      li.textContent = p.name + me + " · " + (roleLabel[p.role] || p.role) + (flags.length ? " · " + flags.join("、") : "") + " ";
      li.append(proven);
      li.dataset.participantId = p.participant_id;
      li.dataset.mediaProven = String(p.media_proven);
      ul.append(li);
      const tile = $("tile-" + p.participant_id);
      if (tile) tile.querySelector("span").textContent = p.name;
    }
  }

  function renderQuorum() {
    const q = state.quorum;
    $("quorum-box").hidden = !q;
    if (!q) return;
    $("quorum").textContent =
      "应到 " + q.expected + " 人，实到 " + q.present_voting + " 人（现场 " + q.present_in_person +
      "，远程 " + q.present_remote + "），" + quorumInWords(q);
  }

  // The rule in words a village member reads, not its formula: an election needs more than
  // four fifths (5P > 4E), every other meeting more than half (2P > E); "≥" is the
  // inclusive reading a locality may configure.
  function quorumInWords(q) {
    const t = String(q.threshold || "");
    const fifths = t.indexOf("5P") >= 0;
    const inclusive = t.indexOf("≥") >= 0;
    const share = fifths ? "五分之四" : "半数";
    const e = q.expected;
    const needed = fifths
      ? (inclusive ? Math.ceil((4 * e) / 5) : Math.floor((4 * e) / 5) + 1)
      : (inclusive ? Math.ceil(e / 2) : Math.floor(e / 2) + 1);
    if (q.quorate) return (inclusive ? "已达到" : "已超过") + share + "，可以开会";
    const short = Math.max(needed - q.present_voting, 1);
    return "还差 " + short + " 人才" + (inclusive ? "达到" : "超过") + share + "，暂不能开会";
  }

  // Summaries of pc.getStats(): per inbound video track framesDecoded, per inbound audio
  // track totalSamplesReceived and concealedSamples.
  async function stats() {
    const out = { connectionState: pc ? pc.connectionState : "none", video: [], audio: [] };
    if (!pc) return out;
    const report = await pc.getStats();
    report.forEach((s) => {
      if (s.type !== "inbound-rtp") return;
      if (s.kind === "video") {
        out.video.push({ ssrc: s.ssrc, mid: s.mid, framesDecoded: s.framesDecoded || 0, packetsReceived: s.packetsReceived || 0 });
      } else if (s.kind === "audio") {
        out.audio.push({
          ssrc: s.ssrc,
          mid: s.mid,
          totalSamplesReceived: s.totalSamplesReceived || 0,
          concealedSamples: s.concealedSamples || 0,
          packetsReceived: s.packetsReceived || 0,
        });
      }
    });
    return out;
  }

  function leave() {
    if (ws && ws.readyState === WebSocket.OPEN) send("leave").catch(() => {});
    if (pc) pc.close();
    if (localStream) for (const t of localStream.getTracks()) t.stop();
    state.joined = false;
    setStatus("已离开会议");
  }

  $("leave").onclick = leave;
  $("mute-audio").onclick = () => {
    if (!localStream) return;
    const track = localStream.getAudioTracks()[0];
    if (!track) return;
    track.enabled = !track.enabled;
    $("mute-audio").textContent = track.enabled ? "静音" : "取消静音";
    send("mute", { kind: "audio", muted: !track.enabled }).catch((e) => {
      showError("静音操作失败：" + e.message);
    });
  };

  connect();
})();
