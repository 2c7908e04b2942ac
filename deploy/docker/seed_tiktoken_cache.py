"""Seed the offline tiktoken cache in an OpenCompass engine image, exactly as local mode does.

Usage (build time): python seed_tiktoken_cache.py <opencompass_recipe.py> <out dir>

The seeding code is NOT copied here: it is read from `SEED_TIKTOKEN_CACHE` in
budeval/engines/opencompass/recipe.py (parsed with `ast`, without importing budeval, which is not
installed in the engine image) and executed with `sys.argv[1] = <out dir>`, like the recipe's
post-install step `python -c SEED_TIKTOKEN_CACHE {env}/tiktoken_cache`. One source of truth.
"""

import ast
import sys

NAME = "SEED_TIKTOKEN_CACHE"


def seed_code(recipe_path):
    with open(recipe_path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), recipe_path)
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == NAME for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    raise SystemExit(f"{recipe_path}: no string constant {NAME}")


def main(argv):
    if len(argv) != 3:
        raise SystemExit(__doc__.strip().splitlines()[2])
    code = seed_code(argv[1])
    sys.argv = ["-c", argv[2]]
    exec(compile(code, NAME, "exec"), {"__name__": "__main__"})


if __name__ == "__main__":
    main(sys.argv)
