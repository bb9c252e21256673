"""Indoor furniture shapes from Debian's ``sweethome3d-furniture`` package (Debian main).

The package holds five Sweet Home 3D catalogues (``*.sh3f``: a zip of OBJ models and a
``PluginFurnitureCatalog.properties`` listing each model's name, category, real size in cm and
rotation). Licences (the package's copyright file): KatorLegaz, Reallusion (CC-BY-3.0-US),
Scopia, BlendSwap-CC-BY (CC-BY-3.0), BlendSwap-CC-0 (CC0). Only indoor categories are read; doors,
windows, people, vehicles, plants and outdoor items are left out, and so are sofas and bowls,
which stay unseen categories. Modelled furniture is rarely closed, so each model is made
watertight by filling its voxelisation (trimesh + scipy) and extracting the boundary with
Marching Cubes. The split is fixed by each model's catalogue id (about 10% test, 5% val).
"""

from __future__ import annotations

import io
import logging
import re
import shutil
import subprocess
import tempfile
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import trimesh

from occnet_ros.learn.records import make_record
from occnet_ros.learn.sources import Item, stand_at_origin

log = logging.getLogger(__name__)
DEB_PACKAGE = "sweethome3d-furniture"
CATALOG_DIR = "usr/share/sweethome3d/furniture"
DOWNLOAD_DIR = Path("data/debs")
INDOOR_CATEGORIES = frozenset({"Living room", "Kitchen", "Bedroom", "Bathroom", "Office", "Lights", "Miscellaneous"})
UNSEEN_WORDS = re.compile(r"sofa|couch|settee|bowl", re.IGNORECASE)  # the unseen-categories split stays unseen
OUTDOOR_WORDS = re.compile(r"tree|plant|bush|flower|grass|car\b|garage|fence|pool|house|wall|stair|window|door", re.IGNORECASE)
SIZE_RANGE_M = (0.04, 2.2)
MAX_MODEL_BYTES = 20_000_000  # a bigger OBJ is skipped as huge (counted), not loaded
MAX_FACES = 400_000
VOXELS_ACROSS = 128  # voxels along the longest side when closing a model (8 mm for a 1 m chair)


@dataclass(frozen=True)
class FurnitureEntry:
    """One model of a catalogue: where it is and what the catalogue says about it."""

    catalog: Path
    model: str  # member of the catalogue zip
    ident: str
    name: str
    category: str
    size_m: tuple[float, float, float]  # width (x), depth, height (up), metres
    rotation: tuple[float, ...] | None  # the catalogue's 3x3 modelRotation, row-major
    door_or_window: bool
    licence: str

    @property
    def item_name(self) -> str:
        safe = re.sub(r"[^A-Za-z0-9]+", "-", self.ident).strip("-").lower()
        return f"sh3d-{safe}"

    @property
    def split(self) -> str:
        bucket = zlib.crc32(self.ident.encode()) % 20
        return "test" if bucket < 2 else "val" if bucket == 2 else "train"


def fetch_package(directory: Path = DOWNLOAD_DIR) -> Path:
    """The package's catalogue folder under directory, fetched with apt-get download and
    unpacked with dpkg-deb when missing (both ship with Debian)."""
    catalogs = directory / "root" / CATALOG_DIR
    if catalogs.is_dir() and any(catalogs.glob("*.sh3f")):
        return catalogs
    directory.mkdir(parents=True, exist_ok=True)
    debs = sorted(directory.glob(f"{DEB_PACKAGE}_*.deb"))
    if not debs:
        if not shutil.which("apt-get"):
            raise FileNotFoundError(f"no {DEB_PACKAGE} .deb in {directory} and no apt-get to download one")
        subprocess.run(["apt-get", "download", DEB_PACKAGE], cwd=directory, check=True, capture_output=True)
        debs = sorted(directory.glob(f"{DEB_PACKAGE}_*.deb"))
    if not debs:
        raise FileNotFoundError(f"apt-get did not download {DEB_PACKAGE} into {directory}")
    # unpacked beside, then renamed: a second process (train and val made at once) never sees half a catalogue
    partial = Path(tempfile.mkdtemp(prefix="root.partial-", dir=directory))
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(partial)], check=True)
    try:
        partial.rename(directory / "root")
    except OSError:  # another process was first: its copy is complete
        shutil.rmtree(partial, ignore_errors=True)
    return catalogs


