"""Emulated structured text: visual schemas, captions, refinements and structured prompts.

Upstream these come from a vision-language model. Here they are computed deterministically
from pixel statistics and the given text, and every JSON document carries
`"emulated": true` and a `"generator"` note, so nothing produced by the sandbox can be
mistaken for real output.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from typing import Any

from bria_pipeline.sandbox.problems import ApiProblem

GENERATOR = "bria-pipeline sandbox (emulated: derived from pixel statistics and the request text)"


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, sort_keys=False)


def fingerprint(text: str | None) -> str:
    return hashlib.sha256((text or "").encode("utf-8")).hexdigest()[:12]


def parse_json_text(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ApiProblem(400, f"{what} must be a string containing valid JSON ({exc}).") from None


def visual_schema(samples: list[dict[str, Any]]) -> str:
    """A visual schema from the pixel facts of 5-10 sample images."""
    palette: Counter[str] = Counter()
    hexes: dict[str, str] = {}
    for facts in samples:
        for colour in facts["dominant_colors"]:
            palette[colour["name"]] += 1
            hexes.setdefault(colour["name"], colour["hex"])
    orientations = Counter(f["orientation"] for f in samples)
    brightness = sum(f["brightness"] for f in samples) / max(1, len(samples))
    backgrounds = Counter(f["dominant_colors"][0]["name"] for f in samples if f["dominant_colors"])
    top = [name for name, _ in palette.most_common(5)]
    doc = {
        "emulated": True,
        "generator": GENERATOR,
        "sample_count": len(samples),
        "image_sizes": [f"{f['width']}x{f['height']}" for f in samples],
        "style": {
            "description": f"{_tone(brightness)} imagery, mostly {orientations.most_common(1)[0][0]} framing",
            "brightness": round(brightness, 2),
            "orientation": orientations.most_common(1)[0][0],
        },
        "colors": {"palette": top, "hex": [hexes[n] for n in top]},
        "background": {"color": backgrounds.most_common(1)[0][0] if backgrounds else "unknown"},
        "subject": {"description": "the recurring subject of the sample images"},
    }
    return _dump(doc)


def _tone(brightness: float) -> str:
    if brightness < 0.35:
        return "dark"
    if brightness > 0.65:
        return "bright"
    return "balanced"


def caption(schema_text: str | None, facts: dict[str, Any], image_name: str) -> str | None:
    """A caption for one image, from the dataset's visual schema and the image's pixels."""
    if not schema_text:
        return None
    try:
        schema = json.loads(schema_text)
    except ValueError:
        schema = {}
    if not isinstance(schema, dict):
        schema = {}
    subject = schema.get("name") or _nested(schema, "subject", "description") or "the subject"
    doc = {
        "emulated": True,
        "generator": GENERATOR,
        "subject": subject,
        "style": _nested(schema, "style", "description") or schema.get("style") or "as in the visual schema",
        "image": {"width": facts["width"], "height": facts["height"], "orientation": facts["orientation"]},
        "colors": [c["name"] for c in facts["dominant_colors"]],
        "background": facts["dominant_colors"][0]["name"] if facts["dominant_colors"] else "unknown",
        "brightness": facts["brightness"],
        "source_image": image_name,
        "visual_schema_fingerprint": fingerprint(schema_text),
    }
    return _dump(doc)


def _nested(doc: dict[str, Any], key: str, inner: str) -> Any:
    value = doc.get(key)
    if isinstance(value, dict):
        return value.get(inner)
    return None


_CLAUSE_SPLIT = re.compile(r"\s*(?:;|\.\s+|,?\s+and\s+(?=(?:remove|change|set|make|add|replace|rename)\b))\s*", re.I)


def refine(structured_prompt: str, instruction: str) -> str:
    """Apply a natural-language instruction deterministically and record what was done."""
    doc = parse_json_text(structured_prompt, "structured_prompt")
    if not isinstance(doc, dict):
        doc = {"value": doc}
    applied = []
    for clause in (c.strip().rstrip(".") for c in _CLAUSE_SPLIT.split(instruction.strip())):
        if clause:
            applied.append({"instruction": clause, "change": _apply_clause(doc, clause)})
    doc["emulated"] = True
    doc.setdefault("generator", GENERATOR)
    doc.setdefault("refinements", [])
    if isinstance(doc["refinements"], list):
        doc["refinements"].append({"instruction": instruction, "applied": applied})
    return _dump(doc)


def _clean(text: str) -> str:
    return text.strip().strip("'\"").strip()


def _apply_clause(doc: dict[str, Any], clause: str) -> str:
    match = re.search(r"\bname (?:is|should be) (.+)$", clause, re.I)
    if match:
        doc["name"] = _clean(match.group(1))
        return f"set name to {doc['name']!r}"
    match = re.match(r"^(?:remove|delete|drop)\s+(?:all\s+)?(?:(?:references?|mentions?)\s+(?:to|of)\s+)?(?:the\s+)?(.+?)(?:\s+from\s+(?:the\s+)?(\w+))?$", clause, re.I)
    if match:
        term, scope = _clean(match.group(1)), match.group(2)
        target = doc.get(scope) if scope and scope in doc else doc
        removed = _remove_term(target, term)
        if scope and scope in doc:
            doc[scope] = removed
        else:
            doc.clear()
            doc.update(removed)
        return f"removed references to {term!r}" + (f" from {scope}" if scope and scope in doc else "")
    match = re.match(r"^replace\s+(.+?)\s+with\s+(.+)$", clause, re.I)
    if match:
        old, new = _clean(match.group(1)), _clean(match.group(2))
        replaced = _replace_term(doc, old, new)
        doc.clear()
        doc.update(replaced)
        return f"replaced {old!r} with {new!r}"
    match = re.match(r"^(?:change|set|make|rename)\s+(?:the\s+)?(.+?)\s+(?:to|be|as)\s+(.+)$", clause, re.I)
    if match:
        key = re.sub(r"[^a-z0-9]+", "_", match.group(1).lower()).strip("_") or "value"
        value = _clean(match.group(2))
        if isinstance(doc.get(key), dict):
            doc[key]["description"] = value
        else:
            doc[key] = value
        return f"set {key} to {value!r}"
    match = re.match(r"^add\s+(.+)$", clause, re.I)
    if match:
        doc.setdefault("additions", [])
        if isinstance(doc["additions"], list):
            doc["additions"].append(_clean(match.group(1)))
        return f"added {_clean(match.group(1))!r}"
    doc.setdefault("notes", [])
    if isinstance(doc["notes"], list):
        doc["notes"].append(clause)
    return "recorded as a note"


def _remove_term(value: Any, term: str) -> Any:
    lowered = term.lower()
    if isinstance(value, dict):
        return {k: _remove_term(v, term) for k, v in value.items() if k.lower() != lowered and k != "refinements"} | (
            {"refinements": value["refinements"]} if "refinements" in value else {})
    if isinstance(value, list):
        return [_remove_term(v, term) for v in value if not (isinstance(v, str) and lowered in v.lower())]
    if isinstance(value, str) and lowered in value.lower():
        return re.sub(r"\s{2,}", " ", re.sub(re.escape(term), "", value, flags=re.I)).strip(" ,;")
    return value


def _replace_term(value: Any, old: str, new: str) -> Any:
    if isinstance(value, dict):
        return {k: (v if k == "refinements" else _replace_term(v, old, new)) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_term(v, old, new) for v in value]
    if isinstance(value, str):
        return re.sub(re.escape(old), new, value, flags=re.I)
    return value


def structured_prompt(schema_text: str | None, prompt: str | None, base: str | None, *, model_id: int, seed: int) -> str:
    """The structured prompt a generation uses: schema + prompt, or a base prompt refined by text."""
    if base is not None:
        doc = parse_json_text(base, "structured_prompt")
        if not isinstance(doc, dict):
            raise ApiProblem(400, "structured_prompt must be a JSON object.")
        if prompt:
            doc.setdefault("refinements", [])
            if isinstance(doc["refinements"], list):
                doc["refinements"].append({"instruction": prompt})
            doc["short_description"] = f"{doc.get('short_description', '')} | {prompt}".strip(" |")
        doc["emulated"] = True
        doc.setdefault("generator", GENERATOR)
        return _dump(doc)
    try:
        schema = json.loads(schema_text) if schema_text else {}
    except ValueError:
        schema = {}
    if not isinstance(schema, dict):
        schema = {}
    doc = {
        "emulated": True,
        "generator": GENERATOR,
        "short_description": prompt or "",
        "tailored_model_id": str(model_id),
        "subject": schema.get("name") or _nested(schema, "subject", "description") or "the model's subject",
        "style": _nested(schema, "style", "description") or "as trained",
        "colors": (schema.get("colors") or {}).get("palette", []) if isinstance(schema.get("colors"), dict) else [],
        "visual_schema_fingerprint": fingerprint(schema_text),
        "seed": seed,
    }
    return _dump(doc)
