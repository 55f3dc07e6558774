"""The run signature: the model and settings that produced the samples of an output folder.

A stored sample counts as done only for a run that would have produced it. The generator keeps
`<output>/run_signature.json` and stops before any request when a run's signature differs from
it, unless the operator adds to the folder on purpose (`--allow_mixed`); the folder is then
marked mixed and the report says so.

Usage:
    sig = make_signature("Qwen/Qwen3-8B", sentences, temperature=0.7, top_p=0.95, ...)
    held = read_signatures("sft_output")      # None for a folder without the file
    describe(sig)  # "model Qwen/Qwen3-8B, temperature 0.7, top_p 0.95, max_tokens none, ..."

File: {"signatures": [<signature>, ...], "mixed": bool, "updated_at": float}; more than one
signature only after --allow_mixed. A signature is {"model", "temperature", "top_p",
"max_tokens", "seed", "system", "reasoning_effort", "extra_body", "instructions" (a digest of the
instruction sentences), "same_prompt"}: everything that changes what one sample is; and, for a run
that drops problems before any request, "screening" (the --decontaminate files' digests,
--decontam_ngram, --near_dup keep_one): which problems have samples. --n,
--requests_in_flight, --format, --reasoning, --k_correct, --retry_zero, --max_n and the timeouts do not.
"""

from __future__ import annotations

import hashlib
import json
import os
import time

from sftkit.common.jsonl import InputError, atomic_write_text
from sftkit.output import layout

# The generator's settings (same names as its flags) that change what is sampled.
SAMPLING = (
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "system",
    "reasoning_effort",
    "extra_body",
)
# "screening" (which benchmarks dropped problems: sftkit.generation.screen) is there only for a
# run that drops problems, so a folder from before it keeps matching a run without it.
OPTIONAL = ("screening",)
KEYS = ("model", *SAMPLING, "instructions", "same_prompt", *OPTIONAL)  # describe()'s order


def make_signature(
    model: str, sentences: list[str], same_prompt: bool, screening: dict | None = None, **sampling
) -> dict:
    """The signature of a run: make_signature("m", ["Put the answer in \\boxed{}."], False,
    temperature=0.7, top_p=0.95, max_tokens=None, seed=None, system=None,
    reasoning_effort=None, extra_body=None) -> {"model": "m", ..., "instructions": "9f86d081884c"}.
    """
    digest = hashlib.sha256("\n".join(sentences).encode("utf-8")).hexdigest()[:12]
    sig = {"model": model, **sampling, "instructions": digest, "same_prompt": same_prompt}
    if screening:
        sig["screening"] = screening
    missing = set(KEYS) - set(OPTIONAL) - set(sig)
    if missing or set(sig) - set(KEYS):
        raise ValueError(
            f"signature keys: missing {sorted(missing)}, unknown {sorted(set(sig) - set(KEYS))}"
        )
    # Through JSON and back, so it compares equal to what the file holds (tuples, int vs float).
    return json.loads(json.dumps({k: sig[k] for k in KEYS if k in sig}))


def read_signatures(output_dir: str | os.PathLike) -> dict | None:
    """The folder's signature file, or None if it has none; InputError naming it if unreadable."""
    path = layout.signature_file(output_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: unreadable run signature ({exc}); fix or remove it") from None
    sigs = data.get("signatures") if isinstance(data, dict) else None
    if not isinstance(sigs, list) or not sigs or not all(isinstance(s, dict) for s in sigs):
        raise InputError(f"{path}: no 'signatures' list; fix or remove it")
    return data


def write_signatures(output_dir: str | os.PathLike, signatures: list[dict], **extra) -> None:
    """Write the folder's signature file atomically; mixed = more than one signature."""
    data = {"signatures": signatures, "mixed": len(signatures) > 1, **extra}
    data["updated_at"] = time.time()
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    atomic_write_text(layout.signature_file(output_dir), text)


def _value(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value if len(value) <= 60 and "\n" not in value else json.dumps(value[:60] + "...")
    return json.dumps(value, ensure_ascii=False)


def describe(sig: dict) -> str:
    """'model demo-model, temperature 0.7, top_p 0.95, max_tokens none, ...' (keys it has)."""
    return ", ".join(f"{k} {_value(sig[k])}" for k in KEYS if k in sig)


def differences(held: dict, sig: dict) -> list[str]:
    """Settings of `sig` that differ from `held`, with the new value: ['model Qwen/Qwen3-8B']."""
    return [
        f"{k} {_value(sig.get(k))}"
        for k in KEYS
        if (k in held or k in sig) and held.get(k) != sig.get(k)
    ]
