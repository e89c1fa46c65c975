#!/usr/bin/env python3
"""A Hongying meeting participant on aiortc, a WebRTC stack independent of the server's.

It speaks the /ws signaling protocol (docs/signaling.md) itself: joins with a join token,
publishes audio and video with its first offer, in aiortc's own payload numbering (opus 96,
VP8 97 — not Chrome's 111/96), answers the server's offers and exchanges candidates. It
counts what it receives and prints one JSON line:

  {"participant_id": ..., "offer_payload_types": {...}, "received": {"audio": {...}, "video": {...}}}

Exit status 0 when it received at least --min-packets RTP packets of audio and of video
within --seconds, 1 otherwise, 2 on a protocol failure.

Network rule: loopback only. No ICE servers (aiortc would use Google's STUN server by
default), host candidates gathered on 127.0.0.1 only (aioice skips loopback and takes the
LAN interfaces unless told otherwise), and every candidate line that is not 127.0.0.1 is
cut from what is sent, so nothing leaves the machine.

Usage: aiortc_client.py --url ws://127.0.0.1:PORT/ws?access_token=... --join-token T
"""

import argparse
import asyncio
import base64
import json
import os
import re
import struct
import sys
import time
import urllib.parse

import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack
from aiortc.sdp import candidate_from_sdp

LOOPBACK = "127.0.0.1"
# Host candidates on loopback only.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [LOOPBACK]


class WebSocket:
    """A minimal RFC 6455 client over asyncio streams (text frames, ping/pong, close)."""

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, url):
        u = urllib.parse.urlsplit(url)
        host, port = u.hostname, u.port or 80
        if host != LOOPBACK:
            raise SystemExit(f"refusing a non-loopback signaling host {host}")
        reader, writer = await asyncio.open_connection(host, port)
        key = base64.b64encode(os.urandom(16)).decode()
        path = u.path + ("?" + u.query if u.query else "")
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        status = await reader.readline()
        if b" 101 " not in status:
            raise RuntimeError(f"no upgrade: {status!r}")
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        return cls(reader, writer)

    async def _send_frame(self, opcode, payload):
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(header + mask + masked)
        await self.writer.drain()

    async def send_json(self, obj):
        await self._send_frame(0x1, json.dumps(obj).encode())

    async def recv_json(self):
        """The next text frame as JSON; None when the socket closed."""
        message = b""
        while True:
            b0, b1 = await self.reader.readexactly(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
            payload = await self.reader.readexactly(n)
            if opcode == 0x9:
                await self._send_frame(0xA, payload)
            elif opcode == 0x8:
                return None
            elif opcode in (0x1, 0x0):
                message += payload
                if b0 & 0x80:
                    return json.loads(message)


def loopback_only(sdp):
    """Cuts every candidate line whose address is not 127.0.0.1."""
    out = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:") and line.split()[4] != LOOPBACK:
            continue
        out.append(line)
    return "\r\n".join(out) + "\r\n"


def payload_types(sdp):
    """encoding name → payload type, from the rtpmap lines."""
    pts = {}
    for m in re.finditer(r"^a=rtpmap:(\d+) ([^/\s]+)/", sdp, re.M):
        pts.setdefault(m.group(2).lower(), int(m.group(1)))
    return pts


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--join-token", required=True)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--min-packets", type=int, default=50)
    args = ap.parse_args()

    ws = await WebSocket.connect(args.url)
    next_id = 0

    async def request(ty, data=None):
        nonlocal next_id
        next_id += 1
        frame = {"v": 1, "id": str(next_id), "type": ty}
        if data is not None:
            frame["data"] = data
        await ws.send_json(frame)

    await request("join", {"join_token": args.join_token})
    while True:
        f = await ws.recv_json()
        if f is None:
            print(json.dumps({"error": "socket closed before joined"}))
            return 2
        if f.get("type") == "joined":
            participant_id = f["data"]["participant_id"]
            break
        if f.get("type") == "error":
            print(json.dumps({"error": f["data"]}))
            return 2

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    received = {"audio": {"tracks": 0, "frames": 0}, "video": {"tracks": 0, "frames": 0}}
    receivers = []

    @pc.on("track")
    def on_track(track):
        received[track.kind]["tracks"] += 1

        async def consume():
            while True:
                try:
                    await track.recv()
                except MediaStreamError:
                    return
                received[track.kind]["frames"] += 1

        asyncio.ensure_future(consume())

    # A publisher offers first (the server answers, then offers what he receives).
    pc.addTrack(AudioStreamTrack())
    pc.addTrack(VideoStreamTrack())
    await pc.setLocalDescription(await pc.createOffer())
    offer = loopback_only(pc.localDescription.sdp)
    offered = payload_types(offer)
    if offered.get("opus") == 111 and offered.get("vp8") == 96:
        print(json.dumps({"error": "aiortc offered Chrome's numbering; the test needs another"}))
        return 2
    await request("offer", {"sdp": offer})

    pending_offers = []

    async def answer_server_offer(sdp):
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await request("answer", {"sdp": loopback_only(pc.localDescription.sdp)})

    async def inbound():
        total = {"audio": 0, "video": 0}
        for t in pc.getTransceivers():
            if t.receiver is None:
                continue
            stats = await t.receiver.getStats()
            for s in stats.values():
                if s.type == "inbound-rtp":
                    total[t.kind] += s.packetsReceived
        return total

    async def signaling():
        while True:
            f = await ws.recv_json()
            if f is None:
                return
            ty, data = f.get("type"), f.get("data") or {}
            if ty == "answer":
                await pc.setRemoteDescription(RTCSessionDescription(sdp=data["sdp"], type="answer"))
                while pending_offers:
                    await answer_server_offer(pending_offers.pop(0))
            elif ty == "offer":
                if pc.signalingState == "have-local-offer":
                    # Clients never roll back: the server's offer waits for our answer.
                    pending_offers.append(data["sdp"])
                else:
                    await answer_server_offer(data["sdp"])
            elif ty == "candidate":
                line = data.get("candidate") or ""
                if not line or line.split()[4] != LOOPBACK:
                    continue
                c = candidate_from_sdp(line.split(":", 1)[1])
                c.sdpMid = data.get("sdp_mid") or None
                c.sdpMLineIndex = data.get("sdp_mline_index")
                if c.sdpMid is None and c.sdpMLineIndex is None:
                    c.sdpMLineIndex = 0
                await pc.addIceCandidate(c)
            elif ty == "error":
                print(json.dumps({"server_error": data}), file=sys.stderr)

    task = asyncio.ensure_future(signaling())
    deadline = time.monotonic() + args.seconds
    packets = {"audio": 0, "video": 0}
    while time.monotonic() < deadline and not task.done():
        await asyncio.sleep(0.5)
        packets = await inbound()
        if min(packets.values()) >= args.min_packets:
            break
    for kind in packets:
        received[kind]["packets"] = packets[kind]
    ok = min(packets.values()) >= args.min_packets
    print(
        json.dumps(
            {
                "participant_id": participant_id,
                "offer_payload_types": offered,
                "connection_state": pc.connectionState,
                "received": received,
                "ok": ok,
            }
        ),
        flush=True,
    )
    # Keep publishing until the test has counted what reached the other side.
    if ok:
        try:
            await asyncio.wait_for(sys_stdin_closed(), timeout=args.seconds)
        except asyncio.TimeoutError:
            pass
    task.cancel()
    await pc.close()
    return 0 if ok else 1


async def sys_stdin_closed():
    """Returns when the parent closes our stdin (it has seen enough)."""
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
