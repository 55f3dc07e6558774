"""The signature policy: refuse an output folder that holds another run's samples.

check_signature(cfg, run_signature(cfg, model, sentences)) -> what to record in
run_signature.json, None if it is there already; InputError when the folder holds samples of
another model or other sampling settings (unless --allow_mixed). See signature.py for the record.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from sftkit.common.jsonl import InputError
from sftkit.generation.config import Config
from sftkit.generation.screen import screening_signature
from sftkit.generation.signature import (
    SAMPLING,
    describe,
    differences,
    make_signature,
    read_signatures,
)
from sftkit.inputs.instructions import Sentences
from sftkit.output import layout

log = logging.getLogger("generate")


# --------------------------------------------------------------------------- run signature


def run_signature(cfg: Config, model: str, sentences: Sentences | list[str]) -> dict:
    """What makes one sample what it is (sftkit.generation.signature): model, prompt, sampling settings."""
    sampling = {name: getattr(cfg, name) for name in SAMPLING}
    texts = sentences.texts() if isinstance(sentences, Sentences) else list(sentences)
    screening = screening_signature(cfg)
    return make_signature(model, texts, cfg.same_prompt, screening, **sampling)


def sample_paths(output_dir: str) -> Iterator[str]:
    """Every stored sample file of the folder: <source>/<type>/<p>_<s>.jsonl."""
    out = Path(output_dir)
    for source in layout.list_sources(out):
        for type_ in layout.source_types(out / source, samples=True):
            folder = out / source / type_
            for _, _, name in layout.list_sample_files(folder)[0]:
                yield os.path.join(folder, name)


def models_in_samples(output_dir: str) -> Counter:
    """meta.model of every stored sample (for a folder from before signatures were kept)."""
    models: Counter = Counter()
    for path in sample_paths(output_dir):
        try:
            meta = layout.read_sample(path).get("meta")
        except (OSError, UnicodeDecodeError, ValueError):
            continue  # the watcher reports unreadable samples; this is only about models
        model = meta.get("model") if isinstance(meta, dict) else None
        if isinstance(model, str):  # a server that names no model proves no mismatch
            models[model] += 1
    return models


def check_signature(cfg: Config, sig: dict) -> tuple[list[dict], bool] | None:
    """Stop (InputError) a run whose signature the output folder does not hold while it holds
    samples: they would count as done for this run. Otherwise return what to record in
    run_signature.json (signatures, adopted from legacy samples?), or None if it is there.

    A folder without run_signature.json but with samples (written before signatures were kept)
    is judged by its samples' meta.model: all of this run's model -> this run's settings are
    recorded; another model -> refused like a signature mismatch.
    """
    out = Path(cfg.output_dir)
    sig_file = layout.signature_file(out)
    ways_out = (
        "\n  Its stored samples would count as done for this run. Use another --output_dir, or "
        "--allow_mixed to add to this folder on purpose (report.json will then say it is mixed)."
    )
    held = read_signatures(out)
    if held is None:
        models = models_in_samples(cfg.output_dir)
        others = sorted(m for m in models if m != sig["model"])
        if not others:
            if models:
                log.info(
                    "%s has no %s: its %d stored samples are all of model %s; recording this "
                    "run's settings",
                    out,
                    sig_file.name,
                    sum(models.values()),
                    sig["model"],
                )
            return [sig], bool(models)
        found = ", ".join(f"{models[m]} of model {m}" for m in others)
        if not cfg.allow_mixed:
            raise InputError(
                f"{out} holds samples of another model: {found} (no {sig_file.name}: read "
                f"from the samples' meta.model)\n  this run: model {sig['model']}{ways_out}"
            )
        log.warning(
            "--allow_mixed: adding model %s to %s, which holds %s", sig["model"], out, found
        )
        return [{"model": m} for m in others] + [sig], True
    sigs = held["signatures"]
    if sig in sigs:
        return None
    if next(sample_paths(cfg.output_dir), None) is None:
        log.info("%s holds no samples: replacing its run signature with this run's", out)
        return [sig], False
    if not cfg.allow_mixed:
        runs = "".join(f"\n  {describe(s)}" for s in sigs)
        raise InputError(
            f"{out} holds samples of another run ({sig_file}):{runs}\n  this run "
            f"differs in: {', '.join(differences(sigs[0], sig))}{ways_out}"
        )
    log.warning(
        "--allow_mixed: %s now holds samples of %d runs (report.json says it is mixed)",
        out,
        len(sigs) + 1,
    )
    return [*sigs, sig], bool(held.get("adopted_from_samples"))
