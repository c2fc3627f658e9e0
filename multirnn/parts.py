"""Where `multirnn.backends` and `multirnn.conformance` live: installed, or the top-level folders of a checkout.

An install maps them from `backends/` and `conformance/`; in a source checkout without one
(`python -c "import multirnn"` at the repository root) this finder maps them the same way.
"""
import importlib.abc
import importlib.util
import os
import sys

PARTS = {"multirnn.backends": "backends", "multirnn.conformance": "conformance"}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class SourceTreeFinder(importlib.abc.MetaPathFinder):
    """Find the parts of multirnn that sit beside the `multirnn/` folder in a checkout."""

    def find_spec(self, fullname, path, target=None):
        folder = os.path.join(ROOT, PARTS.get(fullname, ""))
        if fullname not in PARTS or not os.path.isfile(os.path.join(folder, "__init__.py")):
            return None
        return importlib.util.spec_from_file_location(fullname, os.path.join(folder, "__init__.py"),
                                                      submodule_search_locations=[folder])


def install_finder() -> None:
    """Let a checkout import its own parts (after any installed mapping), or fail with a clear message."""
    if not any(isinstance(f, SourceTreeFinder) for f in sys.meta_path):
        sys.meta_path.append(SourceTreeFinder())
    if importlib.util.find_spec("multirnn.backends") is None:
        raise ImportError(f"multirnn.backends cannot be found: neither installed nor beside {ROOT}/multirnn; "
                          "install multirnn (pip install -e . in the repository) or run from a full checkout")
