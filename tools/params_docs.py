"""Rewrite config/occnet.yaml and the README's parameter tables from occnet_ros/nodes/parameters.py
(after adding or changing a parameter): python tools/params_docs.py. test_docs and
test_node_startup check that the three agree."""

from __future__ import annotations

from pathlib import Path

from occnet_ros.nodes.parameters import markdown_tables, params_yaml

REPO = Path(__file__).resolve().parents[1]


def replace_tables(readme: str, tables: str) -> str:
    """The README with its block of per-node tables (first node heading to the end of the last table) replaced."""
    headings = [line for line in tables.splitlines() if line.startswith("#### ")]
    start = readme.index(headings[0])
    end = readme.index("\n\n", readme.index("|---|", readme.index(headings[-1])))
    return readme[:start] + tables.rstrip("\n") + readme[end:]


def main() -> None:
    readme = REPO / "README.md"
    readme.write_text(replace_tables(readme.read_text(), markdown_tables()))
    config = REPO / "config" / "occnet.yaml"
    text = config.read_text()
    config.write_text(text[: text.index("observation:")] + params_yaml())
    print(f"wrote {readme} and {config}")


if __name__ == "__main__":
    main()
