"""The records of one split of a training config: its sources checked (an unknown type or key
fails naming it), their items listed, the missing records made into the cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from occnet_ros.learn.pack import packed_records
from occnet_ros.learn.records import RecordSpec
from occnet_ros.learn.sources import SPLITS, build_cache, mesh_dir_items, procedural_items

COUNTS = ("train", "val", "test")
SOURCE_KEYS = {
    "procedural": {"categories", "exclude", *COUNTS},
    "mesh_dir": {"path", "up", "scale"},
    "shapenet_onet": {"path", "classes", "size_m"},
    "pybullet_wheel": {"wheel", "download_dir", *COUNTS},
    "sweethome3d": {"path", "download_dir", "scale_jitter", *COUNTS},
    "records_dir": {"path"},
}


def check_source(source: dict[str, Any]) -> str:
    """The source's type; an unknown type or key fails naming it."""
    kind = source.get("type")
    if kind not in SOURCE_KEYS:
        raise ValueError(f"unknown data source type {kind!r} ({', '.join(SOURCE_KEYS)})")
    unknown = sorted(set(source) - SOURCE_KEYS[kind] - {"type"})
    if unknown:
        raise ValueError(f"unknown keys {unknown} in a {kind} data source; known: {sorted(SOURCE_KEYS[kind])}")
    return kind


def split_items(data_config: dict[str, Any], split: str) -> list:
    """The items of one split from every configured source."""
    from occnet_ros.shapes.catalog import CATEGORIES

    items = []
    for source in data_config.get("sources", []):
        kind = check_source(source)
        if kind == "procedural":
            categories = source.get("categories", "all")
            categories = list(CATEGORIES) if categories == "all" else list(categories)
            held_out = set(source.get("exclude", []))
            categories = [c for c in categories if c not in held_out]
            items += procedural_items(split, categories, int(source.get(split, 0)))
        elif kind == "mesh_dir":
            items += mesh_dir_items(split, Path(source["path"]), source.get("up", "z"), float(source.get("scale", 1.0)))
        elif kind == "shapenet_onet":
            from occnet_ros.learn.shapenet import shapenet_items

            items += shapenet_items(split, Path(source["path"]), source.get("classes"), float(source.get("size_m", 0.5)))
        elif kind == "pybullet_wheel":
            from occnet_ros.learn.packaged import download_wheel, pybullet_items

            wheel = Path(source["wheel"]) if source.get("wheel") else download_wheel(Path(source.get("download_dir", "data/wheels")))
            items += pybullet_items(split, wheel, count=source.get(split))
        elif kind == "sweethome3d":
            from occnet_ros.learn.furniture import DOWNLOAD_DIR, fetch_package, furniture_items

            download = Path(source["download_dir"]) if source.get("download_dir") else DOWNLOAD_DIR
            catalogs = Path(source["path"]) if source.get("path") else fetch_package(download)
            items += furniture_items(split, catalogs, count=source.get(split), scale_jitter=float(source.get("scale_jitter", 0.15)))
    return items


def prepare_split(data_config: dict[str, Any], split: str, progress: bool = True) -> list[Path]:
    """Cached record files of a split, generated where missing."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}")
    spec = RecordSpec.from_dict(data_config.get("record", {}))
    cache = Path(data_config.get("cache_dir", "data/cache")) / split
    sources = data_config.get("sources", [])
    packed = [source for source in sources if source.get("type") == "records_dir"]
    for source in packed:
        check_source(source)  # split_items checks the others
    made = {**data_config, "sources": [source for source in sources if source.get("type") != "records_dir"]}
    paths = build_cache(split_items(made, split), cache, spec, int(data_config.get("seed", 0)), progress) if made["sources"] else []
    return paths + [path for source in packed for path in packed_records(source, split)]
