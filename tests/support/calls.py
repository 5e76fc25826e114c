"""WebRTC call requests for tests: an offer as a browser makes it, and the
SDK's multipart form."""

from __future__ import annotations

import json
import re

# An offer of the shape Chromium makes for one audio transceiver and a data
# channel (ICE candidates trickled, so none here).
OFFER = (
    "v=0\r\n"
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0 1\r\n"
    "a=extmap-allow-mixed\r\n"
    "a=msid-semantic: WMS\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:8hhY\r\n"
    "a=ice-pwd:asd88fgpdd777uzjYhagZg9e\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 19:E2:1C:3B:4B:9F:81:E6:B8:5C:F4:A5:A8:D8:73:04:BB:05:"
    "2F:70:9F:04:A9:0E:05:E9:26:33:E8:70:88:A2\r\n"
    "a=setup:actpass\r\n"
    "a=mid:0\r\n"
    "a=sendrecv\r\n"
    "a=rtcp-mux\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:8hhY\r\n"
    "a=ice-pwd:asd88fgpdd777uzjYhagZg9e\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 19:E2:1C:3B:4B:9F:81:E6:B8:5C:F4:A5:A8:D8:73:04:BB:05:"
    "2F:70:9F:04:A9:0E:05:E9:26:33:E8:70:88:A2\r\n"
    "a=setup:actpass\r\n"
    "a=mid:1\r\n"
    "a=sctp-port:5000\r\n"
    "a=max-message-size:262144\r\n"
)

_BOUNDARY = "test-call-boundary"


def multipart(sdp: str, session: dict | None = None) -> tuple[bytes, str]:
    """The form openai-python's `realtime.calls.create` sends: `sdp` as
    application/sdp, `session` as application/json."""
    parts = [("sdp", "application/sdp", sdp)]
    if session is not None:
        parts.append(("session", "application/json", json.dumps(session)))
    body = "".join(
        f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n'
        f"Content-Type: {kind}\r\n\r\n{value}\r\n"
        for name, kind, value in parts
    )
    body += f"--{_BOUNDARY}--\r\n"
    return body.encode(), f"multipart/form-data; boundary={_BOUNDARY}"


def offer_mids(sdp: str) -> list[tuple[str, str]]:
    """Each media section's kind and mid, in order."""
    kinds = re.findall(r"^m=(\w+)", sdp, re.MULTILINE)
    mids = re.findall(r"^a=mid:(\S+)", sdp, re.MULTILINE)
    return list(zip(kinds, mids, strict=True))