def read_properties(text: str) -> dict[str, str]:
    """Java .properties key=value lines (comments, blank lines and \\uXXXX escapes handled;
    continuation lines are not used by these catalogues)."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#!" or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip()] = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), value.strip())
    return values


def catalog_entries(catalog: Path) -> list[FurnitureEntry]:
    """Every model a catalogue lists (unfiltered)."""
    with zipfile.ZipFile(catalog) as archive:
        properties = read_properties(archive.read("PluginFurnitureCatalog.properties").decode("latin-1"))
    entries = []
    for key, model in properties.items():
        match = re.fullmatch(r"model#(\d+)", key)
        if not match:
            continue
        n = match.group(1)
        try:
            size = tuple(float(properties[f"{axis}#{n}"]) / 100.0 for axis in ("width", "depth", "height"))
        except (KeyError, ValueError):
            log.warning("%s: model %s has no usable size; skipped", catalog.name, n)
            continue
        rotation = properties.get(f"modelRotation#{n}")
        entries.append(FurnitureEntry(
            catalog=catalog, model=model.lstrip("/"), ident=properties.get(f"id#{n}", f"{catalog.stem}#{n}"),
            name=properties.get(f"name#{n}", ""), category=properties.get(f"category#{n}", ""), size_m=size,
            rotation=tuple(float(v) for v in rotation.split()) if rotation else None,
            door_or_window=properties.get(f"doorOrWindow#{n}", "false") == "true",
            licence=properties.get("license", ""),
        ))
    return entries


def left_out_reason(entry: FurnitureEntry) -> str | None:
    """Why a model is not an indoor training/test shape, or None when it is one."""
    if entry.door_or_window:
        return "door_or_window"
    if entry.category not in INDOOR_CATEGORIES:
        return "not_indoor"
    if UNSEEN_WORDS.search(entry.name):
        return "unseen_category"
    if OUTDOOR_WORDS.search(entry.name):
        return "not_indoor"
    if not SIZE_RANGE_M[0] <= max(entry.size_m) <= SIZE_RANGE_M[1]:
        return "size"
    return None


def furniture_entries(catalogs: Path, split: str) -> tuple[list[FurnitureEntry], Counter]:
    """The indoor models of a split, sorted by id, and a count of the models left out by reason."""
    kept, left_out = [], Counter()
    for catalog in sorted(catalogs.glob("*.sh3f")):
        try:
            entries = catalog_entries(catalog)
        except (zipfile.BadZipFile, KeyError) as error:
            log.warning("skipping catalogue %s: %s", catalog.name, error)
            left_out["bad_catalog"] += 1
            continue
        for entry in entries:
            reason = left_out_reason(entry)
            if reason:
                left_out[reason] += 1
            elif entry.split == split:
                kept.append(entry)
    return sorted(kept, key=lambda e: e.ident), left_out


def load_furniture(entry: FurnitureEntry, scale: np.ndarray | None = None) -> trimesh.Trimesh:
    """The model as a watertight mesh, z up, at its catalogue size (times scale per axis),
    standing on z = 0 and centred in x/y. Raises ValueError for a missing, broken or huge model."""
    with zipfile.ZipFile(entry.catalog) as archive:
        try:
            info = archive.getinfo(entry.model)
        except KeyError as error:
            raise ValueError(f"{entry.ident}: {entry.model} is not in {entry.catalog.name}") from error
        if info.file_size > MAX_MODEL_BYTES:
            raise ValueError(f"{entry.ident}: model is huge ({info.file_size / 1e6:.0f} MB)")
        data = archive.read(entry.model)
    suffix = PurePosixPath(entry.model).suffix.lower().lstrip(".")
    try:
        mesh = trimesh.load(io.BytesIO(data), file_type=suffix, force="mesh", process=False, skip_materials=True)
    except Exception as error:  # trimesh raises many types for corrupt files
        raise ValueError(f"{entry.ident}: cannot read model ({error})") from error
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise ValueError(f"{entry.ident}: no triangles")
    if len(mesh.faces) > MAX_FACES:
        raise ValueError(f"{entry.ident}: model is huge ({len(mesh.faces)} faces)")
    if entry.rotation:
        rotation = np.eye(4)
        rotation[:3, :3] = np.reshape(entry.rotation, (3, 3))
        mesh.apply_transform(rotation)
    mesh.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))  # y up -> z up
    extent = np.ptp(mesh.bounds, axis=0)
    if np.any(extent <= 0):
        raise ValueError(f"{entry.ident}: flat model")
    target = np.asarray(entry.size_m) * (1.0 if scale is None else np.asarray(scale))
    mesh.apply_scale(target / extent)
    return stand_at_origin(close_by_voxels(mesh))


def close_by_voxels(mesh: trimesh.Trimesh, across: int = VOXELS_ACROSS, per_voxel: float = 20.0) -> trimesh.Trimesh:
    """A watertight mesh of everything the surface encloses: the boundary of its filled
    voxelisation. The surface voxels come from dense area-uniform samples (``per_voxel`` per
    voxel face of area; trimesh's own voxelizer subdivides large faces and took 27 s on a
    686-face cabinet), filled and extracted with trimesh's VoxelGrid."""
    low, high = mesh.bounds
    pitch = float((high - low).max()) / across
    samples = int(np.clip(per_voxel * mesh.area / pitch**2, 10_000, 4_000_000))
    points = np.vstack([trimesh.sample.sample_surface(mesh, samples, seed=0)[0], mesh.vertices])
    index = np.minimum(np.floor((points - low) / pitch).astype(np.int64), across - 1) + 1  # one empty voxel of margin
    shape = index.max(axis=0) + 2
    occupied = np.zeros(shape, bool)
    occupied[tuple(index.T)] = True
    transform = np.eye(4)
    transform[:3, :3] *= pitch
    transform[:3, 3] = low - pitch * 0.5  # voxel centres at low + (i - 1 + 0.5) * pitch
    grid = trimesh.voxel.VoxelGrid(occupied, transform=transform).fill()
    closed = grid.marching_cubes
    closed.apply_transform(grid.transform)
    if not closed.is_watertight or closed.volume <= 0:
        raise ValueError("voxel closing did not give a closed surface")
    return closed


def furniture_items(split: str, catalogs: Path, count: int | None = None, scale_jitter: float = 0.15) -> list[Item]:
    """Items of the indoor models of a split (the first ``count`` when given). Each record draws
    a non-uniform scale within ``1 +- scale_jitter`` per axis around the catalogue size."""
    entries, left_out = furniture_entries(catalogs, split)
    if left_out:
        log.info("sweethome3d %s: %d models kept, left out: %s", split, len(entries), dict(left_out))
    items = []
    for entry in entries[:count]:
        def make(rng, spec, entry=entry):
            scale = rng.uniform(1 - scale_jitter, 1 + scale_jitter, 3) if split == "train" else None
            return make_record(load_furniture(entry, scale), rng, spec, entry.item_name)

        items.append(Item(entry.item_name, make))
    return items
