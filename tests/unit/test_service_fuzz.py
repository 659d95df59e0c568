"""The service's front doors under attack by generated input: the binary frame header parser (hypothesis)
and the JSON API, driven from its own OpenAPI description (schemathesis). Neither may ever crash: every
malformed input gets a clear 4xx answer."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facegraft.service import protocol


@pytest.fixture(autouse=True)
def _ieee_floats():
    """Training tests turn on flush-to-zero (torch.set_flush_denormal) for speed; hypothesis needs the
    CPU's normal float behaviour to draw subnormal numbers, so it is off while these tests run."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    torch.set_flush_denormal(False)
    yield
    torch.set_flush_denormal(True)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=256))
def test_random_bytes_are_refused_cleanly(data):
    try:
        protocol.parse_message(data)
    except protocol.ProtocolError as exc:
        assert exc.status in (400, 413) and str(exc)


header_fields = st.tuples(
    st.sampled_from([protocol.MAGIC, b"FGFX", b"\0\0\0\0"]),
    st.integers(0, 3),  # version
    st.sampled_from([protocol.HEADER.size, 0, 39, 41, 65535]),
    st.integers(0, 2**32 - 1),  # width
    st.integers(0, 2**32 - 1),  # height
    st.integers(0, 8),  # channels
    st.integers(0, 3),  # dtype
    st.integers(-(2**31), 2**31 - 1),  # frame
    st.integers(0, 2**64 - 1),  # request id
    st.integers(0, 2**32 - 1),  # options length
    st.integers(0, 1),  # reserved
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header_fields, st.binary(max_size=512))
def test_any_header_is_either_consistent_or_refused(fields, tail):
    data = protocol.HEADER.pack(*fields) + tail
    try:
        msg = protocol.parse_message(data)
    except protocol.ProtocolError as exc:
        assert exc.status in (400, 413)
        return
    # Accepted: then it said exactly what it holds.
    head = protocol.parse_header(data)
    assert msg.pixels.shape == (head.height, head.width, head.channels)
    assert len(data) == head.total


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(1, 12),
    st.sampled_from([1, 3, 4]),
    st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8), max_size=4),
    st.integers(-1000, 100000),
)
def test_messages_round_trip(w, h, c, options, frame):
    pixels = np.random.default_rng(w * h * c).normal(size=(h, w, c)).astype(np.float32)
    msg = protocol.parse_message(protocol.build_message(pixels, frame, 7, options))
    assert np.array_equal(msg.pixels, pixels) and msg.options == options and msg.frame == frame


def test_truncated_and_oversized_messages_say_why():
    good = protocol.build_message(np.zeros((4, 4, 4), np.float32), options={"pass": "comp"})
    with pytest.raises(protocol.ProtocolError, match="too short"):
        protocol.parse_message(good[:-1])
    with pytest.raises(protocol.ProtocolError, match="too long"):
        protocol.parse_message(good + b"\0")
    huge = bytearray(good)
    struct.pack_into("<I", huge, 8, 100000)
    with pytest.raises(protocol.ProtocolError, match="outside") as info:
        protocol.parse_message(bytes(huge))
    assert info.value.status == 413
    with pytest.raises(protocol.ProtocolError, match="version 2"):
        protocol.parse_message(good[:4] + struct.pack("<H", 2) + good[6:])


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """The API over an in-process context whose runner never starts: jobs queue, nothing runs."""
    from support.service_api import in_process_api

    return in_process_api(tmp_path_factory.mktemp("api"))


def test_the_json_api_survives_schema_driven_fuzzing(api):
    import schemathesis
    from fastapi.testclient import TestClient
    from hypothesis import given as h_given

    client = TestClient(api)
    spec = client.get("/v1/openapi.json", headers={"X-Facegraft-Token": "t" * 32}).json()
    schema = schemathesis.openapi.from_dict(spec)
    failures, sent = [], []
    for op in schema.get_all_operations():
        operation = op.ok()
        if operation.path in ("/v1/shutdown", "/v1/frame"):
            continue

        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        @h_given(case=operation.as_strategy())
        def check(case):
            kwargs = case.as_transport_kwargs(base_url="http://test")
            kwargs.setdefault("headers", {})["X-Facegraft-Token"] = "t" * 32
            reply = client.request(
                **{
                    k: v
                    for k, v in kwargs.items()
                    if k in ("method", "url", "headers", "params", "json", "content")
                }
            )
            sent.append((case.method, case.path, reply.status_code))
            if reply.status_code >= 500:
                failures.append((case.method, case.formatted_path, reply.status_code, reply.text[:200]))

        check()
    assert not failures, failures[:5]
    assert len({(m, p) for m, p, _ in sent}) >= 6 and len(sent) > 100, "every operation was exercised"
    assert any(code == 200 for *_, code in sent) and any(code in (400, 403, 422) for *_, code in sent)


def test_a_request_with_nan_or_infinity_gets_a_clear_422_not_a_server_error(api):
    from fastapi.testclient import TestClient

    client = TestClient(api, raise_server_exceptions=False)
    headers = {"X-Facegraft-Token": "t" * 32, "Content-Type": "application/json"}
    for body in ('{"kind": Infinity}', '{"kind": "extract", "args": {"plate": [NaN, Infinity]}}'):
        reply = client.post("/v1/jobs", content=body, headers=headers)
        assert reply.status_code == 422, reply.text
        assert reply.json()["error"].startswith("invalid request ("), reply.text
