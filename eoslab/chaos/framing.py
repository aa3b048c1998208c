"""Kafka's wire framing, as much of it as the fault proxy needs: where frames start, and their headers.

Every Kafka request and response is one frame: a 4-byte big-endian size (not counting itself), then
the body. A request body starts with its header ``api_key`` (int16), ``api_version`` (int16),
``correlation_id`` (int32); a response body starts with the ``correlation_id`` of the request it
answers. That is all the proxy reads: the rest of every frame streams through untouched, so the
proxy works with any request version and any client.

Guarantees: :class:`FrameScanner` finds every frame boundary in a byte stream cut into chunks of any
size (a header may straddle two chunks), touching only the header bytes of each frame — a 1 MB
produce request costs one ``struct.unpack`` — so large reads stay cheap.

Not covered: SASL or TLS listeners (their bytes are not Kafka frames; the course's proxied listener
is PLAINTEXT), and anything beyond the first header fields (client id, tagged fields, bodies).
"""

from __future__ import annotations

import struct
from enum import IntEnum


class ApiKey(IntEnum):
    """Kafka's request types by their protocol number (names as in Kafka's protocol guide)."""

    Produce = 0
    Fetch = 1
    ListOffsets = 2
    Metadata = 3
    OffsetCommit = 8
    OffsetFetch = 9
    FindCoordinator = 10
    JoinGroup = 11
    Heartbeat = 12
    LeaveGroup = 13
    SyncGroup = 14
    DescribeGroups = 15
    ListGroups = 16
    SaslHandshake = 17
    ApiVersions = 18
    CreateTopics = 19
    DeleteTopics = 20
    DeleteRecords = 21
    InitProducerId = 22
    OffsetForLeaderEpoch = 23
    AddPartitionsToTxn = 24
    AddOffsetsToTxn = 25
    EndTxn = 26
    WriteTxnMarkers = 27
    TxnOffsetCommit = 28
    DescribeAcls = 29
    CreateAcls = 30
    DeleteAcls = 31
    DescribeConfigs = 32
    AlterConfigs = 33
    SaslAuthenticate = 36
    CreatePartitions = 37
    DeleteGroups = 42
    IncrementalAlterConfigs = 44
    OffsetDelete = 47
    DescribeCluster = 60
    DescribeProducers = 61
    DescribeTransactions = 65
    ListTransactions = 66
    ConsumerGroupHeartbeat = 68
    ConsumerGroupDescribe = 69
    GetTelemetrySubscriptions = 71
    PushTelemetry = 72


_BY_LOWER_NAME = {member.name.lower(): member for member in ApiKey}


def api_name(api_key: int) -> str:
    """``"Produce"`` for 0; ``"api57"`` for a number this table does not name."""
    try:
        return ApiKey(api_key).name
    except ValueError:
        return f"api{api_key}"


def parse_api(api: ApiKey | int | str) -> ApiKey:
    """An :class:`ApiKey` from a member, its number or its name (any case: ``"produce"``)."""
    from ..errors import EoslabError

    if isinstance(api, str):
        found = _BY_LOWER_NAME.get(api.strip().lower())
        if found is None:
            raise EoslabError(f"unknown Kafka API {api!r}; use a name such as 'Produce', 'Fetch' or 'EndTxn' "
                              f"(see eoslab.chaos.ApiKey)")
        return found
    try:
        return ApiKey(int(api))
    except ValueError:
        raise EoslabError(f"unknown Kafka API number {api!r}; see eoslab.chaos.ApiKey for the known ones") from None


#: size (int32), api_key (int16), api_version (int16), correlation_id (int32)
REQUEST_HEADER = struct.Struct(">ihhi")
#: size (int32), correlation_id (int32)
RESPONSE_HEADER = struct.Struct(">ii")
SIZE_FIELD = 4
#: Kafka's own default socket.request.max.bytes is 100 MiB; anything larger is not a Kafka frame.
MAX_FRAME_SIZE = 100 * 1024 * 1024


class FramingError(ValueError):
    """The bytes are not Kafka frames (a negative or absurd size): the connection must be cut."""


class FrameScanner:
    """Finds the frames in one direction of one connection, chunk by chunk.

    ``feed(chunk)`` returns ``(data, headers)``: ``headers`` lists ``(offset, fields)`` for every
    frame that starts in ``data``, with ``fields`` the unpacked header (size first) and ``offset``
    where the frame starts in ``data``. ``data`` is what may be forwarded now:

    - ``withhold_partial_header=False`` (requests, forwarded at once): ``data`` is the chunk
      itself; a header split across chunks is parsed when its end arrives, and reported at offset 0
      of that later chunk.
    - ``withhold_partial_header=True`` (responses, which the proxy may swallow): the bytes of a
      header not yet complete are held back and prepended to the next chunk, so the proxy always
      knows which response a byte belongs to before it forwards it.
    """

    def __init__(self, header: struct.Struct, *, withhold_partial_header: bool) -> None:
        self._header = header
        self._withhold = withhold_partial_header
        self._remaining = 0       # bytes of the current frame not seen yet
        self._carry = b""         # the start of a header cut off at the end of the previous chunk

    def feed(self, chunk: bytes) -> tuple[bytes, list[tuple[int, tuple[int, ...]]]]:
        carry = self._carry
        if carry:
            self._carry = b""
            scanned = carry + chunk
        else:
            scanned = chunk
        headers: list[tuple[int, tuple[int, ...]]] = []
        header_size = self._header.size
        length = len(scanned)
        position = self._remaining
        while position < length:
            if length - position < header_size:
                self._carry = scanned[position:]
                break
            fields = self._header.unpack_from(scanned, position)
            size = fields[0]
            if size < header_size - SIZE_FIELD or size > MAX_FRAME_SIZE:
                raise FramingError(f"frame size {size} is not a Kafka frame")
            headers.append((position, fields))
            position += SIZE_FIELD + size
        self._remaining = max(0, position - length)
        if self._withhold:
            data = scanned[:length - len(self._carry)] if self._carry else scanned
            return data, headers
        # Already forwarded earlier: the carried bytes. Offsets then refer to ``scanned``, which only
        # the request side uses for its headers, never to slice the data.
        if carry:
            headers = [(max(0, offset - len(carry)), fields) for offset, fields in headers]
        return chunk, headers


def request_scanner() -> FrameScanner:
    """Requests go upstream as soon as they arrive; only their headers are read on the way."""
    return FrameScanner(REQUEST_HEADER, withhold_partial_header=False)


def response_scanner() -> FrameScanner:
    """Responses are held back until their correlation id is known, so one can be swallowed whole."""
    return FrameScanner(RESPONSE_HEADER, withhold_partial_header=True)
