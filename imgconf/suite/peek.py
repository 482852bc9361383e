"""A suite's id without validating it: ``--suite X`` collects only X, and need not load the others.

The id is read by the same YAML parser the loader uses (libyaml) and defaulted as the loader defaults
it (the file's stem), so the answer cannot differ from the loaded suite's id. When the file cannot be
read this way (a YAML error, a nesting the C parser must not take, an id that is not text) the answer
is None and the caller loads the file fully, so its error is reported as before.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from imgconf.localinput import MAX_SUITE_BYTES

_MAX_NESTING = 2000  # as imgconf.suite.loader: libyaml recurses in C without a depth limit


def peek_suite_id(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_SUITE_BYTES:
            return None
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    loader_class = getattr(yaml, "CSafeLoader", None)
    longest_line = max(map(len, text.splitlines()), default=0)
    if loader_class is None or longest_line + text.count("[") + text.count("{") + 1 > _MAX_NESTING:
        return None
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if not isinstance(node, yaml.MappingNode):
            return None
        # Only the top-level id is constructed (no alias in the rest of the file is expanded); the last
        # of repeated keys wins, as when the loader constructs the mapping.
        id_nodes = [value for key, value in node.value
                    if isinstance(key, yaml.ScalarNode) and key.value == "id" and key.tag == "tag:yaml.org,2002:str"]
        if not id_nodes:
            return path.stem.removesuffix(".suite")
        value = loader.construct_object(id_nodes[-1])
        return value if isinstance(value, str) else None
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()
