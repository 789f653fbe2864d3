"""`project:` -> `DesiredProject`, with the contract's rules between IP type and medium.

- ip_name is required for defined_character; ip_description for defined_character and
  object_variants (the contract's create-project body says so).
- object_variants, multi_object_set, icons and character_variants exist only with ip_medium
  illustration.
- ip_name is meant to be 1-3 words, ip_description up to 6 words: longer ones are warnings.
"""

from __future__ import annotations

from bria_pipeline.model import DesiredProject
from bria_pipeline.spec.context import BuildContext

ILLUSTRATION_ONLY = ("object_variants", "multi_object_set", "icons", "character_variants")
NEEDS_IP_NAME = ("defined_character",)
NEEDS_IP_DESCRIPTION = ("defined_character", "object_variants")


def build_project(ctx: BuildContext) -> DesiredProject | None:
    at = ("project",)
    raw = ctx.get(at)
    if not isinstance(raw, dict) or not ctx.sound(at):
        return None
    ip_type, medium = raw["ip_type"], raw["ip_medium"]
    if ip_type in ILLUSTRATION_ONLY and medium != "illustration":
        ctx.error(at + ("ip_medium",), f"ip_type {ip_type} is available only with ip_medium illustration",
                  "set ip_medium: illustration, or choose another ip_type (defined_character, stylized_scene, other)")
    if ip_type in NEEDS_IP_NAME and not raw.get("ip_name"):
        ctx.error(at, f"ip_type {ip_type} needs ip_name: the character's name (1-3 words)",
                  'add e.g. ip_name: "Lucy"')
    if ip_type in NEEDS_IP_DESCRIPTION and not raw.get("ip_description"):
        ctx.error(at, f"ip_type {ip_type} needs ip_description: its most distinguishing features (up to 6 words)",
                  'add e.g. ip_description: "a girl with purple hair"')
    if raw.get("ip_name") and len(raw["ip_name"].split()) > 3:
        ctx.warn(at + ("ip_name",), "ip_name is meant to be 1-3 words", "a name, e.g. \"Captain Smith\"")
    if raw.get("ip_description") and len(raw["ip_description"].split()) > 6:
        ctx.warn(at + ("ip_description",), "ip_description is meant to be up to 6 words",
                 "keep the most distinguishing features, e.g. \"a girl with purple hair\"")
    return DesiredProject(
        name=raw["name"],
        ip_type=ip_type,
        ip_medium=medium,
        description=raw.get("description"),
        ip_name=raw.get("ip_name"),
        ip_description=raw.get("ip_description"),
        mark=ctx.mark(at),
    )
