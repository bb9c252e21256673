"""Sweet Home 3D furniture catalogues as a data source (learn/furniture.py), on a small catalogue
written here: open models are closed, sizes follow the catalogue, doors, outdoor items and the
unseen categories are left out with a count, and broken, missing or huge models are skipped with
a count, never fatal."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest
import trimesh

from occnet_ros.learn import furniture
from occnet_ros.learn.records import RecordSpec
from occnet_ros.learn.splits import prepare_split, split_items


def open_cup_obj() -> str:
    """A box of 1 x 1 x 2 units without its top face: open, as modelled furniture usually is (y up)."""
    box = trimesh.creation.box([1.0, 2.0, 1.0])
    box.apply_translation([0, 1.0, 0])
    keep = ~np.all(np.isclose(box.vertices[box.faces][:, :, 1], 2.0), axis=1)  # drop the two top triangles
    cup = trimesh.Trimesh(box.vertices, box.faces[keep], process=False)
    assert not cup.is_watertight
    return trimesh.exchange.obj.export_obj(cup)


MODELS = [  # (id, name, category, model member, door or window)
    ("Test#cup", "Cup", "Kitchen", "/test/cup.obj", False),
    ("Test#pot", "Pot", "Kitchen", "/test/cup.obj", False),
    ("Test#lamp", "Desk lamp", "Lights", "/test/cup.obj", False),
    ("Test#door", "Door", "Doors and windows", "/test/cup.obj", True),
    ("Test#sofa", "Corner sofa", "Living room", "/test/cup.obj", False),
    ("Test#tree", "Tree", "Exterior", "/test/cup.obj", False),
    ("Test#broken", "Broken vase", "Miscellaneous", "/test/broken.obj", False),
    ("Test#missing", "Missing shelf", "Office", "/test/missing.obj", False),
]


def write_catalog(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["# a test catalogue", "license=CC0 test"]
    for n, (ident, name, category, model, door) in enumerate(MODELS, 1):
        lines += [f"id#{n}={ident}", f"name#{n}={name}", f"category#{n}={category}", f"model#{n}={model}",
                  f"width#{n}=8", f"depth#{n}=8", f"height#{n}=12", f"doorOrWindow#{n}={'true' if door else 'false'}"]
    path = folder / "Test.sh3f"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("PluginFurnitureCatalog.properties", "\n".join(lines))
        archive.writestr("test/cup.obj", open_cup_obj())
        archive.writestr("test/broken.obj", "v 0 0 0\nf 1 2 3\nthis is not obj\n")
    return path


def all_entries(folder: Path):
    kept = []
    for split in ("train", "val", "test"):
        entries, left_out = furniture.furniture_entries(folder, split)
        kept += entries
    return kept, left_out


def test_catalogue_filter_and_counts(tmp_path):
    write_catalog(tmp_path)
    kept, left_out = all_entries(tmp_path)
    assert sorted(e.ident for e in kept) == ["Test#broken", "Test#cup", "Test#lamp", "Test#missing", "Test#pot"]
    assert left_out == {"door_or_window": 1, "unseen_category": 1, "not_indoor": 1}
    cup = next(e for e in kept if e.ident == "Test#cup")
    assert cup.size_m == (0.08, 0.08, 0.12) and cup.licence == "CC0 test" and cup.item_name == "sh3d-test-cup"


def test_an_open_model_is_closed_at_its_catalogue_size(tmp_path):
    write_catalog(tmp_path)
    cup = next(e for e in all_entries(tmp_path)[0] if e.ident == "Test#cup")
    mesh = furniture.load_furniture(cup)
    assert mesh.is_watertight and mesh.volume > 0
    extent = np.ptp(mesh.bounds, axis=0)
    assert np.allclose(extent, [0.08, 0.08, 0.12], rtol=0.03), extent  # y up in the model -> z up here
    assert abs(mesh.bounds[0, 2]) < 1e-9 and np.allclose(mesh.bounds.mean(axis=0)[:2], 0, atol=1e-3)
    # the cup stays open at the top: the closed surface holds far less than its bounding box
    assert mesh.volume < 0.6 * np.prod(extent)
    wider = furniture.load_furniture(cup, scale=np.array([1.5, 1.0, 1.0]))
    assert np.ptp(wider.bounds, axis=0)[0] == pytest.approx(0.12, rel=0.03)


def test_broken_missing_and_huge_models_are_named_errors(tmp_path, monkeypatch):
    write_catalog(tmp_path)
    entries = {e.ident: e for e in all_entries(tmp_path)[0]}
    with pytest.raises(ValueError, match="Test#missing.*not in Test.sh3f"):
        furniture.load_furniture(entries["Test#missing"])
    with pytest.raises(ValueError, match="Test#broken"):
        furniture.load_furniture(entries["Test#broken"])
    monkeypatch.setattr(furniture, "MAX_FACES", 4)
    with pytest.raises(ValueError, match="Test#cup: model is huge"):
        furniture.load_furniture(entries["Test#cup"])


def test_records_of_a_split_skip_the_bad_models_with_a_count(tmp_path, caplog):
    write_catalog(tmp_path / "catalogs")
    source = {"type": "sweethome3d", "path": str(tmp_path / "catalogs")}
    made = 0
    for split in ("train", "val", "test"):
        names = [item.name for item in split_items({"sources": [source]}, split)]
        data = {"sources": [source], "cache_dir": str(tmp_path / "cache"),
                "record": {"queries": 2000, "surface_points": 1000}}
        with caplog.at_level(logging.WARNING):
            paths = prepare_split(data, split, progress=False)
        made += len(paths)
        assert {p.stem for p in paths} <= set(names)
    assert made == 3  # cup, pot, lamp; broken and missing skipped
    assert "skipping sh3d-test-broken" in caplog.text and "skipping sh3d-test-missing" in caplog.text


def test_unknown_source_key_fails_naming_it(tmp_path):
    with pytest.raises(ValueError, match=r"unknown keys \['trian'\] in a sweethome3d data source"):
        split_items({"sources": [{"type": "sweethome3d", "path": str(tmp_path), "trian": 5}]}, "train")
    with pytest.raises(ValueError, match=r"unknown keys \['size'\] in a records_dir"):
        prepare_split({"sources": [{"type": "records_dir", "path": str(tmp_path), "size": 1}]}, "train", progress=False)


def test_an_unpacked_package_is_found_without_downloading(tmp_path, monkeypatch):
    write_catalog(tmp_path / "root" / furniture.CATALOG_DIR)
    monkeypatch.setattr(furniture.shutil, "which", lambda name: pytest.fail(f"looked for {name}"))
    assert furniture.fetch_package(tmp_path) == tmp_path / "root" / furniture.CATALOG_DIR
    monkeypatch.setattr(furniture.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="no sweethome3d-furniture .deb"):
        furniture.fetch_package(tmp_path / "empty")


def test_record_spec_defaults_still_make_a_record(tmp_path):
    write_catalog(tmp_path)
    item = next(i for split in ("train", "val", "test") for i in furniture.furniture_items(split, tmp_path) if i.name == "sh3d-test-lamp")
    record = item.make(np.random.default_rng(0), RecordSpec(queries=2000, surface_points=1000))
    assert len(record.views) == RecordSpec().views and 0.0 < record.occupancies.mean() < 1.0


@pytest.mark.skipif(not furniture.shutil.which("dpkg-deb"), reason="needs dpkg-deb (Debian)")
def test_the_package_is_unpacked_beside_and_renamed_so_no_reader_sees_half_of_it(tmp_path, monkeypatch):
    import subprocess

    package = tmp_path / "pkg"
    write_catalog(package / furniture.CATALOG_DIR)
    (package / "DEBIAN").mkdir()
    (package / "DEBIAN" / "control").write_text(
        "Package: sweethome3d-furniture\nVersion: 1.0\nArchitecture: all\nMaintainer: test <t@example.org>\nDescription: test\n")
    debs = tmp_path / "debs"
    debs.mkdir()
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(package), str(debs / "sweethome3d-furniture_1.0_all.deb")],
                   check=True, capture_output=True)
    unpacked, real_run = [], subprocess.run

    def watching(command, **kwargs):
        result = real_run(command, **kwargs)
        if command[:2] == ["dpkg-deb", "-x"]:
            # train and val made at once once lost a whole catalogue: one read the other's half-unpacked root
            assert not (debs / "root").exists(), "unpacked into the folder readers look at"
            unpacked.append(command[3])
        return result

    monkeypatch.setattr(furniture.subprocess, "run", watching)
    found = [furniture.fetch_package(debs) for _ in range(2)]
    assert found[0] == found[1] == debs / "root" / furniture.CATALOG_DIR and len(unpacked) == 1
    assert len(all_entries(found[0])[0]) == 5 and not list(debs.glob("root.partial-*"))
