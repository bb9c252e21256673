"""Reading rosbag2 recordings (mcap or sqlite3) into sensor messages, without ROS."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rosbags.rosbag2 import Reader, ReaderError, WriterError
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from occnet_ros.bags.typestore import POSE_TOPICS, SENSOR_TOPICS, TOPICS, BagError, typestore

# ----------------------------------------------------------------------------------------- reading

@dataclass(frozen=True)
class BagInfo:
    path: Path
    topics: dict[str, tuple[str, int]]  # bag topic -> (type, message count)
    start_ns: int
    end_ns: int
    storage: str = ""

    def describe(self) -> str:
        if not self.topics:
            return "no topics"
        return ", ".join(f"{t} [{typ}] x{n}" for t, (typ, n) in sorted(self.topics.items()))


def _open_reader(path: Path) -> Reader:
    if not path.exists():
        raise BagError(f"bag {path} does not exist")
    if path.is_dir() and not (path / "metadata.yaml").exists():
        held = ", ".join(sorted(p.name for p in path.iterdir())[:10]) or "nothing"
        raise BagError(f"{path} is not a rosbag2 bag: the directory has no metadata.yaml (it holds {held}); "
                       "give the bag directory, or a .mcap/.db3 file")
    try:
        reader = Reader(path)
        reader.open()
    except (ReaderError, WriterError, FileNotFoundError, OSError, ValueError, KeyError) as error:
        raise BagError(f"cannot read {path} as a rosbag2 bag (a directory with metadata.yaml, or a .mcap/.db3 file): "
                       f"{error}") from error
    except Exception as error:  # corrupt storage files surface as anything from sqlite3/mcap parsing
        raise BagError(f"cannot read {path} as a rosbag2 bag: {type(error).__name__}: {error}") from error
    return reader


def bag_info(path: str | os.PathLike) -> BagInfo:
    """Topics, types, counts and time span of a rosbag2 bag (raises BagError when unreadable)."""
    path = Path(path)
    reader = _open_reader(path)
    try:
        topics: dict[str, tuple[str, int]] = {}
        for c in reader.connections:
            old = topics.get(c.topic, (c.msgtype, 0))
            topics[c.topic] = (c.msgtype, old[1] + c.msgcount)
        return BagInfo(path, topics, reader.start_time if reader.message_count else 0, reader.end_time if reader.message_count else 0)
    finally:
        if reader.is_open:
            reader.close()


def _reader_typestore(reader: Reader, ours: Typestore) -> Typestore:
    """Deserialise with the definitions the bag carries (a recording of another version of a
    message still reads), falling back to ours for types without an embedded definition."""
    from rosbags.interfaces import MessageDefinitionFormat
    from rosbags.typesys import get_types_from_idl

    types: dict[str, Any] = dict(ours.fielddefs)
    embedded: dict[str, Any] = {}
    for c in reader.connections:
        if c.msgdef.format == MessageDefinitionFormat.MSG:
            embedded.update(get_types_from_msg(c.msgdef.data, c.msgtype))
        elif c.msgdef.format == MessageDefinitionFormat.IDL:
            sep = "=" * 80 + "\n"
            parts = c.msgdef.data.split(sep)[1:] if c.msgdef.data.startswith(f"{sep}IDL: ") else [f"IDL: x\n{c.msgdef.data}"]
            for part in parts:
                embedded.update(get_types_from_idl(part.split("\n", 1)[1]))
    if not embedded or all(ours.fielddefs.get(k) == v for k, v in embedded.items()):
        return ours
    types.update(embedded)
    store = get_typestore(Stores.EMPTY)
    store.register(types)
    return store


def normalise_topic(name: str) -> str:
    return "/" + name.strip().lstrip("/")


def parse_topic_map(text: str) -> dict[str, str]:
    """'a:=b, c:=d' -> {'a': 'b', 'c': 'd'} (the replay node's topic_map; ValueError names a bad pair)."""
    mapping = {}
    for pair in text.replace(";", ",").split(","):
        if not pair.strip():
            continue
        source, sep, target = pair.partition(":=")
        if not sep or not source.strip() or not target.strip():
            raise ValueError(f"topic_map entry {pair.strip()!r} is not 'bag_topic:=known_topic'")
        mapping[source.strip()] = target.strip()
    return mapping


def read_bag(path: str | os.PathLike, topic_map: Mapping[str, str] | None = None, require: bool = True,
             store: Typestore | None = None) -> BagMessages:
    """Yield ``(topic, log_time_ns, message)`` of the known topics (TOPICS), in log-time order.

    ``topic_map`` maps a bag's own topic names to the known ones, e.g. an hl2ss recording's
    ``{"/hl2/depth_lt": "/depth/image", ...}``; names without a leading slash are accepted.
    Other topics are skipped. With ``require``, the bag must hold all of SENSOR_TOPICS and one
    of POSE_TOPICS, each with the expected message type; otherwise BagError lists what it has.
    Messages are rosbags dataclasses (see ``occnet_ros.nodes.replay.to_ros`` for rclpy ones).
    Raises BagError for a missing, corrupt or unsupported bag (before the first message).
    """
    path = Path(path)
    mapping = {normalise_topic(k): normalise_topic(v) for k, v in (topic_map or {}).items()}
    unknown = sorted(v for v in mapping.values() if v not in TOPICS)
    if unknown:
        raise BagError(f"topic_map targets {unknown} are not known topics; known: {sorted(TOPICS)}")
    reader = _open_reader(path)
    try:
        wanted, found = [], {}
        for c in reader.connections:
            topic = mapping.get(normalise_topic(c.topic), normalise_topic(c.topic))
            if topic not in TOPICS:
                continue
            if c.msgtype != TOPICS[topic]:
                raise BagError(f"{path}: topic {c.topic} has type {c.msgtype}, expected {TOPICS[topic]} for {topic}")
            wanted.append(c)
            found[topic] = found.get(topic, 0) + c.msgcount
        if require:
            missing = [t for t in SENSOR_TOPICS if not found.get(t)]
            if not any(found.get(t) for t in POSE_TOPICS):
                missing.append(" or ".join(POSE_TOPICS))
            if missing:
                has = "; ".join(f"{c.topic} [{c.msgtype}] x{c.msgcount}" for c in reader.connections) or "no topics"
                hint = " (map the bag's names with topic_map)" if reader.connections else ""
                raise BagError(f"{path} lacks {', '.join(missing)}{hint}; it has: {has}")
        try:
            deser = _reader_typestore(reader, store or typestore())
        except Exception as error:  # rosbags' TypesysError and parse errors of odd definitions
            raise BagError(f"{path}: cannot use the message definitions stored in the bag: {error}") from error
    except BaseException:
        reader.close()
        raise
    return BagMessages(reader, _messages(reader, wanted, mapping, deser, path))


class BagMessages:
    """Iterator of read_bag; ``close()`` (or ``with``) releases the bag before the end."""

    def __init__(self, reader: Reader, messages: Iterator[tuple[str, int, Any]]) -> None:
        self.reader, self.messages = reader, messages

    def __iter__(self) -> BagMessages:
        return self

    def __next__(self) -> tuple[str, int, Any]:
        return next(self.messages)

    def close(self) -> None:
        self.messages.close()
        if self.reader.is_open:
            self.reader.close()

    def __enter__(self) -> BagMessages:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _messages(reader: Reader, connections: list, mapping: dict[str, str], store: Typestore, path: Path) -> Iterator[tuple[str, int, Any]]:
    try:
        try:
            for connection, ns, raw in reader.messages(connections=connections):
                topic = mapping.get(normalise_topic(connection.topic), normalise_topic(connection.topic))
                yield topic, ns, store.deserialize_cdr(raw, connection.msgtype)
        except (ReaderError, KeyError, ValueError, OSError, IndexError) as error:
            raise BagError(f"{path}: corrupt message data: {type(error).__name__}: {error}") from error
        except Exception as error:
            if type(error).__module__.startswith(("rosbags", "sqlite3", "zstd", "lz4", "struct")):
                raise BagError(f"{path}: corrupt message data: {type(error).__name__}: {error}") from error
            raise
    finally:
        if reader.is_open:
            reader.close()
