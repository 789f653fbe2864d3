"""Before an apply sends anything, the local images it is about to upload are read once more.

Validation takes image hashes from the file-facts cache when a file's size, mtime, inode and
ctime match the cached entry. That makes a no-op plan cheap, but a cache is not the authority:
an entry that disagrees with its file (a cache edited by hand or by a tool, a file system that
keeps every stamp on a rewrite) would name images by a hash they do not have, and the plan
would create or clone a dataset version for content that is not there. So when a plan creates,
clones or uploads into a dataset, every local image of that dataset is hashed again from disk
(they are about to be read for the upload anyway). Where the file wins, the cached entry is
dropped and the spec is validated and planned again, before the first request.
"""

from __future__ import annotations

from pathlib import Path

from ..model import Desired, ImageSource
from ..plan.document import Plan
from ..spec.image_facts import default_cache_dir, recheck_hashes


def images_to_recheck(desired: Desired, plan: Plan) -> list[ImageSource]:
    """The local images of every dataset the plan creates, clones or uploads into."""
    keys = {getattr(a.step, "dataset") for a in plan.actions if a.kind != "noop" and a.step is not None and a.step.READS_FILES}
    seen: dict[Path, ImageSource] = {}
    for key in sorted(k for k in keys if k in desired.datasets):
        ds = desired.datasets[key]
        for image in (*ds.images, *ds.visual_schema.samples):
            if image.path is not None:
                seen.setdefault(image.path, image)
    return list(seen.values())


def stale_images(desired: Desired, plan: Plan) -> list[str]:
    """Spec names of the images whose file does not have the hash the plan was made with.

    Their cached facts are dropped, so validating again reads them. Empty when all agree.
    """
    images = images_to_recheck(desired, plan)
    wrong = set(recheck_hashes(((i.path, i.sha256) for i in images if i.path), default_cache_dir(desired.spec_dir)))
    return [i.key for i in images if i.path in wrong]
